"""Adaptation of the signal tower on labelled epochs (encoder/train/adapt.py) and its recipe files."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import MISSING, fields
from pathlib import Path

import numpy as np
import pytest
import torch
from sleeplm.encoder.model.api import SleepLM
from sleeplm.encoder.model.recoca import ReCoCa
from sleeplm.encoder.model.tokenizer import get_tokenizer
from sleeplm.encoder.train.adapt import (
    AdaptConfig,
    adapt_signal_tower,
    channel_presence,
    jitter_brain_amplitude,
    load_adapt_recipe,
    single_lead_copies,
    stage_loss,
    stage_texts,
)
from sleeplm.encoder.train.recipe import RECIPES_DIR, RecipeError
from sleeplm.encoder.vocab import CHANNEL_INDEX, SCORED_STAGES, STAGE_NAMES
from toymodel import toy_config

EEG = CHANNEL_INDEX["EEG_C3"]
POS = CHANNEL_INDEX["POS"]


@pytest.fixture(scope="module")
def toy_model() -> SleepLM:
    torch.manual_seed(0)
    tok = get_tokenizer("clip", 64)
    return SleepLM(ReCoCa(toy_config(tok, Path("clip"))), tok)


def eeg_only_epochs(n_per_stage: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Single-lead epochs whose dominant frequency depends on the stage; every other channel absent."""
    rng = np.random.default_rng(seed)
    t = np.arange(1920) / 64.0
    freq = {"W": 10.0, "N1": 6.0, "N2": 13.0, "N3": 1.5, "REM": 4.0}
    stages = np.repeat(np.asarray(SCORED_STAGES, dtype=object), n_per_stage)
    x = np.zeros((len(stages), 10, 1920), np.float32)
    x[:, POS] = -1.0
    for i, s in enumerate(stages):
        x[i, EEG] = np.sin(2 * np.pi * freq[s] * t + rng.uniform(0, 6.3)) + 0.3 * rng.standard_normal(1920)
    return x, stages


def config(**kw) -> AdaptConfig:
    base = dict(steps=8, batch_size=10, lr=3e-3, min_lr_ratio=0.1, warmup_steps=2, weight_decay=0.0, grad_clip=1.0,
                seed=0, trainable="signal_tower", balanced_stages=True, regulariser="l2sp", regulariser_weight=0.01,
                single_lead_copies=False, target="stage")
    return AdaptConfig(**(base | kw))


def test_adaptation_lowers_the_stage_loss_on_its_training_epochs(toy_model):
    x, stages = eeg_only_epochs(2)
    before = stage_loss(toy_model, x, stages)
    fit = adapt_signal_tower(toy_model, x, stages, channel_presence(x), config(steps=8))
    assert stage_loss(fit.model, x, stages) < before - 0.2


def test_adaptation_leaves_the_text_tower_and_decoder_bit_identical_and_the_input_model_untouched(toy_model):
    x, stages = eeg_only_epochs(2)
    start = {k: v.clone() for k, v in toy_model.model.state_dict().items()}
    fit = adapt_signal_tower(toy_model, x, stages, channel_presence(x), config(steps=3))
    after = fit.model.model.state_dict()
    frozen = [k for k in start if not k.startswith("biosignals.")]
    assert frozen and all(torch.equal(start[k], after[k]) for k in frozen)
    assert any(not torch.equal(start[k], after[k]) for k in start if k.startswith("biosignals."))
    assert all(torch.equal(v, toy_model.model.state_dict()[k]) for k, v in start.items())


def test_signal_top_trains_only_the_last_block_and_the_poolers(toy_model):
    x, stages = eeg_only_epochs(2)
    fit = adapt_signal_tower(toy_model, x, stages, channel_presence(x), config(steps=2, trainable="signal_top"))
    changed = {k for k, v in toy_model.model.state_dict().items() if not torch.equal(v, fit.model.model.state_dict()[k])}
    assert changed and not any(k.startswith(("biosignals.patching.", "biosignals.embed_projection.")) for k in changed)


def test_adaptation_reports_the_channels_its_epochs_recorded(toy_model):
    x, stages = eeg_only_epochs(1)
    fit = adapt_signal_tower(toy_model, x, stages, channel_presence(x), config(steps=1))
    assert fit.channels_seen == ["EEG_C3"]
    assert fit.stage_counts == {s: 1 for s in SCORED_STAGES}


def test_a_channel_marked_absent_that_carries_a_signal_is_refused(toy_model):
    x, stages = eeg_only_epochs(1)
    mask = channel_presence(x)
    mask[:, EEG] = False
    with pytest.raises(ValueError, match="EEG_C3"):
        adapt_signal_tower(toy_model, x, stages, mask, config(steps=1))


def test_unscored_stages_are_refused(toy_model):
    x, stages = eeg_only_epochs(1)
    stages[0] = "UNKNOWN"
    with pytest.raises(ValueError, match="UNKNOWN"):
        adapt_signal_tower(toy_model, x, stages, channel_presence(x), config(steps=1))


def test_training_texts_name_each_stage_as_the_captions_do():
    texts = stage_texts()
    assert list(texts) == list(SCORED_STAGES)
    assert all(STAGE_NAMES[s] in t and "seconds" not in t for s, t in texts.items())


def test_bundled_adaptation_recipes_state_every_setting():
    required = {f.name for f in fields(AdaptConfig) if f.default is MISSING}
    for name in ("tiny-adapt-real", "tiny-adapt-real-noreg", "tiny-stage-anchor-sim", "tiny-stage-anchor-jitter"):
        raw = json.loads((RECIPES_DIR / f"{name}.json").read_text())
        assert required <= set(raw["adapt"])
        assert load_adapt_recipe(name).config == AdaptConfig(**raw["adapt"])


def test_a_recipe_missing_a_setting_is_refused_naming_the_file_and_setting(tmp_path):
    raw = json.loads((RECIPES_DIR / "tiny-adapt-real.json").read_text())
    del raw["adapt"]["regulariser_weight"]
    path = tmp_path / "r.json"
    path.write_text(json.dumps(raw))
    with pytest.raises(RecipeError, match=r"r\.json.*regulariser_weight"):
        load_adapt_recipe(path)


def test_a_recipe_with_an_unknown_setting_is_refused(tmp_path):
    raw = json.loads((RECIPES_DIR / "tiny-adapt-real.json").read_text())
    raw["adapt"]["dropout"] = 0.1
    path = tmp_path / "r.json"
    path.write_text(json.dumps(raw))
    with pytest.raises(RecipeError, match="unknown settings.*dropout"):
        load_adapt_recipe(path)


C4 = CHANNEL_INDEX["EEG_C4"]


def full_epochs(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Epochs with every channel recorded, each channel a distinct constant plus the row number."""
    x = np.ones((n, 10, 1920), np.float32) * np.arange(1, 11, dtype=np.float32)[None, :, None]
    x += np.arange(n, dtype=np.float32)[:, None, None] * 100
    return x, np.asarray(["N2"] * n, dtype=object)


def test_single_lead_copies_hold_one_central_lead_in_the_c3_slot_and_nothing_else():
    x, stages = full_epochs(4)
    out, out_stages, mask, rows = single_lead_copies(x, stages, channel_presence(x))
    copies = out[4:]
    assert len(copies) == 4 and list(rows) == [0, 1, 2, 3] and list(out_stages[4:]) == ["N2"] * 4
    assert np.array_equal(copies[0, EEG], x[0, EEG]) and np.array_equal(copies[1, EEG], x[1, C4])  # C3, then C4
    others = [c for c in range(10) if c not in (EEG, POS)]
    assert not copies[:, others].any() and (copies[:, POS] == -1.0).all()
    assert mask[4:].sum() == 4 and mask[4:, EEG].all()


def test_a_single_lead_copy_falls_back_to_the_other_lead_and_skips_epochs_without_eeg():
    x, stages = full_epochs(3)
    x[0, EEG] = 0.0  # row 0 would take C3: it has only C4
    x[1, C4] = 0.0  # row 1 would take C4: it has only C3
    x[2, [EEG, C4]] = 0.0  # no central EEG: no copy
    out, _, _, rows = single_lead_copies(x, stages, channel_presence(x))
    assert list(rows) == [0, 1]
    assert np.array_equal(out[3, EEG], x[0, C4]) and np.array_equal(out[4, EEG], x[1, EEG])


def test_the_caption_target_needs_every_epochs_text(toy_model):
    x, stages = eeg_only_epochs(1)
    with pytest.raises(ValueError, match="texts_per_epoch"):
        adapt_signal_tower(toy_model, x, stages, channel_presence(x), config(steps=1, target="caption"))


def test_the_caption_target_trains_on_each_epochs_own_text(toy_model):
    x, stages = eeg_only_epochs(2)
    texts = np.asarray([stage_texts()[s] + (" The Arousal event." if i % 2 else "") for i, s in enumerate(stages)],
                       dtype=object)
    fit = adapt_signal_tower(toy_model, x, stages, channel_presence(x), config(steps=2, target="caption"),
                             texts_per_epoch=texts)
    assert len(fit.history) == 2 and np.isfinite(fit.history[-1]["loss"])


def test_the_simulated_stage_anchoring_recipe_names_its_start_weights_and_split():
    rec = load_adapt_recipe("tiny-stage-anchor-sim")
    assert rec.start_from is not None and len(rec.start_from["sha256"]) == 64
    assert rec.data is not None and rec.data.seed == 1  # the training root seed; held-out nights use 1000001
    assert rec.config.single_lead_copies


def test_amplitude_jitter_scales_eeg_and_eog_by_one_factor_per_epoch_and_nothing_else():
    x = torch.from_numpy(np.random.default_rng(0).normal(size=(6, 10, 1920)).astype(np.float32))
    out = jitter_brain_amplitude(x, np.random.default_rng(1), 0.5)
    brain = [CHANNEL_INDEX[c] for c in ("EEG_C3", "EEG_C4", "EOG_L", "EOG_R")]
    other = [c for c in range(10) if c not in brain]
    assert torch.equal(out[:, other], x[:, other])
    factor = out[:, brain] / x[:, brain]
    per_epoch = factor[:, 0, 0]
    assert torch.allclose(factor, per_epoch[:, None, None].expand_as(factor), rtol=1e-5)
    assert bool(((per_epoch >= 2 ** -0.5 - 1e-6) & (per_epoch <= 2 ** 0.5 + 1e-6)).all())
    assert len(set(per_epoch.tolist())) == 6


def test_amplitude_jitter_clips_as_preprocessing_does_and_zero_range_is_the_identity():
    x = torch.full((2, 10, 1920), 15.0)
    assert jitter_brain_amplitude(x, np.random.default_rng(0), 0.0) is x
    out = jitter_brain_amplitude(x, np.random.default_rng(0), 3.0)
    assert float(out.abs().max()) <= 20.0


def test_an_amplitude_jitter_outside_its_range_is_refused():
    raw = json.loads((RECIPES_DIR / "tiny-stage-anchor-jitter.json").read_text())["adapt"]
    with pytest.raises(ValueError, match="amplitude_jitter_log2"):
        AdaptConfig(**{**raw, "amplitude_jitter_log2": -0.1})


def test_spectrum_jitter_settings_outside_their_range_are_refused():
    raw = json.loads((RECIPES_DIR / "tiny-stage-anchor-mad-spectral.json").read_text())["adapt"]
    with pytest.raises(ValueError, match="eeg_spectrum_jitter_on"):
        AdaptConfig(**{**raw, "eeg_spectrum_jitter_on": "some"})
    with pytest.raises(ValueError, match="eeg_tilt_jitter"):
        AdaptConfig(**{**raw, "eeg_tilt_jitter": 3.5})
    with pytest.raises(ValueError, match="eeg_frequency_jitter_log2"):
        AdaptConfig(**{**raw, "eeg_frequency_jitter_log2": 0.6})


def test_the_v7_recipe_tilts_the_eeg_spectrum_of_every_epoch():
    rec = load_adapt_recipe("tiny-stage-anchor-mad-spectral")
    assert rec.config.eeg_tilt_jitter == 1.5 and rec.config.eeg_spectrum_jitter_on == "all"
    assert rec.data is not None and rec.data.brain_scale == "mad" and rec.data.seed == 1


def test_the_shipped_v8_recipe_is_v7_s_with_the_tilt_on_one_lead_eeg_epochs_only():
    v7, v8 = load_adapt_recipe("tiny-stage-anchor-mad-spectral"), load_adapt_recipe(
        "tiny-stage-anchor-mad-spectral-eeg-alone")
    assert v8.config.eeg_spectrum_jitter_on == "eeg_alone"
    assert dataclasses.replace(v8.config, eeg_spectrum_jitter_on="all") == v7.config
    assert v8.data == v7.data and v8.start_from == v7.start_from


def test_adaptation_with_a_spectral_summary_adds_and_trains_it_and_says_so_in_the_config(toy_model):
    x, stages = eeg_only_epochs(2)
    fit = adapt_signal_tower(toy_model, x, stages, channel_presence(x), config(steps=4, spectral_summary=True))
    summary = fit.model.model.biosignals.spectral_summary
    assert fit.model.config.biosignals_cfg.spectral_summary and summary is not None
    assert torch.count_nonzero(summary.mlp[2].weight) > 0  # started at zero, trained
    assert toy_model.model.biosignals.spectral_summary is None  # the input model is untouched


def test_the_spectral_summary_trains_at_its_own_learning_rate(toy_model):
    x, stages = eeg_only_epochs(2)
    fit = adapt_signal_tower(toy_model, x, stages, channel_presence(x),
                             config(steps=4, lr=1e-7, spectral_summary=True, spectral_summary_lr=1e-2))
    net, start = fit.model.model, toy_model.model.state_dict()
    tower_move = max(float((v - start[k]).abs().max()) for k, v in net.state_dict().items()
                     if k.startswith("biosignals.") and k in start)
    assert float(net.biosignals.spectral_summary.mlp[2].weight.abs().max()) > 1e-3 > 100 * tower_move


def test_a_spectral_summary_learning_rate_without_the_summary_is_refused():
    with pytest.raises(ValueError, match="spectral_summary_lr"):
        config(spectral_summary_lr=1e-3)


def test_a_recipe_may_state_the_widest_stretch_reading_only_where_it_reads_every_training_night_as_cut(tmp_path):
    raw = json.loads((RECIPES_DIR / "tiny-spectral-summary-wake-artifacts-lr0.001.json").read_text())
    assert raw["data"]["duration_h"] <= 1.5 and raw["data"]["brain_scale"] == "mad"
    assert load_adapt_recipe(RECIPES_DIR / "tiny-spectral-summary-wake-artifacts-lr0.001.json").input_brain_scale \
        == "mad-window"  # the shipped v10's recipe: its 1.5-h nights read the same either way
    raw["data"]["duration_h"] = 6.0  # whole nights: the widest 1.5-h stretch is not the night's own scale
    path = tmp_path / "long.json"
    path.write_text(json.dumps(raw))
    with pytest.raises(RecipeError, match=r"long\.json: input_brain_scale 'mad-window'"):
        load_adapt_recipe(path)
