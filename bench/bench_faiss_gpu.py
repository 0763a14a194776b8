"""Exact (flat, inner-product) top-10 search of 512-d unit vectors: FAISS GPU vs FAISS CPU at 1e6 / 1e7.

Recall@10 of the GPU result against the CPU result. Falls back to torch matmul + topk when FAISS
(or its GPU build) is missing. With ``--project-n`` (default 1e6) it also runs the workspace's own path,
``sleeplm.index.vectors.build_index`` (IVF-flat from 200k vectors) then ``to_search_device``
(``index_cpu_to_all_gpus``), and gives its search time on CPU and GPU with recall@10 against exact search.
Prints tables and writes JSON.

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
    ap.add_argument("--clusters", type=int, default=2000)
    ap.add_argument("--noise", type=float, default=1.0)
    ap.add_argument("--project-n", type=int, default=1_000_000, help="0: skip the workspace's own index path")
    ap.add_argument("--out", type=Path, default=Path("bench/results/faiss_gpu.json"))
    a = ap.parse_args()
    try:
        import faiss
        ngpu = faiss.get_num_gpus()
        version = faiss.__version__
    except Exception as exc:  # noqa: BLE001
        faiss, ngpu, version = None, 0, f"missing ({exc})"
    rows, project = [], None
    g = torch.Generator(device="cuda").manual_seed(0)
    for n in a.sizes:
        # clustered like bench_search.py (random unit centres + Gaussian noise), so neighbours mean something
        centres = torch.nn.functional.normalize(torch.randn(a.clusters, 512, device="cuda", generator=g), dim=1)
        pick = torch.randint(0, a.clusters, (n + a.nq,), device="cuda", generator=g)
        x = centres[pick] + (a.noise / 512 ** 0.5) * torch.randn(n + a.nq, 512, device="cuda", generator=g)
        x = torch.nn.functional.normalize(x, dim=1)
        xb_gpu, xq_gpu = x[:n], x[n:]
        del x, pick
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
        r["recall_at_10_gpu_vs_cpu"] = recall(i_gpu, i_cpu, a.k)
        r["speedup"] = r["cpu_search_s"] / r["gpu_search_s"]
        rows.append(r)
        print(json.dumps(r), flush=True)
        if faiss is not None and n == a.project_n:
            project = project_path(xb, xq, i_cpu, a.k)
            print(json.dumps(project), flush=True)
        del xb_gpu, xq_gpu, xb, xq
        torch.cuda.empty_cache()
    print("\n| vectors | queries | CPU s | GPU s | GPU x CPU | recall@10 GPU vs CPU |\n|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['n']:,} | {r['nq']} | {r['cpu_search_s']:.3f} | {r['gpu_search_s']:.4f} | {r['speedup']:.0f} | {r['recall_at_10_gpu_vs_cpu']:.4f} |")
    if project:
        print("\n| workspace index (build_index + to_search_device) | vectors | build s (CPU) | CPU search s | GPU search s |"
              " GPU x CPU | recall@10 CPU | recall@10 GPU |\n|---|---:|---:|---:|---:|---:|---:|---:|")
        print(f"| {project['kind']} on {project['gpus']} GPU(s) | {project['n']:,} | {project['build_s']:.1f} | "
              f"{project['cpu_search_s']:.3f} | {project.get('gpu_search_s', float('nan')):.4f} | "
              f"{project.get('speedup', float('nan')):.0f} | {project['recall_cpu']:.4f} | {project.get('recall_gpu', float('nan')):.4f} |")
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps({"gpu": torch.cuda.get_device_name(0), "rows": rows, "workspace_index": project}, indent=1))


def recall(found: np.ndarray, exact: np.ndarray, k: int) -> float:
    """Mean share of each query's exact top-k that ``found`` also returns."""
    return float(np.mean([len(set(x) & set(y)) / k for x, y in zip(found, exact)]))


def project_path(xb: np.ndarray, xq: np.ndarray, i_exact: np.ndarray, k: int) -> dict:
    """The workspace's own index: ``build_index`` (CPU), searched on CPU, then moved by ``to_search_device``."""
    from sleeplm.index import vectors as vec

    ids = np.arange(len(xb), dtype=np.int64)
    t = time.perf_counter(); index = vec.build_index(xb, ids); r = {"n": len(xb), "build_s": time.perf_counter() - t}
    r["kind"] = type(index).__name__
    t = time.perf_counter(); _, i_cpu = index.search(xq, k); r["cpu_search_s"] = time.perf_counter() - t
    r["recall_cpu"] = recall(i_cpu, i_exact, k)
    r["gpus"] = vec.n_gpus(); r["device_report"] = vec.device_report()
    if r["gpus"]:
        t = time.perf_counter(); gi = vec.to_search_device(index); r["to_gpu_s"] = time.perf_counter() - t
        gi.search(xq[:10], k)
        t = time.perf_counter(); _, i_gpu = gi.search(xq, k); r["gpu_search_s"] = time.perf_counter() - t
        r["recall_gpu"] = recall(i_gpu, i_exact, k)
        r["same_top10_gpu_vs_cpu_ivf"] = recall(i_gpu, i_cpu, k)
        r["speedup"] = r["cpu_search_s"] / r["gpu_search_s"]
    return r


if __name__ == "__main__":
    main()
