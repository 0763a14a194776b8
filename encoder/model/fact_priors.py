"""Measured priors for the fact reader: relative band powers computed from the model's own input.

A brain caption's band powers are Welch relative powers of the raw EEG and EOG. The model's 64-Hz input keeps most of
that spectrum, and the same Welch computation on it gives the EEG band powers within the captions' tolerance for
94-100 % of fresh simulated epochs (``eval/results/fact-reader/probes/``), far closer than a learned head reads
them. So for each relative-power value the reader starts from this measurement, mapped to the value's normal score,
and a learned residual corrects what the input lost (the EOG's slow 0.1-1 Hz power, which the input's filtering
attenuates, or the raw rate's power above 30 Hz).

Each prior is a :class:`BandPrior`, a record stored with the reader's weights, so this module holds no band table: the
training stage builds the specs from the caption features' own constants (``encoder/train/fact_priors.py``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class BandPrior:
    """One value measured as ``100 * P[lo_hz, hi_hz) / P[total_lo_hz, total_hi_hz)`` of one input channel.

    ``P`` is Welch's power (Hann window of ``seg_s``, half-overlapping segments, each segment's mean removed), the
    way the captions' features compute it; lower edges inclusive, upper exclusive.
    """

    value: str  # "track:section.field", a name of the reader's FactSpace
    channel: int  # index into the model's input channels
    seg_s: float
    lo_hz: float
    hi_hz: float
    total_lo_hz: float
    total_hi_hz: float

    def to_json(self) -> dict:
        return {"kind": "band", **asdict(self)}


@dataclass(frozen=True)
class MeasuredPrior:
    """One value measured outside the model from its input epochs, given to the reader by the caller: ``quantity`` is
    the name of the measurement (a caption feature column, such as ``ecg_rmssd_ms`` from the R peaks of the input's
    ECG), in the value's own units. The model layer runs no such measurement itself (it imports no signal code)."""

    value: str  # "track:section.field", a name of the reader's FactSpace
    quantity: str

    def to_json(self) -> dict:
        return {"kind": "measured", **asdict(self)}


Prior = BandPrior | MeasuredPrior


def prior_from_json(d: dict) -> Prior:
    """A prior from its stored record (records without a kind are band priors, as the first files wrote them)."""
    d = dict(d)
    kind = d.pop("kind", "band")
    return MeasuredPrior(**d) if kind == "measured" else BandPrior(**d)


def welch_psd(x: torch.Tensor, seg_n: int) -> torch.Tensor:
    """Welch power ``[..., seg_n // 2 + 1]`` of ``x`` ``[..., L]`` (periodic Hann, 50 % overlap, mean removed per
    segment; unscaled, which a ratio of two bands of one spectrum does not need)."""
    frames = x.unfold(-1, seg_n, seg_n // 2)
    frames = frames - frames.mean(-1, keepdim=True)
    win = torch.hann_window(seg_n, periodic=True, dtype=x.dtype, device=x.device)
    return (torch.fft.rfft(frames * win, dim=-1).abs() ** 2).mean(-2)


def band_relative_powers(x: torch.Tensor, priors: tuple[BandPrior, ...], fs_hz: float) -> torch.Tensor:
    """Each prior's relative power (%) ``[B, P]`` of epochs ``x`` ``[B, C, L]``; NaN where the channel is flat or
    absent (no power in its total band)."""
    out = []
    cache: dict[tuple[int, int], torch.Tensor] = {}
    for p in priors:
        n = round(p.seg_s * fs_hz)
        if (p.channel, n) not in cache:
            cache[(p.channel, n)] = welch_psd(x[:, p.channel].double(), n)
        psd = cache[(p.channel, n)]
        f = torch.fft.rfftfreq(n, 1.0 / fs_hz, dtype=torch.float64).to(x.device)
        band = psd[:, (f >= p.lo_hz) & (f < p.hi_hz)].sum(-1)
        total = psd[:, (f >= p.total_lo_hz) & (f < p.total_hi_hz)].sum(-1)
        rel = 100.0 * band / total.clamp_min(1e-300)
        out.append(torch.where(total > 1e-12, rel, torch.full_like(rel, float("nan"))))
    return torch.stack(out, -1).float() if out else x.new_zeros(len(x), 0)


#: How many quantile levels a value space's tail slope is measured over (``tail_slopes`` in ``facts``).
TAIL_LEVELS = 10


def normal_scores(values: torch.Tensor, quantiles: torch.Tensor, levels: torch.Tensor,
                  tail_levels: int = TAIL_LEVELS) -> torch.Tensor:
    """Values ``[B, P]`` -> normal scores through each column's quantiles ``[Q, P]`` at ``levels`` ``[Q]``: linear
    interpolation, and beyond the end quantiles the tail's slope over ``tail_levels`` levels (as
    ``FactSpace.to_normal`` does, ties aside); NaN stays NaN."""
    q = quantiles.T.contiguous()  # [P, Q]
    v = values.T.contiguous()  # [P, B]
    hi = torch.searchsorted(q, v).clamp(1, q.shape[1] - 1)
    lo = hi - 1
    q_lo, q_hi = q.gather(1, lo), q.gather(1, hi)
    frac = ((v - q_lo) / (q_hi - q_lo).clamp_min(1e-12)).clamp(0.0, 1.0)
    p = levels[lo] + frac * (levels[hi] - levels[lo])
    p = torch.where(v <= q[:, :1], levels[0].expand_as(p), p)
    p = torch.where(v >= q[:, -1:], levels[-1].expand_as(p), p)
    z = torch.special.ndtri(p.double())
    zl = torch.special.ndtri(levels.double())
    k = tail_levels
    qd, vd = q.double(), v.double()
    lo_slope = ((qd[:, k] - qd[:, 0]) / (zl[k] - zl[0])).clamp_min(0.0)[:, None]
    hi_slope = ((qd[:, -1] - qd[:, -1 - k]) / (zl[-1] - zl[-1 - k])).clamp_min(0.0)[:, None]
    z = torch.where((vd > qd[:, -1:]) & (hi_slope > 0), zl[-1] + (vd - qd[:, -1:]) / hi_slope.clamp_min(1e-12), z)
    z = torch.where((vd < qd[:, :1]) & (lo_slope > 0), zl[0] - (qd[:, :1] - vd) / lo_slope.clamp_min(1e-12), z)
    return torch.where(torch.isnan(v), v, z.float()).T


class PriorResidual(nn.Module):
    """The learned correction of the measured priors: heads' input ``[B, W]`` -> ``[B, P]`` in normal-score units.

    Its last layer starts at zero, so an untrained residual leaves the measurement as it is.
    """

    def __init__(self, width: int, n_priors: int, hidden: int = 256) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(width, hidden), nn.GELU(), nn.Linear(hidden, n_priors))
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.net(h)
