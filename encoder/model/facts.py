"""The fact reader: the numbers (and body position) an epoch's captions state, read from its signals.

A text space for the numeric tracks (issue 15). The brain, cardiac, respiratory and somatic captions are lists of
measured values ("heart rate ... mean of 69.56"); the contrastive text tower, reading numbers as BPE pieces, leaves
their retrieval at chance. Here the two sides meet in a space of *values* instead:

* the text side reads a caption's stated values exactly (:func:`~sleeplm.encoder.captions.parse.caption_fact_values`,
  in the captions layer) and maps each to its normal score in the training population (:class:`FactSpace`: quantiles per value, so a heavy
  tail such as the EMG tone does not swamp the rest);
* the signal side is a learned :class:`FactReader`: a signal tower started from the model's own, with one head that
  predicts every value's normal score from the per-channel mean tokens and one that classifies the body position;
* an epoch and a text are scored by the log-likelihood of the text's values under the reader's prediction, each
  value with the reader's own held-out error (``FactSpace.error_sd``: an unreliable value, such as the SpO2 the model
  input does not carry, weighs little) plus the log-probability of a stated position (:func:`fact_scores`).

The reader ships as a separate file beside the weights (``<weights>.facts.safetensors``), so the model checkpoint
keeps the official layout. Its numbers are estimates from the signal, not measurements: the measured values of an
ingested epoch are in the workspace's ``features`` table.

The reader's event head and the events and stage/event scores read from it are in
:mod:`~sleeplm.encoder.model.fact_events` (re-exported here, so ``from sleeplm.encoder.model.facts import ...`` keeps
working for them).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from scipy.stats import norm
from sleeplm.encoder.model.config import BiosignalsConfig
from sleeplm.encoder.model.fact_events import (  # noqa: F401  (re-exported: the reader's events, fact_events.py)
    EVENT_P_EPS,
    MIN_EVENT_S,
    READABLE_EVENTS,
    EventHead,
    event_inputs_present,
    events_from_probs,
    night_events_from_probs,
    stage_event_scores,
)
from sleeplm.encoder.model.fact_priors import (
    TAIL_LEVELS,
    BandPrior,
    MeasuredPrior,
    Prior,
    PriorResidual,
    band_relative_powers,
    normal_scores,
    prior_from_json,
    welch_psd,
)
from sleeplm.encoder.model.signal_encoder import BiosignalEncoder
from sleeplm.encoder.vocab import POSITIONS
from torch import nn

#: Caption tracks whose facts are values (stage_event states a stage and event times instead).
FACT_TRACKS: tuple[str, ...] = ("brain", "cardiac", "respiratory", "somatic")
#: Quantile levels of :attr:`FactSpace.quantiles` (a normal score is clipped to these, |z| <= 2.8).
QUANTILE_LEVELS = np.linspace(0.0025, 0.9975, 200)


def tail_slopes(quantiles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(low, high) slope of each value's quantile curve ``[Q, V]`` against the normal score over its last
    :data:`TAIL_LEVELS` levels (value units per SD; 0 where the tail is flat, as for counts that pile up at 0)."""
    z = norm.ppf(QUANTILE_LEVELS)
    k = TAIL_LEVELS
    lo = (quantiles[k] - quantiles[0]) / (z[k] - z[0])
    hi = (quantiles[-1] - quantiles[-1 - k]) / (z[-1] - z[-1 - k])
    return np.maximum(lo, 0.0), np.maximum(hi, 0.0)


@dataclass
class FactSpace:
    """The value space: which values, their training-population quantiles, and the reader's held-out error.

    Attributes
    ----------
    names : ``"track:section.field"`` of every value, in the reader's output order.
    quantiles : float ``[len(QUANTILE_LEVELS), V]``, each value's quantiles over the training epochs.
    error_sd : float ``[V]``, the reader's RMS error in normal-score units on nights it was not trained on
        (1.0 = no better than the population; set after training).
    """

    names: list[str]
    quantiles: np.ndarray
    error_sd: np.ndarray

    def columns(self, track: str) -> np.ndarray:
        return np.array([i for i, n in enumerate(self.names) if n.startswith(f"{track}:")], dtype=np.int64)

    def to_normal(self, values: np.ndarray) -> np.ndarray:
        """Physical values ``[N, V]`` -> normal scores (NaN stays NaN); ties take their mid quantile. Beyond the end
        quantiles a value continues on the tail's slope (:func:`tail_slopes`), so a measured heart rate of 95 bpm is
        not read as the training population's highest."""
        z = np.full(values.shape, np.nan)
        lo_slope, hi_slope = tail_slopes(self.quantiles)
        z_lo, z_hi = norm.ppf(QUANTILE_LEVELS[0]), norm.ppf(QUANTILE_LEVELS[-1])
        for j in range(values.shape[1]):
            q, ok = self.quantiles[:, j], np.isfinite(values[:, j])
            v = values[ok, j]
            lo = np.searchsorted(q, v, "left")
            hi = np.searchsorted(q, v, "right")
            p = np.interp(v, q, QUANTILE_LEVELS)
            tie = hi > lo
            p[tie] = (QUANTILE_LEVELS[np.clip(lo[tie], 0, len(q) - 1)] +
                      QUANTILE_LEVELS[np.clip(hi[tie] - 1, 0, len(q) - 1)]) / 2
            zj = norm.ppf(p)
            if hi_slope[j] > 0:
                zj = np.where(v > q[-1], z_hi + (v - q[-1]) / max(hi_slope[j], 1e-12), zj)
            if lo_slope[j] > 0:
                zj = np.where(v < q[0], z_lo - (q[0] - v) / max(lo_slope[j], 1e-12), zj)
            z[ok, j] = zj
        return z

    def to_physical(self, z: np.ndarray, extrapolate: np.ndarray | None = None) -> np.ndarray:
        """Normal scores ``[N, V]`` -> values in the captions' units (the inverse of :meth:`to_normal`). Beyond the end
        quantiles only the columns flagged in ``extrapolate`` ``[V]`` continue on the tail's slope (a measured value);
        the others stop at the end quantiles, so a learned head pushed off its range on a strange recording does not
        read an SpO2 above 100 %. Default: every column (the exact inverse)."""
        p = norm.cdf(z)
        lo_slope, hi_slope = tail_slopes(self.quantiles)
        if extrapolate is not None:
            lo_slope, hi_slope = np.where(extrapolate, lo_slope, 0.0), np.where(extrapolate, hi_slope, 0.0)
        z_lo, z_hi = norm.ppf(QUANTILE_LEVELS[0]), norm.ppf(QUANTILE_LEVELS[-1])
        out = []
        for j in range(z.shape[1]):
            q = self.quantiles[:, j]
            v = np.interp(p[:, j], QUANTILE_LEVELS, q)
            v = np.where(z[:, j] > z_hi, q[-1] + (z[:, j] - z_hi) * hi_slope[j], v)
            out.append(np.where(z[:, j] < z_lo, q[0] - (z_lo - z[:, j]) * lo_slope[j], v))
        return np.stack(out, 1)

    def stated_normal(self, stated: dict[str, np.ndarray], n: int) -> np.ndarray:
        """Normal scores ``[n, V]`` of the values texts state (``{"track:section.field": [n]}``, as
        :func:`sleeplm.encoder.captions.parse.caption_fact_values` reads them); NaN for values not stated."""
        phys = np.full((n, len(self.names)), np.nan)
        for name, v in stated.items():
            if name in self.names:
                phys[:, self.names.index(name)] = v
        return self.to_normal(phys)


#: The spectral stem's bins (Hz): 0.5-Hz bins from 2-s Welch segments over 0-32 Hz, and 0.1-Hz bins from 10-s
#: segments over 0-5 Hz (the slow eye movements' 0.1-1 Hz band needs the finer grid). Edges fall on every band edge
#: the captions use (EEG 0.5/4/8/12/16/30 Hz, EOG 0.1/1/5 Hz).
SPECTRAL_GRIDS: tuple[tuple[float, float, float, float], ...] = (
    # (segment s, bin width Hz, top Hz, low edge of the channel's total power Hz)
    (2.0, 0.5, 32.0, 0.5),
    (10.0, 0.1, 5.0, 0.1),
)


def welch_bins(x: torch.Tensor, fs_hz: float = 64.0) -> torch.Tensor:
    """A fixed spectral view of each channel: ``[B, C, L]`` -> ``[B, C, F]``.

    For each grid of :data:`SPECTRAL_GRIDS`, Welch's power (Hann window, half-overlapping segments, each segment's
    mean removed) summed into bins, divided by the channel's power from the grid's low edge to 30 Hz; then the log of
    each grid's total. Relative powers are what the captions state (a band's relative power is a sum of these bins),
    and they do not depend on the recording's scale.
    """
    out = []
    for seg_s, width_hz, top_hz, total_lo_hz in SPECTRAL_GRIDS:
        n = round(seg_s * fs_hz)
        psd = welch_psd(x, n)  # [B, C, n//2+1]
        f = torch.fft.rfftfreq(n, 1.0 / fs_hz).to(x.device)
        total = psd[..., (f >= total_lo_hz) & (f <= 30.0)].sum(-1, keepdim=True).clamp_min(1e-12)
        idx = torch.clamp((f / width_hz).floor().long(), max=round(top_hz / width_hz) - 1)
        keep = f < top_hz + width_hz / 2
        binned = torch.zeros(*psd.shape[:-1], round(top_hz / width_hz), dtype=psd.dtype, device=x.device)
        binned.index_add_(-1, idx[keep], psd[..., keep])
        out += [binned / total, torch.log(total)]
    return torch.cat(out, -1)


class FactReader(nn.Module):
    """Signals ``[B, 10, 1920]`` -> (value normal scores ``[B, V]``, body-position logits ``[B, len(POSITIONS)]``).

    The tower has the model's signal-encoder architecture; the heads read the concatenated per-channel means of its
    tokens and its contrastive (global) token, so each channel's values come from that channel's tokens. With
    ``spectral`` the heads also read :func:`welch_bins` of every channel (a fixed front end, as a spectrogram is for
    a speech model), standardised by statistics of the training epochs (``spec_mean``, ``spec_std``) and passed
    through a learned layer of ``spectral_width``. With ``priors`` (:mod:`~sleeplm.encoder.model.fact_priors`), each
    prior's value is its measurement on the input (band powers here; a :class:`MeasuredPrior` is measured by the
    caller and passed in ``measured``), as a normal score through ``prior_quantiles``, plus a learned residual; where
    the measurement is undefined (a flat or absent channel) the value head's reading stands.
    """

    def __init__(self, cfg: BiosignalsConfig, embed_dim: int, n_values: int, hidden: int = 512,
                 spectral: bool = False, spectral_width: int = 256, event_types: tuple[str, ...] = (),
                 priors: tuple[Prior, ...] = (), prior_index: tuple[int, ...] = ()) -> None:
        super().__init__()
        self.tower = BiosignalEncoder(cfg, embed_dim)
        self.event_types = tuple(event_types)
        if self.event_types:
            self.events = EventHead(cfg.input_channels, cfg.transformer_width, len(self.event_types))
        d, c = cfg.transformer_width, cfg.input_channels
        width = c * d + d
        self.spectral = spectral
        if spectral:
            n_spec = c * welch_bins(torch.zeros(1, 1, cfg.signal_length)).shape[-1]
            self.register_buffer("spec_mean", torch.zeros(n_spec))
            self.register_buffer("spec_std", torch.ones(n_spec))
            self.spec = nn.Sequential(nn.Linear(n_spec, spectral_width), nn.GELU())
            width += spectral_width
        self.values = nn.Sequential(nn.Linear(width, hidden), nn.GELU(), nn.Linear(hidden, n_values))
        self.position = nn.Sequential(nn.Linear(width, hidden // 4), nn.GELU(), nn.Linear(hidden // 4, len(POSITIONS)))
        if len(priors) != len(prior_index):
            raise ValueError(f"{len(priors)} priors but {len(prior_index)} value indices")
        self.priors = tuple(priors)
        if self.priors:
            self.register_buffer("prior_index", torch.tensor(prior_index, dtype=torch.long))
            self.register_buffer("prior_quantiles", torch.zeros(len(QUANTILE_LEVELS), len(priors)))
            self.register_buffer("prior_levels", torch.tensor(QUANTILE_LEVELS, dtype=torch.float32))
            #: 1 where a prior's learned residual is applied, 0 where its value is the measurement alone
            self.register_buffer("prior_use_residual", torch.ones(len(priors)))
            self.prior_residual = PriorResidual(width, len(priors))

    def spectral_input(self, x: torch.Tensor) -> torch.Tensor:
        """The stem's raw input ``[B, C*F]`` (before standardisation)."""
        return welch_bins(x.float()).flatten(1)

    def forward(self, x: torch.Tensor, measured: dict[str, np.ndarray] | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        return self.read_all(x, measured)[:2]

    def pooled(self, seq: torch.Tensor) -> torch.Tensor:
        """The tower's part of the heads' input ``[B, C*D + D]``: per-channel mean tokens and the global token."""
        b, _, d = seq.shape
        per_channel = seq.reshape(b, self.tower.cfg.input_channels, -1, d).mean(2).flatten(1)
        return torch.cat([per_channel, self.tower.contrastive_pooler(seq)[:, 0]], -1)

    @property
    def measured_quantities(self) -> tuple[str, ...]:
        """The measurements the caller must pass (``measured``) for this reader's :class:`MeasuredPrior` values."""
        return tuple(dict.fromkeys(p.quantity for p in self.priors if isinstance(p, MeasuredPrior)))

    def measured_priors(self, x: torch.Tensor, measured: dict[str, np.ndarray] | None = None) -> torch.Tensor:
        """Each prior's measurement on epochs ``x`` as a normal score ``[B, P]`` (NaN where undefined); ``measured``
        holds the values of the :class:`MeasuredPrior` quantities, one per epoch."""
        missing = [q for q in self.measured_quantities if measured is None or q not in measured]
        if missing:
            raise ValueError(f"this fact reader needs the measurements {missing} of its input epochs "
                             "(sleeplm.encoder.pipeline.read_facts measures them)")
        fs_hz = self.tower.cfg.signal_length / 30.0  # a 30-s epoch of signal_length samples
        rel = band_relative_powers(x.float(), tuple(p for p in self.priors if isinstance(p, BandPrior)), fs_hz)
        cols, k = [], 0
        for p in self.priors:
            if isinstance(p, BandPrior):
                cols.append(rel[:, k])
                k += 1
                continue
            v = torch.as_tensor(np.asarray(measured[p.quantity], dtype=np.float32), device=x.device)  # type: ignore[index]
            if v.shape != (len(x),):
                raise ValueError(f"measurement {p.quantity!r} has shape {tuple(v.shape)}, not ({len(x)},)")
            cols.append(v)
        return normal_scores(torch.stack(cols, -1), self.prior_quantiles, self.prior_levels)

    def heads(self, pooled: torch.Tensor, spectral: torch.Tensor | None,
              prior: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(value normal scores, position logits) from :meth:`pooled`, the raw stem input (:meth:`spectral_input`;
        None without a stem) and the measured priors (:meth:`measured_priors`; None without priors)."""
        parts = [pooled]
        if self.spectral:
            assert spectral is not None
            parts.append(self.spec((spectral - self.spec_mean) / self.spec_std))
        h = torch.cat(parts, -1)
        values = self.values(h)
        if self.priors:
            assert prior is not None
            known = torch.isfinite(prior)
            fused = torch.nan_to_num(prior) + self.prior_residual(h) * self.prior_use_residual
            # where nothing was measured the head's reading stands, kept within the training population's range as
            # every head-read value is (a prior's column is extrapolated beyond it: the Nox file's tone read -115 %)
            z_end = torch.special.ndtri(self.prior_levels[[0, -1]].double()).float()
            read = values.index_select(1, self.prior_index).clamp(z_end[0], z_end[1])
            values = values.index_copy(1, self.prior_index, torch.where(known, fused, read))
        return values, self.position(h)

    def read_all(self, x: torch.Tensor, measured: dict[str, np.ndarray] | None = None
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """(value normal scores, position logits, event logits ``[B, T, K]`` or None without an event head)."""
        seq = self.tower.forward_features(x)  # [B, C*T, D]
        events = self.events(seq) if self.event_types else None
        values, position = self.heads(self.pooled(seq), self.spectral_input(x) if self.spectral else None,
                                      self.measured_priors(x, measured) if self.priors else None)
        return values, position, events


def fact_scores(pred_z: np.ndarray, pred_pos_logp: np.ndarray, text_z: np.ndarray, text_pos: np.ndarray,
                error_sd: np.ndarray) -> np.ndarray:
    """Log-likelihood ``[N_signal, N_text]`` of each text's stated facts under each epoch's reading.

    Sum over the values a text states of ``-(z_text - z_pred)^2 / (2 error_sd^2)`` (each value's own Gaussian error;
    the normalising constants are the same for every epoch of one text, and for every text stating the same
    values), plus the log-probability the reader gives a stated position.
    """
    stated = np.isfinite(text_z)
    tz = np.where(stated, text_z, 0.0) / error_sd
    pz = pred_z / error_sd
    w = stated.astype(np.float64)
    # sum_j w_tj (t_j - p_ij)^2 = sum_j w_tj t_j^2 - 2 sum_j w_tj t_j p_ij + sum_j w_tj p_ij^2
    sq = (w * tz ** 2).sum(1)[None, :] - 2 * pz @ (w * tz).T + (pz ** 2) @ w.T
    score = -0.5 * sq
    has_pos = text_pos >= 0
    if has_pos.any():
        score[:, has_pos] += pred_pos_logp[:, text_pos[has_pos]]
    return score


def facts_path(weights: str | Path) -> Path:
    """Where the fact reader of a weights file lives (``sleeplm-tiny.safetensors`` -> ``sleeplm-tiny.facts.safetensors``)."""
    p = Path(weights)
    return p.with_name(p.name.removesuffix(".safetensors") + ".facts.safetensors")


def save_fact_reader(reader: FactReader, space: FactSpace, path: str | Path, meta: dict) -> Path:
    from safetensors.torch import save_file

    tensors = {f"reader.{k}": v.detach().clone().contiguous() for k, v in reader.state_dict().items()}  # shared RoPE: copies
    tensors["space.quantiles"] = torch.from_numpy(np.ascontiguousarray(space.quantiles, dtype=np.float64))
    tensors["space.error_sd"] = torch.from_numpy(np.ascontiguousarray(space.error_sd, dtype=np.float64))
    cfg = reader.tower.cfg
    header = {"names": space.names, "biosignals_cfg": cfg.__dict__, "embed_dim": reader.tower.proj_to_embed.out_features,
              "hidden": reader.values[0].out_features, "spectral": reader.spectral,
              "spectral_width": reader.spec[0].out_features if reader.spectral else 0,
              "event_types": list(reader.event_types), "priors": [p.to_json() for p in reader.priors],
              "prior_index": reader.prior_index.tolist() if reader.priors else [], **meta}
    save_file(tensors, str(path), metadata={"fact_reader": json.dumps(header)})
    return Path(path)


def load_fact_reader(path: str | Path) -> tuple[FactReader, FactSpace, dict]:
    """(reader in eval mode, its value space, the file's metadata: recipe, base weights' sha256, measurements)."""
    from safetensors import safe_open

    with safe_open(str(path), "pt") as f:
        meta = f.metadata() or {}
        if "fact_reader" not in meta:
            raise ValueError(f"{path}: not a fact-reader file (no 'fact_reader' metadata)")
        header = json.loads(meta["fact_reader"])
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (a safetensors file, not a dict)
    space = FactSpace(list(header["names"]), tensors["space.quantiles"].numpy(), tensors["space.error_sd"].numpy())
    reader = FactReader(BiosignalsConfig(**header["biosignals_cfg"]), int(header["embed_dim"]), len(space.names),
                        int(header["hidden"]), spectral=bool(header.get("spectral", False)),
                        spectral_width=int(header.get("spectral_width") or 256),
                        event_types=tuple(header.get("event_types") or ()),
                        priors=tuple(prior_from_json(p) for p in header.get("priors") or ()),
                        prior_index=tuple(header.get("prior_index") or ()))
    state = {k.removeprefix("reader."): v for k, v in tensors.items() if k.startswith("reader.")}
    if reader.priors and "prior_use_residual" not in state:  # files written before the switch applied every residual
        state["prior_use_residual"] = torch.ones(len(reader.priors))
    reader.load_state_dict(state)
    return reader.eval(), space, header


@dataclass
class FactModel:
    """A loaded fact reader with its value space: read epochs, score texts against them."""

    reader: FactReader
    space: FactSpace
    meta: dict

    @property
    def base_sha256(self) -> str | None:
        """sha256 of the weights whose signal tower the reader started from."""
        return (self.meta.get("run") or {}).get("started_from", {}).get("sha256")

    @property
    def paired_sha256(self) -> set[str]:
        """The weights this reader goes with: those its tower started from, and any it was paired with later
        (:func:`pair_fact_reader`; the reader itself unchanged)."""
        return ({self.base_sha256} - {None}) | {str(p["sha256"]) for p in self.meta.get("paired_with") or []}

    @torch.inference_mode()
    def read(self, x: np.ndarray, measured: dict[str, np.ndarray] | None = None,
             batch_size: int = 64) -> tuple[np.ndarray, np.ndarray]:
        """Epochs ``[N, 10, 1920]`` -> (value normal scores ``[N, V]``, position log-probabilities ``[N, 5]``);
        ``measured``: the reader's :attr:`~FactReader.measured_quantities` of each epoch, when it has any
        (:func:`sleeplm.encoder.pipeline.read_facts` measures them)."""
        z, logp = [], []
        for s in range(0, len(x), batch_size):
            part = None if measured is None else {k: np.asarray(v)[s:s + batch_size] for k, v in measured.items()}
            v, p = self.reader(torch.as_tensor(np.asarray(x[s:s + batch_size], dtype=np.float32)), part)
            z.append(v.numpy())
            logp.append(torch.log_softmax(p, -1).numpy())
        if not z:
            return np.zeros((0, len(self.space.names))), np.zeros((0, len(POSITIONS)))
        return np.concatenate(z).astype(np.float64), np.concatenate(logp).astype(np.float64)

    @property
    def patch_s(self) -> float:
        """Seconds per patch of the event head's timeline (a 30-s epoch of ``signal_length`` samples)."""
        cfg = self.reader.tower.cfg
        return cfg.patch_size / (cfg.signal_length / 30.0)

    @torch.inference_mode()
    def event_probabilities(self, x: np.ndarray, batch_size: int = 64) -> np.ndarray | None:
        """Each readable event type's probability per patch ``[N, T, K]`` (``reader.event_types`` order) in epochs
        ``[N, 10, 1920]``, from the event head; None when this reader has no event head."""
        if not self.reader.event_types:
            return None
        probs = []
        for s in range(0, len(x), batch_size):
            xb = torch.as_tensor(np.asarray(x[s:s + batch_size], dtype=np.float32))
            logits = self.reader.events(self.reader.tower.forward_features(xb))  # the values are not needed
            probs.append(torch.sigmoid(logits).numpy())
        n_patches = self.reader.tower.cfg.num_patches
        return np.concatenate(probs) if probs else np.zeros((0, n_patches, len(self.reader.event_types)))

    def read_events(self, x: np.ndarray, batch_size: int = 64) -> list[list[tuple[str, float, float]]] | None:
        """Events each epoch ``[N, 10, 1920]`` shows, as ``(type, start_s, end_s)`` within the epoch, read by the
        event head (:data:`READABLE_EVENTS`); None when this reader has no event head."""
        probs = self.event_probabilities(x, batch_size)
        return None if probs is None else events_from_probs(probs, self.reader.event_types, self.patch_s)

    def values(self, pred_z: np.ndarray, track: str) -> dict[str, np.ndarray]:
        """The read values of one track in the captions' units: ``{"section.field": [N]}``. A value with a measured
        prior may lie beyond the training population's range; a value only the heads read stops at its ends."""
        cols = self.space.columns(track)
        measured = np.zeros(len(self.space.names), dtype=bool)
        if self.reader.priors:
            measured[self.reader.prior_index.numpy()] = True
        phys = self.space.to_physical(pred_z, extrapolate=measured)[:, cols]
        return {self.space.names[c].split(":", 1)[1]: phys[:, i] for i, c in enumerate(cols)}

    def scores(self, read: tuple[np.ndarray, np.ndarray], stated: tuple[dict[str, np.ndarray], np.ndarray],
               track: str) -> np.ndarray:
        """:func:`fact_scores` ``[N_epochs, N_texts]`` of one track's texts, given what they state (values and
        position, :func:`sleeplm.encoder.captions.parse.caption_fact_values`), against read epochs."""
        cols = self.space.columns(track)
        values, text_pos = stated
        text_z = self.space.stated_normal(values, len(text_pos))
        pos = text_pos if track == "somatic" else np.full(len(text_pos), -1)
        return fact_scores(read[0][:, cols], read[1], text_z[:, cols], pos, self.space.error_sd[cols])


def load_fact_model(path: str | Path) -> FactModel:
    reader, space, meta = load_fact_reader(path)
    return FactModel(reader, space, meta)


def fact_model_for(weights: str | Path, sha256: str) -> FactModel | None:
    """The fact reader shipped beside ``weights`` (:func:`facts_path`) when it was trained from these weights
    (``sha256``); None when there is none or it belongs to other weights."""
    p = facts_path(weights)
    if not p.is_file():
        return None
    fm = load_fact_model(p)
    return fm if sha256 in fm.paired_sha256 else None


def pair_fact_reader(path: str | Path, weights_sha256: str, note: str) -> Path:
    """Record in a reader file that it goes with other weights too (``paired_with``: their sha256 and ``note``,
    why). The reader's tensors and the rest of its metadata, its provenance included, are kept as they are."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(path), "pt") as f:
        meta = dict(f.metadata() or {})
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (a safetensors file, not a dict)
    if "fact_reader" not in meta:
        raise ValueError(f"{path}: not a fact-reader file (no 'fact_reader' metadata)")
    header = json.loads(meta["fact_reader"])
    pairs = [q for q in header.get("paired_with") or [] if q.get("sha256") != weights_sha256]
    header["paired_with"] = [*pairs, {"sha256": weights_sha256, "note": note}]
    save_file(tensors, str(path), metadata={**meta, "fact_reader": json.dumps(header)})
    return Path(path)
