"""Zero-shot staging from text prompts: the one definition used by the harness and training reports.

Prompts are data (``eval/prompts/staging.json``): for each stage, captions in the reference style.
A stage's prototype is the normalised mean of its prompts' text embeddings; an epoch gets the stage
whose prototype is nearest (cosine) to its signal embedding.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from sleeplm.encoder.vocab import SCORED_STAGES

PROMPTS = Path(__file__).resolve().parent / "prompts" / "staging.json"


def load_prompts(path: Path = PROMPTS) -> dict[str, list[str]]:
    """stage -> prompt texts (keys starting with ``_`` are comments)."""
    data = json.loads(Path(path).read_text())
    return {k: list(v) for k, v in data.items() if not k.startswith("_")}


def stage_prototypes(model: Any, prompts: dict[str, list[str]]) -> tuple[list[str], np.ndarray]:
    """The stages that have prompts (``SCORED_STAGES`` order) and one unit prototype vector per stage."""
    stages = [s for s in SCORED_STAGES if s in prompts]
    protos = []
    for s in stages:
        t = model.encode_text(prompts[s]).mean(axis=0)
        protos.append(t / max(float(np.linalg.norm(t)), 1e-12))
    return stages, np.stack(protos)


def predict_stages(model: Any, vectors: np.ndarray, prompts: dict[str, list[str]]) -> np.ndarray:
    """The stage (object array) of each epoch vector: the nearest stage prototype.

    Parameters
    ----------
    model : a loaded ``SleepLM`` (its ``encode_text`` embeds the prompts).
    vectors : ``[N, D]`` L2-normalised epoch vectors of the same model.
    prompts : from :func:`load_prompts`.
    """
    stages, protos = stage_prototypes(model, prompts)
    return np.asarray(stages, dtype=object)[np.argmax(np.asarray(vectors) @ protos.T, axis=1)]
