"""Training for transfer: randomized renditions in the training data, all-track contrastive texts,
distillation from a frozen teacher, a frozen text tower, and recipes that start from given weights."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from sleeplm.encoder.model import ReCoCa
from sleeplm.encoder.model.checkpoint import read_state_dict, save_checkpoint
from sleeplm.encoder.model.tokenizer import DomainTokenizer
from sleeplm.encoder.train.data import EpochCaptions, SplitSpec, build_split, process_night
from sleeplm.encoder.train.domain_tokenizer import train_domain_tokenizer
from sleeplm.encoder.train.loop import CachedTextEmbeddings, make_batch, run_training
from sleeplm.encoder.train.losses import (LossWeights, contrastive_loss, contrastive_loss_tracks,
                                          distillation_loss)
from sleeplm.encoder.train.recipe import RECIPES_DIR, RecipeError, load_recipe, start_weights
from sleeplm.encoder.vocab import MODEL_TRACKS

pytest.importorskip("sleeplm.encoder.sim")

from toymodel import toy_config  # noqa: E402

SE = MODEL_TRACKS.index("stage_event")


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """One 15-min night with two randomized renditions, a toy tokenizer and model config."""
    root = tmp_path_factory.mktemp("rendered")
    build_split(root / "train", SplitSpec(n_nights=1, seed=11, duration_h=0.25, n_paraphrases=1, n_randomized=2),
                progress=False)
    data = EpochCaptions(root / "train")
    tok_path = train_domain_tokenizer(data.all_texts(), root / "tok.json", vocab_size=600)
    tok = DomainTokenizer(tok_path, context_length=64)
    cfg = toy_config(tok, tok_path, dropout=0.0)
    return data, tok, cfg, root


def test_renditions_follow_the_clean_night_and_share_its_captions(rendered):
    data, *_ = rendered
    assert len(data) == 90 and len(data.clean_rows) == 30 and data.renditions.shape == (30, 2)
    ep = data.epochs
    assert (ep["rendition"].to_numpy() == np.repeat([0, 1, 2], 30)).all()
    for k, row in enumerate(data.clean_rows):
        for r in data.renditions[k]:
            assert ep["epoch"][r] == ep["epoch"][row] and ep["stage"][r] == ep["stage"][row]
            assert data.caption(int(r), "cardiac", 1) == data.caption(int(row), "cardiac", 1)
    assert not np.array_equal(data.signals(data.renditions[:, 0]), data.signals(data.clean_rows))


def test_renditions_leave_the_clean_epochs_unchanged():
    x0, meta0, _ = process_night(11, 0, 0.25, 0, 0)
    x2, meta2, _ = process_night(11, 0, 0.25, 0, 1)
    assert np.array_equal(x2[meta2["rendition"].to_numpy() == 0], x0)


def test_randomized_batches_draw_renditions_only_when_asked(rendered):
    data, tok, *_ = rendered
    clean = make_batch(data, tok, np.random.default_rng(1), 8, 1.0, (1.0,) * 5, p_randomized=0.0, with_clean=True)
    assert torch.equal(clean["x"], clean["x_clean"])
    rand = make_batch(data, tok, np.random.default_rng(1), 8, 1.0, (1.0,) * 5, p_randomized=1.0, with_clean=True)
    assert torch.equal(rand["x_clean"], clean["x_clean"])  # the same epochs, seen through other recordings
    assert not any(torch.equal(a, b) for a, b in zip(rand["x"], rand["x_clean"]))


def test_all_track_contrastive_batch_has_one_text_per_track_and_masks_dropped_examples(rendered):
    data, tok, *_ = rendered
    b = make_batch(data, tok, np.random.default_rng(2), 10, 1.0, (1.0,) * 5, canonical_contrastive=True,
                   p_channel_drop=0.5, contrastive_tracks="all", with_clean=True)
    assert b["contrastive_ids"].shape == (10, len(MODEL_TRACKS), 64) and b["contrastive_mask"].shape == (10, 5)
    kept = b["kept"].numpy()
    assert not kept.all() and kept.any()
    mask = b["contrastive_mask"].numpy()
    assert mask[:, SE].all() and (mask[~kept][:, [t for t in range(5) if t != SE]] == 0).all()
    assert mask[kept].all()
    assert (b["modality"].numpy()[~kept] == SE).all()


def test_unknown_contrastive_tracks_setting_is_refused(rendered):
    data, tok, *_ = rendered
    with pytest.raises(ValueError, match="contrastive_tracks"):
        make_batch(data, tok, np.random.default_rng(0), 4, 1.0, (1.0,) * 5, contrastive_tracks="cardiac")


def test_track_contrastive_is_the_mean_of_each_tracks_infonce_over_its_counted_examples():
    g = torch.Generator().manual_seed(0)
    sig = torch.nn.functional.normalize(torch.randn(6, 8, generator=g), dim=-1)
    txt = torch.nn.functional.normalize(torch.randn(6, 2, 8, generator=g), dim=-1)
    mask = torch.ones(6, 2, dtype=torch.bool)
    mask[4:, 1] = False
    scale = torch.tensor(10.0)
    want = 0.5 * (contrastive_loss(sig, txt[:, 0], scale) + contrastive_loss(sig[:4], txt[:4, 1], scale))
    assert torch.allclose(contrastive_loss_tracks(sig, txt, scale, mask), want)


def test_distillation_is_zero_on_the_teachers_own_output_and_grows_with_distance():
    g = torch.Generator().manual_seed(0)
    emb = torch.nn.functional.normalize(torch.randn(4, 8, generator=g), dim=-1)
    mem = torch.randn(4, 3, 8, generator=g)
    keep = torch.tensor([True, True, False, True])
    assert float(distillation_loss(emb, mem, emb, mem, keep)) == pytest.approx(0.0, abs=1e-6)
    other = torch.nn.functional.normalize(emb + 0.5 * torch.randn(4, 8, generator=g), dim=-1)
    assert float(distillation_loss(other, mem, emb, mem, keep)) > 0.01
    moved = mem.clone()
    moved[2] += 5.0  # a row outside the memory mask does not count
    assert float(distillation_loss(emb, moved, emb, mem, keep)) == pytest.approx(0.0, abs=1e-6)


def test_cached_text_embeddings_are_the_text_towers_own(rendered):
    data, tok, cfg, _ = rendered
    torch.manual_seed(0)
    model = ReCoCa(cfg).train()
    ids = tok([data.caption(0, "brain", 0), data.caption(1, "stage_event", 0), data.caption(0, "brain", 0)])
    cache = CachedTextEmbeddings(model)
    got = cache(ids)
    assert model.training and len(cache.cache) == 2 and torch.equal(got[0], got[2])
    model.eval()
    with torch.no_grad():
        want = model.encode_text(ids)
    assert torch.allclose(got, want, atol=1e-6)


def test_distilling_fine_tune_keeps_the_text_tower_and_moves_the_signal_encoder(rendered, tmp_path):
    data, tok, cfg, _ = rendered
    torch.manual_seed(0)
    start = tmp_path / "start.safetensors"
    save_checkpoint(ReCoCa(cfg), start, cfg.to_dict())
    tcfg = replace(load_recipe("sleeplm-tiny").stages[0].config, steps=2, batch_size=4, lr=1e-3, warmup_steps=1,
                   checkpoint_every=2, val_batches=0, threads=1, p_randomized=1.0, p_channel_drop=0.5,
                   frozen_text=True, contrastive_tracks="all", init_from=str(start),
                   weights=LossWeights(contrastive=1.0, caption=0.0, reconstruction=0.25, distillation=1.0))
    out = run_training(cfg, tcfg, data, tok, tmp_path / "ft", progress=False, plot=False)
    a, b = read_state_dict(start), read_state_dict(out)
    assert all(torch.equal(a[k], b[k]) for k in a if k.startswith("text."))
    assert any(not torch.equal(a[k], b[k]) for k in a if k.startswith("biosignals."))
    hist = [json.loads(line) for line in (tmp_path / "ft" / "history.jsonl").read_text().splitlines()]
    assert all("distillation" in r and "caption" not in r for r in hist)


def test_distillation_without_starting_weights_is_refused(rendered, tmp_path):
    data, tok, cfg, _ = rendered
    tcfg = replace(load_recipe("sleeplm-tiny").stages[0].config, steps=1, batch_size=4, threads=1, val_batches=0,
                   weights=LossWeights(distillation=1.0))
    with pytest.raises(ValueError, match="teacher"):
        run_training(cfg, tcfg, data, tok, tmp_path / "x", progress=False, plot=False)


def test_recipe_start_from_is_checked_by_sha256(tmp_path):
    weights = tmp_path / "w.safetensors"
    weights.write_bytes(b"not really weights")
    recipe = json.loads((RECIPES_DIR / "sleeplm-tiny.json").read_text())
    recipe["start_from"] = {"weights": "w.safetensors", "sha256": hashlib.sha256(b"other").hexdigest()}
    path = tmp_path / "r.json"
    path.write_text(json.dumps(recipe))
    with pytest.raises(RecipeError, match="r.json.*sha256"):
        start_weights(load_recipe(path))
    recipe["start_from"]["sha256"] = hashlib.sha256(weights.read_bytes()).hexdigest()
    path.write_text(json.dumps(recipe))
    assert start_weights(load_recipe(path)) == weights
