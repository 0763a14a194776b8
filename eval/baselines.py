"""Baselines reported beside the model: YASA automatic staging and feature rules for events.

* :func:`yasa_stages` — ``yasa.SleepStaging`` (its bundled LightGBM classifiers, no download) on
  the EEG (+EOG, +chin EMG when present) of one recording, epoch-aligned with the workspace's
  epochs (:func:`sleeplm.encoder.signals.scoring.score_stages_yasa`). ``yasa`` is optional: :func:`yasa_available` says whether it can be imported.
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


def yasa_available() -> bool:
    return importlib.util.find_spec("yasa") is not None and importlib.util.find_spec("mne") is not None


def yasa_stages(path: Path | str, n_epochs: int) -> list[str]:
    """YASA's stage for each of the recording's first ``n_epochs`` workspace epochs.

    The recording is read as ingest reads it (``load_psg``) and staged from the annotation clock
    (``stage_onset_s``) by :func:`sleeplm.encoder.signals.scoring.score_stages_yasa`, the automatic
    staging the readers use for unscored nights; epochs YASA does not cover are ``"UNKNOWN"``.

    Raises
    ------
    ValueError
        Naming the file: no central EEG, or under 5 minutes of it.
    """
    from sleeplm.encoder.io.psg import load_psg
    from sleeplm.encoder.signals.scoring import score_stages_yasa

    psg = load_psg(path)
    first = psg.annotations.stage_onset_s if psg.annotations is not None else 0.0
    try:
        return score_stages_yasa(psg.mapped, first, n_epochs)[0]
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from exc


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
