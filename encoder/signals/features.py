"""One table of per-epoch features for a night: :func:`compute_epoch_features`.

A feature exists only where its channel exists: a missing channel gives NaN (numbers) or
``""`` (trend/change strings), never an invented value.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sleeplm.encoder.signals.cardiac import cardiac_features
from sleeplm.encoder.signals.eeg import EEG_BANDS_HZ, eeg_features
from sleeplm.encoder.signals.emg import emg_features
from sleeplm.encoder.signals.eog import eog_features
from sleeplm.encoder.signals.position_features import position_features
from sleeplm.encoder.signals.respiration import respiration_features
from sleeplm.encoder.signals.spo2 import spo2_features
from sleeplm.encoder.io.records import EPOCH_S, Annotations, MappedRecording

#: Column -> (unit, meaning). ``{..}`` placeholders are expanded below.
_COLUMN_DOC: dict[str, tuple[str, str]] = {
    "onset_s": ("s", "epoch start from the recording start"),
    "stage": ("", "annotated stage (W, N1, N2, N3, REM, UNKNOWN)"),
    **{f"eeg_{c}_{b}_rel_pct": ("%", f"{b} {lo}-{hi} Hz power relative to 0.5-30 Hz, {c.upper()}")
       for c in ("c3", "c4") for b, (lo, hi) in EEG_BANDS_HZ.items()},
    **{f"eeg_{c}_spindle_count": ("count", f"sleep spindles starting in the epoch, {c.upper()}")
       for c in ("c3", "c4")},
    **{f"eeg_{c}_slow_wave_count": ("count", f"slow waves / K-complexes, {c.upper()}")
       for c in ("c3", "c4")},
    **{f"eog_{s}_sem_rel_pct": ("%", "slow eye movement power 0.1-1 Hz relative to 0.1-30 Hz")
       for s in ("l", "r")},
    **{f"eog_{s}_rem_rel_pct": ("%", "REM saccade power 1-5 Hz relative to 0.1-30 Hz")
       for s in ("l", "r")},
    **{f"eog_{s}_rem_count": ("count", "rapid eye movements (slope detector on L-R when both exist)") for s in ("l", "r")},
    "ecg_hr_bpm": ("bpm", "60 / mean RR"),
    "ecg_rmssd_ms": ("ms", "RMSSD of RR intervals"),
    "ecg_n_beats": ("count", "valid RR intervals in the epoch"),
    "hr_min_bpm": ("bpm", "minimum instantaneous HR"),
    "hr_mean_bpm": ("bpm", "mean instantaneous HR"),
    "hr_max_bpm": ("bpm", "maximum instantaneous HR"),
    "hr_trend": ("s", "HR phases 'increasing a-b,decreasing c-d' (s within the epoch)"),
    **{f"{c}_rate_bpm": ("breaths/min", f"breathing rate from {c.upper()}") for c in ("abd", "thx", "af")},
    **{f"{c}_biv_s": ("s", f"breath interval SD from {c.upper()}") for c in ("abd", "thx", "af")},
    **{f"{c}_amp_rel_pct": ("%", "epoch RMS relative to the night's median") for c in ("abd", "thx", "af")},
    **{f"{c}_amp_min10s_rel_pct": ("%", "lowest 10-s RMS relative to the night's median")
       for c in ("abd", "thx", "af")},
    "af_flatness": ("ratio", "inspiratory flow flatness (mean/peak flow of inspirations)"),
    "spo2_min_pct": ("%", "minimum SpO2"),
    "spo2_mean_pct": ("%", "mean SpO2"),
    "spo2_below90_s": ("s", "time with SpO2 below 90 % (share of valid samples x epoch length)"),
    "spo2_trend": ("s", "SpO2 phases 'decreasing a-b' (s within the epoch)"),
    "emg_median_freq_hz": ("Hz", "chin EMG median frequency, >= 10-Hz high-passed, within 10-32 Hz"),
    "emg_burst_ratio": ("ratio", "95th percentile / median of the 0.1-s EMG envelope"),
    "emg_burst_mod_hz": ("Hz", "spectral centroid of the EMG envelope, 0.2-5 Hz"),
    "emg_tone_rel_pct": ("%", "EMG RMS relative to the night's median"),
    "position_code": ("code", "SleepLM position code (0 R, 1 L, 2 supine, 3 prone, 4 upright, -1)"),
    "position": ("", "position name"),
    "position_changes": ("s", "'from>to@t' changes inside the epoch"),
}

#: Every column of :func:`compute_epoch_features`, in order, with (unit, meaning).
FEATURE_COLUMNS: dict[str, tuple[str, str]] = _COLUMN_DOC


def epoch_stages(annotations: Annotations | None, onset_s: np.ndarray) -> np.ndarray:
    """The annotated stage of each epoch (``"UNKNOWN"`` outside the hypnogram)."""
    n = len(onset_s)
    if annotations is None or not annotations.stages:
        return np.array(["UNKNOWN"] * n, dtype=object)
    k = np.round((np.asarray(onset_s) - annotations.stage_onset_s) / annotations.epoch_s).astype(int)
    st = np.array(list(annotations.stages) + ["UNKNOWN"], dtype=object)
    k = np.where((k >= 0) & (k < len(annotations.stages)), k, len(annotations.stages))
    return st[k]


def default_onsets_s(mapped: MappedRecording, annotations: Annotations | None = None,
                     epoch_s: float = EPOCH_S) -> np.ndarray:
    """Epoch onsets: the hypnogram's epochs when scored, else whole epochs of the recording."""
    if annotations is not None and annotations.stages:
        return annotations.stage_onset_s + annotations.epoch_s * np.arange(len(annotations.stages))
    dur = mapped.recording.duration_s
    return epoch_s * np.arange(int(dur // epoch_s))


def compute_epoch_features(mapped: MappedRecording, annotations: Annotations | None,
                           onset_s: np.ndarray, epoch_s: float = EPOCH_S) -> pd.DataFrame:
    """Per-epoch features of one night, from native-rate signals.

    Parameters
    ----------
    mapped : the night's SleepLM channels (native rates); absent channels give NaN columns.
    annotations : stages (and events) of the night, or None; only the ``stage`` column uses it.
    onset_s : epoch onsets (s) from the recording start, sorted, shape [n_epochs].

    Returns
    -------
    DataFrame, one row per epoch, columns :data:`FEATURE_COLUMNS` (units in the names).
    """
    onset_s = np.asarray(onset_s, dtype=np.float64)
    ch = mapped.channels
    cols: dict[str, np.ndarray] = {"onset_s": onset_s, "stage": epoch_stages(annotations, onset_s)}
    cols |= eeg_features(ch.get("EEG_C3"), "c3", onset_s, epoch_s)
    cols |= eeg_features(ch.get("EEG_C4"), "c4", onset_s, epoch_s)
    cols |= eog_features(ch.get("EOG_L"), "l", onset_s, epoch_s, other=ch.get("EOG_R"))
    cols |= eog_features(ch.get("EOG_R"), "r", onset_s, epoch_s, other=ch.get("EOG_L"))
    cols |= cardiac_features(ch.get("ECG"), onset_s, epoch_s)
    cols |= respiration_features(ch.get("ABD"), "abd", onset_s, epoch_s)
    cols |= respiration_features(ch.get("THX"), "thx", onset_s, epoch_s)
    cols |= respiration_features(ch.get("AF"), "af", onset_s, epoch_s)
    cols |= spo2_features(ch.get("SPO2"), onset_s, epoch_s)
    cols |= emg_features(ch.get("EMG_CHIN"), onset_s, epoch_s)
    cols |= position_features(ch.get("POS"), onset_s, epoch_s)
    df = pd.DataFrame({k: cols[k] for k in FEATURE_COLUMNS})
    df.index.name = "epoch"
    return df
