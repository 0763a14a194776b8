"""Throughput of ``SleepLM.encode_signal`` (epochs/s) on the CPU, for the base and tiny configs.

Random weights (throughput does not depend on them). Prints a table and writes JSON.

    python bench/bench_embedding.py                      # base: batch 1 and 8; tiny: 1, 8, 32
    python bench/bench_embedding.py --base-batches 1 8 32 --threads 2
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

from sleeplm.encoder.model import SleepLM, create_model


def time_encode(lm: SleepLM, batch: int, min_seconds: float, max_reps: int) -> dict:
    x = np.random.default_rng(0).standard_normal((batch, 10, 1920)).astype(np.float32)
    lm.encode_signal(x[:1])  # warm-up
    reps, start = 0, time.perf_counter()
    while reps < max_reps and (reps == 0 or time.perf_counter() - start < min_seconds):
        lm.encode_signal(x, batch_size=batch)
        reps += 1
    seconds = (time.perf_counter() - start) / reps
    return {"batch": batch, "reps": reps, "seconds_per_batch": seconds, "epochs_per_s": batch / seconds}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--configs", nargs="+", default=["sleeplm-base", "sleeplm-tiny"])
    ap.add_argument("--batches", nargs="+", type=int, default=[1, 8, 32])
    ap.add_argument("--base-batches", nargs="+", type=int, default=[1, 8], help="batches for sleeplm-base (slow)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--min-seconds", type=float, default=2.0)
    ap.add_argument("--max-reps", type=int, default=20)
    ap.add_argument("--out", type=Path, default=Path("out/bench/bench_embedding.json"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    rows = []
    for name in args.configs:
        lm = SleepLM(create_model(name))
        params = sum(p.numel() for p in lm.model.biosignals.parameters())
        batches = args.base_batches if name == "sleeplm-base" else args.batches
        for b in batches:
            r = time_encode(lm, b, args.min_seconds, 1 if name == "sleeplm-base" and b > 8 else args.max_reps)
            rows.append({"config": name, "encoder_params": params, **r})
            print(f"{name:14s} batch {b:3d}: {r['epochs_per_s']:8.2f} epochs/s  ({r['seconds_per_batch']*1e3:9.1f} ms/batch, {r['reps']} reps)", flush=True)
        del lm

    print("\n| config | encoder params | batch | epochs/s | ms/batch |\n|---|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['config']} | {r['encoder_params']:,} | {r['batch']} | {r['epochs_per_s']:.2f} | {r['seconds_per_batch']*1e3:.1f} |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"torch": torch.__version__, "threads": args.threads, "machine": platform.processor() or platform.machine()}
    args.out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
