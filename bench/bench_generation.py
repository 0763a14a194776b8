"""Greedy captioning speed: KV-cached loop vs the plain no-cache loop (tokens/s, CPU).

Models: the parity "mini" checkpoint (tests/data/parity-mini) and the tiny config (random weights).
Both loops produce the same tokens (checked here too). EOS is banned (``min_len = max_len``) so that
every run generates exactly ``max_len - 1`` tokens per epoch. Prints a table and writes JSON.

    python bench/bench_generation.py --max-len 64 --threads 1
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch

from sleeplm.encoder.model import create_model, greedy_generate, greedy_generate_reference, load_recoca

REPO = Path(__file__).resolve().parents[1]
MINI = REPO / "tests" / "data" / "parity-mini" / "checkpoint.pt"


def run(fn, model, x, max_len: int) -> tuple[float, list[list[int]]]:
    start = time.perf_counter()
    out = fn(model, x, 0, max_len=max_len, min_len=max_len)
    return time.perf_counter() - start, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--max-len", type=int, default=64)
    ap.add_argument("--batches", nargs="+", type=int, default=[1, 8])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=Path("out/bench/bench_generation.json"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    models = {"sleeplm-mini (parity ckpt)": load_recoca(MINI), "sleeplm-tiny (random)": create_model("sleeplm-tiny").eval()}

    rows = []
    for name, model in models.items():
        for b in args.batches:
            x = torch.randn(b, 10, 1920)
            run(greedy_generate, model, x[:1], 4)  # warm-up
            t_cache, ids_cache = run(greedy_generate, model, x, args.max_len)
            t_plain, ids_plain = run(greedy_generate_reference, model, x, args.max_len)
            n_tokens = sum(len(s) - 1 for s in ids_cache)
            row = {
                "model": name, "batch": b, "max_len": args.max_len, "tokens": n_tokens,
                "cached_tok_s": n_tokens / t_cache, "uncached_tok_s": n_tokens / t_plain,
                "speedup": t_plain / t_cache, "same_tokens": ids_cache == ids_plain,
            }
            rows.append(row)
            print(f"{name:28s} batch {b:2d}: cached {row['cached_tok_s']:8.1f} tok/s, "
                  f"plain {row['uncached_tok_s']:8.1f} tok/s, x{row['speedup']:.1f}, same={row['same_tokens']}", flush=True)

    print("\n| model | batch | max_len | cached tok/s | no-cache tok/s | speed-up | same tokens |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for r in rows:
        print(f"| {r['model']} | {r['batch']} | {r['max_len']} | {r['cached_tok_s']:.1f} | "
              f"{r['uncached_tok_s']:.1f} | {r['speedup']:.1f}x | {r['same_tokens']} |")
    print("\n(no-cache = the plain reference loop, which also runs one epoch at a time)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"torch": torch.__version__, "threads": args.threads, "machine": platform.processor() or platform.machine()}
    args.out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
