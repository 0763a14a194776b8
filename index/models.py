"""Which model a workspace uses: its name, weights file, and the file's sha256."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch is imported when a model is resolved or loaded, not by ingest workers hashing files
    from sleeplm.encoder.model.api import SleepLM

DEFAULT_MODEL = "sleeplm-tiny"


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


@dataclass(frozen=True)
class ModelRef:
    """A model spec resolved to its weights file (``config`` is a name or JSON path, or None)."""

    name: str
    weights: Path
    sha256: str
    config: str | None = None
    #: The model's EEG/EOG input scale (``ReCoCaConfig.input_brain_scale``), known without loading the weights.
    brain_scale: str = "sd"

    def load(self, device: str = "cpu") -> SleepLM:
        """Load the model (callers keep the instance; loading is not cached here)."""
        from sleeplm.encoder.model import load_model

        return load_model(self.weights, config=self.config, device=device)


def resolve_model(spec: str | Path | None = None, config: str | None = None) -> ModelRef:
    """Resolve a model name or checkpoint path (default: the bundled :data:`DEFAULT_MODEL`)."""
    from sleeplm.encoder.model.factory import resolve_checkpoint

    spec = spec or DEFAULT_MODEL
    weights, cfg = resolve_checkpoint(spec, config)
    name = str(spec) if not Path(str(spec)).exists() else Path(str(spec)).stem
    return ModelRef(name=name, weights=Path(weights), sha256=sha256_file(Path(weights)), config=config,
                    brain_scale=cfg.input_brain_scale)


def measured_text_search(weights: Path, sha256: str) -> dict | None:
    """What these weights' text search was measured to do (``<weights stem>.measured.json``, written by
    ``python -m sleeplm.eval.measured``): R@10 of text→signal retrieval per caption track on held-out epochs, with
    chance and the run it comes from. None when no record lies beside the weights or it was measured on other
    weights (a record never speaks for weights it was not measured on)."""
    import json

    path = Path(weights).with_name(f"{Path(weights).stem}.measured.json")
    if not path.is_file():
        return None
    record = json.loads(path.read_text())
    return record if record.get("model_sha256") == sha256 else None
