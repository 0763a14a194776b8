"""The adapted_staging task (leave one recording out) and the adapted-weights writer (eval/tasks/adapted.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from sleeplm.encoder.train.adapt import stage_texts
from sleeplm.eval.context import EvalContext
from sleeplm.eval.staging import load_prompts
from sleeplm.eval.tasks import adapted
from sleeplm.eval.tasks.adapted import (
    AdaptedStaging,
    fold_plan,
    unseen_prompts,
    write_adapted_model,
)
from testdata import MINI_CHECKPOINT

pytest.importorskip("sleeplm.encoder.sim")


@pytest.fixture(scope="module")
def two_night_workspace(tmp_path_factory) -> Path:
    """Two simulated 30-min nights (seed 5: each night holds W, N1 and N2), ingested with parity-mini."""
    from sleeplm.encoder.sim import simulate_cohort
    from sleeplm.index.ingest import ingest

    cohort = tmp_path_factory.mktemp("two-nights")
    simulate_cohort(cohort, n_nights=2, seed=5, duration_h=0.5, progress=False)
    ws = tmp_path_factory.mktemp("two-nights-ws")
    assert len(ingest(cohort, ws, model=str(MINI_CHECKPOINT), progress=False).ingested) == 2
    return ws


@pytest.fixture(scope="module")
def quick_recipe(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("recipe") / "quick.json"
    path.write_text(json.dumps({"name": "quick", "version": "test", "adapt": {
        "steps": 1, "batch_size": 4, "lr": 1e-4, "min_lr_ratio": 0.1, "warmup_steps": 1, "weight_decay": 0.0,
        "grad_clip": 1.0, "seed": 0, "trainable": "signal_top", "balanced_stages": False, "regulariser": "none",
        "regulariser_weight": 0.0, "single_lead_copies": False, "target": "stage"}}))
    return path


def test_each_fold_adapts_only_on_epochs_of_the_other_recordings(two_night_workspace, quick_recipe, tmp_path, monkeypatch):
    seen: list[np.ndarray] = []
    real = adapted.adapt_signal_tower

    def spy(model, x, *args, **kw):
        seen.append(np.array(x))
        return real(model, x, *args, **kw)

    monkeypatch.setattr(adapted, "adapt_signal_tower", spy)
    ctx = EvalContext.open(two_night_workspace, seed=0, limit_epochs=30, out_dir=tmp_path)
    try:
        res = AdaptedStaging(recipe=str(quick_recipe), yasa=False, progress=False).run(ctx)
        epochs = ctx.scored_epochs()
        folds = res.scores["folds"]
        assert len(folds) == epochs["recording_id"].nunique() == len(seen)
        for fold, x_train in zip(folds, seen):
            (held,) = fold["held_out_ids"]
            assert held not in fold["train_recording_ids"]
            held_x = ctx.signals(epochs.loc[epochs["recording_id"] == held, "epoch_id"].to_numpy())
            flat = x_train.reshape(len(x_train), -1)
            assert not any((flat == h.reshape(-1)).all(axis=1).any() for h in held_x)
        assert sum(f["n_test"] for f in folds) == res.scores["n"] == 30
    finally:
        ctx.close()


def test_the_report_says_it_is_adaptation_with_recordings_held_out(two_night_workspace, quick_recipe, tmp_path):
    ctx = EvalContext.open(two_night_workspace, seed=0, limit_epochs=30, out_dir=tmp_path)
    try:
        res = AdaptedStaging(recipe=str(quick_recipe), yasa=False, progress=False).run(ctx)
    finally:
        ctx.close()
    assert "held out" in res.notes[0] and "not zero-shot" in res.notes[0]
    assert {"adapted_confusion.png", "adapted_confusion_unadapted.png"} <= set(res.plots)
    assert res.config["recipe"]["name"] == "quick"


def test_more_recordings_than_folds_are_grouped_each_recording_held_out_once():
    plan = fold_plan(np.repeat(np.arange(10), 3), max_folds=4, rng=np.random.default_rng(0))
    assert len(plan) == 4
    assert sorted(np.concatenate(plan).tolist()) == list(range(10))


def test_unseen_prompts_leave_out_the_training_texts():
    trained = set(stage_texts().values())
    kept = unseen_prompts(load_prompts())
    assert all(ps and not trained & set(ps) for ps in kept.values())


def test_written_weights_load_with_an_unchanged_text_tower_and_a_card(two_night_workspace, quick_recipe, tmp_path):
    from sleeplm.encoder.model import load_model


    weights, card_md = write_adapted_model(two_night_workspace, tmp_path / "lab.safetensors", str(quick_recipe), progress=False)
    card = json.loads((tmp_path / "lab.card.json").read_text())
    base, new = load_model(str(MINI_CHECKPOINT)), load_model(str(weights))
    assert all(torch.equal(v, new.model.text.state_dict()[k]) for k, v in base.model.text.state_dict().items())
    assert card["recipe"]["name"] == "quick" and len(card["recipe"]["sha256"]) == 64
    assert len(card["adapted_on"]["recordings"]) == 2
    assert "no out-of-distribution score" in card_md.read_text()


def test_adapted_staging_runs_only_when_named():
    from sleeplm.eval.registry import get_task, list_tasks

    assert "adapted_staging" not in list_tasks() and "adapted_staging" in list_tasks(opt_in=True)
    assert get_task("adapted_staging").recipe == "tiny-adapt-real"
