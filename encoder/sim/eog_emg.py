"""EOG (E1-M2, E2-M2) and chin EMG generators.

EOG: eye movements appear with opposite polarity in E1 and E2 (outer canthi, one
below and one above); frontal EEG leaks in with the same polarity (so N3 delta is
in phase). Wake: blinks and saccades; N1: slow rolling eye movements; REM: bursts of
rapid eye movements. Chin EMG: broadband noise whose tone falls from W to N3, atonia
with phasic twitches in REM (kept tone for "REM without atonia"), bursts at arousals.
Values in µV.
"""

from __future__ import annotations

import numpy as np
from scipy import signal as ssig

from sleeplm.encoder.sim._util import EPOCH_S, band_noise, epochs_to_samples, pulse_train, stage_lookup
from sleeplm.encoder.sim.events import ScoredEvent
from sleeplm.encoder.sim.phenotypes import PhenotypeParams


def _event_times(rng: np.random.Generator, stages: np.ndarray, stage: str, per_min: float) -> np.ndarray:
    ep = np.flatnonzero(stages == stage)
    k = int(rng.poisson(per_min * len(ep) * EPOCH_S / 60.0)) if len(ep) else 0
    return np.sort((rng.choice(ep, size=k) + rng.random(k)) * EPOCH_S) if k else np.empty(0)


def simulate_eog(rng: np.random.Generator, stages: np.ndarray, eeg_c3: np.ndarray, eeg_fs_hz: float,
                 fs_hz: float) -> tuple[np.ndarray, np.ndarray]:
    """E1-M2 and E2-M2 (µV) at ``fs_hz``.

    Parameters
    ----------
    eeg_c3 : numpy.ndarray
        EEG that leaks into the EOG (same polarity in both channels), at ``eeg_fs_hz``.
    """
    stages = np.asarray(stages).astype(str)
    n = int(len(stages) * EPOCH_S * fs_hz)
    eye = np.zeros(n)  # horizontal gaze (positive = left), before AC coupling
    # Saccades (W) and rapid eye movements (REM, in bursts): steps of gaze.
    sacc_w = _event_times(rng, stages, "W", 12.0)
    bursts = _event_times(rng, stages, "REM", 2.5)
    rem_t = np.concatenate([b + np.cumsum(rng.uniform(0.3, 1.2, rng.integers(2, 8))) for b in bursts]) \
        if len(bursts) else np.empty(0)
    for times, amp in ((sacc_w, 90.0), (rem_t, 180.0)):
        if len(times) == 0:
            continue
        steps = rng.uniform(0.4, 1.0, len(times)) * amp * rng.choice([-1.0, 1.0], len(times))
        impulses = np.bincount(np.clip((times * fs_hz).astype(int), 0, n - 1), weights=steps, minlength=n)
        eye += np.cumsum(impulses)
    # AC coupling (0.3 Hz high-pass) turns gaze steps into decaying deflections.
    sos_hp = ssig.butter(1, 0.3, "highpass", fs=fs_hz, output="sos")
    eye = ssig.sosfilt(sos_hp, eye)
    # Slow rolling eye movements in N1 (0.1-0.6 Hz), and a little in W/REM transitions.
    sem_env = epochs_to_samples(stage_lookup(stages, {"N1": 60.0, "W": 8.0}), fs_hz, n, ramp_s=10.0)
    eye += sem_env * band_noise(rng, n, fs_hz, 0.1, 0.6)
    # Blinks in wake: ~0.3 s bumps; appear with opposite sign (vertical, E1 below / E2 above).
    blink_t = _event_times(rng, stages, "W", 10.0)
    tb = np.arange(int(0.4 * fs_hz)) / fs_hz
    blink = np.exp(-0.5 * ((tb - 0.2) / 0.06) ** 2)
    blinks = pulse_train(n, (blink_t * fs_hz).astype(int), blink, rng.uniform(60.0, 160.0, len(blink_t)))
    # EEG leakage, resampled to the EOG rate.
    if eeg_fs_hz == fs_hz:
        leak = eeg_c3[:n]
    else:
        leak = np.interp(np.arange(n) / fs_hz, np.arange(len(eeg_c3)) / eeg_fs_hz, eeg_c3)
    common = 0.5 * leak
    e1 = eye - 0.6 * blinks
    e1 += common
    e1 += 3.0 * rng.standard_normal(n, dtype=np.float32)
    e2 = 0.8 * blinks - eye
    e2 += common
    e2 += 3.0 * rng.standard_normal(n, dtype=np.float32)
    return e1, e2


def simulate_emg(rng: np.random.Generator, stages: np.ndarray, events: list[ScoredEvent], fs_hz: float,
                 params: PhenotypeParams) -> tuple[np.ndarray, np.ndarray]:
    """Chin EMG (µV) and its per-sample tone envelope (RMS, µV)."""
    stages = np.asarray(stages).astype(str)
    n = int(len(stages) * EPOCH_S * fs_hz)
    rem_tone = 2.0 if params.rem_atonia else 9.0
    tone = stage_lookup(stages, {"W": 18.0, "N1": 10.0, "N2": 7.0, "N3": 5.5, "REM": rem_tone})
    tone *= rng.lognormal(0.0, 0.15, len(tone))
    env = epochs_to_samples(tone, fs_hz, n, ramp_s=3.0)
    # Arousals: tone burst.
    for e in events:
        if e.type == "arousal":
            i0, i1 = int(e.onset_s * fs_hz), int(e.end_s * fs_hz)
            env[i0:i1] += rng.uniform(8.0, 20.0)
    # Phasic twitches in REM (more and larger without atonia), a few in W.
    twitch_rate = 6.0 if params.rem_atonia else 20.0
    tw = _event_times(rng, stages, "REM", twitch_rate)
    tt = np.hanning(int(0.2 * fs_hz))
    twitches = pulse_train(n, (tw * fs_hz).astype(int), tt,
                           rng.uniform(10.0, 30.0 if params.rem_atonia else 60.0, len(tw)))
    env = env + twitches
    sos = ssig.butter(2, [10.0, min(100.0, 0.45 * fs_hz)], "bandpass", fs=fs_hz, output="sos")
    carrier = ssig.sosfilt(sos, rng.standard_normal(n).astype(np.float32)).astype(float)
    carrier /= carrier.std() + 1e-12
    return env * carrier, env
