"""Agreement of the automatic scorers with the scoring of simulated nights, per phenotype.

Run: ``python bench/bench_autoscore.py --seed 4242 --per-phenotype 2 --hours 2 --out bench/results/autoscore-seed4242.json``.
Simulates nights (files on disk, read back as a user's would be: EDF+ and NSRR XML), then, ignoring the
XML's events, scores each night with :func:`sleeplm.encoder.signals.scoring.score_respiratory` (no
arousals given: an unscored night has none) and YASA staging, and compares with the XML:

* event F1 (an automatic event matches a scored one of the same group when they overlap; one-to-one,
  greedy by onset) for respiratory events (any type), apneas, hypopneas and desaturations;
* AHI: from the automatic events on the scored hypnogram (event detection alone) and on YASA's
  hypnogram (the whole automatic pipeline), absolute error against the scored AHI;
* staging: YASA's accuracy and Cohen's kappa against the scored stages.

A night without an airflow channel (or SpO2) cannot be scored for that kind: it is counted in
"no airflow" and left out of the F1 and AHI columns, not scored as "no events".

The development of the rules used seeds 11 and 12; report numbers from a seed never used (default
4242). Prints a table and writes the JSON given by ``--out``. Not a timed test.
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
from sleeplm.encoder.io.psg import load_psg
from sleeplm.encoder.io.records import Annotations, Event
from sleeplm.encoder.signals.night import night_metrics
from sleeplm.encoder.signals.scoring import score_respiratory, score_stages_yasa
from sleeplm.encoder.vocab import APNEAS

GROUPS = {"respiratory": set(APNEAS) | {"hypopnea"}, "apnea": set(APNEAS), "hypopnea": {"hypopnea"},
          "desaturation": {"oxygen_desaturation"}}


def match_f1(ref: list[Event], auto: list[Event], types: set[str]) -> tuple[int, int, int]:
    """(true positives, reference count, automatic count) for events of ``types``, overlap matching."""
    r = sorted((e for e in ref if e.type in types), key=lambda e: e.onset_s)
    a = sorted((e for e in auto if e.type in types), key=lambda e: e.onset_s)
    used = np.zeros(len(r), bool)
    tp = 0
    for e in a:
        for i, f in enumerate(r):
            if not used[i] and f.onset_s < e.end_s and e.onset_s < f.end_s:
                used[i] = True
                tp += 1
                break
    return tp, len(r), len(a)


def kappa(a: list[str], b: list[str]) -> float:
    labels = sorted(set(a) | set(b))
    idx = {s: i for i, s in enumerate(labels)}
    m = np.zeros((len(labels), len(labels)))
    for x, y in zip(a, b):
        m[idx[x], idx[y]] += 1
    n = m.sum()
    po = np.trace(m) / n
    pe = (m.sum(0) * m.sum(1)).sum() / n**2
    return float((po - pe) / (1 - pe)) if pe < 1 else float("nan")


def _f1(tp: int, nr: int, na: int) -> float:
    return 2 * tp / (nr + na) if nr + na else float("nan")


def score_night(path: Path) -> dict:
    psg = load_psg(path)
    ref = psg.annotations
    t0 = time.perf_counter()
    resp = score_respiratory(psg.mapped)
    t_rules = time.perf_counter() - t0
    row: dict = {"night": path.stem, "rules_s": round(t_rules, 2),
                 "resp_scorable": resp.scoring["respiratory"].scored,
                 "desat_scorable": resp.scoring["desaturation"].scored}
    for g, types in GROUPS.items():
        kind = "desaturation" if g == "desaturation" else "respiratory"
        if resp.scoring[kind].scored:  # a night without the channel is "not scored", not "no events"
            tp, nr, na = match_f1(ref.events, resp.events, types)
            row[f"{g}_tp"], row[f"{g}_ref"], row[f"{g}_auto"] = tp, nr, na
    row["ahi_ref"] = night_metrics(ref).ahi_per_h
    if resp.scoring["respiratory"].scored:
        row["ahi_auto_events"] = night_metrics(replace(ref, events=resp.events, scoring={})).ahi_per_h
    scored = [i for i, s in enumerate(ref.stages) if s != "UNKNOWN"]
    try:
        t0 = time.perf_counter()
        stages, _conf, _ = score_stages_yasa(psg.mapped, ref.stage_onset_s, len(ref.stages))
        row["yasa_s"] = round(time.perf_counter() - t0, 2)
        a = [ref.stages[i] for i in scored]
        b = [stages[i] for i in scored]
        row["stage_accuracy"] = float(np.mean([x == y for x, y in zip(a, b)]))
        row["stage_kappa"] = kappa(a, b)
        if resp.scoring["respiratory"].scored:
            full = Annotations("automatic", None, stages, ref.stage_onset_s, ref.epoch_s, resp.events)
            row["ahi_auto_all"] = night_metrics(full).ahi_per_h
    except ValueError as exc:
        row["stage_error"] = str(exc)
    return row


def summarise(df: pd.DataFrame) -> pd.DataFrame:
    out = []
    for ph, g in [("all", df), *df.groupby("phenotype")]:
        r = {"phenotype": ph, "nights": len(g), "no airflow": int((~g["resp_scorable"]).sum())}
        for grp in GROUPS:
            r[f"F1 {grp}"] = _f1(g[f"{grp}_tp"].sum(), g[f"{grp}_ref"].sum(), g[f"{grp}_auto"].sum()) \
                if f"{grp}_tp" in g else float("nan")
        r["AHI scored"] = g.loc[g["resp_scorable"], "ahi_ref"].mean()
        r["|AHI err| events"] = (g["ahi_auto_events"] - g["ahi_ref"]).abs().mean()
        if "ahi_auto_all" in g:
            r["|AHI err| all-auto"] = (g["ahi_auto_all"] - g["ahi_ref"]).abs().mean()
        if "stage_kappa" in g:
            r["stage acc"], r["stage kappa"] = g["stage_accuracy"].mean(), g["stage_kappa"].mean()
        out.append(r)
    return pd.DataFrame(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=4242, help="simulation seed (4242: never used in development)")
    ap.add_argument("--per-phenotype", type=int, default=2)
    ap.add_argument("--hours", type=float, default=2.0)
    ap.add_argument("--out", type=Path, default=None, help="JSON file for the results")
    a = ap.parse_args()
    from sleeplm.encoder.sim.cohort import simulate_cohort
    from sleeplm.encoder.sim.phenotypes import PHENOTYPES

    with tempfile.TemporaryDirectory() as tmp:
        n = a.per_phenotype * len(PHENOTYPES)
        t0 = time.perf_counter()
        paths = simulate_cohort(Path(tmp), n, a.seed, duration_h=a.hours, progress=False)
        t_sim = time.perf_counter() - t0
        subjects = pd.read_csv(Path(tmp) / "subjects.csv")
        rows = [score_night(p) for p in paths]
    df = pd.DataFrame(rows).merge(subjects[["recording", "phenotype"]], left_on="night", right_on="recording")
    table = summarise(df)
    pd.set_option("display.width", 200)
    print(f"seed {a.seed}: {n} nights x {a.hours:g} h (simulated in {t_sim:.0f} s)")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    if a.out is not None:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        clean = lambda v: None if isinstance(v, float) and not math.isfinite(v) else v
        a.out.write_text(json.dumps({
            "seed": a.seed, "nights": n, "hours": a.hours,
            "summary": [{k: clean(v) for k, v in r.items()} for r in table.to_dict("records")],
            "per_night": [{k: clean(v) for k, v in r.items()} for r in df.to_dict("records")],
        }, indent=1, default=str))


if __name__ == "__main__":
    main()
