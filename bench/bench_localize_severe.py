"""Localization in severe sleep apnea: calibrated (event text vs no-event caption) vs within-night z vs rules.

Run: ``python bench/bench_localize_severe.py --seed 5151 --nights 4 --hours 2 --work /tmp/severe``.
Simulates ``--nights`` osa_severe nights (a seed used nowhere else), ingests them with the bundled
sleeplm-tiny and runs the evaluation harness's ``localization`` task, which reports per-epoch AUROC and
event F1 for the three methods. Prints the table; the harness writes its JSON and report under
``WORK/eval``. Not a timed test.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=5151)
    ap.add_argument("--nights", type=int, default=4)
    ap.add_argument("--hours", type=float, default=2.0)
    ap.add_argument("--work", type=Path, required=True, help="folder for the nights, the workspace and the report")
    a = ap.parse_args()
    from sleeplm.encoder.sim import draw_subject, simulate_night
    from sleeplm.encoder.sim.cohort import write_night
    from sleeplm.eval import run_eval
    from sleeplm.index.ingest import ingest

    nights = a.work / "nights"
    nights.mkdir(parents=True, exist_ok=True)
    for i, ss in enumerate(np.random.SeedSequence(a.seed).spawn(a.nights)):
        rng = np.random.default_rng(ss)
        write_night(simulate_night(draw_subject(i, rng, phenotype="osa_severe"), rng, duration_h=a.hours), nights)
    report = ingest(nights, a.work / "ws", progress=False)
    print(f"ingested {len(report.ingested)} nights, {report.epochs_added} epochs; failed {report.failed}")
    out = a.work / "eval"
    run_eval([a.work / "ws"], [None], ["localization"], out)
    for p in out.rglob("*.json"):
        table = json.loads(p.read_text()).get("tables", {}).get("event localization")
        for row in table or []:
            print({k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()})


if __name__ == "__main__":
    main()
