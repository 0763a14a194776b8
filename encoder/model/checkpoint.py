"""Safe checkpoint reading / writing with a strict key and shape check.

``torch.load`` always runs with ``weights_only=True``: no pickled objects are executed.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

SAFETENSORS_SUFFIXES = (".safetensors",)
CONFIG_METADATA_KEY = "sleeplm_config"


class CheckpointError(ValueError):
    """A checkpoint that cannot be read or does not fit the model; the message names the file."""


@dataclass
class LoadReport:
    """What ``load_checkpoint`` did: keys whose dtype was converted and alias keys filled in."""

    path: str
    num_tensors: int
    upcast: list[str] = field(default_factory=list)
    filled_aliases: list[str] = field(default_factory=list)


_ST_DTYPES = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
    "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8,
    "BOOL": torch.bool,
}


def _mmap_safetensors(path: Path) -> dict[str, torch.Tensor]:
    """Tensors of a ``.safetensors`` file as zero-copy views of a private (copy-on-write) memory map.

    Pages are read from disk only when a tensor is first touched, and are shared with the page
    cache, so loading costs about the file size once, not twice.
    """
    with open(path, "rb") as fh:
        n = int.from_bytes(fh.read(8), "little")
        header = json.loads(fh.read(n))
    header.pop("__metadata__", None)
    size = path.stat().st_size
    storage = torch.UntypedStorage.from_file(str(path), shared=False, nbytes=size)
    base = torch.empty(0, dtype=torch.uint8).set_(storage)
    start = 8 + n
    out = {}
    for key, info in header.items():
        dtype = _ST_DTYPES[info["dtype"]]
        a, b = info["data_offsets"]
        flat = base[start + a : start + b]
        shape = info["shape"]
        if b == a:
            t = torch.empty(0, dtype=dtype)
        else:
            try:
                t = flat.view(dtype)
            except RuntimeError:  # misaligned offset for this dtype: copy this one tensor
                t = flat.clone().view(dtype)
        out[key] = t.reshape(shape)
    return out


def read_state_dict(path: str | Path, mmap: bool = False) -> dict[str, torch.Tensor]:
    """Read a bare or ``{"state_dict": ...}`` torch file, or a ``.safetensors`` file, on the CPU.

    A leading ``module.`` (DataParallel / DDP) is stripped from every key. With ``mmap`` the
    tensors are memory-mapped views of the file (``torch.load(mmap=True)`` / a safetensors map)
    instead of copies; legacy (non-zip) torch files fall back to a plain read.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        if path.suffix in SAFETENSORS_SUFFIXES:
            if mmap:
                sd: Any = _mmap_safetensors(path)
            else:
                from safetensors.torch import load_file

                sd = load_file(str(path), device="cpu")
        else:
            sd = None
            if mmap:
                try:
                    sd = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
                except RuntimeError:  # e.g. a legacy (non-zip) file: no mmap possible
                    sd = None
            if sd is None:
                sd = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - report any reader failure with the file name
        raise CheckpointError(f"{path}: cannot read checkpoint ({type(exc).__name__}: {exc})") from exc
    if isinstance(sd, dict) and "state_dict" in sd and isinstance(sd["state_dict"], dict):
        sd = sd["state_dict"]
    if not isinstance(sd, dict) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise CheckpointError(f"{path}: expected a dict of tensors (or {{'state_dict': ...}})")
    return {(k[len("module.") :] if k.startswith("module.") else k): v for k, v in sd.items()}


def read_safetensors_config(path: str | Path) -> dict[str, Any] | None:
    """The model config stored in a ``.safetensors`` header by ``save_checkpoint``, if any."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt", device="cpu") as fh:
        meta = fh.metadata() or {}
    return json.loads(meta[CONFIG_METADATA_KEY]) if CONFIG_METADATA_KEY in meta else None


def alias_groups(model: nn.Module) -> list[list[str]]:
    """State-dict keys that name the same tensor (e.g. the shared channel-RoPE frequencies)."""
    groups: dict[int, list[str]] = defaultdict(list)
    for key, tensor in model.state_dict(keep_vars=True).items():
        groups[id(tensor)].append(key)
    return [keys for keys in groups.values() if len(keys) > 1]


def load_checkpoint(model: nn.Module, path: str | Path, assign: bool | None = None) -> LoadReport:
    """Load ``path`` into ``model`` after a strict key / shape / dtype check.

    Floating-point tensors of another precision (e.g. fp16 for fp32 parameters) are converted.
    Of the aliased keys of one shared tensor, at least one must be present; the present ones
    must be equal. Raises ``CheckpointError`` listing missing, unexpected and mismatched keys.

    ``assign`` (default: when the model lives on the ``meta`` device) memory-maps the file and
    makes the file's tensors the model's parameters instead of copying them in: the lean path,
    whose memory peak is about the file size (build the model with ``create_model(cfg, "meta")``).
    """
    if assign is None:
        assign = any(t.is_meta for t in model.state_dict().values())
    sd = read_state_dict(path, mmap=assign)
    expected = model.state_dict()
    report = LoadReport(path=str(path), num_tensors=len(sd))
    problems: list[str] = []
    for group in alias_groups(model):
        present = [k for k in group if k in sd]
        if present:
            first = sd[present[0]]
            for k in present[1:]:
                if sd[k].shape != first.shape or not torch.equal(sd[k].to(first.dtype), first):
                    problems.append(f"aliases of one shared tensor differ: {present[0]} vs {k}")
            for k in group:
                if k not in sd:
                    sd[k] = first
                    report.filled_aliases.append(k)
    missing = [k for k in expected if k not in sd]
    unexpected = [k for k in sd if k not in expected]
    mismatch = [
        f"{k}: checkpoint {list(sd[k].shape)} vs model {list(v.shape)}"
        for k, v in expected.items()
        if k in sd and sd[k].shape != v.shape
    ]
    bad_dtype = [
        f"{k}: checkpoint {sd[k].dtype} vs model {v.dtype}"
        for k, v in expected.items()
        if k in sd and sd[k].dtype != v.dtype and not (sd[k].is_floating_point() and v.is_floating_point())
    ]
    for title, items in (
        ("missing", missing),
        ("unexpected", unexpected),
        ("shape mismatch", mismatch),
        ("dtype mismatch", bad_dtype),
    ):
        if items:
            shown = "\n    ".join(items[:20]) + (f"\n    ... {len(items) - 20} more" if len(items) > 20 else "")
            problems.append(f"{title} ({len(items)}):\n    {shown}")
    if problems:
        raise CheckpointError(f"{path}: checkpoint does not match the model:\n  " + "\n  ".join(problems))
    converted = {}
    for k, v in expected.items():
        t = sd[k]
        if t.dtype != v.dtype:
            report.upcast.append(k)
            t = t.to(v.dtype)
        converted[k] = t
    model.load_state_dict(converted, strict=True, assign=assign)
    if assign:
        left = [n for n, t in [*model.named_parameters(), *model.named_buffers()] if t.is_meta]
        if left:
            raise CheckpointError(f"{path}: tensors left on the meta device after loading: {left[:10]}")
    return report


def save_checkpoint(model: nn.Module, path: str | Path, config: dict[str, Any] | None = None) -> None:
    """Write the full state dict (aliases as separate copies, official layout).

    ``.safetensors`` files carry ``config`` as JSON in their header; other suffixes are
    written with ``torch.save({"state_dict": ...})``.
    """
    path = Path(path)
    sd = {k: v.detach().to("cpu").contiguous().clone() for k, v in model.state_dict().items()}
    if path.suffix in SAFETENSORS_SUFFIXES:
        from safetensors.torch import save_file

        meta = {CONFIG_METADATA_KEY: json.dumps(config)} if config is not None else None
        save_file(sd, str(path), metadata=meta)
    else:
        torch.save({"state_dict": sd}, path)
