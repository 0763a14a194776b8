"""End-to-end ingest: simulate N nights, time ``sleeplm.index.ingest.ingest`` (epochs/s, s per night).

The reference, measured in the same run on the same files, is reading + preprocessing alone
(``load_psg`` + ``make_epochs``): the ratio says what features, captions, embeddings, DuckDB
writes and the FAISS rebuild add on top of reading the signals.

    python bench/bench_ingest.py                         # 4 nights × 2 h, bundled sleeplm-tiny (else parity-mini)
    python bench/bench_ingest.py --nights 2 --hours 0.5 --model tests/data/parity-mini/checkpoint.pt
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import tempfile
import time
from pathlib import Path

import torch

from sleeplm.encoder.signals.preprocess import make_epochs
from sleeplm.encoder.io.psg import load_psg
from sleeplm.encoder.sim import simulate_cohort
from sleeplm.index.ingest import ingest
from sleeplm.index.models import resolve_model

PARITY_MINI = Path(__file__).resolve().parents[1] / "tests" / "data" / "parity-mini" / "checkpoint.pt"


def default_model() -> str:
    try:
        resolve_model("sleeplm-tiny")
        return "sleeplm-tiny"
    except (FileNotFoundError, ValueError):
        return str(PARITY_MINI)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nights", type=int, default=4)
    ap.add_argument("--hours", type=float, default=2.0)
    ap.add_argument("--model", default=None, help="name or checkpoint (default: sleeplm-tiny if bundled)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workdir", type=Path, default=None, help="keep the cohort and workspace here")
    ap.add_argument("--out", type=Path, default=Path("bench/results/bench_ingest.json"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    model = args.model or default_model()
    tmp = Path(tempfile.mkdtemp(prefix="bench_ingest_")) if args.workdir is None else args.workdir
    try:
        cohort, ws = tmp / "cohort", tmp / "ws"
        t = time.perf_counter()
        edfs = simulate_cohort(cohort, args.nights, args.seed, args.hours, progress=False)
        sim_s = time.perf_counter() - t
        t = time.perf_counter()
        n_epochs = 0
        for p in edfs:
            psg = load_psg(p)
            n_epochs += len(make_epochs(psg.mapped, psg.annotations))
            del psg
        read_s = time.perf_counter() - t
        report = ingest(cohort, ws, model=model, progress=False)
        if report.failed:
            raise SystemExit(f"ingest failed: {report.failed}")
        ing_s = report.seconds
        row = {"model": model, "nights": args.nights, "hours_per_night": args.hours, "epochs": n_epochs,
               "simulate_s": sim_s, "read_preprocess_s": read_s, "ingest_s": ing_s,
               "ingest_epochs_per_s": n_epochs / ing_s, "ingest_s_per_night": ing_s / args.nights,
               "ingest_s_per_night_hour": ing_s / (args.nights * args.hours),
               "read_preprocess_epochs_per_s": n_epochs / read_s, "ingest_vs_read_ratio": ing_s / read_s,
               "index_kinds": report.index_kinds}
    finally:
        if args.workdir is None:
            shutil.rmtree(tmp, ignore_errors=True)
    print("| model | nights × h | epochs | read+preprocess s (reference) | ingest s | epochs/s | s per night | "
          "s per night-hour | ingest / reference |\n|---|---|---:|---:|---:|---:|---:|---:|---:|")
    print(f"| {Path(model).name} | {args.nights} × {args.hours:g} | {n_epochs} | {read_s:.1f} | {ing_s:.1f} | "
          f"{row['ingest_epochs_per_s']:.1f} | {row['ingest_s_per_night']:.1f} | {row['ingest_s_per_night_hour']:.1f} | "
          f"{row['ingest_vs_read_ratio']:.1f}× |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"config": {k: str(v) for k, v in vars(args).items()}, "threads": args.threads,
                                    "machine": platform.platform(), "row": row}, indent=2) + "\n")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
