"""One factory: named configs (``configs/*.json``), model creation, checkpoint resolution."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from sleeplm.encoder.model.checkpoint import CheckpointError, load_checkpoint, read_safetensors_config
from sleeplm.encoder.model.config import ReCoCaConfig
from sleeplm.encoder.model.recoca import ReCoCa

CONFIG_DIR = Path(__file__).resolve().parent / "configs"
#: Bundled weights live here as ``<name>.safetensors`` (config in the header or ``<name>.json``).
ASSETS_DIR = Path(__file__).resolve().parents[1] / "assets"
CHECKPOINT_SUFFIXES = (".safetensors", ".pt", ".pth", ".bin", ".ckpt")


def list_configs() -> list[str]:
    """Names of the bundled configs (``sleeplm-base``, ``sleeplm-mini``, ``sleeplm-tiny`` ...)."""
    return sorted(p.stem for p in CONFIG_DIR.glob("*.json"))


def get_config(config: str | Path | dict[str, Any] | ReCoCaConfig) -> ReCoCaConfig:
    """A ``ReCoCaConfig`` from a config name, a JSON path, a dict, or a config (returned as is)."""
    if isinstance(config, ReCoCaConfig):
        return config
    if isinstance(config, dict):
        return ReCoCaConfig.from_dict(config)
    named = CONFIG_DIR / f"{config}.json"
    if isinstance(config, str) and named.is_file():
        return ReCoCaConfig.from_json(named)
    path = Path(config)
    if path.is_file():
        return ReCoCaConfig.from_json(path)
    raise ValueError(f"unknown model config {str(config)!r}: not one of {list_configs()} and not a JSON file")


def create_model(config: str | Path | dict[str, Any] | ReCoCaConfig, device: str | torch.device = "cpu") -> ReCoCa:
    """A randomly initialised ``ReCoCa`` for ``config`` (use ``device="meta"`` for shapes only)."""
    cfg = get_config(config)
    with torch.device(device):
        return ReCoCa(cfg)


def bundled_weights(name: str) -> Path | None:
    """``assets/<name>.safetensors`` if it ships with the package."""
    path = ASSETS_DIR / f"{name}.safetensors"
    return path if path.is_file() else None


def _find_checkpoint_in_dir(folder: Path) -> Path:
    for stem in ("model", "checkpoint", "pytorch_model"):
        for suffix in CHECKPOINT_SUFFIXES:
            if (folder / f"{stem}{suffix}").is_file():
                return folder / f"{stem}{suffix}"
    found = sorted(p for p in folder.iterdir() if p.suffix in CHECKPOINT_SUFFIXES)
    if len(found) != 1:
        raise CheckpointError(f"{folder}: expected one checkpoint file ({', '.join(CHECKPOINT_SUFFIXES)}), found {len(found)}")
    return found[0]


def _config_for_checkpoint(path: Path) -> ReCoCaConfig:
    """Config stored with a checkpoint: safetensors header, then ``<stem>.json``, then ``config.json``."""
    if path.suffix == ".safetensors":
        stored = read_safetensors_config(path)
        if stored is not None:
            return ReCoCaConfig.from_dict(stored)
    for candidate in (path.with_suffix(".json"), path.parent / "config.json"):
        if candidate.is_file():
            return ReCoCaConfig.from_json(candidate)
    raise CheckpointError(
        f"{path}: no model config found (none in the file, no {path.with_suffix('.json').name} or config.json "
        f"beside it); pass config= one of {list_configs()} or a JSON path"
    )


def resolve_checkpoint(
    name_or_path: str | Path, config: str | Path | dict[str, Any] | ReCoCaConfig | None = None
) -> tuple[Path, ReCoCaConfig]:
    """Find the weights file and the config for ``load_model``'s arguments."""
    text = str(name_or_path)
    if isinstance(name_or_path, str) and text in list_configs() and not Path(text).exists():
        weights = bundled_weights(text)
        if weights is None:
            if text == "sleeplm-base":
                raise FileNotFoundError(
                    "the SleepLM-Base weights are not bundled and cannot be downloaded here; pass the path of your "
                    "own checkpoint file, e.g. load_model('/path/to/sleeplm_base.pt', config='sleeplm-base')"
                )
            raise FileNotFoundError(
                f"no bundled weights for {text!r} (expected {ASSETS_DIR / (text + '.safetensors')}); "
                f"pass a checkpoint path, e.g. load_model('/path/to/model.pt', config={text!r})"
            )
        cfg = get_config(config) if config is not None else _config_or_named(weights, text)
        return weights, cfg
    path = Path(name_or_path)
    if path.is_dir():
        path = _find_checkpoint_in_dir(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such checkpoint file, and not a model name ({list_configs()})")
    cfg = get_config(config) if config is not None else _config_for_checkpoint(path)
    return path, cfg


def _config_or_named(weights: Path, name: str) -> ReCoCaConfig:
    try:
        return _config_for_checkpoint(weights)
    except CheckpointError:
        return get_config(name)


def load_recoca(
    name_or_path: str | Path,
    config: str | Path | dict[str, Any] | ReCoCaConfig | None = None,
    device: str | torch.device = "cpu",
) -> ReCoCa:
    """Build the model for the resolved config, load the weights (strict), move it, ``eval()``.

    The model is built on the ``meta`` device (no random weights) and the checkpoint is
    memory-mapped and assigned, so loading peaks near the file size instead of twice it.
    """
    path, cfg = resolve_checkpoint(name_or_path, config)
    model = create_model(cfg, device="meta")
    load_checkpoint(model, path, assign=True)
    return model.to(device).eval()

