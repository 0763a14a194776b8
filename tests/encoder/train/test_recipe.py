"""Training recipes are data: the bundled sleeplm-tiny recipe, recipe checks, ``sleeplm train --recipe``."""

from __future__ import annotations

import json
from dataclasses import MISSING, fields
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sleeplm.app.cli import app
from sleeplm.encoder.train.loop import TrainConfig
from sleeplm.encoder.train.recipe import RECIPES_DIR, RecipeError, list_recipes, load_recipe

TINY_RECIPE = RECIPES_DIR / "sleeplm-tiny.json"

#: A recipe small enough to run in a test: a toy model, one 15-min night to train on, two 2-step stages.
TOY_RECIPE = {
    "name": "toy",
    "model_config": {
        "embed_dim": 32, "tokenizer": "toy-bpe", "use_signal_decoder": True,
        "biosignals_cfg": {"conv_embed_dim": 16, "transformer_layers": 1, "transformer_width": 32,
                           "transformer_heads": 2, "decoder_tokens": 4, "dropout": 0.1},
        "text_cfg": {"context_length": 64, "vocab_size": 8, "layers": 1, "heads": 2, "width": 32},
        "multimodal_cfg": {"width": 32, "context_length": 64, "layers": 1, "heads": 2},
    },
    "data": {"train": {"n_nights": 1, "seed": 11, "duration_h": 0.25, "n_paraphrases": 1},
             "val": {"n_nights": 1, "seed": 12, "duration_h": 0.25, "n_paraphrases": 0}},
    "train": {**json.loads(TINY_RECIPE.read_text())["train"], "steps": 2, "batch_size": 4, "warmup_steps": 1,
              "checkpoint_every": 2, "val_batches": 0, "threads": 1},
    "stages": [{"name": "first", "train": {}}, {"name": "second", "train": {"seed": 5, "p_channel_drop": 0.5}}],
}


def _write(path: Path, recipe: dict) -> Path:
    path.write_text(json.dumps(recipe))
    return path


def test_bundled_recipe_is_the_three_stages_of_the_model_card() -> None:
    # encoder/assets/sleeplm-tiny.md: 1,000 steps (lr 5e-4, seed 0), then 600 with channel drop 0.4
    # (lr 3e-4, seed 1), then 600 with event-time-free contrastive texts (seed 2); 48 + 9 nights of 6 h
    recipe = load_recipe("sleeplm-tiny")
    cfgs = [s.config for s in recipe.stages]
    assert "sleeplm-tiny" in list_recipes() and recipe.model_config == "sleeplm-tiny"
    assert [c.steps for c in cfgs] == [1000, 600, 600] and [c.lr for c in cfgs] == [5e-4, 3e-4, 3e-4]
    assert [c.seed for c in cfgs] == [0, 1, 2] and [c.p_channel_drop for c in cfgs] == [0.0, 0.4, 0.4]
    assert [c.contrastive_gist for c in cfgs] == [False, False, True]
    assert (recipe.train_split.n_nights, recipe.val_split.n_nights, recipe.train_split.duration_h) == (48, 9, 6.0)
    assert recipe.val_split.seed != recipe.train_split.seed


def test_recipe_by_name_and_by_path_are_the_same() -> None:
    by_name, by_path = load_recipe("sleeplm-tiny"), load_recipe(str(TINY_RECIPE))
    assert by_name.stages == by_path.stages and by_name.train_split == by_path.train_split


def test_every_weight_changing_setting_comes_from_the_recipe() -> None:
    stated = json.loads(TINY_RECIPE.read_text())["train"]
    no_default = {f.name for f in fields(TrainConfig) if f.default is MISSING and f.default_factory is MISSING}
    assert no_default and no_default <= set(stated)
    first = load_recipe("sleeplm-tiny").stages[0].config
    for f in fields(TrainConfig):  # a default that the recipe also states never differs from it
        if f.name in stated and f.default is not MISSING:
            assert getattr(first, f.name) == f.default, f.name


def test_recipe_missing_a_setting_is_refused_naming_file_and_setting(tmp_path: Path) -> None:
    bad = json.loads(TINY_RECIPE.read_text())
    del bad["train"]["lr"]
    path = _write(tmp_path / "no-lr.json", bad)
    with pytest.raises(RecipeError, match=r"no-lr\.json.*missing training settings \['lr'\]"):
        load_recipe(path)


def test_recipe_with_an_unknown_setting_is_refused(tmp_path: Path) -> None:
    bad = json.loads(TINY_RECIPE.read_text())
    bad["stages"][1]["train"]["learning_rate"] = 0.1
    with pytest.raises(RecipeError, match=r"stage 2 \(channel-drop\): unknown training settings \['learning_rate'\]"):
        load_recipe(_write(tmp_path / "typo.json", bad))


def test_unknown_recipe_name_lists_the_bundled_ones() -> None:
    with pytest.raises(RecipeError, match="sleeplm-tiny"):
        load_recipe("sleeplm-huge")


def test_train_command_runs_the_recipe_stages_in_order(tmp_path: Path, sim_workspace: Path) -> None:
    recipe = _write(tmp_path / "toy.json", TOY_RECIPE)
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["train", "--recipe", str(recipe), "--out", str(out), "--no-report",
                                      "--eval-workspace", str(sim_workspace), "--eval-tasks", "few_shot_staging"])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "eval" / "summary.json").read_text())  # the harness ran with the new weights
    assert summary["tasks"] == ["few_shot_staging"] and summary["runs"][0]["model"] == "model"
    assert summary["runs"][0]["error"] is None and summary["runs"][0]["main_scores"]["few_shot_staging"] is not None
    first = json.loads((out / "stage1-first" / "train_config.json").read_text())
    second = json.loads((out / "stage2-second" / "train_config.json").read_text())
    assert first["init_from"] is None and first["seed"] == 0
    assert second["init_from"] == str((out / "stage1-first" / "model.safetensors").resolve())
    assert second["seed"] == 5 and second["p_channel_drop"] == 0.5 and second["lr"] == first["lr"]
    assert (out / "model.safetensors").read_bytes() == (out / "stage2-second" / "model.safetensors").read_bytes()
    assert json.loads((out / "recipe.json").read_text()) == TOY_RECIPE

    again = CliRunner().invoke(app, ["train", "--recipe", str(recipe), "--out", str(out), "--no-report"])
    assert again.exit_code == 2 and "--resume" in again.output and "Traceback" not in again.output
    resumed = CliRunner().invoke(app, ["train", "--recipe", str(recipe), "--out", str(out), "--no-report", "--resume"])
    assert resumed.exit_code == 0, resumed.output


def test_train_command_refuses_an_unreadable_recipe(tmp_path: Path) -> None:
    bad = tmp_path / "broken.json"
    bad.write_text("{not json")
    result = CliRunner().invoke(app, ["train", "--recipe", str(bad), "--out", str(tmp_path / "run")])
    assert result.exit_code == 2 and "broken.json: not a readable JSON recipe" in result.output
