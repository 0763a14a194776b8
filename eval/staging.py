"""Zero-shot staging from text prompts: the one definition used by the harness and training reports.

Prompts are data (``eval/prompts/staging.json``): for each stage, captions in the reference style.
A stage's prototype is the normalised mean of its prompts' text embeddings; an epoch gets the stage
whose prototype is nearest (cosine) to its signal embedding.

Test-time levers (:class:`StagingOptions`), each off unless the measurements kept it
(:data:`DEFAULT_OPTIONS`; the ablation of ``zero_shot_staging`` measures every one of
:data:`ABLATION` in the same run, on the real DREAMS EEG and on held-out simulated nights):

* ``night_centring``: subtract each night's mean epoch vector (then re-normalise), as staging tools
  normalise features within a night;
* ``reference_mean``: with ``night_centring``, add back the training distribution's mean epoch
  vector (the out-of-distribution reference, ``sleeplm.index.ood``), i.e. move each night's mean
  onto the training mean instead of onto zero;
* ``prototype_centring``: subtract the mean of the stage prototypes (removes what all stage texts
  share);
* ``brain_scale``: "mad" re-reads the recordings with EEG and EOG scaled by their median absolute deviation
  instead of their SD (``make_epochs``), a scale the night's share of slow-wave sleep barely moves;
* ``smoothing_epochs``: moving average, within a night and in epoch order, of the per-epoch stage
  probabilities (softmax of cosine / ``temperature``) over that many epochs, as a scorer reads
  an epoch in the context of its neighbours (1 = none).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.ndimage import uniform_filter1d

from sleeplm.encoder.vocab import SCORED_STAGES

PROMPTS = Path(__file__).resolve().parent / "prompts" / "staging.json"
#: A larger prompt set: every stage sentence of the caption renderer × every no-event sentence.
ENSEMBLE_PROMPTS = Path(__file__).resolve().parent / "prompts" / "staging-ensemble.json"


@dataclass(frozen=True)
class StagingOptions:
    """Test-time levers of zero-shot staging (see the module docstring)."""

    night_centring: bool
    prototype_centring: bool
    smoothing_epochs: int
    temperature: float
    reference_mean: np.ndarray | None = None
    #: How the epochs' EEG and EOG are scaled before the model sees them (``make_epochs``'s ``brain_scale``):
    #: None = the model's own (as ingest stored them); "sd" or "mad" = re-read with that scale when it is not the
    #: model's own (needs the recordings).
    brain_scale: str | None = None

    @property
    def needs_nights(self) -> bool:
        return self.night_centring or self.smoothing_epochs > 1


#: No lever: the plain nearest-prototype rule. Kept as the default because no lever improved
#: zero-shot staging on the real DREAMS EEG without harming held-out simulated nights (README, Results).
PLAIN = StagingOptions(night_centring=False, prototype_centring=False, smoothing_epochs=1, temperature=0.1)
DEFAULT_OPTIONS = PLAIN

#: name -> (options, prompts file): what the zero-shot task's ablation measures.
ABLATION: dict[str, tuple[StagingOptions, Path]] = {
    "plain (nearest prototype)": (PLAIN, PROMPTS),
    "prompt ensemble (16 per stage)": (PLAIN, ENSEMBLE_PROMPTS),
    "prototype centring": (StagingOptions(False, True, 1, 0.1), PROMPTS),
    "per-night centring": (StagingOptions(True, False, 1, 0.1), PROMPTS),
    "per-night centring + prototype centring": (StagingOptions(True, True, 1, 0.1), PROMPTS),
    "smoothing 3 epochs": (StagingOptions(False, False, 3, 0.1), PROMPTS),
    "smoothing 5 epochs": (StagingOptions(False, False, 5, 0.1), PROMPTS),
    "robust EEG/EOG scale (MAD)": (StagingOptions(False, False, 1, 0.1, brain_scale="mad"), PROMPTS),
}


def load_prompts(path: Path = PROMPTS) -> dict[str, list[str]]:
    """stage -> prompt texts (keys starting with ``_`` are comments)."""
    data = json.loads(Path(path).read_text())
    return {k: list(v) for k, v in data.items() if not k.startswith("_")}


def _unit(a: np.ndarray) -> np.ndarray:
    return a / np.maximum(np.linalg.norm(a, axis=-1, keepdims=True), 1e-12)


def stage_prototypes(model: Any, prompts: dict[str, list[str]]) -> tuple[list[str], np.ndarray]:
    """The stages that have prompts (``SCORED_STAGES`` order) and one unit prototype vector per stage."""
    stages = [s for s in SCORED_STAGES if s in prompts]
    protos = [_unit(model.encode_text(prompts[s]).mean(axis=0)) for s in stages]
    return stages, np.stack(protos)


def _night_slices(nights: np.ndarray) -> list[np.ndarray]:
    return [np.flatnonzero(nights == n) for n in np.unique(nights)]


def stage_scores(vectors: np.ndarray, protos: np.ndarray, options: StagingOptions,
                 nights: np.ndarray | None = None) -> np.ndarray:
    """``[N, S]`` stage scores (higher = more likely) of epoch vectors under ``options``.

    Parameters
    ----------
    vectors : ``[N, D]`` L2-normalised epoch vectors, in epoch order within each night.
    protos : ``[S, D]`` unit stage prototypes (:func:`stage_prototypes`).
    options : the test-time levers.
    nights : ``[N]`` night of each epoch (any hashable ids); required by night centring and smoothing.
    """
    v = np.asarray(vectors, np.float64)
    p = np.asarray(protos, np.float64)
    if options.needs_nights and (nights is None or len(nights) != len(v)):
        raise ValueError("night centring and smoothing need the night of every epoch")
    groups = _night_slices(np.asarray(nights)) if nights is not None else [np.arange(len(v))]
    if options.night_centring:
        v = v.copy()
        for idx in groups:
            v[idx] -= v[idx].mean(axis=0)
            if options.reference_mean is not None:
                v[idx] += options.reference_mean
        v = _unit(v)
    if options.prototype_centring:
        p = _unit(p - p.mean(axis=0))
    s = v @ p.T
    if options.smoothing_epochs > 1:
        z = np.exp((s - s.max(axis=1, keepdims=True)) / options.temperature)
        s = z / z.sum(axis=1, keepdims=True)
        for idx in groups:
            s[idx] = uniform_filter1d(s[idx], options.smoothing_epochs, axis=0, mode="nearest")
    return s


def predict_stages(model: Any, vectors: np.ndarray, prompts: dict[str, list[str]],
                   nights: np.ndarray | None = None, options: StagingOptions = DEFAULT_OPTIONS) -> np.ndarray:
    """The stage (object array) of each epoch vector: the best stage under ``options``.

    Parameters
    ----------
    model : a loaded ``SleepLM`` (its ``encode_text`` embeds the prompts).
    vectors : ``[N, D]`` L2-normalised epoch vectors of the same model (in epoch order within a night).
    prompts : from :func:`load_prompts`.
    nights : ``[N]`` night of each epoch; needed when ``options`` centres or smooths per night.
    options : test-time levers (default :data:`DEFAULT_OPTIONS`).
    """
    stages, protos = stage_prototypes(model, prompts)
    scores = stage_scores(vectors, protos, options, nights)
    return np.asarray(stages, dtype=object)[np.argmax(scores, axis=1)]
