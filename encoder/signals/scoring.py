"""Automatic scoring for nights nobody scored, labelled as automatic.

* **Stages**: YASA's ``SleepStaging`` (LightGBM classifiers trained by its authors on thousands of
  real nights, shipped inside the package: nothing is downloaded) on the central EEG, the left EOG and
  the chin EMG, with its per-epoch confidence (the largest class probability).
* **Respiratory events and desaturations**: the AASM 2012 rules on airflow, the effort belts and SpO2
  (:data:`RULESET`):

  - flow amplitude = the Hilbert envelope of the band-passed airflow (0.05–2 Hz), smoothed over 2 s;
    its pre-event baseline = the 75th percentile of the preceding 120 s (robust to the events
    themselves in a severe night);
  - apnea: amplitude ≤ 10 % of baseline (a ≥ 90 % drop) for ≥ 10 s; obstructive when the belts keep
    moving (effort ≥ 40 % of its own baseline), central when they stop (< 25 %) for the whole event,
    mixed when they stop in the first half only; without belts the type cannot be told and the apnea
    is labelled obstructive with that said in its label (the annotation readers' convention);
  - hypopnea: amplitude ≤ 70 % of baseline (a ≥ 30 % drop) for ≥ 10 s, not an apnea, with a ≥ 3 %
    desaturation whose nadir falls within the event or the 45 s after it, or a scored arousal starting
    within the event or the 5 s after it;
  - desaturation: a fall of ≥ 3 % from the highest SpO2 of the preceding 120 s to a local minimum;
  - runs longer than 120 s are sensor loss, not events; an event needs its channel: no airflow, or a
    flat airflow for more than half the night, gives no respiratory scoring (said so, never "none").

Every event is written with ``label`` naming the rule set, and the night's ``Annotations.scoring``
says, per kind, "automatic" with the method or "not scored" with the reason.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.signal import butter, find_peaks, hilbert, resample_poly, sosfiltfilt
from sleeplm.encoder.io.records import (
    EPOCH_S,
    Annotations,
    Event,
    MappedRecording,
    Scoring,
    Signal,
)
from sleeplm.encoder.vocab import SCORING_KINDS

RULESET = ("AASM 2012 rules: apnea = flow drop >= 90 % for >= 10 s (obstructive/central/mixed by effort); "
           "hypopnea = flow drop >= 30 % for >= 10 s with >= 3 % desaturation or an arousal; "
           "desaturation = SpO2 fall >= 3 %")
RULES_METHOD = "sleeplm AASM rule scorer v1"
GRID_HZ = 4.0  # the envelopes' time grid
BASELINE_S = 120.0
BASELINE_QUANTILE = 0.75
APNEA_RATIO = 0.10
HYPOPNEA_RATIO = 0.70
MIN_EVENT_S = 10.0
MAX_EVENT_S = 120.0
DESAT_PCT = 3.0
DESAT_WINDOW_AFTER_S = 45.0
AROUSAL_WINDOW_AFTER_S = 5.0
EFFORT_PRESENT = 0.40
EFFORT_ABSENT = 0.25
YASA_FS_HZ = 100
SCORE_MODES = ("missing", "auto", "never")
#: Share of the night with flat airflow (runs longer than any event) above which it is not scored.
MAX_SIGNAL_LOSS = 0.5


@dataclass
class RespiratoryScoring:
    """What the rule scorer found in one night, and what it could not score."""

    events: list[Event]
    scoring: dict[str, Scoring]  # "respiratory", "desaturation"


def _grid(sig: Signal, n: int) -> np.ndarray:
    """A signal sampled on the :data:`GRID_HZ` grid (linear interpolation)."""
    t = np.arange(sig.data.size) / sig.fs_hz
    return np.interp(np.arange(n) / GRID_HZ, t, np.asarray(sig.data, np.float64))


def breath_envelope(sig: Signal, n: int) -> np.ndarray:
    """Amplitude envelope of a breathing signal on the :data:`GRID_HZ` grid."""
    x = np.asarray(sig.data, np.float64)
    x = np.nan_to_num(x - np.nanmedian(x))
    hi = min(2.0, 0.45 * sig.fs_hz)
    sos = butter(2, [0.05, hi], btype="band", fs=sig.fs_hz, output="sos")
    env = np.abs(hilbert(sosfiltfilt(sos, x)))
    w = max(1, int(round(2.0 * sig.fs_hz)))
    env = np.convolve(env, np.ones(w) / w, mode="same")
    return _grid(Signal(sig.label, env, sig.fs_hz), n)


def preceding_baseline(env: np.ndarray) -> np.ndarray:
    """The :data:`BASELINE_QUANTILE` quantile of the preceding :data:`BASELINE_S` seconds at each point."""
    w = int(BASELINE_S * GRID_HZ)
    s = pd.Series(env)
    base = s.rolling(w, min_periods=int(w / 4)).quantile(BASELINE_QUANTILE).shift(1)
    return base.bfill().to_numpy()


def runs(mask: np.ndarray, min_len: int, max_len: int) -> list[tuple[int, int]]:
    """[start, end) index pairs of True runs with ``min_len <= length <= max_len``."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2]) if min_len <= b - a <= max_len]


def desaturations(spo2: Signal) -> list[Event]:
    """Falls of >= :data:`DESAT_PCT` % from the highest SpO2 of the preceding 120 s to a local minimum."""
    fs = 1.0
    n = int(spo2.data.size // spo2.fs_hz)
    s = np.interp(np.arange(n) / fs, np.arange(spo2.data.size) / spo2.fs_hz, np.asarray(spo2.data, np.float64))
    s[(s < 50) | (s > 100)] = np.nan
    s = pd.Series(s).interpolate(limit=10).rolling(3, center=True, min_periods=1).mean().to_numpy()
    minima, _ = find_peaks(-np.nan_to_num(s, nan=100.0), prominence=1.0)
    out: list[Event] = []
    last_end = -1
    for i in minima:
        j0 = max(last_end + 1, int(i - BASELINE_S))
        if j0 >= i or not np.isfinite(s[i]):
            continue
        seg = s[j0:i + 1]
        if not np.isfinite(seg).any():
            continue
        k = j0 + int(np.nanargmax(seg))
        drop = float(s[k] - s[i])
        if drop >= DESAT_PCT:
            out.append(Event("oxygen_desaturation", float(k), float(i - k), f"automatic ({RULES_METHOD})",
                             round(float(s[i]), 1)))
            last_end = int(i)
    return out


def _effort(mapped: MappedRecording, n: int) -> np.ndarray | None:
    belts = [breath_envelope(mapped.channels[c], n) for c in ("THX", "ABD") if c in mapped.channels]
    return np.sum(belts, axis=0) if belts else None


def _apnea_type(effort_ratio: np.ndarray | None, a: int, b: int) -> tuple[str, str]:
    if effort_ratio is None:
        return "obstructive_apnea", "apnea, type not determined (no effort belts)"
    e = effort_ratio[a:b]
    half = e[: max(1, len(e) // 2)]
    if np.nanmedian(e) < EFFORT_ABSENT:
        return "central_apnea", "central apnea"
    if np.nanmedian(half) < EFFORT_ABSENT and np.nanmedian(e[len(e) // 2:]) >= EFFORT_PRESENT:
        return "mixed_apnea", "mixed apnea"
    return "obstructive_apnea", "obstructive apnea"


def score_respiratory(mapped: MappedRecording, arousals: list[Event] | None = None) -> RespiratoryScoring:
    """Apneas, hypopneas and desaturations by :data:`RULESET` (see the module doc).

    ``arousals`` (scored by a person) can confirm a hypopnea without a desaturation.
    """
    ch = mapped.channels
    events: list[Event] = []
    scoring: dict[str, Scoring] = {}
    method = f"{RULES_METHOD}; {RULESET}"
    desats: list[Event] = []
    if "SPO2" in ch and ch["SPO2"].data.size:
        desats = desaturations(ch["SPO2"])
        scoring["desaturation"] = Scoring("automatic", method)
        events += desats
    else:
        scoring["desaturation"] = Scoring("not scored", reason="no SpO2 channel for automatic scoring")
    if "AF" not in ch or not ch["AF"].data.size:
        scoring["respiratory"] = Scoring("not scored", reason="no airflow channel for automatic scoring")
        return RespiratoryScoring(events, scoring)
    af = ch["AF"]
    n = int(af.data.size / af.fs_hz * GRID_HZ)
    env = breath_envelope(af, n)
    ratio = env / np.maximum(preceding_baseline(env), 1e-12)
    eff = _effort(mapped, n)
    eff_ratio = eff / np.maximum(preceding_baseline(eff), 1e-12) if eff is not None else None
    lo, hi = int(MIN_EVENT_S * GRID_HZ), int(MAX_EVENT_S * GRID_HZ)
    lost = sum(b - a for a, b in runs(ratio <= APNEA_RATIO, hi + 1, n)) / max(n, 1)
    if lost > MAX_SIGNAL_LOSS:  # a dead sensor must not read as "no events"
        scoring["respiratory"] = Scoring("not scored", reason=f"airflow channel {af.label!r} flat or absent for "
                                                              f"{lost:.0%} of the night (sensor loss)")
        return RespiratoryScoring(events, scoring)
    apneas = runs(ratio <= APNEA_RATIO, lo, hi)
    in_apnea = np.zeros(n, bool)
    for a, b in apneas:
        kind, what = _apnea_type(eff_ratio, a, b)
        events.append(Event(kind, a / GRID_HZ, (b - a) / GRID_HZ, f"automatic {what} ({RULES_METHOD})"))
        in_apnea[a:b] = True
    nadir_t = np.array([d.end_s for d in desats])
    arousal_t = np.array([e.onset_s for e in (arousals or [])])
    for a, b in runs((ratio <= HYPOPNEA_RATIO) & ~in_apnea, lo, hi):
        if in_apnea[max(0, a - 1):min(n, b + 1)].any():
            continue
        t0, t1 = a / GRID_HZ, b / GRID_HZ
        desat = bool(((nadir_t >= t0) & (nadir_t <= t1 + DESAT_WINDOW_AFTER_S)).any())
        arousal = bool(((arousal_t >= t0) & (arousal_t <= t1 + AROUSAL_WINDOW_AFTER_S)).any())
        if desat or arousal:
            why = "desaturation" if desat else "arousal"
            events.append(Event("hypopnea", t0, t1 - t0, f"automatic hypopnea with {why} ({RULES_METHOD})"))
    limits = "" if eff is not None else "no effort belts: apnea types not determined"
    if lost > 0.05:
        limits = "; ".join(x for x in (limits, f"airflow lost for {lost:.0%} of the night") if x)
    if "SPO2" not in ch:
        limits = "; ".join(x for x in (limits, "no SpO2: hypopneas confirmed by arousals only") if x)
    scoring["respiratory"] = Scoring("automatic", method, limits)
    return RespiratoryScoring(sorted(events, key=lambda e: e.onset_s), scoring)


def _volts(sig: Signal) -> np.ndarray:
    scale = {"uv": 1e-6, "µv": 1e-6, "mv": 1e-3, "v": 1.0}.get(sig.unit.strip().lower(), 1e-6)
    return np.asarray(sig.data, np.float64) * scale


def score_stages_yasa(mapped: MappedRecording, stage_onset_s: float, n_epochs: int
                      ) -> tuple[list[str], list[float], str]:
    """YASA stages and confidences for ``n_epochs`` epochs from ``stage_onset_s``.

    Epochs YASA does not cover (a recording tail shorter than an epoch) are ``UNKNOWN`` with NaN
    confidence. Raises ValueError when there is no central EEG or under 5 minutes of it.
    """
    ch = mapped.channels
    eeg = next((c for c in ("EEG_C4", "EEG_C3") if c in ch), None)
    if eeg is None:
        raise ValueError("no central EEG channel for automatic staging")
    import mne
    import yasa
    roles = {"eeg": eeg, "eog": "EOG_L" if "EOG_L" in ch else None, "emg": "EMG_CHIN" if "EMG_CHIN" in ch else None}
    arrays, names = [], []
    for role, c in roles.items():
        if c is None:
            continue
        sig = ch[c]
        fs = int(round(sig.fs_hz))
        g = np.gcd(YASA_FS_HZ, fs)
        y = resample_poly(_volts(sig), YASA_FS_HZ // g, fs // g)
        arrays.append(y[int(round(stage_onset_s * YASA_FS_HZ)):])
        names.append(role)
    n = min(min(len(a) for a in arrays), int(n_epochs * EPOCH_S * YASA_FS_HZ))
    if n < 5 * 60 * YASA_FS_HZ:
        raise ValueError("under 5 minutes of EEG: too short for automatic staging")
    info = mne.create_info(names, YASA_FS_HZ, ch_types=names, verbose=False)
    raw = mne.io.RawArray(np.stack([a[:n] for a in arrays]), info, verbose=False)
    staging = yasa.SleepStaging(raw, eeg_name="eeg", eog_name="eog" if "eog" in names else None,
                                emg_name="emg" if "emg" in names else None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the bundled classifiers were pickled by an older scikit-learn
        hyp = staging.predict()  # a yasa.Hypnogram with per-epoch probabilities (yasa >= 0.7)
    values = hyp.hypno if hasattr(hyp, "hypno") else hyp
    proba = hyp.proba
    to_stage = {"W": "W", "WAKE": "W", "N1": "N1", "N2": "N2", "N3": "N3", "R": "REM", "REM": "REM"}
    stages = [to_stage.get(str(s).upper(), "UNKNOWN") for s in values]
    conf = np.asarray(proba, np.float64).max(axis=1).round(3).tolist()
    pad = n_epochs - len(stages)
    method = f"YASA {yasa.__version__} SleepStaging on {', '.join(f'{r}={roles[r]}' for r in names)}"
    return (stages + ["UNKNOWN"] * pad)[:n_epochs], (conf + [float("nan")] * pad)[:n_epochs], method


def auto_score(mapped: MappedRecording, annotations: Annotations | None, mode: str = "missing") -> Annotations | None:
    """The night's annotations completed by automatic scoring.

    ``mode``: ``"missing"`` scores automatically only the kinds nobody scored; ``"auto"`` scores
    every kind it can automatically, replacing the file's scoring of those kinds (one method for a
    whole cohort); ``"never"`` returns ``annotations`` unchanged. Kinds the scorers cannot do
    (arousals, limb movements; a kind whose channel is missing) stay as they were or "not scored"
    with the reason.
    """
    if mode not in SCORE_MODES:
        raise ValueError(f"unknown scoring mode {mode!r}; expected one of {SCORE_MODES}")
    if mode == "never":
        return annotations
    rec = mapped.recording
    ann = annotations or Annotations("automatic", None, [], 0.0, EPOCH_S, [],
                                     scoring={k: Scoring("not scored", reason="no annotation file") for k in SCORING_KINDS})
    scoring = {k: ann.status(k) for k in SCORING_KINDS}
    todo = {k for k, st in scoring.items() if mode == "auto" or not st.scored}
    stages, conf = list(ann.stages), ann.stage_confidence
    onset = ann.stage_onset_s if ann.stages else 0.0
    if "stages" in todo:
        n_ep = int((rec.duration_s - onset) // EPOCH_S)
        try:
            stages, conf, method = score_stages_yasa(mapped, onset, n_ep)
            scoring["stages"] = Scoring("automatic", method)
        except ValueError as exc:
            scoring["stages"] = Scoring("not scored", reason=f"automatic staging impossible: {exc}")
    events = list(ann.events)
    if todo & {"respiratory", "desaturation"}:
        arousals = [e for e in events if e.type == "arousal"] if scoring["arousal"].scored else []
        resp = score_respiratory(mapped, arousals)
        for kind in ("respiratory", "desaturation"):
            if kind in todo:
                types = set(SCORING_KINDS[kind])
                events = [e for e in events if e.type not in types]
                events += [e for e in resp.events if e.type in types]
                scoring[kind] = resp.scoring[kind]
    for kind in ("arousal", "limb_movement"):
        if kind in todo and not scoring[kind].scored:
            scoring[kind] = Scoring("not scored", reason=f"{scoring[kind].reason}; sleeplm has no automatic "
                                                         f"{kind.replace('_', ' ')} scorer")
    return Annotations(ann.source if annotations is not None else "automatic", ann.path, stages, onset,
                       ann.epoch_s, sorted(events, key=lambda e: e.onset_s), scoring,
                       conf if scoring["stages"].state == "automatic" else ann.stage_confidence)
