"""EEG band-power calibration against real per-stage statistics (DREAMS).

:func:`eeg_calibration` simulates EEG for a few hypnograms and compares per-stage
relative band powers of the simulated C3-A2 (Welch, 4-s windows, relative to
0.5-30 Hz, the method of ``dreams-eeg-bandpower-by-stage.json``) with the real
means and SDs. :func:`suggest_gains` turns the comparison into updated
``CALIBRATION_GAIN`` values for :mod:`.eeg`.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from sleeplm.encoder.sim.eeg import BAND_NAMES, CALIBRATION_GAIN, TARGET_REL_POWER, relative_band_power, simulate_eeg
from sleeplm.encoder.sim.events import simulate_events, simulate_position
from sleeplm.encoder.sim.hypnogram import simulate_hypnogram
from sleeplm.encoder.sim.phenotypes import draw_subject
from sleeplm.encoder.vocab import SCORED_STAGES



def load_real_bandpower(path: Path) -> dict[str, dict[str, tuple[float, float]]]:
    """stage -> band -> (mean, sd) from ``dreams-eeg-bandpower-by-stage.json``."""
    d = json.loads(Path(path).read_text())
    return {s: {b: (v[b]["mean"], v[b]["sd"]) for b in BAND_NAMES} | {"n_epochs": v.get("n_epochs", 0)}
            for s, v in d["per_stage"].items()}


def simulated_bandpower(n_nights: int = 4, seed: int = 0, duration_h: float = 8.0,
                        fs_hz: float = 256.0) -> dict[str, dict[str, np.ndarray]]:
    """stage -> band -> per-epoch relative powers of simulated C3-A2, pooled over nights."""
    pooled: dict[str, dict[str, list[np.ndarray]]] = {s: {b: [] for b in BAND_NAMES} for s in SCORED_STAGES}
    for i, ss in enumerate(np.random.SeedSequence(seed).spawn(n_nights)):
        rng = np.random.default_rng(ss)
        sub = draw_subject(i, rng)
        n_ep = int(duration_h * 120)
        stages = simulate_hypnogram(rng, n_ep, sub.params)
        events = simulate_events(rng, stages, simulate_position(rng, n_ep, sub.params), sub.params)
        c3, _ = simulate_eeg(rng, stages, events, fs_hz, sub.params)
        rel = relative_band_power(c3, fs_hz, n_ep)
        for s in SCORED_STAGES:
            m = stages == s
            for b in BAND_NAMES:
                pooled[s][b].append(rel[b][m])
    return {s: {b: np.concatenate(v) for b, v in d.items()} for s, d in pooled.items()}


def eeg_calibration(real_json: Path, n_nights: int = 4, seed: int = 0,
                    duration_h: float = 8.0) -> list[dict[str, object]]:
    """One row per (stage, band): real mean, real sd, simulated mean/sd, z = (sim − real) / real sd."""
    real = load_real_bandpower(real_json)
    sim = simulated_bandpower(n_nights, seed, duration_h)
    rows = []
    for s in SCORED_STAGES:
        for b in BAND_NAMES:
            rm, rsd = real[s][b]
            x = sim[s][b]
            sm = float(np.mean(x)) if len(x) else float("nan")
            rows.append({"stage": s, "band": b, "real_mean": rm, "real_sd": rsd, "real_n": real[s]["n_epochs"],
                         "sim_mean": sm, "sim_sd": float(np.std(x)) if len(x) else float("nan"),
                         "sim_n": int(len(x)), "z": (sm - rm) / rsd if rsd > 0 else float("nan")})
    return rows


def suggest_gains(rows: list[dict[str, object]]) -> dict[str, tuple[float, ...]]:
    """Multiplicative update of ``CALIBRATION_GAIN`` (target / simulated, per stage and band)."""
    out = {}
    for s in SCORED_STAGES:
        r = {row["band"]: row for row in rows if row["stage"] == s}
        g = np.array(CALIBRATION_GAIN[s]) * np.array([TARGET_REL_POWER[s][i] / max(r[b]["sim_mean"], 1e-6)
                                                      for i, b in enumerate(BAND_NAMES)])
        out[s] = tuple(round(float(v), 3) for v in g / g[0])
    return out


def markdown_table(rows: list[dict[str, object]]) -> str:
    """Stage × band table: real mean ± sd vs simulated mean (± sd) and z."""
    lines = ["| stage | band | real mean ± sd (n) | simulated mean ± sd (n) | z |", "|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['stage']} | {r['band']} | {r['real_mean']:.3f} ± {r['real_sd']:.3f} ({r['real_n']}) | "
                     f"{r['sim_mean']:.3f} ± {r['sim_sd']:.3f} ({r['sim_n']}) | {r['z']:+.2f} |")
    return "\n".join(lines)


def hypnogram_comparison(real_paths: list[Path], n_per_phenotype: int = 8, duration_h: float = 8.0,
                         seed: int = 0) -> list[dict[str, object]]:
    """Stage %, transitions/h, latency, WASO and REM periods: real hypnograms vs simulated phenotypes."""
    from sleeplm.encoder.sim.hypnogram import hypnogram_summary, read_hypnogram_txt
    from sleeplm.encoder.sim.phenotypes import PHENOTYPES

    rows: list[dict[str, object]] = []
    for p in real_paths:
        h = read_hypnogram_txt(p)
        rows.append({"source": f"real: {Path(p).name} ({len(h) / 120:.1f} h)"} | hypnogram_summary(h))
    for k, ph in enumerate(PHENOTYPES):
        sums = []
        for ss in np.random.SeedSequence([seed, k]).spawn(n_per_phenotype):
            rng = np.random.default_rng(ss)
            sub = draw_subject(0, rng, phenotype=ph)
            sums.append(hypnogram_summary(simulate_hypnogram(rng, int(duration_h * 120), sub.params)))
        rows.append({"source": f"sim: {ph} (n={n_per_phenotype})"} | {key: float(np.mean([s[key] for s in sums]))
                                                                     for key in sums[0]})
    return rows


def hypnogram_markdown(rows: list[dict[str, object]]) -> str:
    keys = ("pct_W", "pct_N1", "pct_N2", "pct_N3", "pct_REM", "transitions_per_h", "latency_min", "waso_min",
            "n_rem_periods")
    lines = ["| hypnogram | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
    for r in rows:
        lines.append(f"| {r['source']} | " + " | ".join(f"{r[k]:.1f}" for k in keys) + " |")
    return "\n".join(lines)
