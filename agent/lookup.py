"""Evidence lookups the tools need: one night, one epoch, a clock time → epoch, JSON-safe values.

All SQL here is fixed text with bound parameters (names, indices); nothing a message says is
pasted into SQL. Cohort-level statistics live in :mod:`sleeplm.index.stats`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from sleeplm.encoder.io.records import EPOCH_S
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


def hhmmss(clock: datetime | str | None) -> str | None:
    """"02:30:00" from a timestamp (or its ISO text); None when unknown."""
    if clock is None:
        return None
    text = clock.isoformat(sep=" ") if isinstance(clock, datetime) else str(clock)
    return text[11:19] if len(text) >= 19 else text


@dataclass
class Night:
    """One recording's identity and clock."""

    recording_id: int
    recording: str
    subject_id: str | None
    path: str
    start_time: datetime | None
    duration_s: float
    n_epochs: int
    missing_channels: list[str]

    def clock_at(self, onset_s: float) -> datetime | None:
        return self.start_time + timedelta(seconds=float(onset_s)) if self.start_time else None


def resolve_recording(cohort: Cohort, name: str) -> str:
    """A recording name from a recording name or a subject id (its first night).

    Raises
    ------
    ValueError
        When neither matches, listing some known recordings.
    """
    name = name.strip()
    row = cohort.con.execute("SELECT name FROM recordings WHERE lower(name) = lower(?)", [name]).fetchone()
    if row is None:
        row = cohort.con.execute("SELECT name FROM recordings WHERE lower(subject_id) = lower(?) ORDER BY name LIMIT 1",
                                 [name]).fetchone()
    if row is None:
        known = [r[0] for r in cohort.con.execute("SELECT name FROM recordings ORDER BY name LIMIT 12").fetchall()]
        raise ValueError(f"no recording or subject named {name!r} in this cohort; known recordings: "
                         f"{', '.join(known)}{' …' if len(known) == 12 else ''}")
    return str(row[0])


def night(cohort: Cohort, recording: str) -> Night:
    name = resolve_recording(cohort, recording)
    r = cohort.con.execute(
        """SELECT recording_id, name, subject_id, path, start_time, duration_s, n_epochs, missing_channels
           FROM recordings WHERE name = ?""", [name]).fetchone()
    return Night(int(r[0]), r[1], r[2], r[3], r[4], float(r[5] or 0.0), int(r[6] or 0), list(r[7] or []))


def subject(cohort: Cohort, subject_id: str | None) -> dict[str, Any]:
    if subject_id is None:
        return {}
    rel = cohort.con.execute("SELECT subject_id, age, sex, bmi, phenotype, site FROM subjects WHERE subject_id = ?",
                             [subject_id])
    row = rel.fetchone()
    return jsonable(dict(zip([d[0] for d in rel.description], row))) if row else {"subject_id": subject_id}


def metrics(cohort: Cohort, n: Night) -> tuple[dict[str, Any], str]:
    """(night metrics, rendered summary) of a night; empty when the night has none."""
    rel = cohort.con.execute("SELECT * EXCLUDE (recording_id) FROM night_metrics WHERE recording_id = ?",
                             [n.recording_id])
    row = rel.fetchone()
    if row is None:
        return {}, ""
    d = dict(zip([c[0] for c in rel.description], row))
    summary = str(d.pop("summary", "") or "")
    return jsonable(d), summary


def epochs(cohort: Cohort, n: Night) -> list[dict[str, Any]]:
    """Every epoch of a night in order: index, onset, clock time, stage, event types."""
    rows = cohort.con.execute(
        """SELECT epoch_index, onset_s, clock_time, stage, event_types FROM epochs
           WHERE recording_id = ? ORDER BY epoch_index""", [n.recording_id]).fetchall()
    return [{"epoch_index": int(i), "onset_s": float(o), "clock_time": hhmmss(c), "stage": s,
             "event_types": list(e or [])} for i, o, c, s, e in rows]


def epoch_index_at(n: Night, first_onset_s: float, onset_s: float) -> int:
    return math.floor((onset_s - first_onset_s) / EPOCH_S + 1e-9)


def events(cohort: Cohort, n: Night, types: list[str] | None = None) -> list[dict[str, Any]]:
    """Scored events of a night with the epoch each starts in and its clock time."""
    first = cohort.con.execute("SELECT min(onset_s) FROM epochs WHERE recording_id = ?", [n.recording_id]).fetchone()[0]
    rows = cohort.con.execute(
        "SELECT type, onset_s, duration_s, spo2_nadir FROM events WHERE recording_id = ? ORDER BY onset_s",
        [n.recording_id]).fetchall()
    out = []
    for t, on, du, nadir in rows:
        if types and t not in types:
            continue
        out.append(jsonable({"type": t, "onset_s": round(float(on), 1), "duration_s": round(float(du), 1),
                             "epoch_index": epoch_index_at(n, float(first or 0.0), float(on)),
                             "clock_time": hhmmss(n.clock_at(on)), "spo2_nadir_pct": nadir}))
    return out


def epoch(cohort: Cohort, n: Night, index: int) -> dict[str, Any]:
    """One epoch: onset, clock time, stage, event types and its reference caption per track.

    Raises
    ------
    ValueError
        When the night has no such epoch (naming the valid range).
    """
    row = cohort.con.execute(
        """SELECT epoch_id, epoch_index, onset_s, clock_time, stage, event_types, channel_mask FROM epochs
           WHERE recording_id = ? AND epoch_index = ?""", [n.recording_id, int(index)]).fetchone()
    if row is None:
        raise ValueError(f"{n.recording} has no epoch {index}: its epochs are 0–{n.n_epochs - 1}")
    eid = int(row[0])
    caps = dict(cohort.con.execute("SELECT track, text FROM captions WHERE epoch_id = ? ORDER BY track",
                                   [eid]).fetchall())
    return {"epoch_id": eid, "recording": n.recording, "epoch_index": int(row[1]), "onset_s": float(row[2]),
            "clock_time": hhmmss(row[3]), "stage": row[4], "event_types": list(row[5] or []),
            "channel_mask": [bool(b) for b in (row[6] or [])], "reference_captions": caps}


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
    first = cohort.con.execute("SELECT min(clock_time), min(onset_s) FROM epochs WHERE recording_id = ?",
                               [n.recording_id]).fetchone()
    if first is None or first[0] is None:
        raise ValueError(f"{n.recording} has no clock time (its file has no start date/time); use an epoch number")
    start: datetime = first[0]
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
