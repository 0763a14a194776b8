"""Per-track signal heads: one epoch vector per caption track, trained by that track's captions only."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from sleeplm.encoder.model import ReCoCa, load_model
from sleeplm.encoder.model.checkpoint import read_safetensors_config, save_checkpoint
from sleeplm.encoder.train.loop import load_init, run_training
from sleeplm.encoder.train.losses import LossWeights, contrastive_loss, contrastive_loss_tracks
from sleeplm.encoder.train.recipe import load_recipe
from sleeplm.encoder.vocab import MODEL_TRACKS

pytest.importorskip("sleeplm.encoder.sim")

from toymodel import toy_split  # noqa: E402


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    root = tmp_path_factory.mktemp("heads")
    data, tok, cfg = toy_split(root, n_nights=1, seed=13)
    torch.manual_seed(0)
    start = root / "start.safetensors"
    save_checkpoint(ReCoCa(cfg), start, cfg.to_dict())
    return data, tok, cfg, start


def test_a_config_without_track_heads_is_stored_as_before(toy):
    _, _, cfg, start = toy
    assert "track_heads" not in cfg.to_dict() and "track_heads" not in read_safetensors_config(start)
    assert replace(cfg, track_heads=True).to_dict()["track_heads"] is True


def test_track_heads_start_as_the_main_vector_from_weights_without_heads(toy):
    data, _, cfg, start = toy
    model = ReCoCa(replace(cfg, track_heads=True)).eval()
    load_init(model, start)
    x = torch.from_numpy(data.signals(np.arange(6)))
    with torch.no_grad():
        main, per_track, _ = model.encode_biosignals_tracks(x)
        plain = ReCoCa(cfg).eval()
        load_init(plain, start)
        want, _ = plain.encode_biosignals(x)
    assert per_track.shape == (6, len(MODEL_TRACKS), cfg.embed_dim)
    torch.testing.assert_close(main, want)
    for t in range(len(MODEL_TRACKS)):
        torch.testing.assert_close(per_track[:, t], want)


def test_per_track_vectors_are_scored_against_their_own_tracks_texts_only():
    g = torch.Generator().manual_seed(1)
    sig = torch.nn.functional.normalize(torch.randn(6, 3, 8, generator=g), dim=-1)
    txt = torch.nn.functional.normalize(torch.randn(6, 3, 8, generator=g), dim=-1)
    mask = torch.ones(6, 3, dtype=torch.bool)
    mask[:2, 1] = False
    scale = torch.tensor(10.0)
    want = torch.stack([contrastive_loss(sig[:, 0], txt[:, 0], scale),
                        contrastive_loss(sig[2:, 1], txt[2:, 1], scale),
                        contrastive_loss(sig[:, 2], txt[:, 2], scale)]).mean()
    torch.testing.assert_close(contrastive_loss_tracks(sig, txt, scale, mask), want)


def test_fine_tune_with_track_heads_gives_each_track_its_own_vector(toy, tmp_path):
    data, tok, cfg, start = toy
    heads = replace(cfg, track_heads=True)
    tcfg = replace(load_recipe("sleeplm-tiny").stages[0].config, steps=2, batch_size=6, lr=3e-3, warmup_steps=1,
                   checkpoint_every=2, val_batches=0, threads=1, frozen_text=False, contrastive_tracks="all",
                   p_stage_only=1.0, canonical_contrastive=True, init_from=str(start),
                   weights=LossWeights(contrastive=1.0, caption=0.0, reconstruction=0.0, distillation=1.0))
    out = run_training(heads, tcfg, data, tok, tmp_path / "ft", progress=False, plot=False)
    assert read_safetensors_config(out)["track_heads"] is True
    lm = load_model(str(out))
    x = data.signals(np.arange(5))
    main = lm.encode_signal(x)
    np.testing.assert_allclose(lm.encode_signal(x, track="stage_event"), main, atol=1e-6)
    cardiac = lm.encode_signal(x, track="cardiac")
    assert cardiac.shape == main.shape and np.allclose(np.linalg.norm(cardiac, axis=1), 1.0, atol=1e-5)
    assert not np.allclose(cardiac, main, atol=1e-4)
