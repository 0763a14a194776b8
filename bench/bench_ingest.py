"""End-to-end ingest: simulate nights, time ``sleeplm.index.ingest.ingest`` single-process and pipelined.

In one run, on the same files: the single-process engine (``workers=0``), then the pipeline
(worker processes prepare nights while this process embeds and writes; ``--workers``, default one
fewer than the cores). For each: wall time, CPU seconds (this process + its worker processes), the
load average (the machine may be shared: wall time on a loaded machine says little, CPU seconds
say what the work costs), and for the pipeline the share of the time the model sat idle.

``--stages`` adds where the time goes in one night (in this process, wall and CPU seconds per stage
of :func:`~sleeplm.index.night_rows.prepare_night`, then the embedding). ``--base-epochs K`` embeds
K epochs of the first night with the base architecture (``sleeplm-base`` config, random weights,
seed 0) and extrapolates to the night: a whole night with it takes tens of minutes on 2 cores.

    python bench/bench_ingest.py --nights 1 --hours 8 --stages --base-epochs 16   # the issue's 8-h night
    python bench/bench_ingest.py                                                   # 4 nights × 2 h
    python bench/bench_ingest.py --nights 2 --hours 0.5 --model tests/data/parity-mini/checkpoint.pt

The reference of older runs, reading + preprocessing alone (``load_psg`` + ``make_epochs``), is
still measured: the ratio says what features, captions, embeddings and writes add on top of it.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from sleeplm.encoder.io.psg import load_psg
from sleeplm.encoder.signals.preprocess import make_epochs
from sleeplm.encoder.sim import simulate_cohort
from sleeplm.index.ingest import ingest
from sleeplm.index.models import resolve_model
from sleeplm.index.pipeline_workers import (
    PipelineStats,
    available_cores,
    default_workers,
)

PARITY_MINI = Path(__file__).resolve().parents[1] / "tests" / "data" / "parity-mini" / "checkpoint.pt"


def default_model() -> str:
    try:
        resolve_model("sleeplm-tiny")
        return "sleeplm-tiny"
    except (FileNotFoundError, ValueError):
        return str(PARITY_MINI)


def _cpu_s() -> tuple[float, float]:
    """(this process, its waited-for children) CPU seconds, user + system."""
    t = os.times()
    return t.user + t.system, t.children_user + t.children_system


def timed_ingest(cohort: Path, ws: Path, model: str, workers: int, batch_size: int) -> dict[str, Any]:
    """One ingest into a fresh workspace: wall, CPU (self, workers), load average, pipeline timings."""
    shutil.rmtree(ws, ignore_errors=True)
    stats = PipelineStats()
    load0 = os.getloadavg()[0]
    (s0, c0), t0 = _cpu_s(), time.perf_counter()
    report = ingest(cohort, ws, model=model, progress=False, workers=workers, batch_size=batch_size,
                    pipeline_stats=stats)
    wall = time.perf_counter() - t0
    s1, c1 = _cpu_s()
    if report.failed:
        raise SystemExit(f"ingest failed: {report.failed}")
    row = {"workers": workers, "wall_s": wall, "cpu_self_s": s1 - s0, "cpu_workers_s": c1 - c0,
           "cpu_s": (s1 - s0) + (c1 - c0), "loadavg_1min_before": load0, "loadavg_1min_after": os.getloadavg()[0],
           "epochs": report.epochs_added}
    if workers:
        row.update({"model_busy_s": stats.embed_s, "driver_wait_s": stats.wait_s,
                    "model_idle_share": 1.0 - stats.embed_s / wall})
    return row


def stage_breakdown(edf: Path, model: str, batch_size: int) -> dict[str, dict[str, float]]:
    """Wall and CPU seconds of each stage of one night, in this process (threads as configured)."""
    from sleeplm.index.night_rows import add_vectors, embed_epochs, prepare_night
    from sleeplm.index.ood import reference_for

    marks: list[tuple[str, float, float]] = []

    def mark(stage: str) -> None:
        marks.append((stage, time.perf_counter(), time.process_time()))

    mark("reading")
    night = prepare_night(edf, on_stage=mark)
    mark("model load")
    ref = resolve_model(model)
    net, ood = ref.load(), reference_for(ref.weights, ref.sha256)
    mark("embedding")
    vectors = embed_epochs(night.x, net, batch_size)
    add_vectors(night, vectors, ood)
    mark("end")
    out: dict[str, dict[str, float]] = {}
    for (stage, t, c), (_, t1, c1) in itertools.pairwise(marks):
        cur = out.setdefault(stage, {"wall_s": 0.0, "cpu_s": 0.0})
        cur["wall_s"] += t1 - t
        cur["cpu_s"] += c1 - c
    return out


def base_estimate(edf: Path, n_epochs: int, batch_size: int) -> dict[str, float]:
    """Embed ``n_epochs`` epochs of ``edf`` with the base architecture (random weights, seed 0)."""
    from sleeplm.encoder.model import SleepLM, create_model

    psg = load_psg(edf)
    x = make_epochs(psg.mapped, psg.annotations).x
    n_night = len(x)
    torch.manual_seed(0)
    lm = SleepLM(create_model("sleeplm-base"))
    bs = min(batch_size, n_epochs)
    lm.encode_signal(x[:1], batch_size=1)  # warm-up
    t0, c0 = time.perf_counter(), time.process_time()
    lm.encode_signal(x[:n_epochs], batch_size=bs)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"epochs_measured": n_epochs, "batch_size": bs, "s_per_epoch": wall / n_epochs,
            "cpu_s_per_epoch": cpu / n_epochs, "night_epochs": n_night,
            "night_embed_s_estimated": wall / n_epochs * n_night,
            "night_embed_cpu_s_estimated": cpu / n_epochs * n_night}


def _save(args: argparse.Namespace, result: dict[str, Any]) -> None:
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"config": {k: str(v) for k, v in vars(args).items()}, "result": result},
                                   indent=2) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nights", type=int, default=4)
    ap.add_argument("--hours", type=float, default=2.0)
    ap.add_argument("--model", default=None, help="name or checkpoint (default: sleeplm-tiny if bundled)")
    ap.add_argument("--threads", type=int, default=None, help="torch threads of this process (default: the cores)")
    ap.add_argument("--workers", type=int, default=None, help="pipeline workers (default: cores - 1, at least 1)")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--stages", action="store_true", help="per-stage wall/CPU seconds of the first night")
    ap.add_argument("--base-epochs", type=int, default=0, help="epochs embedded with the base architecture")
    ap.add_argument("--workdir", type=Path, default=None, help="keep the cohort and workspaces here")
    ap.add_argument("--out", type=Path, default=Path("bench/results/bench_ingest.json"))
    args = ap.parse_args()
    cores = available_cores()
    threads = args.threads or cores
    torch.set_num_threads(threads)
    workers = args.workers if args.workers is not None else default_workers(cores)
    model = args.model or default_model()
    tmp = Path(tempfile.mkdtemp(prefix="bench_ingest_")) if args.workdir is None else args.workdir
    result: dict[str, Any] = {"model": model, "nights": args.nights, "hours_per_night": args.hours, "cores": cores,
                              "threads": threads, "machine": platform.platform(), "processor": platform.processor()}
    try:
        cohort = tmp / "cohort"
        edfs = sorted(cohort.glob("*.edf")) if cohort.is_dir() else []
        if len(edfs) != args.nights:
            shutil.rmtree(cohort, ignore_errors=True)
            edfs = simulate_cohort(cohort, args.nights, args.seed, args.hours, progress=False)
        t = time.perf_counter()
        for p in edfs:
            psg = load_psg(p)
            make_epochs(psg.mapped, psg.annotations)
            del psg
        result["read_preprocess_s"] = time.perf_counter() - t
        result["serial"] = timed_ingest(cohort, tmp / "ws-serial", model, 0, args.batch_size)
        _save(args, result)  # each part as soon as it is measured: a long run killed halfway keeps them
        result["pipelined"] = timed_ingest(cohort, tmp / "ws-pipelined", model, workers, args.batch_size)
        _save(args, result)
        if args.stages:
            result["stages"] = stage_breakdown(edfs[0], model, args.batch_size)
            _save(args, result)
        if args.base_epochs:
            result["base"] = base_estimate(edfs[0], args.base_epochs, args.batch_size)
    finally:
        if args.workdir is None:
            shutil.rmtree(tmp, ignore_errors=True)

    s, p = result["serial"], result["pipelined"]
    n_ep = s["epochs"]
    print(f"\n## ingest, {Path(model).name}, {args.nights} night(s) × {args.hours:g} h ({n_ep} epochs), "
          f"{cores} cores, torch threads {threads}")
    print("| engine | wall s | epochs/s | CPU s (this process + workers) | load avg before → after | model idle |")
    print("|---|---:|---:|---:|---|---:|")
    for name, r in (("single process", s), (f"pipelined ({workers} worker{'s' * (workers != 1)})", p)):
        idle = f"{r['model_idle_share']:.0%}" if "model_idle_share" in r else "—"
        print(f"| {name} | {r['wall_s']:.1f} | {n_ep / r['wall_s']:.1f} | {r['cpu_s']:.1f} "
              f"({r['cpu_self_s']:.1f} + {r['cpu_workers_s']:.1f}) | {r['loadavg_1min_before']:.1f} → "
              f"{r['loadavg_1min_after']:.1f} | {idle} |")
    print(f"\npipelined / single process, wall: {p['wall_s'] / s['wall_s']:.2f}; CPU: {p['cpu_s'] / s['cpu_s']:.2f}. "
          f"Reading + preprocessing alone: {result['read_preprocess_s']:.1f} s.")
    if "stages" in result:
        print("\n| stage (first night, this process) | wall s | CPU s |\n|---|---:|---:|")
        for stage, v in result["stages"].items():
            print(f"| {stage} | {v['wall_s']:.2f} | {v['cpu_s']:.2f} |")
    if "base" in result:
        b = result["base"]
        print(f"\nbase architecture (random weights): {b['s_per_epoch']:.2f} s/epoch ({b['cpu_s_per_epoch']:.2f} CPU-s) "
              f"measured on {b['epochs_measured']} epochs at batch {b['batch_size']}; the night's "
              f"{b['night_epochs']} epochs: about {b['night_embed_s_estimated'] / 60:.1f} min of embedding "
              f"({b['night_embed_cpu_s_estimated'] / 60:.1f} CPU-min), estimated.")
    _save(args, result)
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
