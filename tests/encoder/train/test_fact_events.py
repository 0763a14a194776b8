"""Training the fact reader's event head (encoder/train/fact_events.py) on a small simulated split."""

from __future__ import annotations

import hashlib
import json
import shutil

import numpy as np
import pytest
import torch
from sleeplm.encoder.captions.facts import CaptionFacts, EventFact
from sleeplm.encoder.captions.parse import event_timelines
from sleeplm.encoder.captions.render import render_facts
from sleeplm.encoder.model import load_model
from sleeplm.encoder.model.facts import (
    FactReader,
    FactSpace,
    facts_path,
    load_fact_model,
    save_fact_reader,
)
from sleeplm.encoder.train.data import EpochCaptions, SplitSpec, build_split
from sleeplm.encoder.train.fact_events import (
    event_scores,
    load_event_recipe,
    train_event_head,
)
from sleeplm.encoder.train.recipe import RecipeError
from testdata import MINI_CHECKPOINT

SPEC = {"n_nights": 2, "seed": 79, "duration_h": 0.1, "n_paraphrases": 0, "n_randomized": 0, "brain_scale": "sd"}


def _caption(events) -> str:
    return render_facts(CaptionFacts("stage_event", stage="N2", events=[EventFact(*e) for e in events]))


def test_targets_mark_the_patches_inside_each_stated_event() -> None:
    y = event_timelines([_caption([("hypopnea", 2.0, 5.0), ("arousal", 28.0, 30.0)])], ("hypopnea", "arousal"), 30, 1.0)
    assert np.flatnonzero(y[0, :, 0]).tolist() == [2, 3, 4] and np.flatnonzero(y[0, :, 1]).tolist() == [28, 29]


def test_event_scores_count_types_per_epoch_and_times_within_3_s() -> None:
    caps = [_caption([("hypopnea", 2.0, 20.0)]), _caption([])]
    read = [[("hypopnea", 4.0, 22.5)], [("arousal", 1.0, 5.0)]]
    s = event_scores(read, caps, ("hypopnea", "arousal"))
    assert s["hypopnea"] == {"type_f1": 1.0, "time_accuracy": 1.0, "stated": 1}
    assert s["all"]["type_f1"] == pytest.approx(2 / 3)  # one right type, one false arousal


def test_an_event_the_inputs_cannot_show_is_refused_in_a_recipe(tmp_path) -> None:
    body = json.loads(load_event_recipe("tiny-facts-events").source.read_text())
    body["train"]["event_types"] = ["oxygen_desaturation"]
    (tmp_path / "r.json").write_text(json.dumps(body))
    with pytest.raises(RecipeError, match="not readable"):
        load_event_recipe(tmp_path / "r.json")


def test_the_shipped_recipe_starts_from_the_weights_the_shipped_reader_started_from() -> None:
    from sleeplm.encoder.model.facts import fact_model_for
    from sleeplm.encoder.model.factory import bundled_weights

    r = load_event_recipe("tiny-facts-events")
    weights = bundled_weights("sleeplm-tiny")
    fm = fact_model_for(weights, hashlib.sha256(weights.read_bytes()).hexdigest())  # paired with the shipped weights
    assert fm is not None and fm.base_sha256 == r.start_from["sha256"]


@pytest.fixture(scope="module")
def split(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("events-split")
    build_split(root / "train", SplitSpec(**SPEC), workers=1, progress=False)
    return root


def _mini_with_reader(tmp_path, names: list[str], recipe_body: dict, train: dict, **reader_kw) -> tuple:
    """A copy of the mini checkpoint with a random fact reader beside it, and a recipe (from ``recipe_body``) that
    starts from both on the small split: (weights, their sha256, recipe path)."""
    shutil.copytree(MINI_CHECKPOINT.parent, tmp_path / "mini")  # the checkpoint and the config beside it
    weights = tmp_path / "mini" / MINI_CHECKPOINT.name
    sha = hashlib.sha256(weights.read_bytes()).hexdigest()
    cfg = load_model(str(weights)).config
    torch.manual_seed(0)
    reader = FactReader(cfg.biosignals_cfg, cfg.embed_dim, len(names), hidden=16, **reader_kw)
    space = FactSpace(names, np.repeat(np.linspace(0, 100, 200)[:, None], len(names), 1), np.ones(len(names)))
    save_fact_reader(reader, space, facts_path(weights), {"run": {"started_from": {"sha256": sha}}})
    body = dict(recipe_body, start_from={"weights": str(weights), "sha256": sha}, data=SPEC,
                reader={"sha256": hashlib.sha256(facts_path(weights).read_bytes()).hexdigest()})
    body["train"] = {**body["train"], **train}
    (tmp_path / "r.json").write_text(json.dumps(body))
    return weights, sha, tmp_path / "r.json"


def test_training_adds_a_head_scored_on_the_held_out_night_and_leaves_the_values_alone(split, tmp_path) -> None:
    body = json.loads(load_event_recipe("tiny-facts-events").source.read_text())
    weights, sha, recipe = _mini_with_reader(tmp_path, ["cardiac:hr.mean_bpm", "cardiac:hr.min_bpm"], body,
                                             {"steps": 3, "batch_size": 8, "calibration_nights": 1})
    out = tmp_path / "out.facts.safetensors"
    record = train_event_head(recipe, split, out, progress=False)
    fm = load_fact_model(out)
    assert fm.reader.event_types == tuple(body["train"]["event_types"])
    assert record["calibration"]["epochs"] > 0 and "all" in record["calibration"]
    assert fm.base_sha256 == sha  # still the reader of these weights
    x = np.random.default_rng(0).normal(size=(2, 10, 1920)).astype(np.float32)
    before = load_fact_model(facts_path(weights)).read(x)[0]
    assert fm.read(x)[0] == pytest.approx(before, abs=1e-6)


def test_the_shipped_reader_has_the_event_head_of_the_shipped_recipe() -> None:
    from sleeplm.encoder.model.factory import bundled_weights
    from sleeplm.encoder.model.facts import fact_model_for

    weights = bundled_weights("sleeplm-tiny")
    fm = fact_model_for(weights, hashlib.sha256(weights.read_bytes()).hexdigest())
    rec = load_event_recipe("tiny-facts-events")
    assert fm is not None and fm.reader.event_types == rec.event_types
    assert fm.meta["events_run"]["recipe"]["sha256"] == rec.sha256


def test_a_head_refit_keeps_the_tower_and_event_head_and_recalibrates_the_values(split, tmp_path) -> None:
    from sleeplm.encoder.train.fact_heads import load_head_recipe, refit_fact_heads
    from sleeplm.encoder.train.facts import fact_targets

    names = fact_targets(EpochCaptions(split / "train"))[0]
    body = json.loads(load_head_recipe("tiny-facts-heads").source.read_text())
    weights, sha, recipe = _mini_with_reader(tmp_path, names, body, {"epochs": 1, "batch_size": 16,
                                                                      "calibration_nights": 1},
                                             spectral=True, spectral_width=8, event_types=("arousal",))
    out = tmp_path / "out.facts.safetensors"
    record = refit_fact_heads(recipe, split, out, progress=False)
    before, after = load_fact_model(facts_path(weights)).reader, load_fact_model(out).reader
    assert all(torch.equal(a, b) for a, b in zip(before.tower.state_dict().values(), after.tower.state_dict().values()))
    assert all(torch.equal(a, b) for a, b in zip(before.events.state_dict().values(), after.events.state_dict().values()))
    assert not torch.equal(before.values[0].weight, after.values[0].weight)
    assert record["calibration"]["epochs"] > 0 and load_fact_model(out).base_sha256 == sha


def test_measured_priors_change_only_the_band_powers_and_beat_values(split, tmp_path) -> None:
    from sleeplm.encoder.pipeline import read_facts
    from sleeplm.encoder.train.fact_priors import load_prior_recipe, train_fact_priors
    from sleeplm.encoder.train.facts import fact_targets

    names = fact_targets(EpochCaptions(split / "train"))[0]
    body = json.loads(load_prior_recipe("tiny-facts-priors").source.read_text())
    weights, _, recipe = _mini_with_reader(tmp_path, names, body, {"epochs": 1, "batch_size": 16,
                                                                   "calibration_nights": 1},
                                           spectral=True, spectral_width=8)
    out = tmp_path / "out.facts.safetensors"
    record = train_fact_priors(recipe, split, out, progress=False)
    before, after = load_fact_model(facts_path(weights)), load_fact_model(out)
    beats = {"cardiac:ecg.beat_rate_bpm", "cardiac:ecg.rmssd_ms", "cardiac:hr.min_bpm", "cardiac:hr.mean_bpm",
             "cardiac:hr.max_bpm"}
    assert [p.value for p in after.reader.priors] == [n for n in names if n.startswith("brain:")
                                                      and n.endswith("_rel_pct")] + [n for n in names if n in beats]
    x = EpochCaptions(split / "train").signals(np.arange(4))
    cols = after.reader.prior_index.numpy()
    other = np.setdiff1d(np.arange(len(names)), cols)
    assert read_facts(after, x)[0][:, other] == pytest.approx(before.read(x)[0][:, other], abs=1e-5)
    assert set(record["prior_rms_error_z"]) == {"reader_before", "measured_alone", "measured_with_residual"}
    # a band power keeps its residual; an R-peak measurement is the measurement alone
    assert after.reader.prior_use_residual.tolist() == [1.0 if p.value.startswith("brain:") else 0.0
                                                       for p in after.reader.priors]


def test_a_recipe_naming_an_unknown_prior_group_is_refused(tmp_path) -> None:
    from sleeplm.encoder.train.fact_priors import load_prior_recipe

    body = json.loads(load_prior_recipe("tiny-facts-priors").source.read_text())
    body["train"]["priors"] = ["spo2"]
    (tmp_path / "r.json").write_text(json.dumps(body))
    with pytest.raises(RecipeError, match="priors must name"):
        load_prior_recipe(tmp_path / "r.json")


def test_the_shipped_reader_has_the_measured_priors_of_the_shipped_recipe() -> None:
    from sleeplm.encoder.model.factory import bundled_weights
    from sleeplm.encoder.model.facts import fact_model_for
    from sleeplm.encoder.train.fact_priors import load_prior_recipe, prior_specs

    weights = bundled_weights("sleeplm-tiny")
    fm = fact_model_for(weights, hashlib.sha256(weights.read_bytes()).hexdigest())
    first, then = load_prior_recipe("tiny-facts-priors"), load_prior_recipe("tiny-facts-tone")
    assert fm is not None and fm.meta["priors_run"]["recipe"]["sha256"] == first.sha256
    assert fm.meta["priors_extension_run"]["recipe"]["sha256"] == then.sha256
    assert fm.reader.priors == (prior_specs(fm.space.names, first.priors) + prior_specs(fm.space.names, then.priors))
