"""The answer of ``localize_events``: where in a night events (read by the event head, or epochs most like a
description) or a scored stage are, each checked against the night's annotations."""

from __future__ import annotations

from typing import Any

from .answer_format import event_list, num


def scored_stage_periods(r: dict[str, Any]) -> str:
    """Where a stage is in a night, from its scored hypnogram."""
    stage = "/".join(r["stages"])
    by = f", scored by {r['scored_by']}" if r.get("scored_by") else ""
    if not r["scored_periods"]:
        return f"**{r['recording']}** has no epoch scored {stage} (from the night's hypnogram{by})."
    lines = [(f"**{r['recording']}**: {stage} in {len(r['scored_periods'])} period(s), "
              f"{num(r['total_minutes'], 1)} min in all (from the scored hypnogram{by}, not the model's reading):")]
    for i, p in enumerate(r["scored_periods"][:12], 1):
        span = f"epoch {p['start_epoch']}" if p["start_epoch"] == p["end_epoch"] else \
            f"epochs {p['start_epoch']}–{p['end_epoch']}"
        lines.append(f"{i}. {p['start_clock']}–{p['end_clock']} ({span}, {num(p['minutes'], 1)} min)")
    if len(r["scored_periods"]) > 12:
        lines.append(f"… and {len(r['scored_periods']) - 12} more.")
    lines.append("Figure: the hypnogram.")
    return "\n\n".join(lines)


def localize_events(r: dict[str, Any]) -> str:
    """The answer of ``localize_events``: scored stage periods, a night that cannot be read or has no such stage,
    or the events (intervals) found, each checked against the annotations, with what the method can and cannot tell."""
    if "scored_periods" in r:
        return scored_stage_periods(r)
    if r.get("cannot_read"):
        return f"**{r['recording']}**: " + r["cannot_read"] + "."
    if r.get("no_epoch_in_stages"):
        stage = "/".join(r["within_stages"])
        return (f"**{r['recording']}** has no epoch scored {stage} (from the night's hypnogram), so there is nowhere "
                f"in it to look for “{r['description']}”: the question does not apply to this night, which is not "
                f"the same as finding none.")
    within = f", only in epochs scored {'/'.join(r['within_stages'])}" if r.get("within_stages") else ""
    kinds = " or ".join(t.replace("_", " ") for t in r["event_types"]) if r.get("event_types") else "event"
    head = r.get("method") == "event head"
    # a night whose annotations hold the events asked for: the scored events lead, the model's reading follows as a check
    scored_first = bool(r["event_types"] and r["annotated"] and not r.get("not_scored"))
    lines = _scored_events(r) if scored_first else []
    if head:
        found = f"{len(r['intervals'])} event(s) of type {event_list(r['event_types'])}"
        lead = f"The fact reader's event head read {found}{within}" if scored_first else \
            f"In **{r['recording']}**, {found} read by the fact reader's event head{within}"
        lines.append(f"{lead} (an event: a run of 1-s stretches where its probability is > 0.5, at least as long as the "
                     "scoring rules' shortest event of the type). The head was trained and tested on simulated nights "
                     "only: on a real recording these are estimates, not scored events.")
        if not r["intervals"]:
            lines.append("It read none. That is the head's reading, not a finding of none: a scorer may find events "
                         "it misses, above all on a real recording.")
    else:
        rule = ("kept where the model's probability of the description against a no-event description is > 0.5; "
                "the cosine shown is the similarity that ranks them" if r.get("method") == "calibrated"
                else f"robust z > {num(r['z_threshold'])}")
        lines.append(f"{'The model' if scored_first else 'In **' + r['recording'] + '**,'} "
                     f"{'finds these ' if scored_first else ''}epochs most like “{r['description']}”{within} ({rule}):")
        if not r["intervals"]:
            lines.append("no epochs stood out above the threshold.")
    if head and r.get("unreadable_epochs"):
        lines.append(f"{r['unreadable_epochs']} epoch(s) of this night have no {r['unreadable_inputs']}: nothing "
                     "could be read there, and none is listed.")
    if r.get("event_head_unavailable"):
        lines.append("The fact reader's event head, which reads these events to the second, could not be used: "
                     f"{r['event_head_unavailable']}. These are the epochs most similar to the description instead.")
    checked = r["epoch_precision"] is not None or r["epoch_recall"] is not None
    against = f"Against the annotations: epoch precision {num(r['epoch_precision'], 2)}, recall {num(r['epoch_recall'], 2)}."
    if scored_first and checked:
        lines.append(against)
    shown = (5 if scored_first else 12) if head else (5 if scored_first else 8)
    if scored_first and r["intervals"]:
        lines.append(f"The first {min(shown, len(r['intervals']))} it read:")
    lines += [_interval_line(i, iv, head, kinds) for i, iv in enumerate(r["intervals"][:shown], 1)]
    if len(r["intervals"]) > shown:
        lines.append(f"… and {len(r['intervals']) - shown} more (all in the figure).")
    if not r["event_types"] and not r.get("within_stages"):
        lines.append(f"“{r['description']}” names no scored event type, so these intervals cannot be checked against "
                     "annotations: they are the model's reading alone.")
    if r.get("not_scored"):
        lines.append(r["not_scored"][0].upper() + r["not_scored"][1:] + ".")
    elif r["event_types"] and not scored_first:
        lines.append(f"This night has no annotated {event_list(r['event_types'])}"
                     + (f" in epochs scored {'/'.join(r['within_stages'])}." if r.get("within_stages") else "."))
        if checked:
            lines.append(against)
    if any(str(iv["peak_clock"]).startswith("+") for iv in r["intervals"]) or \
            any(str(a["clock_time"]).startswith("+") for a in r["annotated"]):
        lines.append("Times marked + are from the start of the recording: the file gives no clock time.")
    lines.append("Figure: the event head's probability over the night, with the events it read and the annotated "
                 "ones." if head else "Figure: similarity timeline with the intervals found and the annotated events.")
    return "\n\n".join(lines)


def _scored_events(r: dict[str, Any]) -> list[str]:
    """The annotated events of the named types, first: count, who scored them, and the first 12 with their times."""
    names = event_list(r["event_types"])
    where = f"in the epochs of this night scored {'/'.join(r['within_stages'])}" if r.get("within_stages") \
        else "in this night"
    ann = r["annotated"]
    lines = [f"In **{r['recording']}**: Annotated {names} {where} ({len(ann)}), as scored"
             + (" by a program" if r.get("scored_by_program") else "") + ":"]
    for i, a in enumerate(ann[:12], 1):
        dur = f", {num(a['duration_s'], 1)} s" if a.get("duration_s") is not None else ""
        stage = f", scored {a['stage']}" if a.get("stage") not in (None, "", "UNKNOWN") else ""
        span = f"{a['clock_time']}–{a['end_clock']}" if a.get("end_clock") else a["clock_time"]
        lines.append(f"{i}. {a['type'].replace('_', ' ')} {span} (epoch {a['epoch_index']}{stage}{dur})")
    if len(ann) > 12:
        lines.append(f"… and {len(ann) - 12} more (all in the figure).")
    if r.get("scored_by_program"):
        lines.append(r["scored_by_program"][0].upper() + r["scored_by_program"][1:] + ", not a person: the "
                     "annotations above are its reading, and a program misses events a person would score.")
    return lines


def _interval_line(i: int, iv: dict[str, Any], head: bool, kinds: str) -> str:
    """Line ``i`` of the list: an event the head read (type, clock span, duration, probability) or an interval of
    epochs most like the description (span, peak, cosine), with how it meets the annotations."""
    match = {True: f" — overlaps an annotated {kinds}", False: f" — no annotated {kinds} there", None: ""}[
        iv["matches_annotation"]]
    if head:
        if iv.get("annotated_other_type"):
            match = f" — annotated there as {iv['annotated_other_type'].replace('_', ' ')}, not {kinds}"
        return (f"{i}. {iv['event_type'].replace('_', ' ')} {iv['start_clock']}–{iv['end_clock']} "
                f"({num(iv['duration_s'], 1)} s, epoch {iv['start_epoch']}; probability {num(iv['peak_score'], 2)}){match}")
    span = (f"epoch {iv['start_epoch']}" if iv["start_epoch"] == iv["end_epoch"] else
            f"epochs {iv['start_epoch']}–{iv['end_epoch']}")
    return (f"{i}. {span} ({iv['start_clock']}–{iv['end_clock']}), "
            f"peak epoch {iv['peak_epoch']} ({iv['peak_clock']}, cosine {num(iv['peak_score'], 3)}){match}")
