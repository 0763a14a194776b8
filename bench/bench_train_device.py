"""Training throughput of ``sleeplm train`` (``run_training``) per device and batch size, in one run.

Runs the first stage of a recipe (default ``sleeplm-tiny``: pretraining, contrastive + caption +
reconstruction losses) for ``--steps`` steps on each ``--devices`` entry at each ``--batch-sizes``
entry, on a built split (``--data``: a folder written by ``build_split``; a small one is enough, the
batches are sampled from it). ``cuda`` trains with bf16 autocast, ``cpu`` in fp32 (the loop's own
rule). Seconds per step leave out the first step (CUDA start-up, allocator warm-up). Reports the loss
after the last step too, so a device that trains wrongly shows. Prints a table and writes JSON.

    python bench/bench_train_device.py --data SPLIT --devices cuda cpu --steps 30 --batch-sizes 16 64 256
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True, type=Path, help="a built split folder (x.npy, epochs/captions.parquet)")
    ap.add_argument("--recipe", default="sleeplm-tiny")
    ap.add_argument("--devices", nargs="+", default=["cuda", "cpu"])
    ap.add_argument("--batch-sizes", nargs="+", type=int, default=[16])
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="torch threads on the CPU")
    ap.add_argument("--out", type=Path, default=Path("bench/results/train_device.json"))
    a = ap.parse_args()

    from sleeplm.encoder.model.factory import get_config
    from sleeplm.encoder.train.data import EpochCaptions
    from sleeplm.encoder.train.loop import resolve_tokenizer, run_training
    from sleeplm.encoder.train.recipe import load_recipe

    recipe = load_recipe(a.recipe)
    data = EpochCaptions(a.data)
    work = Path(tempfile.mkdtemp(prefix="sleeplm-train-bench-"))
    model_cfg, tok = resolve_tokenizer(get_config(recipe.model_config), data, work)
    rows = []
    for dev in a.devices:
        for b in a.batch_sizes:
            cfg = replace(recipe.stages[0].config, steps=a.steps, batch_size=b, checkpoint_every=a.steps,
                          val_batches=0, init_from=None, threads=a.threads)
            out = work / f"{dev}-b{b}"
            t0 = time.perf_counter()
            run_training(model_cfg, cfg, data, tok, out, progress=False, plot=False, device=dev)
            wall = time.perf_counter() - t0
            hist = [json.loads(line) for line in (out / "history.jsonl").read_text().splitlines()]
            per_step = (hist[-1]["time_s"] - hist[0]["time_s"]) / max(1, len(hist) - 1)
            r = {"device": dev, "precision": json.loads((out / "device.json").read_text())["precision"],
                 "batch_size": b, "steps": a.steps, "s_per_step": per_step, "epochs_per_s": b / per_step,
                 "first_step_s": hist[0]["time_s"], "wall_s": wall, "loss_first": hist[0]["loss"],
                 "loss_last": hist[-1]["loss"]}
            rows.append(r)
            print(json.dumps(r), flush=True)
    name = torch.cuda.get_device_name(0) if torch.cuda.is_available() else platform.processor() or platform.machine()
    print(f"\n## training throughput: recipe {recipe.name}, stage {recipe.stages[0].name}, model {recipe.model_config}, "
          f"{a.steps} steps ({name}; CPU: {a.threads} threads)")
    print("| device | precision | batch | s / step | epochs / s | loss step 1 -> last |\n|---|---|---:|---:|---:|---|")
    for r in rows:
        print(f"| {r['device']} | {r['precision']} | {r['batch_size']} | {r['s_per_step']:.3f} | {r['epochs_per_s']:.0f} | "
              f"{r['loss_first']:.3f} -> {r['loss_last']:.3f} |")
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps({"gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
                                 "torch": torch.__version__, "cpus": os.cpu_count(),
                                 "args": {k: str(v) for k, v in vars(a).items()}, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
