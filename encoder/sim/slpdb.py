"""Read the MIT-BIH Polysomnographic Database labels (slpdb): per-epoch stages and events, RR intervals.

The calibration reference for the simulator: ``slpNN.an`` (one line per 30-s epoch: stage and the
respiratory events scored in it), ``slpNN.rr`` (RR intervals from the ECG beat annotations) and
``slpNN.hea`` (record length; a comment with age, sex, weight). See the README beside the files.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sleeplm.encoder.sim.night_stats import ScoredNight

#: slpdb stage codes (R&K) -> AASM stages; movement time counts as wake.
STAGE_CODES: dict[str, str] = {"W": "W", "1": "N1", "2": "N2", "3": "N3", "4": "N3", "R": "REM", "MT": "W", "M": "W"}
#: slpdb respiratory codes -> (event kind, with arousal).
EVENT_CODES: dict[str, tuple[str, bool]] = {
    "H": ("hypopnea", False), "HA": ("hypopnea", True), "OA": ("obstructive", False), "X": ("obstructive", True),
    "CA": ("central", False), "CAA": ("central", True),
}


class SlpdbError(ValueError):
    """A slpdb file that cannot be read (the message names the file and the problem)."""


@dataclass
class SlpdbRecord:
    """One slpdb record: its scoring, and the header's age (years) when given."""

    night: ScoredNight
    age: int | None
    duration_h: float


def _elapsed_s(text: str) -> float:
    parts = [float(p) for p in text.split(":")]
    return sum(v * 60.0 ** i for i, v in enumerate(reversed(parts)))


def read_annotations(path: Path) -> tuple[np.ndarray, list[tuple[int, str, bool]]]:
    """Stages per epoch and (epoch, kind, with_arousal) per respiratory event of a ``.an`` file."""
    path = Path(path)
    stages: list[str] = []
    events: list[tuple[int, str, bool]] = []
    for line_no, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("Elapsed"):
            continue
        if "\t" not in line:
            raise SlpdbError(f"{path}: line {line_no} has no Aux field: {line!r}")
        codes = line.split("\t", 1)[1].split()
        if not codes or codes[0] not in STAGE_CODES:
            raise SlpdbError(f"{path}: line {line_no} does not start with a stage code: {line!r}")
        epoch = len(stages)
        stages.append(STAGE_CODES[codes[0]])
        for c in codes[1:]:
            if c in EVENT_CODES:
                kind, arousal = EVENT_CODES[c]
                events.append((epoch, kind, arousal))
    if not stages:
        raise SlpdbError(f"{path}: no epochs")
    return np.array(stages, dtype="<U3"), events


def read_beats(path: Path) -> np.ndarray:
    """Times (s) of normal beats that end a normal-to-normal RR interval, from a ``.rr`` file."""
    path = Path(path)
    out = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        f = line.split()
        if len(f) >= 5 and f[1] == "N" and f[3] == "N":
            out.append(_elapsed_s(f[4]))
    return np.array(out, dtype=float)


def read_header(path: Path) -> tuple[float, int | None]:
    """(duration in hours, age) from a ``.hea`` file."""
    path = Path(path)
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    try:
        first = lines[0].split()
        fs_hz = float(first[2].split("/")[0])
        duration_h = float(first[3]) / fs_hz / 3600.0
    except (IndexError, ValueError) as exc:
        raise SlpdbError(f"{path}: bad record line: {lines[:1]!r}") from exc
    age = None
    for line in lines:
        m = re.match(r"#\s*(\d+)\s+[MF]", line)
        if m:
            age = int(m.group(1))
    return duration_h, age


def read_record(folder: Path, name: str) -> SlpdbRecord:
    """The record ``name`` (e.g. ``slp37``) of a slpdb labels folder."""
    folder = Path(folder)
    stages, events = read_annotations(folder / f"{name}.an")
    beats = read_beats(folder / f"{name}.rr") if (folder / f"{name}.rr").is_file() else np.empty(0)
    duration_h, age = read_header(folder / f"{name}.hea")
    night = ScoredNight(name, stages, np.array([e for e, _, _ in events], dtype=int),
                        np.array([k for _, k, _ in events], dtype="<U12"), np.array([a for _, _, a in events], bool),
                        beats)
    return SlpdbRecord(night, age, duration_h)


def read_folder(folder: Path) -> list[SlpdbRecord]:
    """Every record of the folder (by its ``.an`` files), in name order."""
    return [read_record(folder, p.stem) for p in sorted(Path(folder).glob("*.an"))]
