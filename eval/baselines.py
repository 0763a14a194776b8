"""Baselines reported beside the model: YASA automatic staging and feature rules for events.

* :func:`yasa_stages` — ``yasa.SleepStaging`` (its bundled LightGBM classifiers, no download) on
  the EEG (+EOG, +chin EMG when present) of one recording, epoch-aligned with the workspace's
  epochs. ``yasa`` is optional: :func:`yasa_available` says whether it can be imported.
* :func:`rule_scores` — per-epoch event scores from the reference feature table (the caption
  pipeline's ``features``), higher = more likely the event:

  ==============  ===============================================================================
  kind            score
  ==============  ===============================================================================
  apnea           ``-af_amp_min10s_rel_pct`` (lowest 10-s airflow amplitude, % of the night
                  median; thoracic/abdominal belts when airflow is absent)
  hypopnea        same as apnea (the features cannot tell the two apart)
  desaturation    night median of ``spo2_mean_pct`` − ``spo2_min_pct`` (drop below baseline, %)
  arousal         ``eeg_*_alpha_rel_pct + eeg_*_beta_rel_pct`` (mean of C3/C4) − night median
  ==============  ===============================================================================
"""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

YASA_TO_STAGE = {"W": "W", "WAKE": "W", "N1": "N1", "N2": "N2", "N3": "N3", "R": "REM", "REM": "REM"}
YASA_FS_HZ = 100
_UNIT_TO_VOLT = {"uv": 1e-6, "µv": 1e-6, "μv": 1e-6, "mv": 1e-3, "v": 1.0, "nv": 1e-9}


def yasa_available() -> bool:
    return importlib.util.find_spec("yasa") is not None and importlib.util.find_spec("mne") is not None


def _to_volts(data: np.ndarray, unit: str) -> np.ndarray:
    return np.asarray(data, np.float64) * _UNIT_TO_VOLT.get(unit.strip().lower(), 1e-6)


def yasa_stages(path: Path | str, n_epochs: int) -> list[str]:
    """YASA's stage for each of the recording's first ``n_epochs`` workspace epochs.

    The signals are read as ingest reads them (``load_psg``), resampled to 100 Hz, cropped to the
    annotation clock (``stage_onset_s``) and staged by ``yasa.SleepStaging``; epochs YASA does not
    cover (the recording's tail) are ``"UNKNOWN"``.
    """
    import mne
    import yasa
    from scipy.signal import resample_poly

    from sleeplm.encoder.signals.preprocess import resample_ratio
    from sleeplm.encoder.io.psg import load_psg

    psg = load_psg(path)
    ch = psg.mapped.channels
    eeg = next((c for c in ("EEG_C4", "EEG_C3") if c in ch), None)
    if eeg is None:
        raise ValueError(f"{path}: no EEG channel for YASA")
    names = {"eeg": eeg, "eog": "EOG_L" if "EOG_L" in ch else None, "emg": "EMG_CHIN" if "EMG_CHIN" in ch else None}
    first = psg.annotations.stage_onset_s if psg.annotations is not None else 0.0
    arrays = []
    for role in ("eeg", "eog", "emg"):
        if names[role] is None:
            continue
        sig = ch[names[role]]
        up, down = resample_ratio(sig.fs_hz, YASA_FS_HZ)
        y = resample_poly(_to_volts(sig.data, sig.unit), up, down)
        arrays.append(y[int(round(first * YASA_FS_HZ)):])
    n = min(len(a) for a in arrays)
    n = min(n, n_epochs * 30 * YASA_FS_HZ)
    roles = [r for r in ("eeg", "eog", "emg") if names[r] is not None]
    info = mne.create_info(roles, YASA_FS_HZ, ch_types=roles, verbose=False)
    raw = mne.io.RawArray(np.stack([a[:n] for a in arrays]), info, verbose=False)
    staging = yasa.SleepStaging(raw, eeg_name="eeg", eog_name="eog" if "eog" in roles else None,
                                emg_name="emg" if "emg" in roles else None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the bundled classifiers were pickled by an older scikit-learn
        hyp = staging.predict()
    values = hyp.hypno if hasattr(hyp, "hypno") else hyp  # yasa >= 0.7 returns a Hypnogram
    pred = [YASA_TO_STAGE.get(str(s).upper(), "UNKNOWN") for s in values]
    return (pred + ["UNKNOWN"] * n_epochs)[:n_epochs]


def _col(features: pd.DataFrame, name: str) -> np.ndarray:
    return features[name].to_numpy(np.float64) if name in features else np.full(len(features), np.nan)


def rule_scores(features: pd.DataFrame, kind: str) -> np.ndarray | None:
    """Per-epoch score of ``kind`` for one night's feature rows (in epoch order); None when the
    needed channel is missing for the whole night."""
    if kind in ("apnea", "hypopnea"):
        for c in ("af", "thx", "abd"):
            v = _col(features, f"{c}_amp_min10s_rel_pct")
            if np.isfinite(v).any():
                return -np.nan_to_num(v, nan=np.nanmedian(v))
        return None
    if kind == "desaturation":
        mn, mean = _col(features, "spo2_min_pct"), _col(features, "spo2_mean_pct")
        if not np.isfinite(mn).any():
            return None
        drop = np.nanmedian(mean) - mn
        return np.nan_to_num(drop, nan=0.0)
    if kind == "arousal":
        parts = [_col(features, f"eeg_{c}_alpha_rel_pct") + _col(features, f"eeg_{c}_beta_rel_pct") for c in ("c3", "c4")]
        if not any(np.isfinite(p).any() for p in parts):
            return None
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            fast = np.nanmean(np.stack(parts), axis=0)
        return np.nan_to_num(fast - np.nanmedian(fast), nan=0.0)
    raise ValueError(f"no rule for event kind {kind!r}")
