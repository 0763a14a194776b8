"""Small vectorised helpers shared by the generators (no state, no randomness of their own)."""

from __future__ import annotations

import numpy as np
from scipy import fft as sfft
from scipy import signal as ssig

from sleeplm.encoder.vocab import EPOCH_S, SLEEP_STAGES  # noqa: F401  (re-exported for the simulator)


def moving_average(x: np.ndarray, width: int) -> np.ndarray:
    """Centred moving average of ``width`` samples (edge-padded), O(N)."""
    if width <= 1:
        return np.asarray(x, dtype=float)
    pad = np.pad(np.asarray(x, dtype=float), (width // 2, width - 1 - width // 2), mode="edge")
    c = np.concatenate(([0.0], np.cumsum(pad)))
    return (c[width:] - c[:-width]) / width


def epochs_to_samples(values: np.ndarray, fs_hz: float, n_samples: int, ramp_s: float = 2.0) -> np.ndarray:
    """Expand one value per 30-s epoch to a per-sample curve with linear ramps of ``ramp_s`` at changes.

    Equivalent to a ``ramp_s`` moving average of the step curve, computed by interpolation
    between knots at each epoch's start + ramp/2 and end − ramp/2 (one pass over the samples).
    """
    v = np.asarray(values, dtype=float)
    half = min(0.5 * ramp_s, 0.5 * EPOCH_S - 1e-6)
    starts = np.arange(len(v)) * EPOCH_S
    knots_t = np.column_stack([starts + half, starts + EPOCH_S - half]).ravel()
    knots_v = np.repeat(v, 2)
    return np.interp(np.arange(n_samples) / fs_hz, knots_t, knots_v)


def stage_lookup(stages: np.ndarray, table: dict[str, float], default: float = 0.0) -> np.ndarray:
    """Per-epoch values from a stage -> value table."""
    return np.array([table.get(str(s), default) for s in stages], dtype=float)


def shaped_noise(rng: np.random.Generator, n: int, fs_hz: float, psd) -> np.ndarray:
    """Gaussian noise of length ``n`` whose power spectrum follows ``psd(f_hz)``.

    The spectrum is drawn directly in the frequency domain (complex normal times
    sqrt(psd)) and inverted with one real FFT; the result is scaled to unit
    variance times the mean of ``psd`` so the caller controls amplitude separately.
    """
    nfft = sfft.next_fast_len(n, real=True)
    f = sfft.rfftfreq(nfft, 1.0 / fs_hz)
    amp = np.sqrt(np.maximum(psd(f), 0.0))
    spec = (rng.standard_normal(len(f)) + 1j * rng.standard_normal(len(f))) * amp
    x = sfft.irfft(spec, nfft)[:n]
    sd = x.std()
    return x / sd if sd > 0 else x


def band_noise(rng: np.random.Generator, n: int, fs_hz: float, lo_hz: float, hi_hz: float) -> np.ndarray:
    """Unit-variance noise band-limited to [lo_hz, hi_hz] (smooth edges).

    Low-frequency bands are drawn on a coarse grid (8 × ``hi_hz``) and interpolated.
    """
    def psd(f: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + ((f - 0.5 * (lo_hz + hi_hz)) / (0.5 * (hi_hz - lo_hz))) ** 8)
    fs_low = 8.0 * hi_hz
    if fs_low >= fs_hz / 2:
        return shaped_noise(rng, n, fs_hz, psd)
    n_low = int(np.ceil(n * fs_low / fs_hz)) + 2
    x = shaped_noise(rng, n_low, fs_low, psd)
    return np.interp(np.arange(n) / fs_hz, np.arange(n_low) / fs_low, x)


def slow_noise(rng: np.random.Generator, n: int, fs_hz: float, corr_s: float) -> np.ndarray:
    """Unit-variance smooth random curve with correlation time ``corr_s`` (cheap: coarse grid + interp)."""
    step = max(corr_s / 4.0, 1.0 / fs_hz)
    n_coarse = int(np.ceil(n / fs_hz / step)) + 8
    coarse = moving_average(rng.standard_normal(n_coarse), 4)
    coarse = (coarse - coarse.mean()) / (coarse.std() + 1e-12)
    t = np.arange(n) / fs_hz
    return np.interp(t, np.arange(n_coarse) * step, coarse)


def add_at(out: np.ndarray, start_idx: int, seg: np.ndarray) -> None:
    """``out[start:start+len(seg)] += seg`` clipped to the array bounds (in place)."""
    a, b = start_idx, start_idx + len(seg)
    lo, hi = max(a, 0), min(b, len(out))
    if hi > lo:
        out[lo:hi] += seg[lo - a:hi - a]


def pulse_train(n: int, idx: np.ndarray, template: np.ndarray, weights: np.ndarray | None = None,
                center: int = 0) -> np.ndarray:
    """Sum of ``template`` copies at sample indices ``idx`` (overlaps add), vectorised via bincount."""
    idx = np.asarray(idx, dtype=np.int64)
    if len(idx) == 0:
        return np.zeros(n)
    w = np.ones(len(idx)) if weights is None else np.asarray(weights, dtype=float)
    template = np.asarray(template, dtype=float)
    if len(idx) * len(template) <= 8_000_000:  # direct: every template sample placed with bincount
        pos = idx[:, None] - center + np.arange(len(template))[None, :]
        val = w[:, None] * template[None, :]
        keep = (pos >= 0) & (pos < n)
        return np.bincount(pos[keep], weights=val[keep], minlength=n)[:n]
    keep = (idx >= 0) & (idx < n)
    impulses = np.bincount(idx[keep], weights=w[keep], minlength=n)
    return ssig.oaconvolve(impulses, template)[center:center + n]


def per_epoch(x: np.ndarray, fs_hz: float, n_epochs: int, how: str = "mean") -> np.ndarray:
    """Reduce a signal to one value per 30-s epoch (``mean`` or ``min``)."""
    spe = int(round(EPOCH_S * fs_hz))
    m = x[: n_epochs * spe].reshape(n_epochs, spe)
    return m.min(axis=1) if how == "min" else m.mean(axis=1)
