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

``--baseline COMMIT`` compares this tree with a ``git worktree`` of COMMIT in the same run: each
side runs in its own subprocess that imports that tree (``PYTHONPATH``), alternating for ``--rounds``
rounds on the same simulated files, and reports per-stage CPU seconds, wall times and the model's
idle share side by side, with ratios (best of the rounds). The encoder alone is timed too (one
thread, ``--enc-epochs`` epochs of the night at ``--batch-size``), with its FLOPs per epoch
(``torch.utils.flop_counter``) and the GFLOP/s it reaches. The stored results of both sides are
compared: feature table, captions, channel mask, night metrics and summary must be identical, and
the epoch vectors' largest difference is printed:

    python bench/bench_ingest.py --nights 1 --hours 8 --baseline 8fc2f4e --rounds 2
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import pickle
import platform
import shutil
import statistics
import subprocess
import sys
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

ROOT = Path(__file__).resolve().parents[1]
PARITY_MINI = ROOT / "tests" / "data" / "parity-mini" / "checkpoint.pt"


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


def stage_breakdown(edf: Path, model: str, batch_size: int, keep: Path | None = None) -> dict[str, dict[str, float]]:
    """Wall and CPU seconds of each stage of one night, in this process (threads as configured);
    with ``keep``, what the night stores (features, captions, mask, metrics, summary, vectors) is
    pickled there."""
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
    if keep is not None:
        keep.write_bytes(pickle.dumps({
            "features": night.features, "captions": night.captions, "channel_mask": night.channel_mask,
            "metrics": night.metrics, "summary": night.summary, "stages": night.stages,
            "vectors": night.vectors, "weights_sha256": ref.sha256}))
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


def encoder_alone(edf: Path, model: str, n_epochs: int, batch_size: int) -> dict[str, float]:
    """CPU and wall ms per epoch of ``encode_signal`` on ``n_epochs`` epochs of ``edf``, one thread (best of 2)."""
    x = make_epochs(load_psg(edf).mapped).x[:n_epochs]
    net = resolve_model(model).load()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        net.encode_signal(x[:batch_size], batch_size=batch_size)  # warm-up
        best_cpu, best_wall = float("inf"), float("inf")
        for _ in range(2):
            t0, c0 = time.perf_counter(), time.process_time()
            net.encode_signal(x, batch_size=batch_size)
            best_wall = min(best_wall, time.perf_counter() - t0)
            best_cpu = min(best_cpu, time.process_time() - c0)
    finally:
        torch.set_num_threads(threads)
    return {"epochs": len(x), "batch_size": batch_size, "cpu_ms_per_epoch": 1e3 * best_cpu / len(x),
            "wall_ms_per_epoch": 1e3 * best_wall / len(x)}


def encoder_flops_per_epoch(model: str) -> float:
    """FLOPs of one epoch through ``encode_image`` (GEMMs and the patch convolution; attention's
    score products, about 2 % here, are not counted by the flop counter on the CPU)."""
    from torch.utils.flop_counter import FlopCounterMode

    from sleeplm.encoder.model import create_model

    cfg = resolve_model(model).load().config
    m = create_model(cfg).eval()
    x = torch.zeros(2, cfg.biosignals_cfg.input_channels, cfg.biosignals_cfg.signal_length)
    with FlopCounterMode(display=False) as fc:
        m.encode_image(x)
    return fc.get_total_flops() / 2


def run_child(args: argparse.Namespace) -> None:
    """One side of a ``--baseline`` comparison, in the tree this process imports."""
    import sleeplm

    tmp = args.workdir
    edfs = sorted((tmp / "cohort").glob("*.edf"))
    model = args.model or default_model()
    workers = args.workers if args.workers is not None else default_workers(available_cores())
    out: dict[str, Any] = {"tree": str(Path(sleeplm.__path__[0]).resolve())}
    out["serial"] = timed_ingest(tmp / "cohort", tmp / "ws-serial", model, 0, args.batch_size)
    out["pipelined"] = timed_ingest(tmp / "cohort", tmp / "ws-pipelined", model, workers, args.batch_size)
    out["stages"] = stage_breakdown(edfs[0], model, args.batch_size, keep=Path(args.child + ".night.pkl"))
    out["encoder"] = encoder_alone(edfs[0], model, args.enc_epochs, args.batch_size)
    Path(args.child).write_text(json.dumps(out))


def baseline_tree(commit: str) -> Path:
    d = Path(tempfile.mkdtemp(prefix=f"sleeplm-{commit}-")) / "tree"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(d), commit], check=True,
                   capture_output=True)
    return d


def run_side(tree: Path, args: argparse.Namespace, workdir: Path, out: Path) -> dict[str, Any]:
    """Run :func:`run_child` in a subprocess importing ``tree`` as ``sleeplm``."""
    pkg = Path(tempfile.mkdtemp(prefix="sleeplm-pkg-"))
    (pkg / "sleeplm").symlink_to(tree)
    extra = os.environ.get("PYTHONPATH", "")
    env = dict(os.environ, PYTHONPATH=str(pkg) + (os.pathsep + extra if extra else ""))
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", str(out), "--workdir", str(workdir),
           "--batch-size", str(args.batch_size), "--enc-epochs", str(args.enc_epochs)]
    for flag, v in (("--model", args.model), ("--threads", args.threads), ("--workers", args.workers)):
        if v is not None:
            cmd += [flag, str(v)]
    subprocess.run(cmd, env=env, check=True, cwd=str(pkg))
    res = json.loads(out.read_text())
    if Path(res["tree"]) != tree.resolve():
        raise SystemExit(f"the child imported {res['tree']}, not {tree}")
    return res


def _same_values(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Equal dicts, NaN equal to NaN (a metric that could not be computed on either side)."""
    def same(x: Any, y: Any) -> bool:
        return x == y or (isinstance(x, float) and isinstance(y, float) and x != x and y != y)

    return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)


def compare_nights(before: Path, after: Path) -> dict[str, Any]:
    """Are the stored results of the two sides the same? (features, captions, mask, metrics exactly)"""
    import numpy as np
    import pandas as pd

    a, b = pickle.loads(before.read_bytes()), pickle.loads(after.read_bytes())
    try:
        pd.testing.assert_frame_equal(a["features"], b["features"], check_exact=True)
        same_features = True
    except AssertionError:
        same_features = False
    out = {"features_identical": same_features, "captions_identical": a["captions"] == b["captions"],
           "channel_mask_identical": bool(np.array_equal(a["channel_mask"], b["channel_mask"])),
           "metrics_identical": _same_values(a["metrics"], b["metrics"]) and a["summary"] == b["summary"],
           "stages_identical": a["stages"] == b["stages"],
           "same_weights": a["weights_sha256"] == b["weights_sha256"],
           "vectors_max_abs_diff": float(np.abs(a["vectors"] - b["vectors"]).max())}
    return out


def baseline_main(args: argparse.Namespace) -> None:
    """This tree against ``--baseline`` in alternating subprocesses; prints the side-by-side tables."""
    tmp = Path(tempfile.mkdtemp(prefix="bench_ingest_")) if args.workdir is None else args.workdir
    old = baseline_tree(args.baseline)
    edfs = sorted((tmp / "cohort").glob("*.edf"))
    if len(edfs) != args.nights:
        shutil.rmtree(tmp / "cohort", ignore_errors=True)
        simulate_cohort(tmp / "cohort", args.nights, args.seed, args.hours, progress=False)
    runs: dict[str, list[dict[str, Any]]] = {"before": [], "after": []}
    loads = [os.getloadavg()[0]]
    for r in range(args.rounds):
        for side, tree in (("before", old), ("after", ROOT)):
            runs[side].append(run_side(tree, args, tmp, tmp / f"{side}-{r}.json"))
            loads.append(os.getloadavg()[0])
    same = compare_nights(tmp / "before-0.json.night.pkl", tmp / "after-0.json.night.pkl")
    flops = encoder_flops_per_epoch(args.model or default_model())

    def best(side: str, get: Any) -> float:
        return min(get(r) for r in runs[side])

    rows: list[tuple[str, float, float]] = []
    for stage in runs["before"][0]["stages"]:
        rows.append((f"CPU s: {stage}", best("before", lambda r, s=stage: r["stages"][s]["cpu_s"]),
                     best("after", lambda r, s=stage: r["stages"][s]["cpu_s"])))
    for eng in ("serial", "pipelined"):
        rows.append((f"{eng}: wall s", best("before", lambda r, e=eng: r[e]["wall_s"]),
                     best("after", lambda r, e=eng: r[e]["wall_s"])))
        rows.append((f"{eng}: CPU s (all processes)", best("before", lambda r, e=eng: r[e]["cpu_s"]),
                     best("after", lambda r, e=eng: r[e]["cpu_s"])))
    rows.append(("pipelined: model idle share", best("before", lambda r: r["pipelined"]["model_idle_share"]),
                 best("after", lambda r: r["pipelined"]["model_idle_share"])))
    rows.append(("encoder alone, 1 thread: CPU ms per epoch", best("before", lambda r: r["encoder"]["cpu_ms_per_epoch"]),
                 best("after", lambda r: r["encoder"]["cpu_ms_per_epoch"])))
    enc = {side: best(side, lambda r: r["encoder"]["cpu_ms_per_epoch"]) for side in runs}
    result = {"baseline": args.baseline, "rounds": args.rounds, "loadavg_1min": loads, "runs": runs,
              "same_results": same, "encoder_flops_per_epoch": flops,
              "encoder_gflop_per_cpu_s": {k: flops / (v / 1e3) / 1e9 for k, v in enc.items()},
              "table": [{"what": w, "before": b, "after": a, "after_over_before": a / b if b else None}
                        for w, b, a in rows]}
    _save(args, result)
    print(f"\n## ingest, {args.nights} night(s) × {args.hours:g} h, before = {args.baseline}, after = this tree; "
          f"best of {args.rounds} alternating rounds; load average {', '.join(f'{v:.1f}' for v in loads)}")
    print("| measure | before | after | after / before |\n|---|---:|---:|---:|")
    for w, b, a in rows:
        print(f"| {w} | {b:.3g} | {a:.3g} | {a / b if b else float('nan'):.2f} |")
    print(f"\nencoder: {flops / 1e9:.3f} GFLOP per epoch; "
          + "; ".join(f"{k} {v:.1f} GFLOP per CPU-second" for k, v in result["encoder_gflop_per_cpu_s"].items()))
    print("stored results: " + ", ".join(f"{k} {v}" for k, v in same.items()))
    print(f"median wall of the pipelined runs: before {statistics.median(r['pipelined']['wall_s'] for r in runs['before']):.1f} s, "
          f"after {statistics.median(r['pipelined']['wall_s'] for r in runs['after']):.1f} s")
    print(f"\nwrote {args.out}")
    if args.workdir is None:
        shutil.rmtree(tmp, ignore_errors=True)
    subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(old)], capture_output=True, check=False)


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
    ap.add_argument("--baseline", default=None, help="commit to compare with, in the same run (git worktree)")
    ap.add_argument("--rounds", type=int, default=2, help="alternating rounds with --baseline")
    ap.add_argument("--enc-epochs", type=int, default=192, help="epochs for the encoder-alone timing")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    cores = available_cores()
    threads = args.threads or cores
    torch.set_num_threads(threads)
    if args.child:
        run_child(args)
        return
    if args.baseline:
        baseline_main(args)
        return
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
