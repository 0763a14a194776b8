"""Facts behind a caption, per track, and how they come from a feature row.

A caption is a rendering of :class:`CaptionFacts`; :mod:`.parse` reads one back.
The five tracks follow the released SleepLM checkpoint's modality prompts
(``stage_event``, ``brain``, ``heart`` = our ``cardiac``, ``respiratory``,
``position_muscle`` = our ``somatic``). Each track is a list of sections
(:class:`SectionSpec`): a title such as ``"Heart Rate"`` and its numeric fields.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

from sleeplm.encoder.signals._common import parse_trend_string
from sleeplm.encoder.io.records import EPOCH_S, Event

from sleeplm.encoder.vocab import (  # noqa: E402,F401
    EVENT_NAMES, POSITIONS, SCORING_KIND_NAMES, SCORING_KINDS, STAGE_NAMES, TRACK_ALIASES, TRACKS,
)


@dataclass(frozen=True)
class FieldSpec:
    """One numeric fact of a section: feature ``column`` rendered as ``phrase value unit``."""

    key: str
    column: str
    phrase: str
    unit: str = ""  # appended to the number: "%", " bpm", " ms", " Hz", " s"
    decimals: int = 2


@dataclass(frozen=True)
class SectionSpec:
    """A caption section: ``"Title: field, field, ... trend phases."``."""

    key: str
    title: str
    fields: tuple[FieldSpec, ...]
    trend_column: str | None = None
    #: the model input channel the section describes (None: SpO2, which is not one of the model's inputs)
    channel: str | None = None


def _eeg(ch: str, title: str) -> SectionSpec:
    bands = ("delta", "theta", "alpha", "sigma", "beta")
    return SectionSpec(f"eeg_{ch}", title, tuple(
        [FieldSpec(f"{b}_rel_pct", f"eeg_{ch}_{b}_rel_pct", f"{b} relative power", "%") for b in bands]
        + [FieldSpec("spindle_count", f"eeg_{ch}_spindle_count", "spindle count", "", 0),
           FieldSpec("slow_wave_count", f"eeg_{ch}_slow_wave_count", "slow wave count", "", 0)]),
        channel=f"EEG_{ch.upper()}")


def _eog(side: str, title: str) -> SectionSpec:
    return SectionSpec(f"eog_{side}", title, (
        FieldSpec("sem_rel_pct", f"eog_{side}_sem_rel_pct", "slow eye movement relative power", "%"),
        FieldSpec("rem_rel_pct", f"eog_{side}_rem_rel_pct", "REM saccadic relative power", "%"),
        FieldSpec("rem_count", f"eog_{side}_rem_count", "rapid eye movement count", "", 0)), channel=f"EOG_{side.upper()}")


def _resp(ch: str, title: str, rate_phrase: str) -> SectionSpec:
    fields = [FieldSpec("rate_bpm", f"{ch}_rate_bpm", rate_phrase, " bpm"),
              FieldSpec("biv_s", f"{ch}_biv_s", "breath interval variability", " s")]
    if ch == "af":
        fields.append(FieldSpec("flatness", "af_flatness", "inspiratory flow flatness", ""))
    fields += [FieldSpec("amp_rel_pct", f"{ch}_amp_rel_pct", "relative amplitude", "%", 1),
               FieldSpec("amp_min10s_rel_pct", f"{ch}_amp_min10s_rel_pct",
                         "lowest 10-s amplitude", "%", 1)]
    return SectionSpec(ch, title, tuple(fields), channel=ch.upper())


#: Sections per track, in canonical order.
TRACK_SECTIONS: dict[str, tuple[SectionSpec, ...]] = {
    "stage_event": (),
    "brain": (
        _eog("l", "Left EOG Movement"),
        _eog("r", "Right EOG Movement"),
        _eeg("c3", "Central EEG Activity (C3-A2)"),
        _eeg("c4", "Central EEG Activity (C4-A1)"),
    ),
    "cardiac": (
        SectionSpec("ecg", "Electrocardiogram", (
            FieldSpec("beat_rate_bpm", "ecg_hr_bpm", "estimated beat rate", " bpm", 1),
            FieldSpec("rmssd_ms", "ecg_rmssd_ms", "ultra-short HRV (RMSSD)", " ms")), channel="ECG"),
        SectionSpec("hr", "Heart Rate", (
            FieldSpec("min_bpm", "hr_min_bpm", "minimum value"),
            FieldSpec("max_bpm", "hr_max_bpm", "maximum value"),
            FieldSpec("mean_bpm", "hr_mean_bpm", "mean")), trend_column="hr_trend", channel="ECG"),
        SectionSpec("spo2", "Blood Oxygen Saturation", (
            FieldSpec("min_pct", "spo2_min_pct", "minimum value"),
            FieldSpec("mean_pct", "spo2_mean_pct", "mean")), trend_column="spo2_trend"),
    ),
    "respiratory": (
        _resp("abd", "Abdominal Respiration", "respiratory rate"),
        _resp("thx", "Thoracic Respiration", "respiratory rate"),
        _resp("af", "Air Flow", "airflow rate"),
    ),
    "somatic": (
        SectionSpec("emg", "Chin EMG Activity", (
            FieldSpec("median_freq_hz", "emg_median_freq_hz", "median frequency", " Hz"),
            FieldSpec("burst_ratio", "emg_burst_ratio", "burst intensity ratio"),
            FieldSpec("burst_mod_hz", "emg_burst_mod_hz", "burst modulation rate", " Hz"),
            FieldSpec("tone_rel_pct", "emg_tone_rel_pct", "relative tone", "%", 1)), channel="EMG_CHIN"),
    ),
}


@dataclass
class Trend:
    """A rising or falling phase inside the epoch (s from the epoch start)."""

    direction: str  # "increasing" | "decreasing"
    start_s: float
    end_s: float


@dataclass
class EventFact:
    """An event overlapping the epoch, times clipped to [0, 30] s within the epoch."""

    type: str
    start_s: float
    end_s: float
    spo2_nadir_pct: float | None = None


@dataclass
class SectionFacts:
    values: dict[str, float] = field(default_factory=dict)
    trends: list[Trend] = field(default_factory=list)


@dataclass
class PositionChange:
    from_position: str
    to_position: str
    at_s: float


@dataclass
class PositionFacts:
    position: str  # one of POSITIONS or "unknown"
    changes: list[PositionChange] = field(default_factory=list)


@dataclass
class CaptionFacts:
    """Everything a caption of one track states about one epoch."""

    track: str
    stage: str | None = None
    events: list[EventFact] = field(default_factory=list)
    sections: dict[str, SectionFacts] = field(default_factory=dict)
    position: PositionFacts | None = None
    #: stage_event: event kinds (SCORING_KINDS keys) nobody scored in this night -> "not scored", never "none"
    not_scored: tuple[str, ...] = ()
    #: stage_event: kinds scored by an algorithm (their events / stage say so)
    automatic: tuple[str, ...] = ()
    #: stage_event: confidence of an automatic stage (0-1)
    stage_confidence: float | None = None
    #: section key -> the lead actually recorded, when it is not the section's AASM derivation
    leads: dict[str, str] = field(default_factory=dict)


#: Section keys whose title names an AASM derivation, with that derivation and the SleepLM channel.
SECTION_LEADS: dict[str, tuple[str, str]] = {"eeg_c3": ("C3-A2", "EEG_C3"), "eeg_c4": ("C4-A1", "EEG_C4")}


def section_leads(channel_leads: Mapping[str, str] | None) -> dict[str, str]:
    """Section key -> recorded lead, for the sections whose recorded lead is not the AASM one.

    ``channel_leads`` maps a SleepLM channel to the derivation actually recorded (``ChannelSource.lead``);
    mastoid (M1/M2) and auricular (A1/A2) references count as the same lead.
    """
    out: dict[str, str] = {}
    for key, (aasm, ch) in SECTION_LEADS.items():
        lead = (channel_leads or {}).get(ch)
        same = {aasm.upper(), aasm.upper().replace("A", "M")}
        if lead and lead.strip().upper().replace(" ", "") not in same:
            out[key] = lead
    return out


def canonical_track(track: str) -> str:
    """Our track name for ``track`` (accepts the official ``heart`` / ``position_muscle``)."""
    t = TRACK_ALIASES.get(track, track)
    if t not in TRACKS:
        raise ValueError(f"unknown caption track {track!r}; expected one of {TRACKS}")
    return t


def _finite(v: object) -> bool:
    try:
        return v is not None and math.isfinite(float(v))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


def events_in_epochs(events: Iterable[Event], onset_s: np.ndarray,
                     epoch_s: float = EPOCH_S) -> list[list[EventFact]]:
    """Events overlapping each epoch, with onset/offset in s within the epoch clipped to [0, epoch_s]."""
    onset_s = np.asarray(onset_s, dtype=np.float64)
    out: list[list[EventFact]] = [[] for _ in range(len(onset_s))]
    for ev in sorted(events, key=lambda e: (e.onset_s, e.type)):
        lo = np.searchsorted(onset_s + epoch_s, ev.onset_s, side="right")
        hi = np.searchsorted(onset_s, ev.end_s, side="left")
        for k in range(lo, hi):
            a = round(min(max(ev.onset_s - onset_s[k], 0.0), epoch_s), 1)
            b = round(min(max(ev.end_s - onset_s[k], 0.0), epoch_s), 1)
            if b <= a:
                continue
            nadir = round(float(ev.spo2_nadir), 1) if _finite(ev.spo2_nadir) else None
            out[k].append(EventFact(ev.type, a, b, nadir))
    return out


def _position_facts(row: Mapping[str, object]) -> PositionFacts | None:
    name = row.get("position", "")
    if not isinstance(name, str) or not name:
        return None
    changes = []
    ch = row.get("position_changes", "")
    if isinstance(ch, str) and ch:
        from sleeplm.encoder.signals.position_features import POSITION_NAMES

        for part in ch.split(","):
            codes, at = part.split("@")
            a, b = codes.split(">")
            changes.append(PositionChange(POSITION_NAMES[int(a)], POSITION_NAMES[int(b)],
                                          round(float(at), 1)))
    return PositionFacts(name, changes)


def facts_from_features(row: Mapping[str, object], events_in_epoch: Iterable[EventFact] | None,
                        stage: str | None, track: str, scoring: Mapping[str, str] | None = None,
                        leads: Mapping[str, str] | None = None,
                        stage_confidence: float | None = None) -> CaptionFacts:
    """The facts of one track for one epoch, values rounded as they will be rendered.

    ``row`` is one row of :func:`sleeplm.encoder.signals.features.compute_epoch_features`
    (a mapping column -> value); NaN values and absent columns yield no fact. ``scoring`` maps a
    kind of annotation (``SCORING_KINDS``) to who scored it ("manual", "automatic", "not scored";
    None = all scored by a person); ``leads`` maps a SleepLM channel to the derivation recorded.
    """
    track = canonical_track(track)
    facts = CaptionFacts(track, leads=section_leads(leads))
    if track == "stage_event":
        facts.stage = stage if stage in STAGE_NAMES else "UNKNOWN"
        facts.events = [EventFact(e.type, e.start_s, e.end_s, e.spo2_nadir_pct)
                        for e in (events_in_epoch or []) if e.type in EVENT_NAMES]
        scoring = scoring or {}
        facts.not_scored = tuple(k for k in SCORING_KINDS if k != "stages" and scoring.get(k) == "not scored")
        facts.automatic = tuple(k for k in SCORING_KINDS if scoring.get(k) == "automatic")
        if "stages" in facts.automatic and _finite(stage_confidence):
            facts.stage_confidence = round(float(stage_confidence), 2)  # type: ignore[arg-type]
        return facts
    for sec in TRACK_SECTIONS[track]:
        vals = {f.key: round(float(row[f.column]), f.decimals)  # type: ignore[arg-type]
                for f in sec.fields if _finite(row.get(f.column))}
        trends = []
        if sec.trend_column and vals:
            trends = [Trend(d, a, b) for d, a, b in parse_trend_string(row.get(sec.trend_column, ""))]
        if vals or trends:
            facts.sections[sec.key] = SectionFacts(vals, trends)
    if track == "somatic":
        facts.position = _position_facts(row)
    return facts
