"""How one night was recorded: its clock, its length, its site, the file's signals and how each model channel was
read from them (labels, derivation, lead), the body-position coding, the annotation file and who scored it — the
questions a physician asks before trusting a number ("which channels does sim-0005 have?", "does sim-0002 have C4?",
"when did the recording start?", "how is body position coded?"). The tool (:func:`recording_info`), the question it
answers (:func:`recording_info_plan`) and its answer (:func:`compose_recording_info`)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from sleeplm.encoder.io.edf_lenient import parse_header
from sleeplm.encoder.vocab import SCORING_KIND_NAMES, SLEEPLM_CHANNELS

from . import lookup
from .context import ToolContext
from .intents import Context, Plan, parse
from .spelling import correct_spelling
from .vocab import CHANNEL_WORDS, CohortNames

#: What the model's channels are called in answers.
CHANNEL_NAMES = {"ECG": "ECG", "ABD": "abdominal belt", "THX": "thoracic belt", "AF": "airflow", "EOG_L": "left EOG",
                 "EOG_R": "right EOG", "EEG_C3": "central EEG (C3)", "EEG_C4": "central EEG (C4)",
                 "EMG_CHIN": "chin EMG", "POS": "body position", "SPO2": "SpO2"}
#: How each body-position coding is read (``encoder.io.position``).
POSITION_CODINGS = {"shhs": "SHHS integer codes (0 right, 1 left, 2 supine, 3 prone)",
                    "mesa": "MESA integer codes (0 right, 1 supine, 2 left, 3 prone, 4 upright)",
                    "header": "integer codes named in the file's header (N=Name pairs)",
                    "angle": "an angle in degrees (|angle| < 45° supine, 45–135° a side, beyond 135° prone)"}
#: Other electrodes a question may name, which are not model channels.
_OTHER_LEADS = r"\b(o1|o2|f3|f4|fz|cz|pz|fp1|fp2|fpz|oz|t3|t4|c3|c4|m1|m2|a1|a2|leg emg|tibialis|snore|etco2|capno\w*)\b"
#: Electrodes that are never model channels ("the EEG at O1").
_NOT_MODEL_LEAD = r"\b(o1|o2|f3|f4|fz|cz|pz|fp1|fp2|fpz|oz|t3|t4)\b"
_RECORDING_QUESTION = (
    r"\bwhich (signals|channels|leads|sensors|electrodes)\b|\bwhat (signals|channels|leads|sensors|electrodes|montage)\b"
    r"|\b(channels?|signals?|leads?|montage|derivations?)\b.*\b(have|has|had|recorded|missing|available|used)\b"
    r"|\b(have|has|had)\s+(an?\s+|the\s+)?(\w+\s+)?(channel|lead|electrode|sensor|signal)\b"
    r"|\b(does|did|do)\b.*\b(have|has)\b.*" + _OTHER_LEADS +
    r"|\b(when|what time) did (the )?(recording|study|psg)\b.*\b(start|begin|end|stop)"
    r"|\b(recording|study) (start|end|began|ended|started)\b|\bstart(ed)? recording\b"
    r"|\bhow long (was|is) (the )?(recording|study|psg)\b|\b(recording|study) (length|duration)\b"
    r"|\bwhich site\b|\bwhat site\b|\bsite of\b|\bfrom which site\b"
    r"|\bposition\b.*\b(coded|coding|encoded|channel)\b|\b(coded|coding)\b.*\bposition\b"
    r"|\bannotation file\b|\bscoring file\b|\bwhat file\b|\bwhich file\b")


def recording_info_plan(question: str, names: CohortNames, ctx: Context) -> Plan | None:
    """A ``recording_info`` call for a question about how one night was recorded, or None."""
    t = correct_spelling(question.strip().lower(), names.known())
    if not re.search(_RECORDING_QUESTION, t) and not re.search(_NOT_MODEL_LEAD, t):
        return None  # "show me the EEG at O1": no model channel; whether the file has it
    p = parse(t, names)
    if len(p.recordings) > 1 or not (p.recordings or ctx.recording) or \
            re.search(r"\b(nights|recordings|subjects|patients|cohort|which (night|recording|subject))\b", t):
        return None  # "which nights have no airflow channel?": the cohort's nights, not one night's acquisition
    asked = [ch for ch, rx in CHANNEL_WORDS.items() if re.search(rx, t)]
    other = re.search(_OTHER_LEADS, t)
    args: dict[str, Any] = {"recording": p.recordings[0] if p.recordings else ctx.recording}
    if asked or other:
        args["channel"] = asked[0] if asked else other.group(1)
    return Plan("recording_info", args)


def recording_info(ctx: ToolContext, recording: str | None = None, channel: str | None = None) -> dict[str, Any]:
    """One night's acquisition: start and end clock, length, subject and site, the file's signal labels, each model
    channel's labels, derivation and lead (or that it is missing), the body-position coding, the annotation file and
    the scoring of each kind; with ``channel`` (a model channel or an electrode such as "o1"), whether the night has
    it."""
    n = ctx.night(recording)
    acq = ctx.cohort.acquisition(n.recording_id)
    try:
        labels: list[str] | None = [x for x in parse_header(Path(n.path)).labels  # the annotation channel is no signal
                                    if x.strip() not in ("EDF Annotations", "BDF Annotations")]
        file_note = ""
    except (OSError, ValueError) as exc:  # the file moved since ingest: what the workspace stored still stands
        labels, file_note = None, f"the file's own signal list could not be read ({n.path}: {exc})"
    channels = {}
    for ch in SLEEPLM_CHANNELS:
        m = (acq.get("channel_map") or {}).get(ch)
        channels[ch] = {"present": bool(m) and ch not in n.missing_channels, **(m or {})}
    spo2 = (acq.get("channel_map") or {}).get("SPO2")
    asked = None
    if channel:
        key = channel if channel in SLEEPLM_CHANNELS else None
        if key:
            asked = {"channel": key, "name": CHANNEL_NAMES.get(key, key), "present": channels[key]["present"],
                     "lead": channels[key].get("lead")}
        else:
            hit = [x for x in labels or [] if re.search(rf"(?<![a-z0-9]){re.escape(channel)}(?![a-z0-9])", x.lower())]
            asked = {"channel": channel.upper(), "name": channel.upper(), "present": bool(hit) if labels is not None
                     else None, "labels": hit, "model_channel": False}
    subject = lookup.subject(ctx.cohort, n.subject_id) or {}
    return {"recording": n.recording, "subject": subject, "start_time": lookup.jsonable(n.start_time),
            "end_time": lookup.hhmmss(n.clock_at(n.duration_s)), "duration_min": round(n.duration_s / 60.0, 1),
            "n_epochs": n.n_epochs, "path": n.path, "file_labels": labels, "file_note": file_note,
            "channels": channels, "spo2": spo2, "missing": list(n.missing_channels),
            "position_coding": acq.get("position_coding"), "repairs": acq.get("repairs") or [],
            "annotation_path": acq.get("annotation_path"), "annotation_source": acq.get("annotation_source"),
            "scoring": n.scoring, "asked": asked, "notes": ctx.cohort.recording_notes(n.recording_id),
            "focus": {"recording": n.recording},
            "summary": f"{n.recording}: {sum(c['present'] for c in channels.values())} of {len(channels)} model "
                       f"channels, {n.duration_s / 3600:.2f} h from {lookup.hhmmss(n.start_time) or 'an unknown clock'}"}


def _channel_line(ch: str, c: dict[str, Any]) -> str:
    if not c["present"]:
        return f"- {CHANNEL_NAMES.get(ch, ch)}: **missing**"
    how = "" if c.get("derivation") in (None, "", "direct") else f", {c['derivation']}"
    note = f" ({c['note']})" if c.get("note") else ""
    return f"- {CHANNEL_NAMES.get(ch, ch)}: {c.get('lead') or ', '.join(c.get('labels') or [])}{how}{note}"


def compose_recording_info(r: dict[str, Any]) -> str:
    """The answer of :func:`recording_info`."""
    subj = r.get("subject") or {}
    lines = [f"**{r['recording']}** — subject {subj.get('subject_id') or 'n/a'}, site {subj.get('site') or 'not recorded'};"
             f" recorded {r['start_time'] or 'at an unknown clock time'} → {r['end_time'] or '?'}, "
             f"{r['duration_min']:g} min ({r['n_epochs']} epochs of 30 s)."]
    a = r.get("asked")
    if a:
        if a.get("model_channel") is False:
            where = (f"the file has it ({', '.join(a['labels'])}), but it is not one of the model's channels, so it is not "
                     "read or kept" if a["present"] else "the file has no signal labelled so" if a["present"] is False
                     else "whether the file has it cannot be told (the file could not be read)")
            lines.append(f"**{a['name']}:** {where}. The workspace keeps the model's channels: "
                         + ", ".join(CHANNEL_NAMES[c] for c in r["channels"]) + ".")
        else:
            lines.append(f"**{a['name']}: {'yes' if a['present'] else 'no'}**"
                         + (f" ({a['lead']})." if a["present"] and a.get("lead") else
                            "." if a["present"] else " — it is missing from this recording."))
    lines.append("How each model channel was read from the file:\n" + "\n".join(
        _channel_line(ch, c) for ch, c in r["channels"].items()))
    if r.get("spo2"):
        lines.append(f"SpO2 (for the oximetry metrics, not a model input): {r['spo2'].get('lead')}.")
    coding = r.get("position_coding")
    if coding:
        lines.append(f"Body position is read as {POSITION_CODINGS.get(coding, coding)}.")
    elif r["channels"].get("POS", {}).get("present") is False:
        lines.append("No body-position channel: position-based values are unknown for this night.")
    if r.get("file_labels") is not None:  # a clinical export holds ~90 (impedances, derivations): the first 40 shown
        labels = r["file_labels"]
        more = f" (and {len(labels) - 40} more)" if len(labels) > 40 else ""
        lines.append(f"The file's {len(labels)} signals: {', '.join(labels[:40])}{more}.")
    elif r.get("file_note"):
        lines.append(f"Not shown: {r['file_note']}.")
    ann = r.get("annotation_path")
    sc = r.get("scoring") or {}
    kinds = "; ".join(f"{SCORING_KIND_NAMES.get(k, k)}: "
                      f"{'from the file' if v.get('state') == 'manual' else v.get('state')}"
                      + (f" ({v['method']})" if v.get("state") == "automatic" and v.get("method") else "")
                      for k, v in sc.items())
    lines.append(f"Annotations: {Path(ann).name + ' (' + str(r.get('annotation_source')) + ')' if ann else 'none'}"
                 + (f"; {kinds}" if kinds else "") + ". Who made a supplied scoring file (a person or another "
                 "program) is not recorded in it.")
    if r.get("repairs"):
        lines.append("Repairs when reading the file: " + "; ".join(r["repairs"]) + ".")
    if r.get("notes"):
        lines.append("Reading this night's files changed or found: " + " ".join(r["notes"]))
    return "\n\n".join(lines)
