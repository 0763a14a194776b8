"""Training the fact reader from a recipe (encoder/train/facts.py) on a small simulated split."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
from sleeplm.encoder.model.facts import FACT_TRACKS, fact_model_for, load_fact_model
from sleeplm.encoder.train.data import SplitSpec, build_split
from sleeplm.encoder.train.facts import load_fact_recipe, train_fact_reader
from sleeplm.encoder.train.recipe import RecipeError
from testdata import MINI_CHECKPOINT

SPEC = {"n_nights": 2, "seed": 78, "duration_h": 0.1, "n_paraphrases": 0, "n_randomized": 0, "brain_scale": "sd"}


def _recipe(tmp_path, **train) -> str:
    body = json.loads(load_fact_recipe("tiny-facts").source.read_text())
    body["start_from"] = {"weights": str(MINI_CHECKPOINT),
                          "sha256": hashlib.sha256(MINI_CHECKPOINT.read_bytes()).hexdigest()}
    body["data"] = SPEC
    body["train"].update({"steps": 3, "batch_size": 8, "calibration_nights": 1, **train})
    path = tmp_path / "facts.json"
    path.write_text(json.dumps(body))
    return str(path)


@pytest.fixture(scope="module")
def split(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("facts-split")
    build_split(root / "train", SplitSpec(**SPEC), workers=1, progress=False)
    return root


@pytest.mark.parametrize("name", ["tiny-facts", "tiny-facts-spectral"])
def test_the_bundled_recipes_start_from_the_weights_the_shipped_reader_started_from(name) -> None:
    r = load_fact_recipe(name)
    from sleeplm.encoder.model.factory import bundled_weights

    weights = bundled_weights("sleeplm-tiny")
    fm = fact_model_for(weights, hashlib.sha256(weights.read_bytes()).hexdigest())  # paired with the shipped weights
    assert fm is not None and fm.base_sha256 == r.start_from["sha256"]


def test_the_shipped_reader_was_trained_by_the_spectral_recipe_from_the_shipped_weights() -> None:
    from sleeplm.encoder.model.factory import bundled_weights

    weights = bundled_weights("sleeplm-tiny")
    fm = fact_model_for(weights, hashlib.sha256(weights.read_bytes()).hexdigest())
    assert fm is not None and fm.reader.spectral
    assert fm.meta["run"]["recipe"]["sha256"] == load_fact_recipe("tiny-facts-spectral").sha256


def test_training_with_the_spectral_stem_sets_its_input_statistics(split, tmp_path) -> None:
    out = tmp_path / "checkpoint.facts.safetensors"
    train_fact_reader(_recipe(tmp_path, spectral_stem=True), split, out, progress=False)
    reader = load_fact_model(out).reader
    assert reader.spectral and not np.allclose(reader.spec_std.numpy(), 1.0)


def test_a_recipe_with_an_unknown_training_setting_is_refused(tmp_path) -> None:
    path = _recipe(tmp_path, momentum=0.9)
    with pytest.raises(RecipeError, match="unknown"):
        load_fact_recipe(path)


def test_training_writes_a_reader_calibrated_on_the_held_out_night(split, tmp_path) -> None:
    out = tmp_path / "checkpoint.facts.safetensors"
    record = train_fact_reader(_recipe(tmp_path), split, out, progress=False)
    fm = load_fact_model(out)
    assert {n.split(":")[0] for n in fm.space.names} == set(FACT_TRACKS)
    assert record["held_out_nights"] and record["calibration"]["epochs"] > 0
    assert np.all(np.isfinite(fm.space.error_sd)) and np.all(fm.space.error_sd >= 0.1)
    assert fm.base_sha256 == hashlib.sha256(MINI_CHECKPOINT.read_bytes()).hexdigest()
    assert fact_model_for(tmp_path / "checkpoint.safetensors", fm.base_sha256) is not None
