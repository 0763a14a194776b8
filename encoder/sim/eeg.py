"""EEG generator (C3-A2, C4-A1): stage-shaped background plus sleep graphoelements.

Background: Gaussian noise drawn in the frequency domain with a parametric spectrum
(aperiodic ``1/(f+0.5)^1.5`` plus Gaussian bumps at delta, theta, alpha, sigma and beta
frequencies). The bump weights of each stage are solved (non-negative least squares)
so that the relative band powers (Welch, 4-s windows, relative to 0.5-30 Hz) match the
stage means of real EEG (DREAMS, ``dreams-eeg-bandpower-by-stage.json``; numbers copied
into :data:`TARGET_REL_POWER`). The hypnogram is cut into chunks of at most 2 min, each
with its own random weights, joined with 0.5-s power-preserving crossfades.

Graphoelements: spindles (11-16 Hz, 0.5-2 s) and K-complexes in N2, vertex waves in
N1, sawtooth waves in REM, alpha/beta bursts during arousals. Values in µV.

Wake artifacts (:func:`_wake_artifacts`): a real central lead in wake is not only quiet alpha. In the
DREAMS excerpts (48 wake epochs, amplitude relative to the same excerpt's N2 RMS) about 60 % are quiet
(RMS 0.4-0.8 × N2, alpha and beta), about 25 % active wake with eye movements and scalp muscle in the
lead (RMS 0.7-1.3 × N2, delta 0.75-0.9 of 0.5-30 Hz power, 20-30 Hz power 2-7 × N2's) and about 15 %
body movement (RMS 1.5-7 × N2, 20-30 Hz power 10-140 × N2's). Each run of wake epochs (cut at
2 min) is active with probability :data:`WAKE_ACTIVE_P`; movement bursts come at
:data:`WAKE_MOVEMENT_PER_EPOCH` per wake epoch, more often in the first epoch of an awakening.
They are off by default (``wake_artifacts=False``): the shipped weights were trained, and every
documented simulated cohort was made, without them, and a model trained with them did not stage
real or simulated nights better (``eval/results/wake-artifacts/``). With them the wake background
takes its own calibration (:data:`CALIBRATION_GAIN_WAKE_ARTIFACTS`), so that wake epochs match the
DREAMS wake epochs' band-power means and spread (SD of delta 0.19 against the real 0.20; 0.10 without).
"""

from __future__ import annotations

import numpy as np
from scipy import fft as sfft
from scipy import signal as ssig
from scipy.optimize import nnls
from sleeplm.encoder.sim._util import EPOCH_S, add_at, band_noise, per_epoch
from sleeplm.encoder.sim.events import ScoredEvent
from sleeplm.encoder.sim.phenotypes import PhenotypeParams

BANDS_HZ: dict[str, tuple[float, float]] = {
    "delta": (0.5, 4.0), "theta": (4.0, 8.0), "alpha": (8.0, 12.0), "sigma": (12.0, 16.0), "beta": (16.0, 30.0),
}
BAND_NAMES: tuple[str, ...] = tuple(BANDS_HZ)

#: Real relative band powers per stage (mean), DREAMS central EEG (see docs/calibration.md).
TARGET_REL_POWER: dict[str, tuple[float, ...]] = {
    "W": (0.635, 0.112, 0.117, 0.067, 0.068),
    "N1": (0.590, 0.166, 0.168, 0.037, 0.039),
    "N2": (0.766, 0.127, 0.052, 0.039, 0.016),
    "N3": (0.885, 0.072, 0.026, 0.013, 0.004),
    "REM": (0.858, 0.080, 0.043, 0.012, 0.006),
}
#: Per-stage, per-band gain applied to the targets before solving the background, so that
#: background + graphoelements together land on the targets (from bench/calibrate_eeg.py).
CALIBRATION_GAIN: dict[str, tuple[float, ...]] = {
    "W": (1.0, 0.976, 0.888, 0.961, 0.991),
    "N1": (1.0, 1.07, 0.846, 0.998, 0.992),
    "N2": (1.0, 1.139, 0.791, 0.907, 1.015),
    "N3": (1.0, 1.139, 1.04, 1.055, 1.073),
    "REM": (1.0, 1.047, 0.57, 1.027, 0.73),
}
#: The wake gains with wake artifacts on (artifacts carry delta, so the background carries less of it).
CALIBRATION_GAIN_WAKE_ARTIFACTS: dict[str, tuple[float, ...]] = {"W": (1.0, 1.61, 1.615, 1.591, 1.541)}
#: Chunk-to-chunk log-sd of the component weights (real W varies much more than N3).
WEIGHT_LOG_SD: dict[str, float] = {"W": 0.7, "N1": 0.5, "N2": 0.35, "N3": 0.25, "REM": 0.3}
#: RMS amplitude (µV) of the background per stage.
RMS_UV: dict[str, float] = {"W": 12.0, "N1": 14.0, "N2": 20.0, "N3": 42.0, "REM": 14.0}

#: Probability that a run of wake epochs (at most 2 min) is active wake: eye movements and scalp muscle in the lead.
WAKE_ACTIVE_P: float = 0.3
#: Eye-movement activity (0.3-2 Hz) and scalp muscle (16 Hz up) of active wake, RMS in µV (uniform ranges).
WAKE_ACTIVE_SLOW_UV: tuple[float, float] = (10.0, 25.0)
WAKE_ACTIVE_MUSCLE_UV: tuple[float, float] = (2.0, 6.0)
#: Scalp muscle of quiet wake, RMS in µV.
WAKE_QUIET_MUSCLE_UV: tuple[float, float] = (0.3, 1.5)
#: Body-movement bursts per wake epoch (Poisson mean): inside a wake run, and in its first epoch after sleep.
WAKE_MOVEMENT_PER_EPOCH: tuple[float, float] = (0.15, 0.6)
#: Movement burst: duration (s), RMS of its slow part (µV, log-normal median and log-sd), muscle share of that RMS.
WAKE_MOVEMENT_S: tuple[float, float] = (3.0, 20.0)
WAKE_MOVEMENT_UV: tuple[float, float] = (120.0, 0.6)
WAKE_MOVEMENT_MUSCLE: tuple[float, float] = (0.2, 0.5)

#: Spectral components: (centre Hz, sd Hz); component 0 is aperiodic.
_BUMPS: tuple[tuple[float, float], ...] = ((1.5, 0.8), (6.0, 1.2), (10.0, 1.0), (13.5, 1.0), (22.0, 4.0))
_CHUNK_EPOCHS = 4
_XFADE_S = 0.5


#: Aperiodic exponent per stage (steeper in deep sleep).
APERIODIC_EXPONENT: dict[str, float] = {"W": 1.5, "N1": 2.0, "N2": 2.5, "N3": 3.0, "REM": 2.8}


def _components(f: np.ndarray, exponent: float) -> np.ndarray:
    """[6, len(f)] component PSDs (aperiodic + bumps), each of unit power over 0.5-30 Hz."""
    comps = [1.0 / (f + 0.5) ** exponent] + [np.exp(-0.5 * ((f - c) / s) ** 2) for c, s in _BUMPS]
    comps = np.array(comps)
    df = f[1] - f[0]
    sel = (f >= 0.5) & (f <= 30.0)
    return comps / (comps[:, sel].sum(axis=1, keepdims=True) * df)


def _band_matrix(exponent: float) -> np.ndarray:
    f = np.arange(0.0, 60.0, 0.01)
    comps = _components(f, exponent)
    return np.array([[c[(f >= lo) & (f < hi)].sum() * 0.01 for c in comps] for lo, hi in BANDS_HZ.values()])


def solve_weights(target: np.ndarray, exponent: float, aperiodic_share: float = 0.45) -> np.ndarray:
    """Non-negative component weights whose band fractions match ``target`` (sum-normalised)."""
    m = _band_matrix(exponent)
    lam = 0.3
    a = np.vstack([m, lam * np.eye(6)[:1]])
    b = np.r_[np.asarray(target, float) / np.sum(target), lam * aperiodic_share]
    w, _ = nnls(a, b)
    return w


_WEIGHTS: dict[tuple[str, bool], np.ndarray] = {}


def stage_weights(stage: str, wake_artifacts: bool = False) -> np.ndarray:
    """Cached component weights of a stage (targets × calibration gains; the wake-artifact gains when on)."""
    key = (stage, bool(wake_artifacts) and stage in CALIBRATION_GAIN_WAKE_ARTIFACTS)
    if key not in _WEIGHTS:
        gain = CALIBRATION_GAIN_WAKE_ARTIFACTS[stage] if key[1] else CALIBRATION_GAIN[stage]
        t = np.array(TARGET_REL_POWER[stage]) * np.array(gain)
        _WEIGHTS[key] = solve_weights(t, APERIODIC_EXPONENT[stage])
    return _WEIGHTS[key]


def _chunks(stages: np.ndarray) -> list[tuple[str, int, int]]:
    """(stage, first epoch, n epochs) runs of equal stage, cut to at most ``_CHUNK_EPOCHS``."""
    out = []
    i = 0
    n = len(stages)
    while i < n:
        j = i
        while j < n and stages[j] == stages[i] and j - i < _CHUNK_EPOCHS:
            j += 1
        out.append((str(stages[i]), i, j - i))
        i = j
    return out


def _background(rng: np.random.Generator, stages: np.ndarray, fs_hz: float, n: int,
                n_channels: int = 2, corr: float = 0.8, wake_artifacts: bool = False) -> np.ndarray:
    """[n_channels, n] background EEG (µV) with correlated channels."""
    spe = int(EPOCH_S * fs_hz)
    ov = int(_XFADE_S * fs_hz)
    out = np.zeros((n_channels, n))
    fcache: dict[tuple[int, str], tuple[np.ndarray, np.ndarray]] = {}
    for stage, e0, ne in _chunks(stages):
        st = stage if stage in TARGET_REL_POWER else "W"
        a, b = e0 * spe - ov, (e0 + ne) * spe + ov
        m = b - a
        nfft = sfft.next_fast_len(m, real=True)
        if (nfft, st) not in fcache:
            f = sfft.rfftfreq(nfft, 1.0 / fs_hz)
            fcache[nfft, st] = (f, _components(f, APERIODIC_EXPONENT[st]))
        f, comps = fcache[nfft, st]
        w = stage_weights(st, wake_artifacts and st == stage) * rng.lognormal(0.0, WEIGHT_LOG_SD[st], 6)
        amp = np.sqrt(w @ comps)
        amp[f < 0.3] = 0.0
        spec = (rng.standard_normal((2, len(f))) + 1j * rng.standard_normal((2, len(f)))) * amp
        x = sfft.irfft(spec, nfft, axis=-1)[:, :m]
        x /= x.std(axis=-1, keepdims=True) + 1e-12
        x *= RMS_UV[st] * rng.lognormal(0.0, 0.15)
        mix = np.array([x[0], corr * x[0] + np.sqrt(1 - corr ** 2) * x[1]])[:n_channels]
        win = np.ones(m)
        ramp = np.sin(0.5 * np.pi * (np.arange(2 * ov) + 0.5) / (2 * ov))
        win[:2 * ov] = ramp
        win[-2 * ov:] = ramp[::-1]
        lo, hi = max(a, 0), min(b, n)
        out[:, lo:hi] += mix[:, lo - a:hi - a] * win[lo - a:hi - a]
    return out


def _graphoelements(rng: np.random.Generator, stages: np.ndarray, events: list[ScoredEvent],
                    fs_hz: float, n: int, params: PhenotypeParams) -> np.ndarray:
    """[2, n] sum of spindles, K-complexes, vertex waves, sawtooth waves and arousal bursts (µV)."""
    out = np.zeros((2, n))

    def onsets(stage: str, per_min: float) -> np.ndarray:
        ep = np.flatnonzero(stages == stage)
        k = rng.poisson(per_min * len(ep) * EPOCH_S / 60.0)
        return (rng.choice(ep, size=k) + rng.random(k)) * EPOCH_S if len(ep) and k else np.empty(0)

    def put(t0: float, seg: np.ndarray, side_gain: np.ndarray) -> None:
        i = int(t0 * fs_hz)
        add_at(out[0], i, seg * side_gain[0])
        add_at(out[1], i, seg * side_gain[1])

    for stage, dens in (("N2", params.spindle_per_min), ("N3", 0.3 * params.spindle_per_min)):
        for t0 in onsets(stage, dens):
            dur = rng.uniform(0.5, 2.0)
            t = np.arange(int(dur * fs_hz)) / fs_hz
            seg = rng.uniform(12.0, 30.0) * np.hanning(len(t)) * np.sin(2 * np.pi * rng.uniform(11.0, 16.0) * t
                                                                            + rng.uniform(0, 2 * np.pi))
            put(t0, seg, rng.uniform(0.7, 1.0, 2))
    t = np.arange(int(1.2 * fs_hz)) / fs_hz
    for t0 in onsets("N2", 1.2):
        a = rng.uniform(50.0, 110.0)
        seg = -a * np.exp(-0.5 * ((t - 0.3) / 0.07) ** 2) + 0.6 * a * np.exp(-0.5 * ((t - 0.65) / 0.16) ** 2)
        put(t0, seg, rng.uniform(0.8, 1.0, 2))
    t = np.arange(int(0.5 * fs_hz)) / fs_hz
    for t0 in onsets("N1", 0.6):
        put(t0, -rng.uniform(25.0, 50.0) * np.exp(-0.5 * ((t - 0.25) / 0.06) ** 2), np.ones(2))
    for t0 in onsets("REM", 1.0):
        dur = rng.uniform(1.5, 5.0)
        t = np.arange(int(dur * fs_hz)) / fs_hz
        seg = rng.uniform(10.0, 25.0) * np.hanning(len(t)) * ssig.sawtooth(2 * np.pi * rng.uniform(2.0, 5.0) * t, 0.8)
        put(t0, seg, rng.uniform(0.8, 1.0, 2))
    for e in events:
        if e.type != "arousal":
            continue
        m = int(e.duration_s * fs_hz)
        spec_n = sfft.next_fast_len(m)
        f = sfft.rfftfreq(spec_n, 1.0 / fs_hz)
        shape = np.exp(-0.5 * ((f - 10.0) / 1.2) ** 2) + 0.15 * ((f > 16) & (f < 25))
        x = sfft.irfft((rng.standard_normal(len(f)) + 1j * rng.standard_normal(len(f))) * shape, spec_n)[:m]
        x = x / (x.std() + 1e-12) * rng.uniform(8.0, 15.0) * np.hanning(m) ** 0.3
        put(e.onset_s, x, np.ones(2))
    return out


def _wake_artifacts(rng: np.random.Generator, stages: np.ndarray, fs_hz: float, n: int) -> np.ndarray:
    """[2, n] eye-movement activity, scalp muscle and body movement of wake epochs (µV); zero elsewhere.

    See the module docstring for the real wake epochs these ranges come from.
    """
    out = np.zeros((2, n))
    spe = int(EPOCH_S * fs_hz)
    hi = min(0.45 * fs_hz, 60.0)
    for stage, e0, ne in _chunks(stages):
        if stage != "W":
            continue
        a, b = e0 * spe, min((e0 + ne) * spe, n)
        m = b - a
        active = rng.random() < WAKE_ACTIVE_P
        muscle_uv = rng.uniform(*(WAKE_ACTIVE_MUSCLE_UV if active else WAKE_QUIET_MUSCLE_UV))
        for ch in range(2):
            out[ch, a:b] += muscle_uv * rng.uniform(0.7, 1.0) * band_noise(rng, m, fs_hz, 16.0, hi)
        if active:
            slow = rng.uniform(*WAKE_ACTIVE_SLOW_UV) * band_noise(rng, m, fs_hz, 0.3, 2.0)
            out[:, a:b] += slow * rng.uniform(0.8, 1.0, (2, 1))
        for e in range(e0, e0 + ne):
            after_sleep = e > 0 and stages[e - 1] != "W"
            for _ in range(rng.poisson(WAKE_MOVEMENT_PER_EPOCH[1 if after_sleep else 0])):
                dur = rng.uniform(*WAKE_MOVEMENT_S)
                k = int(dur * fs_hz)
                i0 = e * spe + int(rng.uniform(0.0, max(EPOCH_S - dur, 0.0)) * fs_hz)
                k = min(k, n - i0)
                if k <= 8:
                    continue
                win = np.hanning(k) ** 0.5
                amp = rng.lognormal(np.log(WAKE_MOVEMENT_UV[0]), WAKE_MOVEMENT_UV[1])
                slow = band_noise(rng, k, fs_hz, 0.3, 3.0)
                fast = band_noise(rng, k, fs_hz, 16.0, hi) * rng.uniform(*WAKE_MOVEMENT_MUSCLE)
                burst = amp * win * (slow + fast)
                out[0, i0:i0 + k] += burst
                out[1, i0:i0 + k] += burst * rng.uniform(0.8, 1.0)
    return out


def simulate_eeg(rng: np.random.Generator, stages: np.ndarray, events: list[ScoredEvent], fs_hz: float,
                 params: PhenotypeParams, wake_artifacts: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """C3-A2 and C4-A1 (µV) for a hypnogram, before nuisance; ``wake_artifacts`` adds :func:`_wake_artifacts`.

    Returns
    -------
    c3, c4 : numpy.ndarray
        ``len(stages) * 30 * fs_hz`` samples each.
    """
    stages = np.asarray(stages).astype(str)
    n = int(len(stages) * EPOCH_S * fs_hz)
    x = _background(rng, stages, fs_hz, n, wake_artifacts=wake_artifacts)
    x += _graphoelements(rng, stages, events, fs_hz, n, params)
    if wake_artifacts:
        x += _wake_artifacts(rng, stages, fs_hz, n)
    return x[0], x[1]


def relative_band_power(x: np.ndarray, fs_hz: float, n_epochs: int) -> dict[str, np.ndarray]:
    """Per-epoch relative band power (Welch, 4-s Hann windows, 50 % overlap, mean removed,
    relative to 0.5-30 Hz); the same estimate as ``scipy.signal.welch(..., nperseg=4 * fs)``."""
    spe = int(EPOCH_S * fs_hz)
    nper = int(4 * fs_hz)
    step = nper // 2
    seg = np.asarray(x[: n_epochs * spe], dtype=np.float32).reshape(n_epochs, spe)
    win = ssig.get_window("hann", nper).astype(np.float32)
    f = sfft.rfftfreq(nper, 1.0 / fs_hz)
    pxx = np.empty((n_epochs, len(f)))
    for a in range(0, n_epochs, 128):  # bounded memory
        frames = np.lib.stride_tricks.sliding_window_view(seg[a:a + 128], nper, axis=-1)[:, ::step]
        frames = (frames - frames.mean(axis=-1, keepdims=True)) * win
        pxx[a:a + 128] = (np.abs(sfft.rfft(frames, axis=-1)) ** 2).mean(axis=1)
    tot = pxx[:, (f >= 0.5) & (f <= 30.0)].sum(axis=1) + 1e-20
    return {b: pxx[:, (f >= lo) & (f < hi)].sum(axis=1) / tot for b, (lo, hi) in BANDS_HZ.items()}


__all__ = ["BANDS_HZ", "TARGET_REL_POWER", "per_epoch", "relative_band_power", "simulate_eeg"]
