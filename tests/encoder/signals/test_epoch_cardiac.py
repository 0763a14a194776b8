"""Beat values of one 30-s epoch of a 64-Hz ECG (the fact reader's measured priors), on a synthetic ECG whose beats are
placed by hand: the expected heart rate and RMSSD come from those beat times."""

from __future__ import annotations

import numpy as np
import pytest
from sleeplm.encoder.signals.cardiac import epoch_cardiac_values

FS = 64.0


def _ecg(rr_s: list[float], n: int = 1920) -> np.ndarray:
    """A baseline with a narrow R wave (and small P and T waves) at each beat of the RR sequence, repeated."""
    t = np.arange(n) / FS
    x = 0.02 * np.sin(2 * np.pi * 0.3 * t)
    beat, k = 0.4, 0
    while beat < n / FS:
        x += np.exp(-0.5 * ((t - beat) / 0.012) ** 2) + 0.15 * np.exp(-0.5 * ((t - beat - 0.25) / 0.05) ** 2)
        x += 0.08 * np.exp(-0.5 * ((t - beat + 0.15) / 0.03) ** 2)
        beat += rr_s[k % len(rr_s)]
        k += 1
    return x


def test_heart_rate_and_rmssd_are_those_of_the_beats_placed() -> None:
    # RR alternating 0.90 / 1.00 s: successive differences all 100 ms, mean RR 0.95 s
    v = epoch_cardiac_values(_ecg([0.90, 1.00])[None, :], FS)
    assert v["ecg_hr_bpm"][0] == pytest.approx(60 / 0.95, abs=0.6)
    assert v["ecg_rmssd_ms"][0] == pytest.approx(100.0, abs=12.0)  # a 64-Hz grid moves each peak by up to 8 ms
    assert v["hr_min_bpm"][0] == pytest.approx(60.0, abs=1.5) and v["hr_max_bpm"][0] == pytest.approx(66.7, abs=1.5)


def test_a_flat_epoch_has_no_beat_values() -> None:
    v = epoch_cardiac_values(np.vstack([np.zeros(1920), _ecg([0.8])]), FS)
    assert np.isnan(v["ecg_hr_bpm"][0]) and np.isnan(v["ecg_rmssd_ms"][0])
    assert v["ecg_hr_bpm"][1] == pytest.approx(75.0, abs=0.6) and v["ecg_rmssd_ms"][1] < 12.0
