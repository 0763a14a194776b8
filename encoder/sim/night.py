"""One simulated night in memory: canonical signals, site-labelled file signals, events, per-epoch truth."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np

from sleeplm.encoder.io.records import POSITION_CODES, Annotations, Event, Signal
from sleeplm.encoder.sim._util import EPOCH_S, per_epoch
from sleeplm.encoder.sim.cardio import epoch_heart_rate, heart_rate, simulate_ecg
from sleeplm.encoder.sim.eeg import BAND_NAMES, relative_band_power, simulate_eeg
from sleeplm.encoder.sim.events import ScoredEvent, ahi, simulate_events, simulate_position
from sleeplm.encoder.sim.eog_emg import simulate_emg, simulate_eog
from sleeplm.encoder.sim.hypnogram import simulate_hypnogram
from sleeplm.encoder.sim.phenotypes import Subject
from sleeplm.encoder.sim.respiration import epoch_resp_rate, simulate_breathing, simulate_spo2
from sleeplm.encoder.sim.sites import MISSABLE, POSITION_CODING, apply_nuisance, site_signals

#: Canonical (true) sampling rates of the generators.
CANONICAL_FS_HZ: dict[str, float] = {
    "ECG": 256.0, "ABD": 32.0, "THX": 32.0, "AF": 32.0, "EOG_L": 256.0, "EOG_R": 256.0,
    "EEG_C3": 256.0, "EEG_C4": 256.0, "EMG_CHIN": 256.0, "POS": 1.0, "SPO2": 1.0,
}
_UNITS = {"ECG": "mV", "EEG_C3": "uV", "EEG_C4": "uV", "EOG_L": "uV", "EOG_R": "uV", "EMG_CHIN": "uV",
          "SPO2": "%", "ABD": "", "THX": "", "AF": "", "POS": ""}


@dataclass
class SimulatedNight:
    """A simulated night: everything that is written to disk, plus the ground truth.

    ``canonical`` holds the true signals under SleepLM channel names (EEG_C3 = C3-A2,
    ..., POS in SleepLM codes, SPO2 in %), after nuisance; ``signals`` the channels
    as the site's EDF holds them. ``epoch_truth`` holds per-epoch arrays.
    """

    subject: Subject
    start_time: datetime
    stages: np.ndarray
    events: list[ScoredEvent]
    canonical: dict[str, Signal]
    signals: list[Signal]
    epoch_truth: dict[str, np.ndarray]
    missing_channels: tuple[str, ...] = ()
    info: dict[str, object] = field(default_factory=dict)

    @property
    def stem(self) -> str:
        return self.subject.stem

    @property
    def site(self) -> str:
        return self.subject.site

    @property
    def n_epochs(self) -> int:
        return len(self.stages)

    @property
    def duration_s(self) -> float:
        return self.n_epochs * EPOCH_S

    @property
    def ahi_true(self) -> float:
        return ahi(self.events, self.stages)

    def annotations(self) -> Annotations:
        """Stages and events as a :class:`sleeplm.encoder.io.records.Annotations` record."""
        return Annotations(source="simulated", path=None, stages=[str(s) for s in self.stages],
                           events=[Event(e.type, e.onset_s, e.duration_s, label=e.type, spo2_nadir=e.spo2_nadir)
                                   for e in self.events])

    def truth_arrays(self) -> dict[str, np.ndarray]:
        """Everything for ``<stem>.truth.npz`` (per-epoch arrays, event arrays, scalars)."""
        ev = self.events
        out: dict[str, np.ndarray] = {k: np.asarray(v) for k, v in self.epoch_truth.items()}
        out.update(
            epoch_s=np.float64(EPOCH_S),
            event_type=np.array([e.type for e in ev], dtype="<U24"),
            event_onset_s=np.array([e.onset_s for e in ev], dtype=float),
            event_duration_s=np.array([e.duration_s for e in ev], dtype=float),
            event_spo2_nadir=np.array([np.nan if e.spo2_nadir is None else e.spo2_nadir for e in ev]),
            event_spo2_baseline=np.array([np.nan if e.spo2_baseline is None else e.spo2_baseline for e in ev]),
            subject_id=np.str_(self.subject.subject_id), recording=np.str_(self.stem),
            phenotype=np.str_(self.subject.phenotype), site=np.str_(self.site),
            position_coding=np.str_(POSITION_CODING[self.site]),
            ahi_true=np.float64(self.ahi_true), duration_s=np.float64(self.duration_s),
            missing_channels=np.array(self.missing_channels, dtype="<U16"),
            channel_labels=np.array([s.label for s in self.signals], dtype="<U16"),
            amplitude_scale=np.float64(self.info.get("amplitude_scale", 1.0)),
            mains_hz=np.float64(self.info.get("mains_hz", 0.0)),
            rem_atonia=np.bool_(self.subject.params.rem_atonia),
        )
        for k, s in self.canonical.items():
            out[f"fs_hz_{k}"] = np.float64(s.fs_hz)
        for s in self.signals:
            out[f"file_fs_hz_{s.label}"] = np.float64(s.fs_hz)
        return out


@dataclass(frozen=True)
class NightLabels:
    """What a night's scoring holds: start, hypnogram, position per epoch and scored events."""

    start_time: datetime
    stages: np.ndarray
    position: np.ndarray
    events: list[ScoredEvent]


def simulate_night_labels(subject: Subject, rng: np.random.Generator, duration_h: float | None = None) -> NightLabels:
    """The first, cheap part of :func:`simulate_night`: hypnogram, body position and events, no signals.

    ``simulate_night`` calls it first with the same ``rng``, so a night's labels are the same
    whether or not its signals are generated (calibration and checks of whole cohorts use it).
    """
    if duration_h is None:
        duration_h = float(rng.uniform(7.0, 8.5))
    n_ep = max(int(round(duration_h * 3600.0 / EPOCH_S)), 1)
    idx = int(subject.stem.split("-")[-1]) if subject.stem.split("-")[-1].isdigit() else 0
    start = datetime(2024, 1, 1, 22, 0, 0) + timedelta(days=idx, minutes=int(rng.integers(0, 90)))
    stages = simulate_hypnogram(rng, n_ep, subject.params)
    position = simulate_position(rng, n_ep, subject.params)
    events = simulate_events(rng, stages, position, subject.params)
    return NightLabels(start, stages, position, events)


def simulate_night(subject: Subject, rng: np.random.Generator, duration_h: float | None = None,
                   wake_artifacts: bool = False) -> SimulatedNight:
    """Simulate one night of PSG for a subject.

    Parameters
    ----------
    subject : Subject
        Demographics, phenotype parameters and site.
    rng : numpy.random.Generator
        The only source of randomness (same seed, same night).
    duration_h : float, optional
        Recording length in hours; default drawn uniformly in 7-8.5 h. Rounded to 30-s epochs.

    Returns
    -------
    SimulatedNight
    """
    p = subject.params
    labels = simulate_night_labels(subject, rng, duration_h)
    start, stages, pos_ep, events = labels.start_time, labels.stages, labels.position, labels.events
    n_ep = len(stages)
    dur_s = n_ep * EPOCH_S

    fs = CANONICAL_FS_HZ
    c3, c4 = simulate_eeg(rng, stages, events, fs["EEG_C3"], p, wake_artifacts=wake_artifacts)
    e1, e2 = simulate_eog(rng, stages, c3, fs["EEG_C3"], fs["EOG_L"])
    emg, _ = simulate_emg(rng, stages, events, fs["EMG_CHIN"], p)
    br = simulate_breathing(rng, stages, events, fs["AF"], p)
    hr = heart_rate(rng, stages, events, br["phase_rad"], fs["AF"], p)
    ecg, _ = simulate_ecg(rng, hr, br["phase_rad"], fs["AF"], fs["ECG"])
    spo2 = simulate_spo2(rng, n_ep, stages, events, fs["SPO2"], p)
    pos = np.repeat(pos_ep, int(EPOCH_S * fs["POS"])).astype(float)

    data = {"ECG": ecg, "ABD": br["abd"], "THX": br["thx"], "AF": br["flow"], "EOG_L": e1, "EOG_R": e2,
            "EEG_C3": c3, "EEG_C4": c4, "EMG_CHIN": emg, "POS": pos, "SPO2": spo2}
    canonical = {k: Signal(label=k, data=v, fs_hz=fs[k], unit=_UNITS[k]) for k, v in data.items()}
    info = apply_nuisance(rng, canonical, subject.site)
    missing: tuple[str, ...] = (str(rng.choice(MISSABLE)),) if rng.random() < 0.2 else ()
    signals = site_signals(rng, canonical, subject.site, dur_s, missing)

    rel = relative_band_power(canonical["EEG_C3"].data, fs["EEG_C3"], n_ep)
    truth: dict[str, np.ndarray] = {
        "stage": stages.astype("<U3"),
        "epoch_onset_s": np.arange(n_ep) * EPOCH_S,
        "heart_rate_bpm": epoch_heart_rate(hr, n_ep),
        "resp_rate_bpm": epoch_resp_rate(br["rate_bpm"], fs["AF"], n_ep),
        "spo2_mean": per_epoch(spo2, fs["SPO2"], n_ep),
        "spo2_min": per_epoch(spo2, fs["SPO2"], n_ep, how="min"),
        "position_code": pos_ep.astype(np.int8),
    }
    truth.update({f"eeg_rel_power_{b}": rel[b] for b in BAND_NAMES})
    assert set(np.unique(pos_ep)) <= set(POSITION_CODES.values())
    return SimulatedNight(subject=subject, start_time=start, stages=stages, events=events, canonical=canonical,
                          signals=signals, epoch_truth=truth, missing_channels=missing, info=info)
