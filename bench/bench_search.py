"""Vector search: exact ``IndexFlatIP`` vs IVF (``sleeplm.index.vectors.build_index(kind="ivf")``).

Synthetic, clustered, L2-normalised vectors (``--clusters`` random unit centres, each vector a
centre plus Gaussian noise, so neighbours are meaningful — not uniform noise). Queries are drawn
from the same distribution and are not in the index. Measured in the same run, on the CPU:

* build time (flat: add; IVF: k-means training + add, as the workspace builds it);
* single-query latency (median over ``--single`` queries) and batch latency (``--batch`` queries);
* IVF recall@10 against the exact top-10 (the reference), and speed-ups relative to exact search.

    python bench/bench_search.py                 # 1 M × 512 (a few minutes on 2 cores)
    python bench/bench_search.py --n 100000      # quick
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import faiss
import numpy as np

from sleeplm.index import vectors as vec


def clustered(n: int, dim: int, clusters: int, noise: float, seed: int, chunk: int = 100_000) -> np.ndarray:
    """``n`` normalised vectors around ``clusters`` random unit centres (float32)."""
    rng = np.random.default_rng(seed)
    centres = vec.normalise(rng.standard_normal((clusters, dim), dtype=np.float32))
    out = np.empty((n, dim), np.float32)
    for a in range(0, n, chunk):
        b = min(n, a + chunk)
        x = centres[rng.integers(0, clusters, b - a)]
        x += (noise / np.sqrt(dim)) * rng.standard_normal((b - a, dim), dtype=np.float32)
        out[a:b] = vec.normalise(x)
    return out


def latencies(index: faiss.Index, q: np.ndarray, single: int, k: int) -> dict:
    index.search(q[:1], k)  # warm-up
    times = []
    for i in range(single):
        t = time.perf_counter()
        index.search(q[i : i + 1], k)
        times.append(time.perf_counter() - t)
    t = time.perf_counter()
    _, ids = index.search(q, k)
    batch_s = time.perf_counter() - t
    return {"single_ms_median": 1e3 * float(np.median(times)), "single_ms_p90": 1e3 * float(np.percentile(times, 90)),
            "batch_s": batch_s, "batch_ms_per_query": 1e3 * batch_s / len(q), "batch_qps": len(q) / batch_s,
            "ids": ids}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--clusters", type=int, default=2000)
    ap.add_argument("--noise", type=float, default=1.0, help="noise norm relative to the unit centre")
    ap.add_argument("--queries", type=int, default=200, help="batch size, also the recall sample")
    ap.add_argument("--single", type=int, default=20, help="single queries timed")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("bench/results/bench_search.json"))
    args = ap.parse_args()

    t = time.perf_counter()
    x = clustered(args.n + args.queries, args.dim, args.clusters, args.noise, args.seed)
    q, x = x[: args.queries].copy(), x[args.queries :]
    ids = np.arange(args.n, dtype=np.int64)
    gen_s = time.perf_counter() - t
    print(f"data: {args.n:,} × {args.dim} clustered ({args.clusters} centres) in {gen_s:.1f} s; "
          f"{faiss.omp_get_max_threads()} threads; {vec.device_report()}", flush=True)

    rows = []
    exact_ids = None
    for kind in ("flat", "ivf"):
        t = time.perf_counter()
        index = vec.build_index(x, ids, kind=kind)
        build_s = time.perf_counter() - t
        lat = latencies(index, q, args.single, args.k)
        found = lat.pop("ids")
        if exact_ids is None:
            exact_ids = found
        recall = float(np.mean([len(set(a) & set(b)) / args.k for a, b in zip(found, exact_ids)]))
        extra = {"nlist": int(index.nlist), "nprobe": int(index.nprobe)} if kind == "ivf" else {}
        rows.append({"index": type(index).__name__, "kind": kind, "build_s": build_s, **lat,
                     f"recall@{args.k}_vs_exact": recall, **extra})
        print(f"{kind}: build {build_s:.1f} s, single {lat['single_ms_median']:.2f} ms, "
              f"batch {lat['batch_ms_per_query']:.3f} ms/query, recall@{args.k} {recall:.3f}", flush=True)
        del index
    ref = rows[0]
    for r in rows:
        r["single_speedup_vs_exact"] = ref["single_ms_median"] / r["single_ms_median"]
        r["batch_speedup_vs_exact"] = ref["batch_s"] / r["batch_s"]

    print(f"\n| index | build s | single query ms (median) | batch {args.queries}: ms/query | QPS | "
          f"recall@{args.k} vs exact | speed-up single | speed-up batch |\n|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        name = r["index"] + (f" (nlist {r['nlist']}, nprobe {r['nprobe']})" if "nlist" in r else "")
        print(f"| {name} | {r['build_s']:.1f} | {r['single_ms_median']:.2f} | {r['batch_ms_per_query']:.3f} | "
              f"{r['batch_qps']:.0f} | {r[f'recall@{args.k}_vs_exact']:.3f} | {r['single_speedup_vs_exact']:.1f}× | "
              f"{r['batch_speedup_vs_exact']:.1f}× |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "config": {k: v for k, v in vars(args).items() if k != "out"}, "data_seconds": gen_s,
        "threads": faiss.omp_get_max_threads(), "faiss": faiss.__version__, "machine": platform.platform(),
        "processor": platform.processor(), "rows": rows}, indent=2) + "\n")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
