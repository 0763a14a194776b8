"""Do text queries find epochs whose reference facts match the query? Precision@k vs the base rate.

Usage: python bench/bench_query_precision.py --workspace WS [--k 20]

For each query, an epoch "matches" when its annotated stage and events (DuckDB ``epochs.stage`` and
``epochs.event_types``) contain what the query names (parsed by ``sleeplm.index.querytext.parse_query``).
The base rate is the share of matching epochs in the whole workspace: what a random top-k would score.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from sleeplm.index.queries import Cohort
from sleeplm.index.querytext import parse_query

QUERIES = ["wake", "N1 drowsiness", "N2 sleep", "deep sleep N3", "REM sleep", "obstructive apnea", "hypopnea",
           "oxygen desaturation", "arousal", "central apnea", "obstructive apnea in REM", "desaturation in N2"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workspace", type=Path, required=True)
    ap.add_argument("--k", type=int, default=20)
    ap.add_argument("--out", type=Path, default=Path("bench/results/query_precision.json"))
    args = ap.parse_args()
    cohort = Cohort(args.workspace)
    rows = cohort.con.execute("SELECT epoch_id, stage, event_types FROM epochs").fetchall()
    out = []
    print(f"| query | precision@{args.k} | base rate | lift |\n|---|---:|---:|---:|")
    for q in QUERIES:
        terms = parse_query(q)

        def match(stage: str, events: list[str]) -> bool:
            return (not terms.stages or stage in terms.stages) and all(e in (events or []) for e in terms.events)

        base = sum(match(s, e) for _, s, e in rows) / len(rows)
        hits = cohort.search_text(q, k=args.k)
        prec = sum(match(h.stage, h.event_types) for h in hits) / len(hits)
        out.append({"query": q, "precision": prec, "base_rate": base})
        print(f"| {q} | {prec:.2f} | {base:.3f} | {prec / base if base else float('nan'):.1f}× |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"workspace": str(args.workspace), "k": args.k, "rows": out}, indent=2))


if __name__ == "__main__":
    main()
