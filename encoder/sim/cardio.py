"""ECG generator: PQRST template train driven by a stage-dependent heart rate.

Heart rate (bpm) = subject base + stage offset + slow LF fluctuation + respiratory
sinus arrhythmia (stronger in deep NREM) − mild bradycardia during apneas +
a surge after each respiratory event's end (large when the event ends in an arousal) and at
spontaneous arousals. Beats are
placed where the integrated rate crosses whole numbers; the ECG (mV) is a sum of
Gaussian P, Q, R, S and T waves at each beat (vectorised with ``bincount``), with
respiratory amplitude modulation and baseline wander.
"""

from __future__ import annotations

import numpy as np

from sleeplm.encoder.sim._util import EPOCH_S, epochs_to_samples, per_epoch, pulse_train, slow_noise, stage_lookup
from sleeplm.encoder.sim.events import RESPIRATORY_TYPES, ScoredEvent
from sleeplm.encoder.sim.phenotypes import PhenotypeParams

HR_OFFSET_BPM = {"W": 7.0, "N1": 3.0, "N2": 0.0, "N3": -1.0, "REM": 3.0}
LF_SD_BPM = {"W": 3.0, "N1": 2.0, "N2": 1.5, "N3": 0.8, "REM": 3.5}
RSA_BPM = {"W": 3.0, "N1": 3.5, "N2": 4.0, "N3": 4.0, "REM": 3.0}
#: Beat-to-beat jitter of R-peak times (s, SD): the part of heart-rate variability no slow curve carries.
BEAT_JITTER_S = 0.010
HR_GRID_HZ = 4.0

#: (centre s relative to R, width s, amplitude mV)
#: Widths fitted so that the 5-20 Hz share of ECG power matches a real lead (docs/calibration.md).
_WAVES = ((-0.17, 0.025, 0.12), (-0.03, 0.012, -0.10), (0.0, 0.024, 1.0), (0.035, 0.014, -0.25),
          (0.26, 0.05, 0.35))


def heart_rate(rng: np.random.Generator, stages: np.ndarray, events: list[ScoredEvent],
               resp_phase_rad: np.ndarray, resp_fs_hz: float, params: PhenotypeParams) -> np.ndarray:
    """Instantaneous heart rate (bpm) on a ``HR_GRID_HZ`` grid."""
    stages = np.asarray(stages).astype(str)
    n = int(len(stages) * EPOCH_S * HR_GRID_HZ)
    t = np.arange(n) / HR_GRID_HZ
    hr = epochs_to_samples(params.hr_base_bpm + stage_lookup(stages, HR_OFFSET_BPM), HR_GRID_HZ, n, 20.0)
    lf = epochs_to_samples(stage_lookup(stages, LF_SD_BPM, 1.0), HR_GRID_HZ, n, 20.0)
    hr += params.hrv_scale * lf * slow_noise(rng, n, HR_GRID_HZ, 12.0)
    rsa = epochs_to_samples(stage_lookup(stages, RSA_BPM, 2.0), HR_GRID_HZ, n, 20.0)
    ph = np.interp(t, np.arange(len(resp_phase_rad)) / resp_fs_hz, resp_phase_rad)
    hr += params.hrv_scale * rsa * np.sin(ph)
    bumps = np.zeros(n)
    for e in events:
        if e.type in RESPIRATORY_TYPES:
            i0, i1 = int(e.onset_s * HR_GRID_HZ), int(e.end_s * HR_GRID_HZ)
            bumps[i0:i1] -= 4.0 if e.type != "hypopnea" else 2.0  # bradycardia while breathing stops
            # Surge after the event end, large when the event ends in an arousal.
            peak, amp = e.end_s + 3.0, rng.uniform(10.0, 25.0) if e.with_arousal else rng.uniform(3.0, 8.0)
        elif e.type == "arousal" and e.cause < 0:
            peak, amp = e.onset_s + 4.0, rng.uniform(5.0, 12.0)
        else:
            continue
        j0, j1 = max(int((peak - 12) * HR_GRID_HZ), 0), min(int((peak + 15) * HR_GRID_HZ), n)
        tt = t[j0:j1] - peak
        bumps[j0:j1] = np.maximum(bumps[j0:j1], amp * np.exp(-0.5 * (tt / np.where(tt < 0, 3.0, 6.0)) ** 2))
    return np.clip(hr + bumps, 35.0, 160.0)


def beat_times(hr_bpm: np.ndarray, phase: float, rng: np.random.Generator | None = None) -> np.ndarray:
    """R-peak times (s): where the integrated rate (``HR_GRID_HZ`` grid) crosses whole beats.

    ``phase`` in [0, 1) shifts the first beat; with ``rng`` each beat moves by Gaussian jitter
    of ``BEAT_JITTER_S`` (beat order kept).
    """
    cum = np.cumsum(hr_bpm / 60.0 / HR_GRID_HZ)
    t_grid = np.arange(1, len(hr_bpm) + 1) / HR_GRID_HZ
    beats = np.arange(np.ceil(cum[0] + phase), np.floor(cum[-1]))
    t = np.interp(beats, cum, t_grid)
    if rng is not None and len(t) > 2:
        t = t + np.clip(rng.normal(0.0, BEAT_JITTER_S, len(t)), -0.1, 0.1)
        t = np.maximum.accumulate(np.clip(t, 0.0, len(hr_bpm) / HR_GRID_HZ - 1e-3))
    return t


def simulate_ecg(rng: np.random.Generator, hr_bpm: np.ndarray, resp_phase_rad: np.ndarray, resp_fs_hz: float,
                 fs_hz: float) -> tuple[np.ndarray, np.ndarray]:
    """ECG (mV) at ``fs_hz`` and the R-peak times (s)."""
    n = int(round(len(hr_bpm) / HR_GRID_HZ * fs_hz))
    r_times = beat_times(hr_bpm, rng.random(), rng)
    tt = np.arange(int(-0.3 * fs_hz), int(0.5 * fs_hz)) / fs_hz
    template = sum(a * np.exp(-0.5 * ((tt - c) / w) ** 2) for c, w, a in _WAVES)
    ph_r = np.interp(r_times, np.arange(len(resp_phase_rad)) / resp_fs_hz, resp_phase_rad)
    weights = rng.uniform(0.6, 1.3) * (1.0 + 0.08 * np.sin(ph_r)) * (1.0 + 0.02 * rng.standard_normal(len(r_times)))
    ecg = pulse_train(n, np.round(r_times * fs_hz).astype(np.int64), template, weights, center=-int(-0.3 * fs_hz))
    t = np.arange(n) / fs_hz
    ph = np.interp(t, np.arange(len(resp_phase_rad)) / resp_fs_hz, resp_phase_rad)
    ecg += 0.08 * np.sin(ph)
    ecg += 0.1 * slow_noise(rng, n, fs_hz, 20.0)
    ecg += 0.015 * rng.standard_normal(n, dtype=np.float32)
    return ecg, r_times


def epoch_heart_rate(hr_bpm: np.ndarray, n_epochs: int) -> np.ndarray:
    """Mean true heart rate per 30-s epoch (bpm)."""
    return per_epoch(hr_bpm, HR_GRID_HZ, n_epochs)
