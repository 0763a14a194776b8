"""Training device and precision: fp32 on a CPU, bf16 autocast on a GPU; a device that is not there is refused."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from sleeplm.app.cli import app
from sleeplm.encoder.model.checkpoint import read_state_dict
from sleeplm.encoder.model.tokenizer import DomainTokenizer
from sleeplm.encoder.train.data import EpochCaptions, SplitSpec, build_split
from sleeplm.encoder.train.domain_tokenizer import train_domain_tokenizer
from sleeplm.encoder.train.loop import autocast_dtype, run_training, training_device
from sleeplm.encoder.train.recipe import load_recipe

pytest.importorskip("sleeplm.encoder.sim")

from toymodel import toy_config  # noqa: E402


def test_mixed_precision_is_bf16_on_a_gpu_and_none_on_a_cpu():
    assert autocast_dtype("cpu") is None
    assert autocast_dtype("cuda") is torch.bfloat16 and autocast_dtype("cuda:0") is torch.bfloat16


def test_a_device_that_is_not_cpu_or_an_available_gpu_is_refused():
    assert training_device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match="use cpu or cuda"):
        training_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA GPU"):
            training_device("cuda")


def test_cpu_training_runs_in_fp32_and_says_so(tmp_path):
    build_split(tmp_path / "train", SplitSpec(n_nights=1, seed=17, duration_h=0.25, n_paraphrases=1), progress=False)
    data = EpochCaptions(tmp_path / "train")
    tok_path = train_domain_tokenizer(data.all_texts(), tmp_path / "tok.json", vocab_size=600)
    tok = DomainTokenizer(tok_path, context_length=64)
    tcfg = replace(load_recipe("sleeplm-tiny").stages[0].config, steps=1, batch_size=4, warmup_steps=1,
                   checkpoint_every=1, val_batches=0, threads=1)
    out = run_training(toy_config(tok, tok_path), tcfg, data, tok, tmp_path / "run", progress=False, plot=False,
                       device="cpu")
    assert json.loads((tmp_path / "run" / "device.json").read_text()) == {"device": "cpu", "precision": "fp32"}
    assert all(v.dtype == torch.float32 for v in read_state_dict(out).values() if v.is_floating_point())


def test_train_command_accepts_device_and_refuses_an_absent_gpu(tmp_path: Path):
    bad = tmp_path / "broken.json"
    bad.write_text("{not json")
    on_cpu = CliRunner().invoke(app, ["train", "--recipe", str(bad), "--out", str(tmp_path / "a"), "--device", "cpu"])
    assert on_cpu.exit_code == 2 and "not a readable JSON recipe" in on_cpu.output  # past the device check
    if not torch.cuda.is_available():
        gpu = CliRunner().invoke(app, ["train", "--recipe", str(bad), "--out", str(tmp_path / "b"), "--device", "cuda"])
        assert gpu.exit_code == 2 and "no CUDA GPU" in gpu.output and "Traceback" not in gpu.output
