"""Benchmark: per-epoch features + captions (5 tracks, canonical + paraphrases) for one night.

Run: ``python bench/bench_captions.py --hours 8 --paraphrases 1``. Prints a timing table.
Uses the night simulator in memory (no files). Not a timed test.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from sleeplm.encoder.captions import TRACKS, events_in_epochs, night_summary, render_night
from sleeplm.encoder.signals.night import night_metrics
from sleeplm.encoder.signals import features as T
from sleeplm.encoder.signals.features import compute_epoch_features, default_onsets_s
from sleeplm.encoder.io.records import MappedRecording, Recording


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hours", type=float, default=8.0)
    ap.add_argument("--paraphrases", type=int, default=1)
    ap.add_argument("--seed", type=int, default=3)
    a = ap.parse_args()
    from sleeplm.encoder.sim.night import simulate_night
    from sleeplm.encoder.sim.phenotypes import draw_subject

    rng = np.random.default_rng(a.seed)
    t0 = time.perf_counter()
    night = simulate_night(draw_subject(a.seed, rng), rng, duration_h=a.hours)
    t_sim = time.perf_counter() - t0
    ch = dict(night.canonical)
    m = MappedRecording(Recording(Path("sim.edf"), None, night.duration_s, list(ch.values())), ch, {}, {})
    ann = night.annotations()
    on = default_onsets_s(m, ann)
    rows: list[tuple[str, float]] = []
    for name, fn, args in (
        ("eeg C3+C4", T.eeg_features, [("EEG_C3", "c3"), ("EEG_C4", "c4")]),
        ("eog L+R", T.eog_features, [("EOG_L", "l"), ("EOG_R", "r")]),
        ("ecg (neurokit2)", T.cardiac_features, [("ECG",)]),
        ("resp ABD+THX+AF", T.respiration_features, [("ABD", "abd"), ("THX", "thx"), ("AF", "af")]),
        ("spo2", T.spo2_features, [("SPO2",)]),
        ("emg", T.emg_features, [("EMG_CHIN",)]),
        ("position", T.position_features, [("POS",)]),
    ):
        t0 = time.perf_counter()
        for arg in args:
            fn(ch.get(arg[0]), *arg[1:], on) if len(arg) > 1 else fn(ch.get(arg[0]), on)
        rows.append((name, time.perf_counter() - t0))
    t0 = time.perf_counter()
    df = compute_epoch_features(m, ann, on)
    t_feat = time.perf_counter() - t0
    t0 = time.perf_counter()
    evs = events_in_epochs(ann.events, on)
    n_caps = 0
    for tr in TRACKS:
        for v in range(a.paraphrases + 1):
            n_caps += len(render_night(df, evs, tr, None if v == 0 else a.seed, v))
    t_cap = time.perf_counter() - t0
    t0 = time.perf_counter()
    summary = night_summary(night_metrics(ann, df))
    t_night = time.perf_counter() - t0
    print(f"night: {a.hours:.1f} h, {len(on)} epochs (simulation {t_sim:.1f} s, not counted)")
    print(f"{'step':<28}{'seconds':>9}")
    for name, t in rows:
        print(f"  {name:<26}{t:>9.2f}")
    print(f"{'features (all)':<28}{t_feat:>9.2f}")
    print(f"{'captions (' + str(n_caps) + ')':<28}{t_cap:>9.2f}")
    print(f"{'night metrics + summary':<28}{t_night:>9.2f}")
    print(f"{'TOTAL features+captions':<28}{t_feat + t_cap + t_night:>9.2f}")
    print(summary)


if __name__ == "__main__":
    main()
