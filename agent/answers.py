"""Plain, precise markdown answers composed from tool results, each pointing to its evidence
(recording, epoch index, clock time). Used by the router; any loop can use it as a fallback.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

from sleeplm.encoder.captions.night import ahi_severity, rem_related_reading
from sleeplm.encoder.vocab import (
    EPOCH_S,
    SCORING_KIND_NAMES,
    SLEEP_STAGES,
    TRACK_INPUTS,
)

from .answer_format import epoch_ref, event_list, in_hours, num
from .clinical import (
    NO_REFERENCE,
    REFERENCE_NOTE,
    central_reading,
    no_reference,
    position_caution,
    position_minutes,
    positional_reading,
)
from .localize_answers import localize_events
from .provenance import hypopneas_lower_bound
from .query_answers import compose_query
from .recording_info import compose_recording_info
from .vocab import METRIC_LABELS, METRIC_SCORING_KIND, metric_label


def _table(columns: list[str], rows: list[dict[str, Any]]) -> str:
    head = "| " + " | ".join(columns) + " |\n|" + "---|" * len(columns)
    body = "\n".join("| " + " | ".join(_cell(r.get(c)) for c in columns) + " |" for r in rows)
    return f"{head}\n{body}" if rows else "(no rows: nothing matches)"


def _cell(v: Any) -> str:
    return f"{round(v, 2):g}" if isinstance(v, float) else num(v)


def _subject(s: dict[str, Any]) -> str:
    if not s:
        return "subject unknown"
    parts = [f"{num(s.get('age'), 0)} y" if s.get("age") is not None else None, s.get("sex"), s.get("phenotype"),
             f"site {s['site']}" if s.get("site") else None]
    known = ", ".join(p for p in parts if p)
    if not s.get("subject_id"):
        return f"subject unknown ({known})" if known else "no subject details recorded"
    return f"subject {s.get('subject_id')} ({known or 'no age, sex or phenotype recorded'})"


def _automatic(scoring: dict[str, dict[str, str]]) -> str:
    """The kinds of annotation scored by a program, each with the program's name ('' when none): "sleep stages
    (YASA 0.8.1 SleepStaging …), respiratory events and oxygen desaturations (sleeplm AASM rule scorer v1)"."""
    by_method: dict[str, list[str]] = {}
    for kind, v in scoring.items():
        if v.get("state") == "automatic":
            by_method.setdefault(v.get("method", "").split(";")[0].strip(), []).append(SCORING_KIND_NAMES.get(kind, kind))
    return "; ".join(" and ".join(kinds) + (f" ({method})" if method else "") for method, kinds in by_method.items())


#: Night metrics read from the body-position channel.
_POSITION_METRICS = ("supine_pct", "left_pct", "right_pct", "prone_pct", "upright_pct", "supine_ahi_per_h",
                     "non_supine_ahi_per_h")


#: Night metrics read from the SpO2 channel (not a model input: a recording may lack it).
_SPO2_METRICS = ("spo2_min_pct", "spo2_mean_pct", "t90_min", "ct90_pct")


def _metric_value(col: str, v: Any, metrics: dict[str, Any], stage_epochs: dict[str, int] | None = None,
                  scoring: dict[str, dict[str, str]] | None = None, missing: list[str] | None = None) -> str:
    label = metric_label(col)
    if v is None and col in _POSITION_METRICS and "POS" in (missing or []):
        return f"**{label}: not available** — the recording has no body-position channel"
    staging = (scoring or {}).get("stages") or {}
    if v is None and staging.get("state") == "not scored":
        reason = f" ({staging['reason']})" if staging.get("reason") else ""
        return (f"**{label}: not available** — sleep stages were not scored in this recording{reason}, so no night "
                "metric was computed")
    kind = (scoring or {}).get(METRIC_SCORING_KIND.get(col, ""), {})
    if v is None and kind.get("state") == "not scored":
        name = SCORING_KIND_NAMES.get(METRIC_SCORING_KIND[col], METRIC_SCORING_KIND[col])
        return f"**{label}: not available** — {name} were not scored in this night" + (
            f" ({kind['reason']})" if kind.get("reason") else "")
    if v is None:
        stage = "REM" if col in ("rem_latency_min", "rem_pct", "ahi_rem_per_h") else col.split("_")[1].upper() \
            if col.startswith("hr_") else None
        no_sleep = metrics.get("tst_min") in (0, 0.0)
        why = (" — no sleep was scored, so per-hour indices are undefined" if no_sleep and col.endswith("_per_h") else
               " — no sleep was scored, so shares of sleep time are undefined"
               if no_sleep and metric_label(col).endswith("% of TST)") else "")
        if col == "hr_sleep_bpm" and stage_epochs is not None and not any(stage_epochs.get(s) for s in SLEEP_STAGES):
            why = " — no epoch of this night is scored as sleep, so it is undefined"
        elif stage and stage_epochs is not None and not stage_epochs.get("W" if stage == "W" else stage):
            why = f" — no epoch of this night is scored {stage}, so it is undefined"
        elif col in _SPO2_METRICS and not no_sleep:
            why = (" — no valid SpO2 reading covers this night's sleep (no SpO2 channel, or, for T90, a reading in fewer "
                   "than half of the sleep epochs)")
        return f"**{label}: not available**{why}"
    text = f"**{label}: {num(v)}**"
    if METRIC_LABELS.get(col, ("", ""))[1] == "min":
        text += in_hours(v)
    if col == "waso_min":  # where it ends is a convention that differs between tools
        text += " — wake from sleep onset to the end of the recording, the final awakening included"
    if col == "ahi_per_h":
        tst = metrics.get("tst_min")
        severity = ahi_severity(float(v), float(tst) if isinstance(tst, (int, float)) else None)
        graded = not severity.startswith("not graded")
        if graded and hypopneas_lower_bound(scoring or {}) and float(v) < 30:  # the true index may be higher
            severity = ("severity unknown" if severity == "normal" else f"at least {severity}") + "; a lower bound, see below"
        text += f" ({severity})"
    caution = position_caution(label, position_minutes(metrics, col))
    if caution:
        text += f" — {caution}"
    return text


#: Night metrics that take the recording's start as lights-off or its end as lights-on.
_LIGHTS_METRICS = ("sleep_latency_min", "sleep_efficiency_pct", "tib_min", "waso_min", "rem_latency_min")
#: A recording shorter than this (hours) is not read as a whole night.
SHORT_RECORDING_H = 4.0
_BREATHING_METRICS = ("ahi_per_h", "oai_per_h", "cai_per_h", "hypopnea_index_per_h", "supine_ahi_per_h",
                      "non_supine_ahi_per_h", "ahi_rem_per_h", "ahi_nrem_per_h", "n_apneas", "n_hypopneas")


def _recording_caveats(r: dict[str, Any]) -> list[str]:
    """What the recording itself limits in the metrics shown: a recording shorter than a night (latencies and
    efficiency assume it runs from lights-off to lights-on), breathing events scored without an airflow channel."""
    shown = [c for c, v in (r["requested_metrics"] or r["key_metrics"]).items() if v is not None]
    out = []
    lights = [METRIC_LABELS[c][0] for c in shown if c in _LIGHTS_METRICS]
    if lights and isinstance(r.get("duration_h"), (int, float)) and r["duration_h"] < SHORT_RECORDING_H:
        named = ", ".join(lights[:-1]) + (" and " if len(lights) > 1 else "") + lights[-1]
        out.append(f"This recording is {num(r['duration_h'], 2)} h long, shorter than a night: its {named} "
                   f"{'are' if len(lights) > 1 else 'is'} computed as if it began at lights-off and ended at lights-on, which a recording cut from a night "
                   "does not show; read them as values of this recording, not of the night.")
    if "AF" in (r.get("missing_channels") or []) and any(c in _BREATHING_METRICS for c in shown):
        out.append("This recording has no airflow channel: its scored apneas and hypopneas cannot be checked against a "
                   "flow signal here (they are the file's annotations as scored), and without airflow the AASM rules "
                   "allow only a respiratory-belt surrogate.")
    return out


def describe_night(r: dict[str, Any]) -> str:
    end = f" → {r['end_time']}" if r.get("end_time") else ""
    lines = [f"**{r['recording']}** — {_subject(r['subject'])}; recorded {r['start_time'] or 'at an unknown time'}"
             + f"{end}, {r['n_epochs']} epochs ({num(r['duration_h'], 2)} h)."]
    for col, v in r["requested_metrics"].items():
        lines.append(_metric_value(col, v, r["all_metrics"], r.get("stage_epochs"), r.get("scoring"),
                                   r.get("missing_channels")))
        if col == "spo2_min_pct" and r.get("spo2_nadir_at"):
            at = r["spo2_nadir_at"]
            during = ", during " + event_list(at["events"]) if at.get("events") else ""
            where = f"body position {at['position']}" if at.get("position") else "body position not known (no " \
                "position channel read in this night)"
            lines.append(f"The nadir is in epoch {at['epoch_index']} ({at['clock_time']}), scored {at['stage']}{during}; "
                         f"{where}.")
        first = (r.get("first_epochs") or {}).get(col)
        if first:
            what = "The first epoch scored sleep" if col == "sleep_latency_min" else "The first epoch scored REM"
            lines.append(f"{what} is epoch {first['epoch_index']} ({first['clock_time']}, {first['stage']}).")
        last = (r.get("first_epochs") or {}).get("last_sleep") if col == "waso_min" else None
        if last:  # "when did X wake up for good?"
            final = r["first_epochs"].get("final_awakening")
            lines.append(f"The last epoch scored sleep is epoch {last['epoch_index']} ({last['clock_time']}, {last['stage']}); "
                         + (f"the final awakening begins with epoch {final['epoch_index']} ({final['clock_time']}, scored "
                            f"{final['stage']})." if final else "the recording ends in sleep."))
        ref = (r.get("references") or {}).get(col)
        if ref and not ref.startswith(NO_REFERENCE):  # "is that normal?": against the adult reference
            lines.append(ref)
    unjudged = [metric_label(c).split(" (")[0] for c, ref in (r.get("references") or {}).items()
                if ref and ref.startswith(NO_REFERENCE)]
    if unjudged:  # said once for every measure without one
        lines.append(no_reference(unjudged, r["recording"]))
    if r.get("references"):
        lines.append(REFERENCE_NOTE)
    if not r["requested_metrics"]:
        key = " · ".join(f"{metric_label(k)} {num(v)}" for k, v in r["key_metrics"].items() if v is not None)
        if key:
            lines.append(f"Key metrics: {key}.")
        if r["night_summary"]:
            lines.append(f"Summary: {r['night_summary']}")
    lines += _recording_caveats(r)
    positional = positional_reading(r["requested_metrics"].get("supine_ahi_per_h"),
                                    r["requested_metrics"].get("non_supine_ahi_per_h"), r["all_metrics"].get("ahi_per_h"))
    if positional:
        lines.append(positional)
    if {"ahi_rem_per_h", "ahi_nrem_per_h"} <= set(r["requested_metrics"]):
        m = r["all_metrics"]
        staged = ((r.get("scoring") or {}).get("stages") or {}).get("state") != "not scored"
        rem_min = (r.get("stage_epochs") or {}).get("REM", 0) * EPOCH_S / 60.0 if staged else None
        lines.append(rem_related_reading(m.get("ahi_per_h"), m.get("ahi_rem_per_h"), m.get("ahi_nrem_per_h"), rem_min))
    sc = r.get("scoring") or {}
    ahi = r["requested_metrics"].get("ahi_per_h") if r["requested_metrics"] else r["key_metrics"].get("ahi_per_h")
    shows_ahi = isinstance(ahi, (int, float)) and math.isfinite(ahi)  # no "lower bound" beside an AHI of n/a
    central = central_reading(ahi, r["all_metrics"].get("cai_per_h"), asked="cai_per_h" in r["requested_metrics"]) \
        if shows_ahi else None
    if central:  # "since sim-0006 has OSA, how severe is it?": the AHI is not obstructive by default
        lines.append(central)
    if shows_ahi and hypopneas_lower_bound(sc):
        lines.append("The AHI is a lower bound here: arousals were not scored, so a hypopnea marked by an arousal "
                     "alone (AASM: a ≥ 30 % drop in flow with a ≥ 3 % desaturation *or* an arousal) could not be "
                     "counted; only hypopneas with a desaturation are.")
    stages = ", ".join(f"{k} {v}" for k, v in r["stage_epochs"].items())
    unscored = [k for k, v in (r.get("scoring") or {}).items() if k != "stages" and v.get("state") == "not scored"]
    events = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in r["event_counts"].items()) or (
        "none" if not unscored else "none stored")
    lines.append(f"Stages (epochs): {stages}. Scored events: {events}.")
    if unscored:
        lines.append("Not scored in this night (by a person or automatically), so unknown rather than absent: "
                     + ", ".join(SCORING_KIND_NAMES.get(k, k) for k in unscored) + ".")
    auto = _automatic(r.get("scoring") or {})
    if auto:
        lines.append(f"Scored automatically, not by a person: {auto}.")
    if r["events"]:
        shown = "; ".join(f"{e['type'].replace('_', ' ')} at epoch {e['epoch_index']} ({e['clock_time']})"
                          for e in r["events"][:5])
        lines.append(f"First events: {shown}{' …' if r['n_events'] > 5 else ''}.")
    if r["missing_channels"]:
        lines.append(f"Missing channels: {', '.join(r['missing_channels'])}.")
    if r.get("file_notes"):
        lines.append("Reading this night's files changed or found: " + "; ".join(r["file_notes"]) + ".")
    lines.append(f"Evidence: {r['recording']}, epochs 0–{r['n_epochs'] - 1}"
                 f"{' (' + r['start_time'][11:19] + '–' + r['end_time'] + ')' if r.get('end_time') else ''}"
                 f"{'; figure: hypnogram with scored events' if r['figures'] else ''}.")
    return "\n\n".join(lines)


_BREATHING = re.compile(r"apn|hypopn|breath|respirat|desaturat", flags=re.IGNORECASE)
#: What in a model caption speaks of an event of each scoring kind.
_KIND_WORDS: dict[str, re.Pattern[str]] = {
    "respiratory": re.compile(r"apn|hypopn|breathing event|respiratory event", flags=re.IGNORECASE),
    "desaturation": re.compile(r"desaturat|nadir", flags=re.IGNORECASE),
    "arousal": re.compile(r"arousal", flags=re.IGNORECASE),
    "limb_movement": re.compile(r"limb|leg movement", flags=re.IGNORECASE),
}


def _unseen_breathing(absent: list[str] | None, text: str) -> bool:
    """A caption that speaks of breathing events for a recording with none of the breathing inputs."""
    return bool(absent) and all(c in absent for c in TRACK_INPUTS["respiratory"]) and bool(_BREATHING.search(text))


def _unscored_claims(unscored: list[str], text: str) -> list[str]:
    """The kinds of event, nobody scored in this recording, that a model caption speaks of."""
    return [k for k in unscored if k in _KIND_WORDS and _KIND_WORDS[k].search(text)]


def caption_epochs(r: dict[str, Any]) -> str:
    out = []
    for e in r["epochs"]:
        out.append(f"**{r['recording']} epoch {e['epoch_index']}** ({e['clock_time'] or 'no clock time'}) — "
                   f"stage {e['stage']}, {event_list(e['event_types'])}.")
        for t in r["tracks"]:
            line = f"- *{t}* — reference: {e['reference'].get(t) or '(none)'}"
            withheld = (r.get("withheld") or {}).get(t)
            absent = (r.get("absent_inputs") or {}).get(t)
            if withheld:
                line += f"\n  - model: withheld — {withheld}"
            elif e["model"] is not None:
                lacks = (f" (this recording lacks {', '.join(absent)}: what the caption says of "
                         f"{'it' if len(absent) == 1 else 'them'} is not a reading)") if absent else ""
                text = e["model"].get(t) or "(empty)"
                no_basis = bool(absent) and all(c in absent for c in (*TRACK_INPUTS["respiratory"], "ECG"))
                spo2 = ("; SpO2 is not one of the model's inputs, so a desaturation or an SpO2 value in its caption "
                        + ("could only be inferred from breathing and heart signals, and this recording has neither: "
                           "it has no basis here" if no_basis else
                           "is inferred from breathing and heart signals, never measured")) if re.search(
                    r"desaturat|spo2|saturation|nadir", text, flags=re.IGNORECASE) else ""
                if lacks and spo2:
                    lacks = lacks[:-1] + spo2 + ")"
                elif spo2:
                    lacks = f" ({spo2[2:]})"
                if t in (r.get("grounded") or []):  # one parenthesis: who read the numbers, then what is lacking
                    who = ("apneas, hypopneas and arousals read from the signal by the fact reader's event head, "
                           "estimates" if t == "stage_event" else "numbers read from the signal by the fact reader, "
                           "estimates")
                    lacks = f" ({who}; {lacks[2:]}" if lacks else f" ({who})"
                line += f"\n  - model{lacks}: {text}"
                unseen = t == "stage_event" and _unseen_breathing(absent, text)
                if unseen:
                    line += ("\n  - this recording has no airflow or effort channel, so whether breathing events "
                             "happened here is unknown: what the caption says about them, present or absent, "
                             "is not a finding")
                guessed = [k for k in _unscored_claims(r.get("unscored_kinds") or [], text)
                           if not (unseen and k in ("respiratory", "desaturation"))] if t == "stage_event" else []
                if guessed:
                    names = " and ".join(SCORING_KIND_NAMES.get(k, k) for k in guessed)
                    line += (f"\n  - {names} were not scored in this recording (by a person or a program): what "
                             "the caption says of them is the model's guess, with no scoring to check it against")
            out.append(line)
    if r.get("model_note"):
        out.append(f"Model captions unavailable: {r['model_note']}")
    if r.get("range_clipped_to"):
        out.append(f"(Range cut to {r['range_clipped_to']} epochs.)")
    return "\n".join(out)


def show_epoch(r: dict[str, Any]) -> str:
    head = f"**{r['recording']} epoch {r['epoch_index']}** ({r['clock_time'] or 'no clock time'}, "
    lines = [head + f"{num(r['onset_s'], 0)} s from the start) — stage {r['stage']}, {event_list(r['event_types'])}."]
    for e in r["events"]:
        lines.append(f"- {e['type'].replace('_', ' ')} from {num(e['start_s'])} to {num(e['end_s'])} s of the epoch "
                     f"(event began {e['event_onset_clock']})")
    measured = r.get("measured") or {}
    if measured:
        shown = [f"mean heart rate {num(measured.get('hr_mean_bpm'))} bpm" if measured.get("hr_mean_bpm") is not None
                 else "heart rate not measured (no usable ECG in this epoch)",
                 f"SpO2 mean {num(measured.get('spo2_mean_pct'))} %, lowest {num(measured.get('spo2_min_pct'))} %"
                 if measured.get("spo2_min_pct") is not None else "SpO2 not measured (no usable oximetry in this epoch)"]
        lines.append("Measured in this epoch: " + "; ".join(shown) + ".")
    if r["reference_caption"]:
        lines.append(f"Reference caption: “{r['reference_caption']}”")
    absent = [c["name"] for c in r["channels"] if not c["present"]]
    if r["figures"]:
        lines.append("Figure: the 10 model channels" + (f" (absent: {', '.join(absent)})" if absent else "") + ".")
    if r.get("signal_note"):
        lines.append(f"No signal plot: {r['signal_note']}")
    return "\n\n".join(lines)


def _hit_line(h: dict[str, Any], rank: int | None = None, cosine: bool = True) -> str:
    return (f"{rank or h['rank']}. {epoch_ref(h)} — {h['stage']}, {event_list(h['event_types'])}"
            + (f"; cosine {num(h['score'], 3)}" if cosine else ""))


def search_epochs(r: dict[str, Any]) -> str:
    flt = ", ".join(f"{k} {v}" for k, v in r["filters"].items())
    if r.get("in_time_order"):
        lines = [f"Epochs meeting the filters ({flt}), in time order:"]
        lines += [_hit_line(h, i, cosine=False) for i, h in enumerate(r["hits"], 1)] or [
            f"none: {r.get('why_empty') or 'no epoch meets the filters'}."]
    else:
        lines = [f"Top {len(r['hits'])} epochs for “{r['description']}”"
                 + (f" (filters: {flt})" if flt else "") + ":"]
        lines += [_hit_line(h) for h in r["hits"]] or [f"none: {r.get('why_empty') or 'no epoch meets the filters'}."]
    selected = r.get("n_selected")
    if selected is not None and selected > len(r["hits"]):
        lines.append(f"{selected} epochs meet the filters; the {len(r['hits'])} shown are those the description ranks "
                     "first (ask for more, e.g. \"top 50\", to see others).")
    elif selected is not None:
        lines.append(f"These are all {selected} epochs that meet the filters.")
    a = r["annotation_agreement"]
    checks, notes = [], []
    for key, n_hit, what in (("stage", a["hits_in_named_stage"], f"are scored {'/'.join(a['named_stages'])}"),
                             ("event", a["hits_with_named_event"], f"overlap a scored {event_list(a['named_events'])}")):
        if n_hit is None:
            continue
        kind = "stages" if key == "stage" else event_list(a["named_events"]) + " events"
        checked = a.get(f"{key}_checked", len(r["hits"]))
        if checked:
            scope = "" if checked == len(r["hits"]) else " from nights where they were scored"
            checks.append(f"{n_hit} of {checked}{scope} {what}")
        if a.get(f"{key}_not_scored_in"):
            notes.append(f"{kind} were not scored in {', '.join(a[f'{key}_not_scored_in'])}, so its epochs here "
                         "cannot be checked (unknown, not absent)")
        if a.get(f"{key}_by_program_in"):
            notes.append(f"{kind} of {', '.join(a[f'{key}_by_program_in'])} were scored by a program, not a person")
    if a.get("named_position"):  # the description's position is read by the model, never filtered
        pos = a["named_position"].replace("_", "-")
        checks.append(f"{a['hits_in_named_position']} of {a['position_checked']} with a known position are {pos}"
                      if a["position_checked"] else f"none has a known body position to check \"{pos}\" against")
    if checks:
        lines.append("Annotation check: " + "; ".join(checks) + ".")
    if notes:
        lines.append("Note: " + "; ".join(notes) + ".")
    missed = r.get("stage_missed")
    if missed:
        named = " or ".join(missed["stages"])
        lines.append(f"**The model's text search misses {named} here**: fewer than half of these epochs are scored "
                     f"{named}, so this ranking is not a way to find {named} in these nights. "
                     + (f"{missed['n_scored']} epochs are scored {named}: *find epochs scored {missed['stages'][0]}* "
                        "lists them (the description then only orders them)." if missed["n_scored"] else
                        f"No epoch of these nights is scored {named}."))
    if r.get("hits_without_inputs"):
        n = r["hits_without_inputs"]
        lines.append(f"{'All' if n == len(r['hits']) else n} of these epochs have no {r['event_inputs']} (what "
                     f"{event_list(a['named_events'])} events are read from): where they stand in this list says nothing "
                     "about those events.")
    if r.get("unchecked"):
        lines.append("\n" + unchecked_search_text(r["unchecked"]))
    return "\n".join(lines)


def unchecked_search_text(u: dict[str, Any]) -> str:
    """Why a search for something other than a stage or a scored event is unverified, and what the model's text
    search was measured to do on such descriptions."""
    head = ("**Unverified order.** The description names no sleep stage and no scored event, so no annotation can "
            "check these epochs. ")
    tail = (" For measured values, select epochs by heart rate or SpO2 (\"epochs with a heart rate above 90\") or "
            "read an epoch's reference captions, which are computed from its signals.")
    m = u.get("measured")
    if not m:
        return head + "No measurement of this model's text search on other descriptions is known." + tail
    r10 = [v["r_at_10"] for v in m.values()]
    chance = max(v["chance_r_at_10"] for v in m.values())
    verdict = ("no better than chance" if max(r10) < 2 * chance else
               "above chance but far from reliable" if max(r10) < 0.5 else "well above chance")
    span = f"{min(r10):.3f}" if min(r10) == max(r10) else f"{min(r10):.3f}–{max(r10):.3f}"
    tracks = list(m)
    named = ", ".join(tracks[:-1]) + f" or {tracks[-1]}" if len(tracks) > 1 else tracks[0]
    where = f" on {u['measured_on']}" if u.get("measured_on") else ""
    return (head + f"This model's text search was measured {verdict} on such descriptions: a {named} caption "
            f"finds its own epoch among the 10 best with R@10 {span} (chance {chance:.3f}){where}; "
            f"{u.get('source') or 'its measured record'}." + tail)


def similar_epochs(r: dict[str, Any]) -> str:
    q = r["query_epoch"]
    lines = [f"Epochs most like **{epoch_ref(q)}** ({q['stage']}, {event_list(q['event_types'])}):"]
    lines += [_hit_line(h) for h in r["hits"]]
    scores = [h["score"] for h in r["hits"]]
    if scores and min(scores) >= 0.999:
        lines.append("These epochs' vectors are near-identical to it (cosine ≥ 0.999): the model does not tell them "
                     "apart, so their order means nothing.")
    if q["stage"] in (None, "UNKNOWN"):
        lines.append("Its stage was not scored, so whether the matches share it cannot be checked.")
    else:
        lines.append(f"{r['same_stage']} of {len(r['hits'])} share its annotated stage.")
    return "\n".join(lines)


def similar_nights(r: dict[str, Any]) -> str:
    me = r["night"]
    if not r["hits"]:
        return f"No other nights to compare with {me['recording']}."
    cols = [me["recording"]] + [h["recording"] for h in r["hits"]]
    head = "| | " + " | ".join(cols) + " |\n|---|" + "---|" * len(cols)
    rows = ["| similarity | 1 | " + " | ".join(num(h["score"], 3) for h in r["hits"]) + " |",
            "| phenotype | " + " | ".join(num(x["subject"].get("phenotype")) for x in [me, *r["hits"]]) + " |"]
    for m in me["metrics"]:
        rows.append(f"| {metric_label(m)} | {num(me['metrics'].get(m))} | "
                    + " | ".join(num(h["metrics"].get(m)) for h in r["hits"]) + " |")
    why = "; ".join(f"{h['recording']}: " + (f"{', '.join(metric_label(m) for m in h['closest_metrics'])}"
                                              if h["closest_metrics"] else "none")
                    + (" (same phenotype)" if h["same_phenotype"] else "") for h in r["hits"])
    notes = []
    for x in [me, *r["hits"]]:
        auto = _automatic(x.get("scoring") or {})
        if auto:
            notes.append(f"{x['recording']}: scored automatically, not by a person: {auto}")
        if hypopneas_lower_bound(x.get("scoring") or {}) and x["metrics"].get("ahi_per_h") is not None:
            notes.append(f"{x['recording']}: the AHI is a lower bound (arousals were not scored, so hypopneas marked by "
                         "an arousal alone could not be counted)")
    return (f"Nights most like **{me['recording']}** ({_subject(me['subject'])}), metrics side by side:\n\n"
            f"{head}\n" + "\n".join(rows)
            + f"\n\nStored metrics within half a cohort SD of {me['recording']}'s: {why}. The similarity is the model's, "
            "from the nights' epoch vectors; these metrics are a comparison after the fact, not its reason."
            + "".join(f"\n\n{n}." for n in notes))


def cohort_stats(r: dict[str, Any]) -> str:
    q, by = r["question"], r["by"]
    if q == "scoring":
        n = len(r["rows"])

        def names(v: list[str]) -> str:
            return f"{len(v)} of {n}" + (f" ({', '.join(v[:12])}{' …' if len(v) > 12 else ''})" if v else "")

        return (f"**Who scored each night** (as stored at ingest): every annotation from the scoring file supplied "
                f"with the recording: {names(r['all_by_a_person'])}; some annotation scored automatically by this "
                f"program: {names(r['some_automatic'])}; some annotation scored by nobody: "
                f"{names(r['some_not_scored'])}.\n\n"
                + _table(r["columns"], r["rows"]) + "\n\nWhether a person or another program made a supplied scoring "
                "file is not recorded in it, so I cannot say who scored those nights; \"from file\" means the "
                "annotations came with the recording. A value resting on this program's automatic scoring is its "
                "reading, not a person's; an annotation nobody scored is unknown, not absent.")
    if q == "count_nights":
        text = f"There are **{r['n_nights']} nights** in this cohort: {', '.join(r['recordings'][:30])}" \
               f"{' …' if r['n_nights'] > 30 else ''}."
        if by:
            text += f"\n\nBy {by}:\n\n" + _table(r["columns"], r["rows"])
        return text
    title = {"count_epochs": "Epoch counts", "stage_distribution": "Stage distribution (w_pct … rem_pct: % of scored epochs, wake "
                                                 "included; n1_sleep_pct … rem_sleep_pct: % of sleep epochs, for one "
                                                 "night the % of total sleep time)",
             "event_counts": "Scored events", "list_nights": "Nights",
             "compare_metric": metric_label(r["metric"] or "")}[q]
    flt = "; ".join(str(v) for v in r["filters"].values())
    if r.get("no_night"):
        return f"**{title}**: no night in this cohort meets the conditions ({flt}), so there is nothing to count."
    lines = [f"**{title}**{' by ' + by if by else ''}{' (' + flt + ')' if flt else ''}:", _table(r["columns"], r["rows"])]
    if q == "compare_metric":
        ranked = [x for x in r["rows"] if x.get("mean") is not None]
        if ranked:
            top = max(ranked, key=lambda x: x["mean"])
            lines.append(f"Highest mean: {top[by]} ({num(top['mean'], 2)}, n = {top['nights']}).")
        per = r.get("per_night") or []
        if per:
            lines.append("Per night: " + "; ".join(f"{p['recording']} {_cell(p[r['metric']])}" for p in per[:12])
                         + (" …" if len(per) > 12 else "") + ".")
    for words, per_night in (r.get("unmeasured") or {}).items():
        total = sum(per_night.values())
        where = ", ".join(f"{k} {v}" for k, v in list(per_night.items())[:8]) + (" …" if len(per_night) > 8 else "")
        lines.append(f"Not counted: {total} epoch(s) with no {words} value ({where}): unknown, so neither above nor "
                     "below the threshold.")
    groups = r.get("nights_per_group")
    if groups:
        lines.append("Nights in each group: " + "; ".join(f"{g}: {', '.join(v[:8])}{' …' if len(v) > 8 else ''}"
                                                         for g, v in groups.items()) + ".")
    lines += scoring_note_lines(r.get("scoring_notes") or {}, q)
    return "\n\n".join(lines)


def scoring_note_lines(notes: dict[str, dict[str, list[str]]], question: str = "") -> list[str]:
    """What a cohort table's numbers rest on: the nights a program scored, and the nights nobody scored (unknown,
    left out), per kind of annotation."""

    def nights(v: list[str]) -> str:
        return ", ".join(v[:8]) + (" …" if len(v) > 8 else "")

    auto = [f"{SCORING_KIND_NAMES.get(k, k)} of {nights(d['automatic'])}" for k, d in notes.items() if d.get("automatic")]
    none = [f"{SCORING_KIND_NAMES.get(k, k)} in {nights(d['not_scored'])}" for k, d in notes.items() if d.get("not_scored")]
    out = []
    if auto:
        out.append("Scored automatically by a program, not by a person: " + "; ".join(auto) + ".")
    if none:
        left = "left out of the per-night means" if question == "event_counts" else "left out of these numbers"
        out.append("Not scored by anyone (unknown, not zero; " + left + "): " + "; ".join(none) + ".")
    return out


def rem_related_nights(r: dict[str, Any]) -> str:
    def v(x: Any) -> str:
        return "∞" if x == "inf" else num(x) if isinstance(x, (int, float)) else "n/a"

    def verdict(x: bool | None) -> str:
        return "yes" if x else "unknown" if x is None else "no"

    rule = r["rule"]
    lines = [f"**REM-related OSA** over {r['scope']} — usual rule: {rule['usual']}; stricter: {rule['strict']}.",
             f"- by the usual rule: {len(r['usual'])} ({', '.join(r['usual']) or 'none'})",
             f"- also by the stricter rule: {len(r['strict'])} ({', '.join(r['strict']) or 'none'})"]
    if r["unknown"]:
        lines.append(f"- cannot be assessed: {len(r['unknown'])} ({', '.join(r['unknown'])}); the reason is in the "
                     "table")
    lines += ["", "| night | AHI | REM AHI | NREM AHI | REM min | REM/NREM | usual | stricter | note |",
              "|---|---|---|---|---|---|---|---|---|"]
    for n in r["nights"]:
        auto = " and ".join({"stages": "stages", "respiratory": "respiratory events"}[k] for k in n.get("automatic", []))
        note = "; ".join(x for x in (n["why"], "AHI a lower bound (arousals not scored)" if n["ahi_lower_bound"] else "",
                                     f"{auto} scored by a program" if auto else "") if x)
        lines.append(f"| {n['recording']} | {v(n['ahi_per_h'])} | {v(n['ahi_rem_per_h'])} | {v(n['ahi_nrem_per_h'])} | "
                     f"{v(n['rem_min'])} | {v(n['ratio'])} | {verdict(n['usual'])} | {verdict(n['strict'])} | {note} |")
    if any(n["ahi_lower_bound"] for n in r["nights"]):
        lines.append("\nWhere the AHI is a lower bound, a night read as under 5 might not be.")
    return "\n".join(lines)


COMPOSERS: dict[str, Callable[[dict[str, Any]], str]] = {
    "describe_night": describe_night, "caption_epochs": caption_epochs, "show_epoch": show_epoch,
    "localize_events": localize_events, "search_epochs": search_epochs, "similar_epochs": similar_epochs,
    "similar_nights": similar_nights, "cohort_stats": cohort_stats, "query_cohort": compose_query,
    "rem_related_nights": rem_related_nights, "recording_info": compose_recording_info,
}


def compose(tool: str, result: dict[str, Any] | None, error: str | None = None) -> str:
    """The answer for one tool result (or its error)."""
    if error is not None or result is None:
        text = (error or "it returned nothing").removeprefix("Error: ")
        return f"I could not run `{tool}`: {text}"
    composer = COMPOSERS.get(tool)
    text = str(result.get("summary", result)) if composer is None else composer(result)
    return text + ood_line(result.get("ood"))


def ood_line(ood: dict[str, Any] | None) -> str:
    """The model's out-of-distribution score of the recordings an answer rests on ("" when unknown)."""
    if not ood or not ood.get("scores"):
        return ""
    scores, thr = ood["scores"], ood["threshold"]
    over = sorted(k for k, v in scores.items() if v > thr)
    shown = ", ".join(f"{k} {v:.2f}" for k, v in sorted(scores.items())[:6])
    if over:
        return (f"\n\nCaution: {', '.join(over[:6])} {'lies' if len(over) == 1 else 'lie'} outside the model's training data (out-of-distribution "
                f"score {shown}; above {thr:g} = further than 99 % of simulated training epochs). The model's "
                "captions, similarities and stages there are extrapolations.")
    return f"\n\nOut-of-distribution score: {shown} (within the training data; above {thr:g} would be outside)."
