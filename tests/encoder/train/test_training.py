"""Pretraining: losses, loop (determinism, resume), domain tokenizer, at toy size (the held-out report's
metrics are eval's: tests/eval)."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from sleeplm.encoder.model import ReCoCa
from sleeplm.encoder.model.checkpoint import read_state_dict
from sleeplm.encoder.train.loop import TrainConfig, lr_at, make_batch, run_training
from sleeplm.encoder.train.losses import LossWeights, pretraining_loss
from sleeplm.encoder.train.recipe import load_recipe

pytest.importorskip("sleeplm.encoder.sim")

from toymodel import toy_split  # noqa: E402



@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    root = tmp_path_factory.mktemp("toy")
    data, tok, cfg = toy_split(root, n_nights=2, seed=11, dropout=0.1)
    return data, tok, cfg, root


#: The bundled recipe's first stage: every setting a TrainConfig needs; the tests change a few.
RECIPE_STAGE_1 = load_recipe("sleeplm-tiny").stages[0].config


def _tcfg(**kw) -> TrainConfig:
    base = dict(steps=4, batch_size=4, lr=1e-3, warmup_steps=2, checkpoint_every=2, val_batches=0, threads=1)
    return replace(RECIPE_STAGE_1, **{**base, **kw})


def test_split_has_signals_and_all_captions(toy):
    data, *_ = toy
    assert data.x.shape[1:] == (10, 1920) and len(data) == 60
    assert data.captions.shape == (60, 5, 2) and all(isinstance(c, str) and c for c in data.captions.reshape(-1))
    info = json.loads((data.dir / "info.json").read_text())
    assert info["n_epochs"] == 60 and len(info["sites"]) == 2


def test_domain_tokenizer_round_trip_and_single_digits(toy):
    data, tok, *_ = toy
    text = data.caption(3, "brain", 1)
    ids = tok([text])[0]
    assert ids[0] == tok.sot_token_id and tok.pad_id == 0
    if (ids != 0).sum() < 64:  # not truncated
        assert tok.decode(ids) == " ".join(text.lower().split())
    pieces = [tok.tok.id_to_token(i) for i in tok.encode("power of 63.25%")]
    assert sum(any(ch.isdigit() for ch in p) for p in pieces) == 4
    assert all(sum(ch.isdigit() for ch in p) <= 1 for p in pieces)


def test_losses_are_finite_and_fall_on_a_fixed_batch(toy):
    data, tok, cfg, _ = toy
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # toy sizes: extra threads only add overhead on a shared machine
    torch.manual_seed(0)
    model = ReCoCa(cfg).train()
    batch = make_batch(data, tok, np.random.default_rng(0), 6, 0.25, (1.0,) * 5)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3)
    losses = []
    for _ in range(12):
        loss, parts = pretraining_loss(model, batch["x"], batch["contrastive_ids"], batch["caption_ids"],
                                       batch["modality"], LossWeights())
        assert all(math.isfinite(v) for v in parts.values())
        assert {"contrastive", "caption", "reconstruction", "loss"} <= set(parts)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(parts["loss"])
    torch.set_num_threads(threads)
    assert losses[-1] < 0.8 * losses[0]


def test_schedule_warms_up_then_decays():
    cfg = replace(RECIPE_STAGE_1, steps=100, lr=1e-3, warmup_steps=10, min_lr_ratio=0.1)
    assert lr_at(0, cfg) == pytest.approx(1e-4) and lr_at(9, cfg) == pytest.approx(1e-3)
    assert lr_at(99, cfg) < lr_at(50, cfg) < lr_at(10, cfg) and lr_at(100, cfg) == pytest.approx(1e-4)


def test_training_is_deterministic_and_resume_continues_exactly(toy, tmp_path):
    data, tok, cfg, _ = toy
    full = run_training(cfg, _tcfg(steps=4), data, tok, tmp_path / "full", progress=False, plot=False)
    again = run_training(cfg, _tcfg(steps=4), data, tok, tmp_path / "again", progress=False, plot=False)
    a, b = read_state_dict(full), read_state_dict(again)
    assert all(torch.equal(a[k], b[k]) for k in a)

    run_training(cfg, _tcfg(steps=2), data, tok, tmp_path / "split", progress=False, plot=False)
    assert (tmp_path / "split" / "checkpoints" / "step_000002.pt").is_file()
    resumed = run_training(cfg, _tcfg(steps=4), data, tok, tmp_path / "split", resume=True, progress=False)
    c = read_state_dict(resumed)
    assert all(torch.allclose(a[k], c[k], atol=1e-6) for k in a)
    hist = [json.loads(line) for line in (tmp_path / "split" / "history.jsonl").read_text().splitlines()]
    assert [r["step"] for r in hist] == [1, 2, 3, 4]
    assert (tmp_path / "split" / "loss_curves.png").is_file()


def test_checkpoint_loads_with_load_model(toy, tmp_path):
    from sleeplm.encoder.model import load_model
    from sleeplm.encoder.train.loop import export_weights

    data, tok, cfg, _ = toy
    path = run_training(cfg, _tcfg(steps=2), data, tok, tmp_path / "run", progress=False, plot=False)
    half = export_weights(path, tmp_path / "half.safetensors")
    lm = load_model(half)
    emb = lm.encode_signal(data.signals(np.arange(3)))
    assert emb.shape == (3, 32) and np.allclose(np.linalg.norm(emb, axis=1), 1, atol=1e-4)
    assert len(lm.generate(data.signals(np.arange(2)), "stage_event", max_len=12)) == 2
    assert isinstance(lm.encode_text("deep sleep"), np.ndarray)


def test_channel_drop_looks_like_missing_channels_after_preprocessing() -> None:
    import numpy as np

    from sleeplm.encoder.train.loop import drop_channels

    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 10, 1920)).astype(np.float32)
    x[:, 9] = 2.0  # POS: supine
    changed = drop_channels(x, rng, p=0.5)
    assert 10 < changed.sum() < 54 and not changed.all()
    for i in np.flatnonzero(changed):
        zero = (x[i, :9] == 0).all(axis=1)
        assert zero.any() or x[i, 9, 0] == -1.0  # something dropped
        assert not zero[[6, 7]].all()  # an EEG lead kept
        assert x[i, 9, 0] in (2.0, -1.0)  # POS kept or unknown, never zero
    assert not (x[~changed, :9] == 0).all(axis=2).any()
