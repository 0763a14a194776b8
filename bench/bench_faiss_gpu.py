"""Exact (flat, inner-product) top-10 search of 512-d unit vectors: FAISS GPU vs FAISS CPU at 1e6 / 1e7.

Recall@10 of the GPU result against the CPU result. Falls back to torch matmul + topk when FAISS
(or its GPU build) is missing. Prints a table and writes JSON.

    python bench/bench_faiss_gpu.py --sizes 1000000 10000000 --nq 1000 --out bench/results/faiss_gpu.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", nargs="+", type=int, default=[1_000_000, 10_000_000])
    ap.add_argument("--nq", type=int, default=1000)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--out", type=Path, default=Path("bench/results/faiss_gpu.json"))
    a = ap.parse_args()
    try:
        import faiss
        ngpu = faiss.get_num_gpus()
        version = faiss.__version__
    except Exception as exc:  # noqa: BLE001
        faiss, ngpu, version = None, 0, f"missing ({exc})"
    rows = []
    g = torch.Generator(device="cuda").manual_seed(0)
    for n in a.sizes:
        xb_gpu = torch.nn.functional.normalize(torch.randn(n, 512, device="cuda", generator=g), dim=1)
        xq_gpu = torch.nn.functional.normalize(xb_gpu[:a.nq] + 0.5 * torch.randn(a.nq, 512, device="cuda", generator=g), dim=1)
        xb, xq = xb_gpu.cpu().numpy(), xq_gpu.cpu().numpy()
        r = {"n": n, "nq": a.nq, "faiss": version, "faiss_gpus": ngpu}
        if faiss is not None:
            cpu = faiss.IndexFlatIP(512); t = time.perf_counter(); cpu.add(xb); r["cpu_add_s"] = time.perf_counter() - t
            t = time.perf_counter(); _, i_cpu = cpu.search(xq, a.k); r["cpu_search_s"] = time.perf_counter() - t
            r["cpu_threads"] = faiss.omp_get_max_threads()
            del cpu
        else:
            t = time.perf_counter(); xbt = torch.from_numpy(xb)
            i_cpu = torch.topk(torch.from_numpy(xq) @ xbt.T, a.k, dim=1).indices.numpy(); r["cpu_search_s"] = time.perf_counter() - t
            r["cpu_impl"] = "torch matmul+topk"
        if faiss is not None and ngpu > 0:
            res = faiss.StandardGpuResources()
            gi = faiss.GpuIndexFlatIP(res, 512); t = time.perf_counter(); gi.add(xb); r["gpu_add_s"] = time.perf_counter() - t
            gi.search(xq[:10], a.k)
            t = time.perf_counter(); _, i_gpu = gi.search(xq, a.k); r["gpu_search_s"] = time.perf_counter() - t
            r["gpu_impl"] = "faiss GpuIndexFlatIP"
            del gi
        else:
            torch.topk(xq_gpu[:10] @ xb_gpu.T, a.k, dim=1); torch.cuda.synchronize()
            t = time.perf_counter(); i_gpu = torch.topk(xq_gpu @ xb_gpu.T, a.k, dim=1).indices; torch.cuda.synchronize()
            r["gpu_search_s"] = time.perf_counter() - t; i_gpu = i_gpu.cpu().numpy(); r["gpu_impl"] = "torch matmul+topk (fp32)"
        r["recall_at_10_gpu_vs_cpu"] = float(np.mean([len(set(x) & set(y)) / a.k for x, y in zip(i_gpu, i_cpu)]))
        r["speedup"] = r["cpu_search_s"] / r["gpu_search_s"]
        rows.append(r)
        print(json.dumps(r), flush=True)
        del xb_gpu, xq_gpu, xb, xq
        torch.cuda.empty_cache()
    print("\n| vectors | queries | CPU s | GPU s | GPU x CPU | recall@10 GPU vs CPU |\n|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['n']:,} | {r['nq']} | {r['cpu_search_s']:.3f} | {r['gpu_search_s']:.4f} | {r['speedup']:.0f} | {r['recall_at_10_gpu_vs_cpu']:.4f} |")
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps({"gpu": torch.cuda.get_device_name(0), "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
