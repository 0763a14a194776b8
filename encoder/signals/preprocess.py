"""From mapped native-rate channels to model-ready 30-s epochs (architecture §1).

Per channel: a zero-phase Butterworth filter suited to the signal (table below),
polyphase resampling to 64 Hz (``scipy.signal.resample_poly``, whose FIR is the
anti-aliasing low-pass), then a z-score over the whole recording, clipped to
±:data:`CLIP_Z`. POS is sampled-and-held (codes, never filtered or z-scored).
Epochs are 30 s aligned to the annotation clock (``Annotations.stage_onset_s``).
A missing channel is zeros with ``channel_mask`` False; an epoch where a channel is
flat is masked too.

=========  ==================  ==============================================
channel    filter (Hz)         why
=========  ==================  ==============================================
EEG, EOG   high-pass 0.3       drifts; the resampler's low-pass ends at ~30 Hz
EMG_CHIN   high-pass 10        tone and bursts (at 64 Hz only 10–32 Hz remains)
ECG        high-pass 0.5       baseline wander
ABD, THX   high-pass 0.05      slow drifts; breathing is 0.1–1 Hz
AF         none                nasal pressure's flat tops are the information
=========  ==================  ==============================================
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction

import numpy as np
from scipy import signal as sps

from sleeplm.encoder.io.records import (
    EPOCH_S,
    EPOCH_SAMPLES,
    MODEL_FS_HZ,
    SLEEPLM_CHANNELS,
    Annotations,
    Epochs,
    MappedRecording,
    PSGError,
)

#: Preprocessing version recorded in every workspace; bump when the output changes.
PREPROCESSING_VERSION = "1"
CLIP_Z = 20.0
HIGHPASS_HZ = {"EEG_C3": 0.3, "EEG_C4": 0.3, "EOG_L": 0.3, "EOG_R": 0.3, "EMG_CHIN": 10.0, "ECG": 0.5,
               "ABD": 0.05, "THX": 0.05}
_MAX_DENOMINATOR = 1000


def resample_ratio(fs_in_hz: float, fs_out_hz: float = MODEL_FS_HZ) -> tuple[int, int]:
    """(up, down) integers with up/down == fs_out/fs_in exactly, else ValueError."""
    if not np.isfinite(fs_in_hz) or fs_in_hz <= 0:
        raise ValueError(f"sampling rate {fs_in_hz} Hz is not positive")
    frac = Fraction(fs_out_hz / fs_in_hz).limit_denominator(_MAX_DENOMINATOR)
    if abs(float(frac) * fs_in_hz - fs_out_hz) > 1e-9 * fs_out_hz:
        raise ValueError(f"{fs_in_hz} Hz cannot be resampled to {fs_out_hz} Hz by a rational factor")
    return frac.numerator, frac.denominator


def to_model_rate(x: np.ndarray, fs_hz: float, channel: str) -> np.ndarray:
    """Filter one channel and resample it to 64 Hz (float32)."""
    if channel == "POS":
        t_out = np.arange(int(np.floor(len(x) / fs_hz * MODEL_FS_HZ))) / MODEL_FS_HZ
        idx = np.minimum((t_out * fs_hz).astype(np.int64), len(x) - 1)
        return x[idx].astype(np.float32)
    up, down = resample_ratio(fs_hz)
    y = np.asarray(x, np.float64)
    hp = HIGHPASS_HZ.get(channel)
    if hp is not None and hp < fs_hz / 2:
        sos = sps.butter(2, hp, btype="highpass", fs=fs_hz, output="sos")
        y = sps.sosfiltfilt(sos, y)
    if up != down:
        y = sps.resample_poly(y, up, down)
    return y.astype(np.float32)


def zscore(x: np.ndarray) -> np.ndarray:
    """Whole-recording z-score, clipped to ±CLIP_Z; a constant signal becomes zeros."""
    mu = float(np.mean(x, dtype=np.float64))
    sd = float(np.std(x, dtype=np.float64))
    if not np.isfinite(sd) or sd < 1e-12:
        return np.zeros_like(x, np.float32)
    return np.clip((x - mu) / sd, -CLIP_Z, CLIP_Z).astype(np.float32)


#: How EEG and EOG are scaled (:func:`make_epochs`): "sd" = :func:`zscore` (every model so far was trained so);
#: "mad" = :func:`robust_zscore`, a scale the night's stage mix barely moves (eval/results/amplitude-n2-n3);
#: "mad-window" = :func:`windowed_robust_zscore`, the same scale taken from the recording's 1.5-h stretch with the
#: largest spread, so that a whole night reads like the 1.5-h nights a model trained on (eval/results/window-scale).
BRAIN_SCALES = ("sd", "mad", "mad-window")
#: The stretch :func:`windowed_robust_zscore` takes its scale from, and the step between the stretches it compares.
SCALE_WINDOW_S = 5400.0
SCALE_WINDOW_STEP_S = 300.0
#: Every how many samples the windows' mean and spread are estimated from (64 Hz → 16 Hz: a 1.5-h window still has
#: 86,400 samples; the whole-recording scales use every sample).
SCALE_WINDOW_STRIDE = 4
#: The channels ``brain_scale`` applies to.
BRAIN_CHANNELS = ("EEG_C3", "EEG_C4", "EOG_L", "EOG_R")


def robust_zscore(x: np.ndarray) -> np.ndarray:
    """Whole-recording centring on the mean and scaling by 1.4826 × the median absolute deviation (the SD of a
    Gaussian), clipped to ±CLIP_Z. Unlike the SD, that scale is set by the bulk of the night's samples, not by its
    share of high-amplitude slow-wave sleep. A signal with no spread becomes zeros."""
    x64 = np.asarray(x, np.float64)
    mad = float(np.median(np.abs(x64 - np.median(x64)))) if x64.size else 0.0
    if not np.isfinite(mad) or mad < 1e-12:
        return zscore(x) if x64.size else np.zeros_like(x, np.float32)
    return np.clip((x64 - float(np.mean(x64))) / (1.4826 * mad), -CLIP_Z, CLIP_Z).astype(np.float32)


def windowed_robust_zscore(x: np.ndarray, fs_hz: float = MODEL_FS_HZ, window_s: float = SCALE_WINDOW_S,
                           step_s: float = SCALE_WINDOW_STEP_S) -> np.ndarray:
    """Robust z-score whose centre and scale come from one stretch of the recording: of the ``window_s`` stretches
    starting every ``step_s`` (and the one ending with the recording), the one whose median absolute deviation is
    largest. The whole recording is centred on that stretch's mean and divided by 1.4826 × its MAD, clipped to
    ±CLIP_Z. A recording no longer than ``window_s`` is scaled as :func:`robust_zscore` scales it, sample for sample.

    Why: a whole-recording scale depends on the recording's length. The first 1.5 h of a night hold most of its
    slow-wave sleep and a whole night is mostly N2, so a model that learnt stages on 1.5-h nights reads a whole
    night's N2 as N3. The stretch with the largest spread is, in a night, its slow-wave-richest stretch: the part a
    1.5-h recording would hold. Mean and MAD of a stretch are estimated from every :data:`SCALE_WINDOW_STRIDE`-th
    sample.

    Parameters
    ----------
    x : ndarray
        One channel at ``fs_hz``, the whole recording.
    fs_hz, window_s, step_s : float
        Sampling rate, stretch length and step (s).
    """
    x64 = np.asarray(x, np.float64)
    n, w = len(x64), int(round(window_s * fs_hz))
    if n <= w:
        return robust_zscore(x)
    step = max(1, int(round(step_s * fs_hz)))
    starts = list(range(0, n - w + 1, step))
    if starts[-1] != n - w:
        starts.append(n - w)
    best_mad, best_mean = -1.0, 0.0
    for s0 in starts:
        seg = x64[s0 : s0 + w : SCALE_WINDOW_STRIDE]
        mad = float(np.median(np.abs(seg - np.median(seg))))
        if mad > best_mad:
            best_mad, best_mean = mad, float(np.mean(seg))
    if not np.isfinite(best_mad) or best_mad < 1e-12:
        return robust_zscore(x)
    return np.clip((x64 - best_mean) / (1.4826 * best_mad), -CLIP_Z, CLIP_Z).astype(np.float32)


def epoch_onsets(duration_s: float, first_onset_s: float = 0.0) -> np.ndarray:
    """Onsets (s) of the complete 30-s epochs from ``first_onset_s`` to the end."""
    n = int(np.floor((duration_s - first_onset_s) / EPOCH_S + 1e-9))
    return first_onset_s + EPOCH_S * np.arange(max(n, 0))


def flat_epochs(x: np.ndarray, fs_hz: float, onset_s: np.ndarray) -> np.ndarray:
    """Boolean [N]: the native-rate signal is constant (or absent) over each epoch.

    Epochs wholly inside the signal are checked together (max == min per row of one view or gather);
    the others (at the edges) one by one, with the same slicing as before.
    """
    n_per = int(round(EPOCH_S * fs_hz))
    onset_s = np.asarray(onset_s, np.float64)
    out = np.ones(len(onset_s), bool)
    starts = np.round(onset_s * fs_hz).astype(np.int64)  # round half to even, as Python's round()
    inside = (starts >= 0) & (starts + n_per <= len(x)) & (n_per > 0)
    idx = np.flatnonzero(inside)
    if len(idx):
        s = starts[idx]
        if len(s) == 1 or np.all(np.diff(s) == n_per):
            mat = np.asarray(x[s[0] : s[0] + len(s) * n_per]).reshape(len(s), n_per)
        else:
            mat = np.asarray(x)[s[:, None] + np.arange(n_per)[None, :]]
        out[idx] = ~(np.ptp(mat, axis=1) != 0.0)  # NaN -> not flat, as float(np.ptp(seg)) == 0.0
    for i in np.flatnonzero(~inside):
        t0 = onset_s[i]
        seg = x[int(round(t0 * fs_hz)) : int(round(t0 * fs_hz)) + n_per]
        out[i] = seg.size == 0 or float(np.ptp(seg)) == 0.0
    return out


def _channel_input(mapped: MappedRecording, name: str, start: int, onsets: np.ndarray, brain_scale: str = "sd"
                   ) -> tuple[np.ndarray, bool | np.ndarray] | None:
    """One channel's model input ``[N * EPOCH_SAMPLES]`` and its mask (None when the channel is absent)."""
    rec = mapped.recording
    sig = mapped.channels.get(name)
    if sig is None:
        return None
    n = len(onsets)
    try:
        y = to_model_rate(sig.data, sig.fs_hz, name)
    except ValueError as exc:
        raise PSGError(rec.path, f"channel {name} ('{sig.label}'): {exc}") from exc
    if name != "POS":
        if name in BRAIN_CHANNELS and brain_scale == "mad":
            y = robust_zscore(y)
        elif name in BRAIN_CHANNELS and brain_scale == "mad-window":
            y = windowed_robust_zscore(y)
        else:
            y = zscore(y)
    seg = y[start : start + n * EPOCH_SAMPLES]
    pad_value = -1.0 if name == "POS" else 0.0
    if seg.size < n * EPOCH_SAMPLES:  # a channel a little shorter than the recording
        seg = np.concatenate([seg, np.full(n * EPOCH_SAMPLES - seg.size, pad_value, np.float32)])
    return seg, (True if name == "POS" else ~flat_epochs(sig.data, sig.fs_hz, onsets))


def make_epochs(mapped: MappedRecording, annotations: Annotations | None = None,
                threads: int | None = None, brain_scale: str = "sd") -> Epochs:
    """Preprocess a mapped recording into model-ready epochs.

    Parameters
    ----------
    mapped : MappedRecording
        Native-rate SleepLM channels (see :func:`sleeplm.encoder.io.channels.map_channels`).
    annotations : Annotations, optional
        Fix the epoch clock (``stage_onset_s``) and give each epoch its stage.
    threads : int, optional
        Channels prepared at once (the filters and the resampler release the GIL); default the cores
        this process may use. Each channel's numbers do not depend on it.
    brain_scale : {"sd", "mad", "mad-window"}
        How EEG and EOG are scaled (:data:`BRAIN_SCALES`): the whole-recording SD (the default), the robust scale
        of :func:`robust_zscore`, or that scale from the recording's widest 1.5-h stretch
        (:func:`windowed_robust_zscore`). A model says which it reads (``SleepLM.brain_scale``).

    Returns
    -------
    Epochs
        ``x`` float32 [N, 10, 1920], ``channel_mask`` [N, 10], ``onset_s`` [N], ``stages``.
    """
    if brain_scale not in BRAIN_SCALES:
        raise ValueError(f"brain_scale must be one of {BRAIN_SCALES}, not {brain_scale!r}")
    rec = mapped.recording
    first = annotations.stage_onset_s if annotations is not None else 0.0
    onsets = epoch_onsets(rec.duration_s, first)
    n = len(onsets)
    if n == 0:
        raise PSGError(rec.path, f"shorter than one {EPOCH_S:.0f}-s epoch ({rec.duration_s:.1f} s)")
    start = int(round(first * MODEL_FS_HZ))
    x = np.zeros((n, len(SLEEPLM_CHANNELS), EPOCH_SAMPLES), np.float32)
    mask = np.zeros((n, len(SLEEPLM_CHANNELS)), bool)
    threads = _cores() if threads is None else max(1, threads)

    def one(name: str) -> tuple[np.ndarray, bool | np.ndarray] | None:
        return _channel_input(mapped, name, start, onsets, brain_scale)

    if threads > 1:
        with ThreadPoolExecutor(max_workers=threads) as pool:  # results in channel order: the first error wins
            results = list(pool.map(one, SLEEPLM_CHANNELS))
    else:
        results = [one(name) for name in SLEEPLM_CHANNELS]
    for c, (name, res) in enumerate(zip(SLEEPLM_CHANNELS, results)):
        if res is None:
            if name == "POS":
                x[:, c, :] = -1.0
            continue
        x[:, c, :] = res[0].reshape(n, EPOCH_SAMPLES)
        mask[:, c] = res[1]
    stages = ["UNKNOWN"] * n
    if annotations is not None:
        for i in range(min(n, len(annotations.stages))):
            stages[i] = annotations.stages[i]
    return Epochs(x=x, channel_mask=mask, onset_s=onsets, stages=stages)


def _cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return max(1, os.cpu_count() or 1)
