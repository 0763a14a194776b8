"""What ``sleeplm check`` costs on a big workspace: ids only vs every vector compared, and the repair.

Builds a synthetic workspace with the real schema (``--n`` epochs of ``--dim``-d vectors in
``--nights`` nights; ``--dim 128`` is the bundled sleeplm-tiny, 512 SleepLM-Base), then measures, in
one run:

* ``repair``: rebuild ``epochs.faiss`` / ``nights.faiss`` + manifest from DuckDB (IVF from 200,000 epochs);
* ``check --ids-only``: FAISS ids == DuckDB ids, counts, manifest;
* ``check``: the same plus every FAISS vector compared with DuckDB's (what finds a stale index);
* the same full check after one vector in ``epochs.faiss`` is made stale (it must be found).

    python bench/bench_check.py                   # 1 M × 128 (a few minutes on 2 cores)
    python bench/bench_check.py --n 100000        # quick
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
from sleeplm.index import vectors as vec
from sleeplm.index.workspace import (
    Workspace,
    check_workspace,
    load_vectors,
    repair_workspace,
)


def build(ws: Workspace, n: int, dim: int, nights: int, seed: int, chunk: int = 200_000) -> float:
    """Fill a new workspace's tables with synthetic rows; returns seconds."""
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    con = ws.connect()
    per = int(np.ceil(n / nights))
    con.execute("BEGIN TRANSACTION")
    for k, v in {"model_name": "bench", "model_sha256": "0" * 64, "preprocessing_version": "bench",
                 "created": "bench"}.items():
        con.execute("INSERT OR REPLACE INTO workspace_info VALUES (?, ?)", [k, v])
    rec = pa.table({"recording_id": pa.array(np.arange(nights), pa.int32()),
                    "name": [f"night-{i:05d}" for i in range(nights)], "path": [f"/data/night-{i:05d}.edf" for i in range(nights)],
                    "sha256": ["0" * 64] * nights, "n_epochs": pa.array([min(per, n - i * per) for i in range(nights)], pa.int32())})
    con.register("rec", rec)
    con.execute("INSERT INTO recordings BY NAME SELECT * FROM rec")
    nv = vec.normalise(rng.standard_normal((nights, dim), dtype=np.float32))
    con.register("nv", pa.table({"recording_id": pa.array(np.arange(nights), pa.int32()),
                                 "vec": pa.FixedSizeListArray.from_arrays(pa.array(nv.reshape(-1)), dim)}))
    con.execute("INSERT INTO night_vectors SELECT recording_id, vec::FLOAT[] FROM nv")
    for a in range(0, n, chunk):
        b = min(n, a + chunk)
        ids = np.arange(a, b, dtype=np.int64)
        x = vec.normalise(rng.standard_normal((b - a, dim), dtype=np.float32))
        ep = pa.table({"epoch_id": ids, "recording_id": pa.array(ids // per, pa.int32()),
                       "epoch_index": pa.array(ids % per, pa.int32()), "onset_s": (ids % per) * 30.0,
                       "stage": pa.array(["N2"] * (b - a)),
                       "channel_mask": pa.FixedSizeListArray.from_arrays(pa.array(np.ones((b - a) * 10, bool)), 10)})
        con.register("ep", ep)
        con.execute("INSERT INTO epochs BY NAME SELECT epoch_id, recording_id, epoch_index, onset_s, stage, "
                    "channel_mask::BOOLEAN[] AS channel_mask FROM ep")
        con.register("ev", pa.table({"epoch_id": ids, "vec": pa.FixedSizeListArray.from_arrays(pa.array(x.reshape(-1)), dim)}))
        con.execute("INSERT INTO epoch_vectors SELECT epoch_id, vec::FLOAT[] FROM ev")
    con.execute("COMMIT")
    con.close()
    return time.perf_counter() - t0


def timed(fn, *args, **kwargs):
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1_000_000, help="epochs")
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--nights", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workdir", type=Path, default=None, help="where to build (default: a temporary folder)")
    ap.add_argument("--out", type=Path, default=Path("bench/results/bench_check.json"))
    args = ap.parse_args()

    root = Path(tempfile.mkdtemp(prefix="bench-check-", dir=args.workdir))
    try:
        ws = Workspace(root / "ws")
        build_s = build(ws, args.n, args.dim, args.nights, args.seed)
        manifest, repair_s = timed(repair_workspace, ws)
        ids_problems, ids_s = timed(check_workspace, ws, content=False)
        full_problems, full_s = timed(check_workspace, ws, content=True)
        # one stale vector: same ids, one vector changed, index rewritten
        con = ws.connect(read_only=True)
        ids, mat = load_vectors(con, "epoch_vectors", "epoch_id")
        con.close()
        mat[len(mat) // 2] = -mat[len(mat) // 2]
        vec.save_index(vec.build_index(mat, ids, kind="flat"), ws.epochs_index_path)
        del mat
        stale_problems, stale_s = timed(check_workspace, ws, content=True)
        stale_ids_problems, _ = timed(check_workspace, ws, content=False)
        peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    finally:
        shutil.rmtree(root, ignore_errors=True)

    rows = [
        ("build the synthetic workspace (DuckDB inserts)", build_s, ""),
        (f"check --repair (rebuild FAISS {manifest.faiss.get('epoch_vectors')} + manifest)", repair_s, ""),
        ("check --ids-only", ids_s, f"{len(ids_problems)} problems"),
        ("check (ids + every vector)", full_s, f"{len(full_problems)} problems"),
        ("check with 1 stale vector", stale_s, "; ".join(stale_problems)[:90]),
        ("check --ids-only with 1 stale vector", float("nan"), f"{len(stale_ids_problems)} problems (ids agree)"),
    ]
    print(f"{args.n:,} epochs × {args.dim} dims in {args.nights} nights; {platform.processor() or platform.machine()}, "
          f"peak RSS {peak_gb:.1f} GB")
    print(f"{'step':58s} {'seconds':>8s}  result")
    for name, s, res in rows:
        print(f"{name:58s} {s:8.1f}  {res}")
    print(f"content check costs {full_s / ids_s:.1f}× the ids-only check ({full_s - ids_s:.1f} s more)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "config": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items() if k != "out"},
        "build_s": build_s, "repair_s": repair_s, "check_ids_s": ids_s, "check_full_s": full_s,
        "check_full_stale_s": stale_s, "stale_found": bool(stale_problems), "stale_found_by_ids_only": bool(stale_ids_problems),
        "problems_clean": full_problems, "peak_rss_gb": peak_gb, "faiss": manifest.faiss,
    }, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
