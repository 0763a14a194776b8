"""The user-facing model: numpy in, embeddings and captions out."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from sleeplm.encoder.model.tokenizer import ClipTokenizer, get_tokenizer
from sleeplm.encoder.model.config import ReCoCaConfig
from sleeplm.encoder.model.factory import load_recoca
from sleeplm.encoder.model.generation import generate_tracks, greedy_generate, greedy_generate_reference
from sleeplm.encoder.model.recoca import ReCoCa

#: Caption tracks -> the official modality indices of the released checkpoint (spec §5).
TRACKS: dict[str, int] = {"brain": 0, "cardiac": 1, "respiratory": 2, "somatic": 3, "stage_event": 4}
#: The demo's display order of the five caption tracks (``caption_batch`` default).
CAPTION_TRACKS: tuple[str, ...] = ("stage_event", "brain", "cardiac", "respiratory", "somatic")
#: ``SleepLM.to_precision`` modes: exact float32, and the opt-in fast modes.
PRECISIONS: dict[str, torch.dtype | None] = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16, "int8": None}
#: The official notebook's names for the same indices.
TRACK_ALIASES: dict[str, str] = {"heart": "cardiac", "position_muscle": "somatic", "respiration": "respiratory"}


def track_index(track: str) -> int:
    """Modality index of a caption track (official names accepted too)."""
    name = TRACK_ALIASES.get(track, track)
    if name not in TRACKS:
        raise ValueError(f"unknown track {track!r}; expected one of {sorted(TRACKS)}")
    return TRACKS[name]


class SleepLM:
    """A loaded ReCoCa model with its tokenizer; every method runs under ``torch.inference_mode``.

    Parameters
    ----------
    model
        The network (put in eval mode here).
    tokenizer
        Tokenizer matching ``model.cfg.tokenizer``; the default is built from the config.
    """

    def __init__(self, model: ReCoCa, tokenizer: ClipTokenizer | None = None) -> None:
        self.model = model.eval()
        self.config: ReCoCaConfig = model.cfg
        self.tokenizer = tokenizer or get_tokenizer(self.config.tokenizer, self.config.text_cfg.context_length)

    @property
    def device(self) -> torch.device:
        return self.model.logit_scale.device

    @property
    def brain_scale(self) -> str:
        """How EEG and EOG must be scaled for this model (``make_epochs(..., brain_scale=model.brain_scale)``)."""
        return self.config.input_brain_scale

    @property
    def embed_dim(self) -> int:
        return self.config.embed_dim

    @property
    def dtype(self) -> torch.dtype:
        """Floating-point type of the weights (inputs are cast to it)."""
        return self.model.logit_scale.dtype

    @property
    def precision(self) -> str:
        """``"fp32"`` (exact, the default), or the fast mode set by ``to_precision``."""
        return getattr(self, "_precision", "fp32")

    def to_precision(self, precision: str = "fp32") -> "SleepLM":
        """Switch to an opt-in fast mode, in place; returns ``self``.

        ``"bf16"`` / ``"fp16"``: weights and activations in half precision (for GPUs; RMSNorm still
        normalises in float32). ``"int8"``: dynamic int8 quantisation of every ``nn.Linear`` (CPU
        only; the fused in-projections and vocabulary heads stay float32). Embeddings come back as
        float32 either way. Agreement with float32 is measured by ``bench/bench_model_speed.py``.
        Going back to ``"fp32"`` from ``"int8"`` is not possible (reload the model).
        """
        if precision not in PRECISIONS:
            raise ValueError(f"unknown precision {precision!r}; expected one of {sorted(PRECISIONS)}")
        if self.precision == "int8" and precision != "int8":
            raise ValueError("an int8-quantised model cannot be converted back; reload it")
        if precision == "int8":
            if self.device.type != "cpu":
                raise ValueError("int8 dynamic quantisation runs on the CPU only; use bf16/fp16 on a GPU")
            from torch import nn
            from torch.ao.quantization import quantize_dynamic

            self.model.float()
            quantize_dynamic(self.model, {nn.Linear}, dtype=torch.qint8, inplace=True)
        else:
            self.model.to(PRECISIONS[precision])
        self._precision = precision
        return self

    def _signals(self, x: np.ndarray | torch.Tensor) -> torch.Tensor:
        t = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x)
        if t.ndim == 2:
            t = t[None]
        b = self.config.biosignals_cfg
        if t.ndim != 3 or tuple(t.shape[1:]) != (b.input_channels, b.signal_length):
            raise ValueError(f"expected signals [N, {b.input_channels}, {b.signal_length}], got {list(t.shape)}")
        if not torch.isfinite(t).all():
            raise ValueError("signals contain NaN or inf; zero-fill missing channels instead")
        return t.to(dtype=torch.float32)

    @torch.inference_mode()
    def encode_signal(self, x: np.ndarray | torch.Tensor, batch_size: int = 32, track: str | None = None) -> np.ndarray:
        """L2-normalised signal embeddings ``[N, embed_dim]`` (float32) for epochs ``[N, 10, 1920]``.

        ``track`` (a caption track): that track's head vector when the model has ``track_heads``; otherwise, or
        for ``None`` and the stage/event track, the main embedding.
        """
        t = self._signals(x)
        if track is not None and self.config.track_heads and track_index(track) != TRACKS["stage_event"]:
            k = track_index(track)
            out = [self.model.encode_biosignals_tracks(t[i: i + batch_size].to(self.device, self.dtype),
                                                       normalize=False)[1][:, k].float().cpu()
                   for i in range(0, len(t), batch_size)]
            return torch.nn.functional.normalize(torch.cat(out), dim=-1).numpy() if out else \
                np.zeros((0, self.embed_dim), dtype=np.float32)
        out = [
            torch.nn.functional.normalize(
                self.model.encode_image(t[i : i + batch_size].to(self.device, self.dtype), normalize=False).float(), dim=-1
            ).cpu()
            for i in range(0, len(t), batch_size)
        ]
        return torch.cat(out).numpy() if out else np.zeros((0, self.embed_dim), dtype=np.float32)

    @torch.inference_mode()
    def encode_text(self, texts: list[str] | str, batch_size: int = 64) -> np.ndarray:
        """L2-normalised text embeddings ``[N, embed_dim]`` (float32)."""
        if isinstance(texts, str):
            texts = [texts]
        out = [
            self.model.encode_text(self.tokenizer(texts[i : i + batch_size]).to(self.device)).float().cpu()
            for i in range(0, len(texts), batch_size)
        ]
        return torch.cat(out).numpy() if out else np.zeros((0, self.embed_dim), dtype=np.float32)

    @torch.inference_mode()
    def generate_ids(
        self,
        x: np.ndarray | torch.Tensor,
        track: str,
        max_len: int = 256,
        min_len: int = 16,
        batch_size: int = 16,
        use_cache: bool = True,
    ) -> list[list[int]]:
        """Greedy token ids per epoch (SOT first, EOS last when reached)."""
        t, m = self._signals(x), track_index(track)
        fn = greedy_generate if use_cache else greedy_generate_reference
        ids: list[list[int]] = []
        for i in range(0, len(t), batch_size):
            ids.extend(fn(self.model, t[i : i + batch_size].to(self.device, self.dtype), m, max_len=max_len, min_len=min_len))
        return ids

    def generate(
        self,
        x: np.ndarray | torch.Tensor,
        track: str,
        max_len: int = 256,
        min_len: int = 16,
        batch_size: int = 16,
        use_cache: bool = True,
    ) -> list[str]:
        """One caption per epoch for ``track`` in ``{"brain", "cardiac", "respiratory", "somatic", "stage_event"}``.

        Numbers come back joined (``"39.05"``, not ``"3 9 . 0 5"``).
        """
        ids = self.generate_ids(x, track, max_len, min_len, batch_size, use_cache)
        return [self.tokenizer.decode(row) for row in ids]

    @torch.inference_mode()
    def caption_batch_ids(
        self,
        x: np.ndarray | torch.Tensor,
        tracks: list[str] | tuple[str, ...] | None = None,
        max_len: int = 256,
        min_len: int = 16,
        encode_batch: int = 32,
        batch_rows: int = 64,
    ) -> list[dict[str, list[int]]]:
        """Token ids per epoch and track; see ``caption_batch``."""
        names = list(tracks) if tracks is not None else list(CAPTION_TRACKS)
        mods = [track_index(t) for t in names]
        t = self._signals(x)
        if len(t) == 0:
            return []
        memory = torch.cat(
            [self.model.encode_memory(t[i : i + encode_batch].to(self.device, self.dtype)) for i in range(0, len(t), encode_batch)]
        )
        ids = generate_tracks(self.model, None, mods, max_len=max_len, min_len=min_len, batch_rows=batch_rows, memory=memory)
        return [dict(zip(names, row)) for row in ids]

    def caption_batch(
        self,
        x: np.ndarray | torch.Tensor,
        tracks: list[str] | tuple[str, ...] | None = None,
        max_len: int = 256,
        min_len: int = 16,
        encode_batch: int = 32,
        batch_rows: int = 64,
    ) -> list[dict[str, str]]:
        """Captions for every epoch and every track, as ``[{track: caption}, ...]`` (one dict per epoch).

        Each epoch is encoded once (decoder tokens only), then all ``epochs x tracks`` rows are
        decoded together with a KV cache, ``batch_rows`` rows per batch. The captions equal
        ``generate(x[i:i+1], track)[0]`` for every epoch ``i`` and track (same greedy tokens).
        ``tracks`` defaults to ``CAPTION_TRACKS`` (all five); official names are accepted too.
        """
        ids = self.caption_batch_ids(x, tracks, max_len, min_len, encode_batch, batch_rows)
        return [{k: self.tokenizer.decode(v) for k, v in row.items()} for row in ids]

    def __repr__(self) -> str:
        n = sum(p.numel() for p in self.model.parameters())
        return f"SleepLM(params={n:,}, embed_dim={self.embed_dim}, device={self.device})"


def load_model(
    name_or_path: str | Path = "sleeplm-tiny",
    config: str | Path | dict[str, Any] | ReCoCaConfig | None = None,
    device: str | torch.device = "cpu",
) -> SleepLM:
    """Load a SleepLM model.

    Parameters
    ----------
    name_or_path
        A checkpoint file (``.pt`` / ``.pth`` / ``.bin`` torch state dict, bare or under
        ``"state_dict"``, or ``.safetensors``), a folder holding one, or the name of a model whose
        weights ship in ``sleeplm/encoder/assets`` (``<name>.safetensors``). ``"sleeplm-base"``
        needs the user's own checkpoint path: the official weights are not bundled. The default is
        the bundled ``"sleeplm-tiny"`` (trained on simulated nights, see ``assets/sleeplm-tiny.md``).
    config
        A config name (``"sleeplm-base"``, ``"sleeplm-mini"``, ``"sleeplm-tiny"``), a JSON path,
        a dict or a ``ReCoCaConfig``. By default it comes from the safetensors header, then
        ``<checkpoint stem>.json`` or ``config.json`` beside the checkpoint.
    device
        Where the model runs.
    """
    return SleepLM(load_recoca(name_or_path, config=config, device=device))
