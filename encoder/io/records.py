"""Records shared across the encoder package: signals, recordings, annotations, epochs.

Every record is a plain dataclass. Units live in names (``fs_hz``, ``onset_s``,
``duration_s``); signal arrays are in physical units as written in the file
(µV, mV, %, ...) unless stated otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np

from sleeplm.encoder.vocab import (  # noqa: F401  (re-exported: the records' vocabulary)
    AUX_CHANNELS, EPOCH_S, EPOCH_SAMPLES, EVENT_TYPES, MODEL_FS_HZ, POSITION_CODES, SCORING_KINDS, SLEEPLM_CHANNELS,
    STAGES,
)


class PSGError(ValueError):
    """A problem with an input file, reported with the file's name and what is wrong."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


@dataclass
class Signal:
    """One source signal as stored in the file, in physical units."""

    label: str
    data: np.ndarray
    fs_hz: float
    unit: str = ""
    transducer: str = ""
    prefilter: str = ""

    @property
    def duration_s(self) -> float:
        return len(self.data) / self.fs_hz if self.fs_hz > 0 else 0.0


@dataclass
class Recording:
    """A whole recording as read from disk (all signals, native rates).

    ``repairs`` lists what a lenient read had to fix in a non-compliant header,
    ``warnings`` what looks wrong but was kept (flat channels, clipped values...).
    ``annotations_tal`` holds EDF+ annotations (onset_s, duration_s, text), if any.
    """

    path: Path
    start_time: datetime | None
    duration_s: float
    signals: list[Signal]
    file_type: str = "EDF"
    repairs: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    annotations_tal: list[tuple[float, float, str]] = field(default_factory=list)

    @property
    def labels(self) -> list[str]:
        return [s.label for s in self.signals]

    def signal(self, label: str) -> Signal:
        for s in self.signals:
            if s.label == label:
                return s
        raise KeyError(label)


@dataclass
class Event:
    """A scored event, normalised to :data:`EVENT_TYPES`; times from the recording start."""

    type: str
    onset_s: float
    duration_s: float
    label: str = ""  # the source label, as scored
    spo2_nadir: float | None = None  # desaturation events: lowest SpO2 (%), when known

    @property
    def end_s(self) -> float:
        return self.onset_s + self.duration_s


@dataclass
class Scoring:
    """Who scored one kind of annotation (:data:`~sleeplm.encoder.vocab.SCORING_KINDS`) in a night."""

    state: str  # "manual", "automatic" or "not scored"
    method: str = ""  # how: "NSRR XML", "YASA 0.6.5 (automatic staging)", "AASM 2012 rules, 3 % (sleeplm)"
    reason: str = ""  # why it is not scored (or what limits the automatic scoring)

    @property
    def scored(self) -> bool:
        return self.state != "not scored"

    def to_dict(self) -> dict[str, str]:
        return {"state": self.state, "method": self.method, "reason": self.reason}


@dataclass
class Annotations:
    """Stages (one per 30-s epoch from ``stage_onset_s``) and events for one recording."""

    source: str  # "nsrr-xml", "profusion-xml", "edf+", "hypnogram-txt", "hypnogram-csv", ...
    path: Path | None
    stages: list[str] = field(default_factory=list)
    stage_onset_s: float = 0.0
    epoch_s: float = EPOCH_S
    events: list[Event] = field(default_factory=list)
    #: per kind of annotation, who scored it; readers fill every kind. Empty = not stated (legacy
    #: records built in code): every kind is taken as scored by a person.
    scoring: dict[str, Scoring] = field(default_factory=dict)
    #: per-epoch confidence of automatic stages (aligned with ``stages``), else None
    stage_confidence: list[float] | None = None
    #: the recording's start clock time (seconds after midnight) as the annotation file states it (NSRR XML's
    #: "Recording Start Time" ClockTime), else None; checked against the recording's own start
    clock_start_s: float | None = None
    #: what reading the file changed that a reader of the stages should know (stages scored in other epoch
    #: lengths re-read onto 30-s epochs); added to the recording's warnings
    notes: list[str] = field(default_factory=list)

    def status(self, kind: str) -> Scoring:
        """Who scored ``kind`` (see :data:`~sleeplm.encoder.vocab.SCORING_KINDS`)."""
        if kind not in SCORING_KINDS:
            raise KeyError(f"unknown annotation kind {kind!r}; known: {list(SCORING_KINDS)}")
        if not self.scoring:
            return Scoring("manual", self.source)
        return self.scoring.get(kind, Scoring("not scored", reason="the annotations do not cover it"))

    def stage_counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for s in self.stages:
            out[s] = out.get(s, 0) + 1
        return out

    def event_counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for e in self.events:
            out[e.type] = out.get(e.type, 0) + 1
        return out


@dataclass
class ChannelSource:
    """Where one SleepLM channel comes from in a recording."""

    channel: str  # one of SLEEPLM_CHANNELS or AUX_CHANNELS
    labels: tuple[str, ...]  # source label(s); two for a derived bipolar pair (a - b)
    derivation: str  # "direct", "bipolar", "substitute", ...
    note: str = ""  # e.g. "C3-A1 used for C3-A2"
    lead: str = ""  # the derivation actually recorded, as captions name it ("C3-A1", "Fpz-Cz")

    @property
    def is_substitute(self) -> bool:
        return self.derivation.startswith("substitute")


@dataclass
class MappedRecording:
    """The SleepLM channels of a recording at their native rates.

    ``channels`` maps a SleepLM/aux channel name to a :class:`Signal` whose data is
    the (possibly derived) native-rate signal. POS data are already SleepLM codes.
    """

    recording: Recording
    channels: dict[str, Signal]
    sources: dict[str, ChannelSource]
    unmapped: dict[str, str]  # source label -> why it was not used
    position_coding: str | None = None

    @property
    def missing(self) -> list[str]:
        return [c for c in SLEEPLM_CHANNELS if c not in self.sources]


@dataclass
class Epochs:
    """Model-ready epochs of one recording.

    ``x`` float32 [N, 10, 1920] at 64 Hz in :data:`SLEEPLM_CHANNELS` order, each
    channel z-scored over the recording (POS holds integer codes), missing channels zero.
    ``channel_mask`` bool [N, 10]: True where the channel exists and is not flat in that epoch.
    ``onset_s`` float [N]: epoch start from the recording start.
    ``stages``: the annotated stage per epoch ("UNKNOWN" when not scored).
    """

    x: np.ndarray
    channel_mask: np.ndarray
    onset_s: np.ndarray
    stages: list[str]
    fs_hz: int = MODEL_FS_HZ

    def __len__(self) -> int:
        return int(self.x.shape[0])
