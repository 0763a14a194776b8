"""Batched captions on a GPU in half precision: the decode loop's attention backends, in one run.

``SleepLM.caption_batch`` decodes with a KV cache, so the attention's key length grows by one each
step. PyTorch may give half-precision attention to cuDNN, which plans each new shape afresh; the
decode loop (``generation.decode_attention``) keeps to the flash / memory-efficient / math kernels.
This bench times, on the sleeplm-base architecture (random weights, seed 0; no early EOS, so every
row runs to ``--max-len``):

* fp32 (the exact path);
* bf16 as this tree decodes;
* bf16 with PyTorch's own backend choice (``decode_attention`` replaced by a no-op), as before;

each bf16 path twice (the second time every shape has been seen once),

and compares the two bf16 token sets. With ``--profile`` it prints the top ops by self CPU time of
a few steps of the PyTorch-choice run. Prints a table and writes JSON.

    python bench/bench_decode_attention.py --device cuda --epochs 64 --max-len 64 --batch-rows 320
"""

from __future__ import annotations

import argparse
import contextlib
import json
import time
from pathlib import Path

import numpy as np
import torch


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--epochs", type=int, default=64)
    ap.add_argument("--max-len", type=int, default=64)
    ap.add_argument("--batch-rows", type=int, default=320)
    ap.add_argument("--model", default="sleeplm-base")
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--out", type=Path, default=Path("bench/results/decode_attention.json"))
    a = ap.parse_args()

    from sleeplm.encoder.model import SleepLM, create_model, generation

    torch.manual_seed(0)
    lm = SleepLM(create_model(a.model).to(a.device), tokenizer=object())
    x = np.random.default_rng(0).standard_normal((a.epochs, 10, 1920)).astype(np.float32)

    def sync() -> None:
        if a.device.startswith("cuda"):
            torch.cuda.synchronize()

    def run(name: str) -> dict:
        lm.caption_batch_ids(x[:2], max_len=4, min_len=4, batch_rows=a.batch_rows)  # warm-up
        sync()
        t0, c0 = time.perf_counter(), time.process_time()
        ids = lm.caption_batch_ids(x, max_len=a.max_len, min_len=a.max_len, batch_rows=a.batch_rows)
        sync()
        dt, dc = time.perf_counter() - t0, time.process_time() - c0
        flat = [v for row in ids for v in row.values()]
        n_tok = sum(len(v) - 1 for v in flat)
        r = {"impl": name, "seconds": dt, "cpu_s": dc, "tokens": n_tok, "epochs_per_s": a.epochs / dt,
             "ms_per_step": 1000 * dt / (a.max_len - 1), "ids": flat}
        print(json.dumps({k: v for k, v in r.items() if k != "ids"}), flush=True)
        return r

    rows = [run("fp32")]
    lm.to_precision("bf16")
    rows.append(run("bf16, this tree (flash / mem-efficient / math)"))
    rows.append(run("bf16, this tree, again"))
    keep = generation.decode_attention
    generation.decode_attention = lambda memory: contextlib.nullcontext()
    try:
        rows.append(run("bf16, PyTorch's backend choice (before)"))
        rows.append(run("bf16, PyTorch's backend choice, again (shapes seen once)"))
        if a.profile:
            from torch.profiler import ProfilerActivity, profile

            acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if a.device.startswith("cuda") else [])
            with profile(activities=acts) as prof:
                lm.caption_batch_ids(x[:8], max_len=6, min_len=6, batch_rows=a.batch_rows)
                sync()
            print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=12))
    finally:
        generation.decode_attention = keep
    same = np.mean([p == q for p, q in zip(rows[1]["ids"], rows[3]["ids"])])
    same32 = np.mean([p == q for p, q in zip(rows[0]["ids"], rows[1]["ids"])])
    print(f"\n## decode attention ({a.device}, {a.model} random weights, {a.epochs} epochs x 5 tracks, "
          f"max_len {a.max_len}, {a.batch_rows} rows per batch)")
    print("| path | epochs/s | ms per step | CPU s | x before |\n|---|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['impl']} | {r['epochs_per_s']:.2f} | {r['ms_per_step']:.1f} | {r['cpu_s']:.1f} | "
              f"{r['epochs_per_s'] / rows[3]['epochs_per_s']:.2f} |")
    print(f"bf16 captions identical between the two backends: {same:.3f} of rows; bf16 vs fp32: {same32:.3f}")
    out = {"device": a.device, "gpu": torch.cuda.get_device_name(0) if a.device.startswith("cuda") else None,
           "torch": torch.__version__, "args": {k: str(v) for k, v in vars(a).items()},
           "rows": [{k: v for k, v in r.items() if k != "ids"} for r in rows],
           "bf16_same_tokens_share": float(same), "bf16_vs_fp32_same_tokens_share": float(same32)}
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
