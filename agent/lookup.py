"""Evidence lookups the tools need: one night, one epoch, a clock time → epoch, JSON-safe values.

The reads themselves are typed methods of :class:`~sleeplm.index.queries.Cohort` (see
:mod:`sleeplm.index.cohort`); this module turns their records into JSON-ready dicts for the tools.
"""

from __future__ import annotations

import math
import re
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from sleeplm.encoder.io.records import EPOCH_S
from sleeplm.index.cohort import NightRecord
from sleeplm.index.queries import Cohort


def jsonable(v: Any) -> Any:
    """A value made JSON-serialisable: numpy scalars/arrays unwrapped, NaN/inf → None, times → ISO."""
    if isinstance(v, dict):
        return {str(k): jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    if isinstance(v, np.ndarray):
        return [jsonable(x) for x in v.tolist()]
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, datetime):
        return v.isoformat(sep=" ")
    if isinstance(v, Path):
        return str(v)
    return v


def finite(v: Any) -> float | None:
    """``v`` as a float, or None when it is missing, not a number, NaN or infinite."""
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def hhmmss(clock: datetime | str | None) -> str | None:
    """"02:30:00" from a timestamp (or its ISO text); None when unknown."""
    if clock is None:
        return None
    text = clock.isoformat(sep=" ") if isinstance(clock, datetime) else str(clock)
    return text[11:19] if len(text) >= 19 else text


#: One recording's identity and clock (the index's typed record).
Night = NightRecord


def resolve_recording(cohort: Cohort, name: str) -> str:
    """A recording name from a recording name or a subject id (its first night).

    Raises
    ------
    ValueError
        When neither matches, listing some known recordings.
    """
    return cohort.resolve_recording(name)


def night(cohort: Cohort, recording: str) -> Night:
    return cohort.night_record(recording)


def subject(cohort: Cohort, subject_id: str | None) -> dict[str, Any]:
    return jsonable(cohort.subject_attributes(subject_id))


def metrics(cohort: Cohort, n: Night) -> tuple[dict[str, Any], str]:
    """(night metrics, rendered summary) of a night; empty when the night has none."""
    values, summary = cohort.night_metrics_of(n.recording_id)
    return jsonable(values), summary


def epochs(cohort: Cohort, n: Night) -> list[dict[str, Any]]:
    """Every epoch of a night in order: index, onset, clock time, stage, event types."""
    return [{"epoch_index": e.epoch_index, "onset_s": e.onset_s, "clock_time": hhmmss(e.clock_time),
             "stage": e.stage, "event_types": e.event_types} for e in cohort.night_epochs(n.recording_id)]


def epoch_index_at(n: Night, first_onset_s: float, onset_s: float) -> int:
    return math.floor((onset_s - first_onset_s) / EPOCH_S + 1e-9)


def events(cohort: Cohort, n: Night, types: list[str] | None = None) -> list[dict[str, Any]]:
    """Scored events of a night with the epoch each starts in and its clock time."""
    _, first = cohort.first_epoch(n.recording_id)
    out = []
    for e in cohort.night_events(n.recording_id):
        if types and e.type not in types:
            continue
        out.append(jsonable({"type": e.type, "onset_s": round(e.onset_s, 1), "duration_s": round(e.duration_s, 1),
                             "epoch_index": epoch_index_at(n, float(first or 0.0), e.onset_s),
                             "clock_time": hhmmss(n.clock_at(e.onset_s)), "spo2_nadir_pct": e.spo2_nadir}))
    return out


def epoch(cohort: Cohort, n: Night, index: int) -> dict[str, Any]:
    """One epoch: onset, clock time, stage, event types and its reference caption per track.

    Raises
    ------
    ValueError
        When the night has no such epoch (naming the valid range).
    """
    d = cohort.epoch_detail(n.recording_id, int(index))
    if d is None:
        raise ValueError(f"{n.recording} has no epoch {index}: its epochs are 0–{n.n_epochs - 1}")
    return {"epoch_id": d.epoch_id, "recording": n.recording, "epoch_index": d.epoch_index, "onset_s": d.onset_s,
            "clock_time": hhmmss(d.clock_time), "stage": d.stage, "event_types": d.event_types,
            "channel_mask": d.channel_mask, "reference_captions": d.captions, "measured": d.measured}


_CLOCK = re.compile(r"^\s*(\d{1,2})[:h.](\d{2})(?::(\d{2}))?\s*(am|pm)?\s*$", re.IGNORECASE)


def parse_clock(text: str) -> time:
    """"02:30", "2:30:15", "11:40 pm" → a time of day.

    Raises
    ------
    ValueError
        When the text is not a clock time.
    """
    m = _CLOCK.match(text)
    if not m:
        raise ValueError(f"{text!r} is not a clock time (expected HH:MM or HH:MM:SS)")
    h, mi, s = int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)
    if m.group(4):
        h = h % 12 + (12 if m.group(4).lower() == "pm" else 0)
    if not (0 <= h < 24 and 0 <= mi < 60 and 0 <= s < 60):
        raise ValueError(f"{text!r} is not a valid clock time")
    return time(h, mi, s)


def epoch_at_clock(cohort: Cohort, n: Night, clock: str) -> int:
    """The epoch of a night that contains a clock time (the night may cross midnight).

    Raises
    ------
    ValueError
        When the night has no start time or the time falls outside it.
    """
    tod = parse_clock(clock)
    start, _ = cohort.first_epoch(n.recording_id)
    if start is None:
        raise ValueError(f"{n.recording} has no clock time (its file has no start date/time); use an epoch number")
    target = datetime.combine(start.date(), tod)
    if target < start - timedelta(hours=12):
        target += timedelta(days=1)
    idx = math.floor((target - start).total_seconds() / EPOCH_S)
    if not 0 <= idx < n.n_epochs:
        end = start + timedelta(seconds=EPOCH_S * n.n_epochs)
        raise ValueError(f"{clock} is outside {n.recording}, which runs from {hhmmss(start)} to {hhmmss(end)} "
                         f"(epochs 0–{n.n_epochs - 1})")
    return idx


def stage_counts(rows: list[dict[str, Any]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in rows:
        out[r["stage"]] = out.get(r["stage"], 0) + 1
    return out
