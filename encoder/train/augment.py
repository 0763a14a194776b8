"""Training-time augmentations of preprocessed epochs (``[b, 10, 1920]`` torch tensors, 64 Hz), for adaptation.

Each function takes a batch and a numpy generator and returns a new batch (the input is never modified);
a zero range returns the input itself, so recipes written before an augmentation existed train the same.

* :func:`jitter_brain_amplitude`: one gain per epoch on EEG and EOG (a recording's z-score depends on its
  stage mix).
* :func:`jitter_eeg_spectrum`: one person's EEG is not another's. The simulator draws every subject's EEG
  from the same stage spectra (fixed rhythm frequencies, a fixed aperiodic exponent per stage), while real
  alpha peaks sit anywhere in 8-12 Hz, spindles in 11-16 Hz, and the aperiodic exponent differs between
  people and with age by about ±0.5. This moves each epoch's EEG rhythms by one frequency factor and tilts
  its spectrum by one exponent, keeping each lead's RMS, so a model cannot key on the simulator's exact
  frequencies and slopes.
"""

from __future__ import annotations

import numpy as np
import torch
from sleeplm.encoder.signals.preprocess import (
    BRAIN_CHANNELS as PREPROCESS_BRAIN_CHANNELS,
)
from sleeplm.encoder.signals.preprocess import CLIP_Z
from sleeplm.encoder.vocab import CHANNEL_INDEX, EEG_CHANNELS, MODEL_FS_HZ

#: The channels :func:`jitter_brain_amplitude` scales (EEG and EOG).
BRAIN_CHANNELS = tuple(CHANNEL_INDEX[c] for c in PREPROCESS_BRAIN_CHANNELS)
#: The channels :func:`jitter_eeg_spectrum` reshapes (the central EEG leads).
EEG_ROWS = tuple(CHANNEL_INDEX[c] for c in EEG_CHANNELS)
#: Pivot of the spectral tilt (Hz): power at this frequency keeps its share before the RMS is restored.
TILT_PIVOT_HZ = 4.0
#: Largest frequency factor range (log2) and tilt (exponent units) a recipe may ask for.
MAX_FREQUENCY_LOG2 = 0.5
MAX_TILT = 3.0


def jitter_brain_amplitude(x: torch.Tensor, rng: np.random.Generator, log2_range: float) -> torch.Tensor:
    """A copy of a batch ``[b, 10, 1920]`` whose EEG and EOG channels (:data:`BRAIN_CHANNELS`) are multiplied by one
    factor ``2 ** u`` per epoch, ``u ~ U(-log2_range, log2_range)``, then clipped to ``±CLIP_Z`` as preprocessing
    clips; every other channel is unchanged. ``log2_range == 0`` returns ``x`` itself."""
    if log2_range == 0.0:
        return x
    factor = torch.from_numpy(np.exp2(rng.uniform(-log2_range, log2_range, size=len(x))).astype(np.float32))
    out = x.clone()
    brain = list(BRAIN_CHANNELS)
    out[:, brain] = (x[:, brain] * factor[:, None, None]).clamp(-CLIP_Z, CLIP_Z)
    return out


def time_scale(x: np.ndarray, factor: np.ndarray) -> np.ndarray:
    """``y(t) = x(factor * t)`` about each row's centre (linear interpolation, mirrored at the edges).

    Parameters
    ----------
    x : ``[b, c, n]`` signals.
    factor : ``[b]`` one factor per row; > 1 makes every rhythm faster (10 Hz becomes ``10 * factor`` Hz).
        Must lie in ``(0, 2]``, so that the source times stay within one mirrored copy on each side.
    """
    b, c, n = x.shape
    factor = np.asarray(factor, np.float64)
    if factor.shape != (b,) or not ((factor > 0) & (factor <= 2)).all():
        raise ValueError(f"factor must hold one value in (0, 2] per row, not {factor!r}")
    padded = np.concatenate([x[..., ::-1], x, x[..., ::-1]], axis=-1)
    centre = (n - 1) / 2.0
    grid = np.arange(3 * n)
    out = np.empty_like(x)
    for i in range(b):
        src = n + centre + factor[i] * (np.arange(n) - centre)
        for j in range(c):
            out[i, j] = np.interp(src, grid, padded[i, j])
    return out


def tilt_spectrum(x: np.ndarray, exponent: np.ndarray, fs_hz: float = MODEL_FS_HZ,
                  pivot_hz: float = TILT_PIVOT_HZ) -> np.ndarray:
    """Multiply each row's power spectrum by ``(f / pivot_hz) ** -exponent`` (the DC term is kept), then restore
    each channel's RMS. ``exponent > 0`` steepens the spectrum (more slow activity), as an older brain's is flatter
    and a younger one's steeper. A channel of zeros stays zeros.

    Parameters
    ----------
    x : ``[b, c, n]`` signals.
    exponent : ``[b]`` one exponent per row.
    """
    b, _, n = x.shape
    exponent = np.asarray(exponent, np.float64)
    if exponent.shape != (b,):
        raise ValueError(f"exponent must hold one value per row, not {exponent!r}")
    f = np.fft.rfftfreq(n, 1.0 / fs_hz)
    gain = np.ones((b, len(f)))
    gain[:, 1:] = (f[None, 1:] / pivot_hz) ** (-exponent[:, None] / 2.0)
    y = np.fft.irfft(np.fft.rfft(x, axis=-1) * gain[:, None, :], n, axis=-1)
    rms_in = np.sqrt((x ** 2).mean(axis=-1, keepdims=True))
    rms_out = np.sqrt((y ** 2).mean(axis=-1, keepdims=True))
    return np.where(rms_out > 0, y * (rms_in / np.where(rms_out > 0, rms_out, 1.0)), 0.0)


def jitter_eeg_spectrum(x: torch.Tensor, rng: np.random.Generator, frequency_log2: float,
                        tilt: float) -> torch.Tensor:
    """A copy of a batch ``[b, 10, 1920]`` whose central EEG leads (:data:`EEG_ROWS`) are time-scaled by one factor
    ``2 ** u`` per epoch, ``u ~ U(-frequency_log2, frequency_log2)`` (:func:`time_scale`: every rhythm moves by
    that factor), then spectrally tilted by one exponent ``~ U(-tilt, tilt)`` per epoch (:func:`tilt_spectrum`,
    RMS kept), then clipped to ``±CLIP_Z``. Both leads of an epoch get the same draw; every other channel is
    unchanged, and an absent (all-zero) lead stays absent. Both ranges 0 returns ``x`` itself.
    """
    if not 0.0 <= frequency_log2 <= MAX_FREQUENCY_LOG2:
        raise ValueError(f"frequency_log2 must be in [0, {MAX_FREQUENCY_LOG2}], not {frequency_log2}")
    if not 0.0 <= tilt <= MAX_TILT:
        raise ValueError(f"tilt must be in [0, {MAX_TILT}], not {tilt}")
    if frequency_log2 == 0.0 and tilt == 0.0:
        return x
    b = len(x)
    factor = np.exp2(rng.uniform(-frequency_log2, frequency_log2, size=b))
    exponent = rng.uniform(-tilt, tilt, size=b)
    rows = list(EEG_ROWS)
    eeg = x[:, rows].double().numpy()
    if frequency_log2 > 0.0:
        eeg = time_scale(eeg, factor)
    if tilt > 0.0:
        eeg = tilt_spectrum(eeg, exponent)
    out = x.clone()
    out[:, rows] = torch.from_numpy(eeg).to(x.dtype).clamp(-CLIP_Z, CLIP_Z)
    return out
