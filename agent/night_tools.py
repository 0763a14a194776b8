"""The tools about one night: describe it, caption or show its epochs, localize events in it.

Each function takes the session's :class:`~sleeplm.agent.context.ToolContext` and plain
arguments and returns a JSON-ready dict with ``summary`` (one line), ``focus`` (the night /
epoch it is about), ``figures`` (PNG paths) and the evidence: recording, epoch indices and
clock times.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
from sleeplm.encoder.captions.facts import TRACKS, canonical_track
from sleeplm.encoder.captions.grounded import grounded_captions, grounded_stage_event
from sleeplm.encoder.io.records import EPOCH_S, SLEEPLM_CHANNELS
from sleeplm.encoder.model.facts import FACT_TRACKS, event_inputs_present
from sleeplm.encoder.pipeline import night_emg_reference, read_facts
from sleeplm.encoder.vocab import (
    APNEAS,
    SCORING_KIND_NAMES,
    SCORING_KINDS,
    SLEEP_STAGES,
    absent_track_inputs,
    withheld_caption_reason,
)
from sleeplm.index.ood import THRESHOLD as OOD_THRESHOLD
from sleeplm.index.querytext import parse_query

from . import lookup, plots
from .clinical import reference_reading
from .context import ToolContext
from .provenance import hypopneas_lower_bound
from .vocab import KEY_METRICS, event_input_words, metric_label, resolve_metric

MAX_EVENTS_LISTED = 12


def describe_night(ctx: ToolContext, recording: str | None = None, metrics: list[str] | None = None,
                   plot: bool = True, reference: bool = False) -> dict[str, Any]:
    """Subject, night metrics, the rendered night summary, stage and event counts, a hypnogram; with ``reference``,
    each requested metric against the adult reference where one exists ("is that normal?")."""
    n = ctx.night(recording)
    all_metrics, summary = lookup.metrics(ctx.cohort, n)
    requested = {}
    for m in metrics or []:
        col = resolve_metric(m, [k for k, v in all_metrics.items() if isinstance(v, (int, float)) or v is None])
        requested[col] = all_metrics.get(col)
    rows = lookup.epochs(ctx.cohort, n)
    evs = lookup.events(ctx.cohort, n)
    counts: dict[str, int] = {}
    for e in evs:
        counts[e["type"]] = counts.get(e["type"], 0) + 1
    start = lookup.hhmmss(n.start_time)
    figures = []
    if plot:
        figures.append(str(plots.hypnogram(
            ctx.figure_path("hypnogram", n.recording), [r["onset_s"] for r in rows], [r["stage"] for r in rows],
            [(e["type"], e["onset_s"], e["duration_s"]) for e in evs],
            title=f"{n.recording} — hypnogram and scored events", start_clock=start, cache=ctx.figure_cache)))
    nadir_at = None
    if "spo2_min_pct" in requested and requested["spo2_min_pct"] is not None:  # "when was the lowest SpO2?"
        at = ctx.cohort.spo2_nadir_epoch(n.recording_id)
        if at is not None:
            nadir_at = {"epoch_index": at.epoch_index, "clock_time": _when(n, at.onset_s), "stage": at.stage,
                        "events": at.event_types, "position": at.position}
    firsts = {}  # "what time did X fall asleep?": where the latency ends, from the scored hypnogram
    for col, stages in (("sleep_latency_min", SLEEP_STAGES), ("rem_latency_min", ("REM",))):
        if col in requested and requested[col] is not None:
            first = next((r for r in rows if r["stage"] in stages), None)
            if first is not None:
                firsts[col] = {"epoch_index": first["epoch_index"], "clock_time": _when(n, first["onset_s"]),
                               "stage": first["stage"]}
    if "waso_min" in requested and requested["waso_min"] is not None:  # where the last sleep ends: the final awakening
        i = next((i for i in range(len(rows) - 1, -1, -1) if rows[i]["stage"] in SLEEP_STAGES), None)
        if i is not None:
            def at(r: dict[str, Any]) -> dict[str, Any]:
                return {"epoch_index": r["epoch_index"], "clock_time": _when(n, r["onset_s"]), "stage": r["stage"]}

            firsts["last_sleep"] = at(rows[i])
            firsts["final_awakening"] = at(rows[i + 1]) if i + 1 < len(rows) else None
    key = {k: all_metrics[k] for k in KEY_METRICS if k in all_metrics}
    shown = requested or {k: key[k] for k in ("ahi_per_h", "tst_min", "sleep_efficiency_pct") if k in key}
    line = ", ".join(f"{metric_label(k)} {_fmt(v)}" for k, v in shown.items())
    provenance = scoring_note(n.scoring)
    subject = lookup.subject(ctx.cohort, n.subject_id)
    references = {col: reference_reading(col, v, lower_bound=col == "ahi_per_h" and hypopneas_lower_bound(n.scoring or {}),
                                         age=(subject or {}).get("age"), tst_min=all_metrics.get("tst_min"),
                                         recording=n.recording)
                  for col, v in requested.items()} if reference else {}
    return {
        "recording": n.recording,
        "subject": subject,
        "start_time": lookup.jsonable(n.start_time),
        "end_time": lookup.hhmmss(n.clock_at(n.duration_s)),
        "duration_h": round(n.duration_s / 3600.0, 2),
        "n_epochs": n.n_epochs,
        "missing_channels": n.missing_channels,
        "requested_metrics": requested,
        "spo2_nadir_at": nadir_at,
        "first_epochs": firsts,
        "references": references,
        "key_metrics": key,
        "all_metrics": all_metrics,
        "night_summary": summary,
        "scoring": n.scoring,
        "stage_epochs": lookup.stage_counts(rows),
        "file_notes": ctx.cohort.recording_notes(n.recording_id),
        "event_counts": counts,
        "events": evs[:MAX_EVENTS_LISTED],
        "n_events": len(evs),
        "figures": figures,
        "focus": {"recording": n.recording},
        "summary": (f"{n.recording}: {line}" if line else f"{n.recording}: {n.n_epochs} epochs")
                   + (f". {provenance}" if provenance else ""),
    }


def scoring_note(scoring: dict[str, dict[str, str]]) -> str:
    """One sentence naming the kinds of annotation nobody scored and those scored automatically ('' when a
    person scored everything, or when the workspace predates scoring provenance)."""
    parts = []
    for state, text in (("not scored", "Not scored"), ("automatic", "Scored automatically")):
        kinds = [k for k, v in scoring.items() if v.get("state") == state]
        if not kinds:
            continue
        desc = ", ".join(SCORING_KIND_NAMES.get(k, k) + (f" ({scoring[k]['method']})" if state == "automatic"
                         and scoring[k].get("method") else "") for k in kinds)
        parts.append(f"{text}: {desc}")
    return "; ".join(parts) + ("." if parts else "")


def _fmt(v: Any) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return f"{v:.1f}"
    return str(v)


def _tracks(tracks: list[str] | None, default: tuple[str, ...]) -> list[str]:
    if not tracks:
        return list(default)
    out = []
    for t in tracks:
        c = canonical_track(t)
        if c not in out:
            out.append(c)
    return out


def _ground(ctx: ToolContext, n: Any, first: int, last: int, generated: dict[str, list[str]],
            infos: list[dict[str, Any]]) -> list[str]:
    """Write the fact reader's numbers into the numeric tracks' captions and its event head's apneas, hypopneas and
    arousals into the stage caption (in place), when the cohort's weights have a reader
    (:mod:`sleeplm.encoder.captions.grounded`); the tracks grounded."""
    fm = getattr(ctx.cohort, "fact_model", None)
    numeric = [t for t in generated if t in FACT_TRACKS]
    stage = "stage_event" in generated and fm is not None and bool(fm.reader.event_types)
    if fm is None or not (numeric or stage):
        return []
    night_x = ctx.signals(n).x
    x = night_x[first:last + 1]
    masks = np.array([info["channel_mask"] or [True] * len(SLEEPLM_CHANNELS) for info in infos], bool)
    if numeric:
        read = read_facts(fm, x, night_emg_reference(night_x))
        for t in numeric:
            generated[t] = grounded_captions(generated[t], t, fm.values(read[0], t),
                                             read[1] if t == "somatic" else None, masks,
                                             [info["reference_captions"].get(t, "") for info in infos])
    if stage:
        events = fm.read_events(x) or []
        generated["stage_event"] = [
            grounded_stage_event(text, ev, fm.reader.event_types, {c for c, on in zip(SLEEPLM_CHANNELS, m) if on})
            for text, ev, m in zip(generated["stage_event"], events, masks)]
    return numeric + (["stage_event"] if stage else [])


def caption_epochs(ctx: ToolContext, recording: str | None = None, epoch: int | None = None,
                   clock_time: str | None = None, end_epoch: int | None = None, end_clock_time: str | None = None,
                   tracks: list[str] | None = None, generate: bool = True) -> dict[str, Any]:
    """Reference caption per track beside the model's caption, for one epoch or a range."""
    n = ctx.night(recording)
    first = ctx.epoch_index(n, epoch, clock_time)
    last = first
    if end_epoch is not None or end_clock_time:
        last = ctx.epoch_index(n, end_epoch, end_clock_time)
    if last < first:
        first, last = last, first
    limit = ctx.config.max_range_epochs
    clipped = last - first + 1 > limit
    last = min(last, first + limit - 1)
    track_list = _tracks(tracks, TRACKS if first == last else ("stage_event",))
    infos = [lookup.epoch(ctx.cohort, n, i) for i in range(first, last + 1)]
    missing = set(n.missing_channels or [])
    present = [c for c in SLEEPLM_CHANNELS if c not in missing]
    withheld = {t: why for t in track_list if (why := withheld_caption_reason(t, present))}
    partial = {t: list(a) for t in track_list if t not in withheld and (a := absent_track_inputs(t, present))}
    generated: dict[str, list[str]] | None = None
    note = None
    grounded: list[str] = []
    if generate:
        try:
            wanted = [t for t in track_list if t not in withheld]
            generated = ctx.model_captions(n, first, last, wanted, ctx.config.caption_max_len) if wanted else {}
            grounded = _ground(ctx, n, first, last, generated, infos)
        except ValueError as exc:
            note = str(exc)
    out_epochs = []
    for j, info in enumerate(infos):
        out_epochs.append({
            "epoch_index": info["epoch_index"], "clock_time": info["clock_time"], "onset_s": info["onset_s"],
            "stage": info["stage"], "event_types": info["event_types"],
            "reference": {t: info["reference_captions"].get(t, "") for t in track_list},
            "model": {t: (None if t in withheld else generated[t][j]) for t in track_list}
            if generated is not None else None,
        })
    span = f"epoch {first}" if first == last else f"epochs {first}–{last}"
    return {
        "recording": n.recording, "tracks": track_list, "epochs": out_epochs,
        "model_note": note, "range_clipped_to": limit if clipped else None, "withheld": withheld,
        "grounded": grounded,
        "absent_inputs": partial,
        "unscored_kinds": [k for k, v in (n.scoring or {}).items() if v.get("state") == "not scored"],
        "figures": [], "focus": {"recording": n.recording, "epoch_index": first},
        "summary": f"captions of {n.recording} {span} ({infos[0]['clock_time'] or 'no clock'}), "
                   f"{len(track_list)} track(s){'' if generated else ', reference only'}",
    }


def show_epoch(ctx: ToolContext, recording: str | None = None, epoch: int | None = None,
               clock_time: str | None = None) -> dict[str, Any]:
    """The 10 channels of one epoch (plot), with its stage, events and reference caption."""
    n = ctx.night(recording)
    k = ctx.epoch_index(n, epoch, clock_time)
    info = lookup.epoch(ctx.cohort, n, k)
    onset = info["onset_s"]
    inside = []
    for e in lookup.events(ctx.cohort, n):
        a, b = e["onset_s"] - onset, e["onset_s"] + e["duration_s"] - onset
        if b > 0 and a < EPOCH_S:
            inside.append({"type": e["type"], "start_s": round(max(a, 0.0), 1), "end_s": round(min(b, EPOCH_S), 1),
                           "event_onset_clock": e["clock_time"]})
    figures, note = [], None
    try:
        ep = ctx.signals(n)
        title = f"{n.recording} epoch {k} ({info['clock_time'] or 'no clock'}) — {info['stage']}"
        figures.append(str(plots.epoch_signals(
            ctx.figure_path("epoch", n.recording, k), ep.x[k], SLEEPLM_CHANNELS, ep.channel_mask[k],
            [(e["type"], e["start_s"], e["end_s"]) for e in inside], title=title, cache=ctx.figure_cache)))
    except ValueError as exc:
        note = str(exc)
    mask = info["channel_mask"] or [True] * len(SLEEPLM_CHANNELS)
    return {
        "recording": n.recording, "epoch_index": k, "clock_time": info["clock_time"], "onset_s": onset,
        "stage": info["stage"], "event_types": info["event_types"], "events": inside,
        "reference_caption": info["reference_captions"].get("stage_event", ""),
        "measured": info.get("measured") or {},
        "channels": [{"name": c, "present": bool(p)} for c, p in zip(SLEEPLM_CHANNELS, mask)],
        "signal_note": note, "figures": figures,
        "focus": {"recording": n.recording, "epoch_index": k},
        "summary": f"{n.recording} epoch {k} ({info['clock_time'] or 'no clock'}): {info['stage']}"
                   f"{', ' + ', '.join(info['event_types']) if info['event_types'] else ''}",
    }


def _when(n: Any, t: float) -> str:
    """The clock time of ``t`` s into the night, or the time from its start when the file has no clock."""
    clock = lookup.hhmmss(n.clock_at(t))
    return clock if clock else f"+{int(t) // 3600}:{int(t) % 3600 // 60:02d}:{int(t) % 60:02d}"


def _scored_stage_periods(ctx: ToolContext, n: Any, description: str, stages: list[str]) -> dict[str, Any]:
    """Where a stage is in a staged night: the runs of epochs scored in it, read from the hypnogram (what the
    scoring says, not the model's reading)."""
    rows = lookup.epochs(ctx.cohort, n)
    periods: list[list[dict[str, Any]]] = []
    for prev, r in zip([None, *rows[:-1]], rows):
        if r["stage"] in stages:
            if periods and prev is not None and prev["stage"] in stages:
                periods[-1][1] = r
            else:
                periods.append([r, r])
    out = [{"start_epoch": a["epoch_index"], "end_epoch": b["epoch_index"], "start_clock": _when(n, a["onset_s"]),
            "end_clock": _when(n, b["onset_s"] + EPOCH_S),
            "minutes": round((b["epoch_index"] - a["epoch_index"] + 1) * EPOCH_S / 60.0, 1)} for a, b in periods]
    sc = (n.scoring or {}).get("stages") or {}
    by = (f"a program ({sc['method'].split(';')[0].strip()})" if sc.get("state") == "automatic" and sc.get("method")
          else "a program" if sc.get("state") == "automatic"
          else "the scoring file supplied with the recording" if sc.get("state") == "manual" else None)
    fig = plots.hypnogram(ctx.figure_path("hypnogram", n.recording), [r["onset_s"] for r in rows],
                          [r["stage"] for r in rows], (), title=f"{n.recording} — hypnogram",
                          start_clock=lookup.hhmmss(n.start_time), cache=ctx.figure_cache)
    return {"recording": n.recording, "description": description, "stages": stages, "scored_periods": out,
            "scored_by": by, "total_minutes": round(sum(p["minutes"] for p in out), 1), "figures": [str(fig)],
            "focus": {"recording": n.recording, **({"epoch_index": out[0]["start_epoch"]} if out else {})},
            "summary": f"{len(out)} scored {'/'.join(stages)} period(s) in {n.recording}"}


def _cannot_read(n: Any, description: str, named: list[str], within: list[str] | None) -> dict[str, Any]:
    """A night without any input the named events are read from: nothing to localize, said as such (not "none")."""
    why = (f"{_names(named)} are read from the {event_input_words(named)}, and {n.recording} has none of them, so "
           "they cannot be located in it (by the event head or by similarity); that is not the same as finding none")
    return {"recording": n.recording, "description": description, "event_types": named, "within_stages": within,
            "cannot_read": why, "intervals": [], "annotated": [], "figures": [], "focus": {"recording": n.recording},
            "summary": f"{_names(named)} cannot be read in {n.recording}: no {event_input_words(named)}"}


def _names(types: list[str]) -> str:
    """Event types as words, plural ("obstructive apneas or hypopneas")."""
    return " or ".join(t.replace("_", " ") + "s" for t in types)


def localize_events(ctx: ToolContext, description: str, recording: str | None = None,
                    z_threshold: float = 2.0, calibrated: bool = True) -> dict[str, Any]:
    """Where in a night a described event happens: intervals, annotated events, a timeline plot.

    A stage alone ("when does REM occur?") in a staged night is read from the scored hypnogram, not guessed by
    the model; a stage with events ("central apneas during REM") restricts the search, and the annotations it is
    checked against, to the epochs scored in that stage (and is refused in a night nobody staged)."""
    if not description.strip():
        raise ValueError("describe the event to find, e.g. “obstructive apnea” or “arousal in N2”")
    n = ctx.night(recording)
    terms = parse_query(description)
    scored = {r.stage for r in ctx.cohort.night_epochs(n.recording_id)} if terms.stages else set()  # only when named
    staged = bool(scored - {"UNKNOWN", "", None})
    if terms.stages and not terms.events and staged:
        return _scored_stage_periods(ctx, n, description, terms.stages)
    if terms.stages and terms.events and not staged:
        raise ValueError(f"{n.recording} has no scored sleep stages, so “{description}” cannot be restricted to "
                         f"{'/'.join(terms.stages)}; ask where the events are in the whole night instead")
    if terms.stages and terms.events and not scored & set(terms.stages):
        stage = "/".join(terms.stages)  # nowhere to look: not "no annotated apneas in REM", which reads as none found
        return {"recording": n.recording, "description": description, "within_stages": terms.stages,
                "no_epoch_in_stages": True, "event_types": list(terms.events), "intervals": [], "annotated": [],
                "figures": [], "focus": {"recording": n.recording},
                "summary": f"{n.recording} has no epoch scored {stage}, so “{description}” has nowhere to be"}
    within = terms.stages if terms.events else None
    kinds = None  # "where are the apneas?": every kind of apnea is checked, not only the obstructive ones
    if re.search(r"\bapn(o)?eas?\b", description.lower()) and \
            not re.search(r"\b(obstructive|central|mixed)\b", description.lower()):
        kinds = list(dict.fromkeys(t for e in terms.events for t in (APNEAS if e == "obstructive_apnea" else (e,))))
    named = list(kinds if kinds is not None else terms.events)
    fm = getattr(ctx.cohort, "fact_model", None)
    head = bool(calibrated and named and fm is not None and set(named) <= set(fm.reader.event_types))
    head_unavailable, unreadable_epochs = None, 0
    if head:  # every named type is one the event head reads: where they are, to the second
        try:
            probs = ctx.event_probabilities(n)
            if len(probs) != n.n_epochs:  # the file changed since it was ingested
                raise ValueError(f"{n.recording}: {len(probs)} epochs read, the workspace holds {n.n_epochs}")
            # the signs of a breathing event are in airflow and the belts, of an arousal in the EEG: an epoch
            # without them shows nothing (a missing airflow channel reads as "no breathing": central apneas)
            present = event_inputs_present(fm.reader.event_types, ctx.signals(n).channel_mask)
            readable = present[:, [fm.reader.event_types.index(t) for t in named]].any(axis=1)
            unreadable_epochs = int((~readable).sum())
            if not readable.any():
                return _cannot_read(n, description, named, within)
            loc = ctx.cohort.localize_read(n.recording, description, probs * present[:, None, :], stages=within,
                                           event_types=named)
        except ValueError as exc:  # the recording file is gone or changed: the stored vectors still give similarity
            head, head_unavailable, unreadable_epochs = False, str(exc), 0
    if not head:
        loc = ctx.cohort.localize(n.recording, description, z_threshold=z_threshold, stages=within,
                                  event_types=kinds, calibrated=calibrated)
    first = float(loc.onset_s[0]) if len(loc.onset_s) else 0.0

    def ep(t: float) -> int:
        return lookup.epoch_index_at(n, first, t)

    def when(t: float) -> str:
        return _when(n, t)

    kinds = [k for k, types in SCORING_KINDS.items() if set(types) & set(loc.event_types)]
    unscored = [k for k in kinds if (n.scoring or {}).get(k, {}).get("state") == "not scored"]
    checkable = not kinds or len(unscored) < len(kinds)  # nobody scored these events: nothing to check against
    intervals = []
    # events read by the head in time order (a night's list of events); similar epochs best first
    order = loc.intervals if head else sorted(loc.intervals, key=lambda i: -i.peak_score)
    others = [(e.type, e.onset_s, e.onset_s + e.duration_s) for e in ctx.cohort.night_events(n.recording_id)
              if e.type not in named and e.type in fm.reader.event_types] if head else []

    def other_type(iv: Any) -> str | None:
        """An annotated event of another type where the head read one (an apnea read as the wrong kind)."""
        if not checkable or iv.matches_annotation is not False:
            return None
        return next((t for t, a, b in others if a < iv.end_s and b > iv.start_s), None)

    for iv in order:
        intervals.append({
            "start_epoch": ep(iv.start_s), "end_epoch": ep(iv.end_s - 1e-6), "peak_epoch": iv.peak_epoch,
            "start_clock": when(iv.start_s), "end_clock": when(iv.end_s),
            "peak_clock": when(float(loc.onset_s[iv.peak_epoch])),
            "start_s": iv.start_s, "end_s": iv.end_s, "peak_score": round(iv.peak_score, 4),
            "matches_annotation": iv.matches_annotation if checkable else None,
            **({"event_type": iv.event_type, "duration_s": round(iv.end_s - iv.start_s, 1),
                "annotated_other_type": other_type(iv)} if head else {}),
        })
    stage_of = {r.epoch_index: r.stage for r in ctx.cohort.night_epochs(n.recording_id)}
    annotated = [{"type": t, "epoch_index": ep(a), "clock_time": when(a), "end_clock": when(b),
                  "onset_s": round(a, 1), "end_s": round(b, 1), "duration_s": round(b - a, 1),
                  "stage": stage_of.get(ep(a))} for a, b, t in loc.annotated]
    by_program = [k for k in kinds if (n.scoring or {}).get(k, {}).get("state") == "automatic"]
    program_note = "; ".join(
        f"{SCORING_KIND_NAMES.get(k, k)} of this night were scored by a program"
        + (f" ({n.scoring[k]['method'].split(';')[0].strip()})" if n.scoring[k].get("method") else "")
        for k in by_program)
    not_scored = "" if checkable else (
        ", ".join(SCORING_KIND_NAMES.get(k, k) for k in unscored) + " were not scored in this recording ("
        + "; ".join(n.scoring[k].get("reason") or "no annotation" for k in unscored)
        + "), so the intervals cannot be checked against annotations: they are the model's reading alone")
    if head:
        fig = plots.event_probability_timeline(
            ctx.figure_path("events", n.recording, description[:30]), loc.onset_s, loc.scores,
            [(i.start_s, i.end_s) for i in loc.intervals], loc.annotated,
            title=f"{n.recording} — {_names(named)} read by the event head", cache=ctx.figure_cache)
    else:
        fig = plots.similarity_timeline(
            ctx.figure_path("timeline", n.recording, description[:30]), loc.onset_s, loc.scores, loc.z,
            [(i.start_s, i.end_s) for i in loc.intervals], loc.annotated, z_threshold,
            title=f"{n.recording} — similarity to “{description}”", cache=ctx.figure_cache)
    focus: dict[str, Any] = {"recording": n.recording}
    if intervals:
        focus["epoch_index"] = intervals[0]["peak_epoch"]
    return {
        "recording": n.recording, "description": description, "event_types": loc.event_types,
        "within_stages": within, "z_threshold": z_threshold, "method": loc.method, "intervals": intervals, "annotated": annotated,
        "epoch_precision": loc.epoch_precision if checkable else None,
        "epoch_recall": loc.epoch_recall if checkable else None, "not_scored": not_scored,
        "scored_by_program": program_note,
        "event_head_unavailable": head_unavailable,
        "unreadable_epochs": unreadable_epochs,
        "unreadable_inputs": event_input_words(named) if unreadable_epochs else None,
        "figures": [str(fig)], "focus": focus,
        "summary": (f"{len(intervals)} {_names(named)} read by the event head in {n.recording}" if head else
                    f"{len(intervals)} interval(s) in {n.recording} for “{description}”")
                   + f"; {len(annotated)} annotated event(s) of the named types",
    }



def model_fit(ctx: ToolContext, recording: str | None = None) -> dict[str, Any]:
    """How far a night lies from the model's training data: its stored out-of-distribution score (the median
    epoch's distance, in units of the 99th percentile of held-out training-distribution epochs) and the share
    of its epochs beyond that percentile. Says so when the workspace has no score."""
    n = ctx.night(recording)
    score, above, scored = ctx.cohort.night_ood(n.recording_id, OOD_THRESHOLD)
    model = ctx.cohort.manifest.model_name
    if score is None:
        summary = (f"**{n.recording}**: no out-of-distribution score is stored: the model that built this workspace "
                   f"({model}) has no reference of its training data, so I cannot tell how far this night lies "
                   "from what it was trained on.")
    else:
        inside = score <= OOD_THRESHOLD
        summary = (f"**{n.recording}**: out-of-distribution score **{score:.2f}** "
                   f"({'within' if inside else 'outside'} the training data of {model}; above {OOD_THRESHOLD:g} = "
                   "the median epoch is further from the simulated training data than 99 % of held-out training "
                   f"epochs). {above} of {scored} epochs ({100 * above / scored:.0f} %) lie beyond that line."
                   if scored else "")
        summary += (" The model's captions, similarities and zero-shot stages here are within what it was trained on;"
                    " they are still the model's reading, not the scoring." if inside else
                    " The model's captions, similarities and zero-shot stages on this night are extrapolations: "
                    "check them against the signals and the scoring.")
    stages = (n.scoring or {}).get("stages") or {}
    source = {"manual": "the scoring file supplied with the recording",
              "automatic": f"this program's automatic staging ({stages.get('method') or 'see the night description'})",
              }.get(stages.get("state") or "", None)
    summary += (f" The stages, night metrics and events in my answers about {n.recording} come from {source}, not "
                "from the model; this score bears on the model's own readings (captions, searches, similarities, "
                "zero-shot stages)." if source else
                f" {n.recording} has no scored stages, so stage-based answers about it are unknown, not the model's.")
    return {"recording": n.recording, "ood_score": score, "epochs_above": above, "epochs_scored": scored,
            "threshold": OOD_THRESHOLD, "summary": summary}
