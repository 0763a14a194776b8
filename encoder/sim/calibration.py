"""EEG band-power calibration against real per-stage statistics (DREAMS).

:func:`eeg_calibration` simulates EEG for a few hypnograms and compares per-stage
relative band powers of the simulated C3-A2 (Welch, 4-s windows, relative to
0.5-30 Hz, the method of ``dreams-eeg-bandpower-by-stage.json``) with the real
means and SDs. :func:`suggest_gains` turns the comparison into updated
``CALIBRATION_GAIN`` values for :mod:`.eeg`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sleeplm.encoder.sim.eeg import (
    BAND_NAMES,
    CALIBRATION_GAIN,
    CALIBRATION_GAIN_WAKE_ARTIFACTS,
    TARGET_REL_POWER,
    relative_band_power,
    simulate_eeg,
)
from sleeplm.encoder.sim.events import simulate_events, simulate_position
from sleeplm.encoder.sim.hypnogram import simulate_hypnogram
from sleeplm.encoder.sim.night_stats import KEY_TRANSITIONS, ScoredNight
from sleeplm.encoder.sim.phenotypes import draw_subject
from sleeplm.encoder.vocab import EPOCH_S, SCORED_STAGES


def load_real_bandpower(path: Path) -> dict[str, dict[str, tuple[float, float]]]:
    """stage -> band -> (mean, sd) from ``dreams-eeg-bandpower-by-stage.json``."""
    d = json.loads(Path(path).read_text())
    return {s: {b: (v[b]["mean"], v[b]["sd"]) for b in BAND_NAMES} | {"n_epochs": v.get("n_epochs", 0)}
            for s, v in d["per_stage"].items()}


def simulated_bandpower(n_nights: int = 4, seed: int = 0, duration_h: float = 8.0,
                        fs_hz: float = 256.0, wake_artifacts: bool = False) -> dict[str, dict[str, np.ndarray]]:
    """stage -> band -> per-epoch relative powers of simulated C3-A2, pooled over nights."""
    pooled: dict[str, dict[str, list[np.ndarray]]] = {s: {b: [] for b in BAND_NAMES} for s in SCORED_STAGES}
    for i, ss in enumerate(np.random.SeedSequence(seed).spawn(n_nights)):
        rng = np.random.default_rng(ss)
        sub = draw_subject(i, rng)
        n_ep = int(duration_h * 120)
        stages = simulate_hypnogram(rng, n_ep, sub.params)
        events = simulate_events(rng, stages, simulate_position(rng, n_ep, sub.params), sub.params)
        c3, _ = simulate_eeg(rng, stages, events, fs_hz, sub.params, wake_artifacts=wake_artifacts)
        rel = relative_band_power(c3, fs_hz, n_ep)
        for s in SCORED_STAGES:
            m = stages == s
            for b in BAND_NAMES:
                pooled[s][b].append(rel[b][m])
    return {s: {b: np.concatenate(v) for b, v in d.items()} for s, d in pooled.items()}


def eeg_calibration(real_json: Path, n_nights: int = 4, seed: int = 0,
                    duration_h: float = 8.0, wake_artifacts: bool = False) -> list[dict[str, object]]:
    """One row per (stage, band): real mean, real sd, simulated mean/sd, z = (sim − real) / real sd."""
    real = load_real_bandpower(real_json)
    sim = simulated_bandpower(n_nights, seed, duration_h, wake_artifacts=wake_artifacts)
    rows = []
    for s in SCORED_STAGES:
        for b in BAND_NAMES:
            rm, rsd = real[s][b]
            x = sim[s][b]
            sm = float(np.mean(x)) if len(x) else float("nan")
            rows.append({"stage": s, "band": b, "real_mean": rm, "real_sd": rsd, "real_n": real[s]["n_epochs"],
                         "sim_mean": sm, "sim_sd": float(np.std(x)) if len(x) else float("nan"),
                         "sim_n": len(x), "z": (sm - rm) / rsd if rsd > 0 else float("nan")})
    return rows


def suggest_gains(rows: list[dict[str, object]], wake_artifacts: bool = False) -> dict[str, tuple[float, ...]]:
    """Multiplicative update of ``CALIBRATION_GAIN`` (target / simulated, per stage and band); with
    ``wake_artifacts``, of the gains that setting uses (:data:`~sleeplm.encoder.sim.eeg.CALIBRATION_GAIN_WAKE_ARTIFACTS`)."""
    gains = {**CALIBRATION_GAIN, **(CALIBRATION_GAIN_WAKE_ARTIFACTS if wake_artifacts else {})}
    out = {}
    for s in SCORED_STAGES:
        r = {row["band"]: row for row in rows if row["stage"] == s}
        g = np.array(gains[s]) * np.array([TARGET_REL_POWER[s][i] / max(r[b]["sim_mean"], 1e-6)
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


# --- whole-night statistics: real scorings beside simulated twins ------------------------------------------

#: Phenotype of the simulated twin of a real night, by the real night's AHI (events/h of sleep).
def twin_phenotype(ahi_per_h: float) -> str:
    """The simulator phenotype whose AHI band holds a real night's AHI (AASM severity classes)."""
    if not np.isfinite(ahi_per_h) or ahi_per_h < 5:
        return "healthy_older"
    if ahi_per_h < 15:
        return "osa_mild"
    return "osa_moderate" if ahi_per_h < 30 else "osa_severe"


_KIND = {"obstructive_apnea": "obstructive", "mixed_apnea": "obstructive", "central_apnea": "central",
         "hypopnea": "hypopnea"}


def simulated_scored_night(rng: np.random.Generator, phenotype: str, n_epochs: int, name: str = "sim",
                           start_awake: bool = True) -> ScoredNight:
    """A simulated night reduced to what a scoring holds (stages, events per epoch, beats).

    Runs the simulator's label, breathing and heart-rate generators (not the EEG/EOG/EMG/ECG
    waveforms). ``start_awake`` False cuts ``n_epochs`` out of a longer night at a random offset,
    like a record that begins after lights-out.
    """
    from sleeplm.encoder.sim.cardio import beat_times, heart_rate
    from sleeplm.encoder.sim.night import simulate_night_labels
    from sleeplm.encoder.sim.respiration import simulate_breathing

    sub = draw_subject(0, rng, phenotype=phenotype)
    total = n_epochs if start_awake else max(n_epochs, 840)
    lab = simulate_night_labels(sub, rng, total / 120.0)
    br = simulate_breathing(rng, lab.stages, lab.events, 8.0, sub.params)
    hr = heart_rate(rng, lab.stages, lab.events, br["phase_rad"], 8.0, sub.params)
    beats = beat_times(hr, rng.random(), rng)
    first = 0 if start_awake else int(rng.integers(0, total - n_epochs + 1))
    resp = [e for e in lab.events if e.type in _KIND]
    ep = np.array([int(e.onset_s // EPOCH_S) for e in resp], dtype=int) - first
    keep = (ep >= 0) & (ep < n_epochs)
    t0 = first * EPOCH_S
    b = beats[(beats >= t0) & (beats < t0 + n_epochs * EPOCH_S)] - t0
    return ScoredNight(name, lab.stages[first:first + n_epochs], ep[keep],
                       np.array([_KIND[e.type] for e in resp], dtype="<U12")[keep],
                       np.array([e.with_arousal for e in resp], dtype=bool)[keep], b)


@dataclass
class CalibrationRow:
    """One statistic: the real values' summary and spread, the simulated value, and the verdict."""

    section: str
    statistic: str
    real: float
    real_lo: float
    real_hi: float
    sim: float
    sim_lo: float
    sim_hi: float
    n_real: int
    n_sim: int
    rule: str  # "sim in real P10-P90" or "real in sim P10-P90"

    @property
    def within(self) -> bool | None:
        if not (np.isfinite(self.real) and np.isfinite(self.sim)):
            return None
        if self.rule.startswith("sim"):
            return bool(self.real_lo <= self.sim <= self.real_hi)
        return bool(self.sim_lo <= self.real <= self.sim_hi)


def _summary(values: list[float]) -> tuple[float, float, float, int]:
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if not len(v):
        return np.nan, np.nan, np.nan, 0
    lo, med, hi = np.percentile(v, [10, 50, 90])
    return float(med), float(lo), float(hi), len(v)


def compare_statistics(section: str, real: list[dict[str, float]], sim: list[dict[str, float]],
                       keys: list[str], rule: str) -> list[CalibrationRow]:
    """One row per key: medians and P10-P90 of the per-night values, real and simulated."""
    rows = []
    for k in keys:
        rm, rlo, rhi, rn = _summary([r.get(k, np.nan) for r in real])
        sm, slo, shi, sn = _summary([s.get(k, np.nan) for s in sim])
        rows.append(CalibrationRow(section, k, rm, rlo, rhi, sm, slo, shi, rn, sn, rule))
    return rows


def slpdb_comparison(folder: Path, seeds: int = 2, seed: int = 0) -> tuple[list[CalibrationRow], list[dict]]:
    """slpdb's 18 nights beside simulated twins (same length, phenotype by the real AHI, ``seeds`` each).

    Returns the rows and, per real record, its name, AHI and the twin phenotype.
    """
    from sleeplm.encoder.sim.night_stats import night_statistics
    from sleeplm.encoder.sim.slpdb import read_folder

    records = read_folder(folder)
    real, sim, pairs = [], [], []
    for i, rec in enumerate(records):
        st = night_statistics(rec.night)
        real.append(st)
        ph = twin_phenotype(st["ahi_per_h"])
        pairs.append({"record": rec.night.name, "hours": round(rec.duration_h, 2), "ahi": round(st["ahi_per_h"], 1),
                      "twin": ph})
        for j, ss in enumerate(np.random.SeedSequence([seed, i]).spawn(seeds)):
            sim.append(night_statistics(simulated_scored_night(
                np.random.default_rng(ss), ph, len(rec.night.stages), f"twin-{rec.night.name}-{j}",
                start_awake=bool(rec.night.stages[0] == "W"))))
    return [r for section, keys in SLPDB_SECTIONS for r in
            compare_statistics(section, real, sim, keys, "sim in real P10-P90")], pairs


SLPDB_SECTIONS: tuple[tuple[str, list[str]], ...] = (
    ("stage proportions (% of recording)", [f"pct_{s}" for s in SCORED_STAGES]),
    ("latencies (min)", ["sleep_latency_min", "rem_latency_min", "waso_min"]),
    ("bout lengths (mean, min)", [f"bout_{s}_min" for s in SCORED_STAGES]),
    ("stage transitions (probability per 30-s epoch)",
     [f"p_{s}_{s}" for s in SCORED_STAGES] + [f"p_{a}_{b}" for a, b in KEY_TRANSITIONS] + ["transitions_per_h"]),
    ("cycle timing", ["rem_periods_per_h", "rem_cycle_min"]),
    ("respiratory events", ["ahi_per_h", "ahi_nrem_per_h", "ahi_rem_per_h", "rem_nrem_ratio", "second_half_share",
                            "share_obstructive", "share_central", "share_hypopnea", "share_with_arousal"]),
    ("heart rate and variability", [f"hr_{s}_bpm" for s in SCORED_STAGES] + [f"rmssd_{s}_ms" for s in SCORED_STAGES]
     + ["hr_swing_event_bpm", "hr_swing_quiet_bpm"]),
)


def healthy_night_comparison(path: Path, n_nights: int = 20, seed: int = 0) -> list[CalibrationRow]:
    """The real 6-h YASA night (a healthy sleeper) against ``n_nights`` simulated healthy_young nights."""
    from sleeplm.encoder.sim.hypnogram import read_hypnogram_txt
    from sleeplm.encoder.sim.night_stats import hypnogram_statistics

    h = read_hypnogram_txt(path)
    real = [hypnogram_statistics(h)]
    sim = []
    for ss in np.random.SeedSequence([seed, 77]).spawn(n_nights):
        rng = np.random.default_rng(ss)
        sub = draw_subject(0, rng, phenotype="healthy_young")
        sim.append(hypnogram_statistics(simulate_hypnogram(rng, len(h), sub.params)))
    keys = [k for _, ks in SLPDB_SECTIONS[:5] for k in ks]
    return compare_statistics("healthy night (YASA)", real, sim, keys, "real in sim P10-P90")


# --- non-EEG channels: the real Nox A1 recording beside simulated wake epochs ------------------------------

def _bandpass(x: np.ndarray, fs_hz: float, lo: float, hi: float) -> np.ndarray:
    from scipy import signal as ssig

    hi = min(hi, 0.45 * fs_hz)
    return ssig.sosfiltfilt(ssig.butter(2, [lo, hi], "bandpass", fs=fs_hz, output="sos"), x)


def _peak_rate_per_min(x: np.ndarray, fs_hz: float) -> float:
    """Dominant breathing frequency in 0.1-0.7 Hz, per minute (Welch, 16-s windows)."""
    from scipy import signal as ssig

    f, p = ssig.welch(x - np.mean(x), fs_hz, nperseg=min(len(x), int(16 * fs_hz)))
    m = (f >= 0.1) & (f <= 0.7)
    return float(f[m][np.argmax(p[m])] * 60.0)


def _rel_power(x: np.ndarray, fs_hz: float, band: tuple[float, float], total: tuple[float, float]) -> float:
    from scipy import signal as ssig

    f, p = ssig.welch(x - np.mean(x), fs_hz, nperseg=min(len(x), int(8 * fs_hz)))
    t = p[(f >= total[0]) & (f < min(total[1], fs_hz / 2))].sum()
    return float(p[(f >= band[0]) & (f < band[1])].sum() / t) if t > 0 else np.nan


#: (statistic, kind of channel, function of (30-s window, fs_hz)) for the non-EEG channels.
NOX_STATISTICS: tuple[tuple[str, str, object], ...] = (
    ("nasal pressure RMS (cmH2O)", "pressure", lambda x, fs: float(np.std(x))),
    ("nasal pressure breathing rate (/min)", "pressure", _peak_rate_per_min),
    ("abdomen belt breathing rate (/min)", "abdomen", _peak_rate_per_min),
    ("thorax belt breathing rate (/min)", "thorax", _peak_rate_per_min),
    ("abdomen belt power share 0.1-0.5 Hz of 0.05-5 Hz", "abdomen",
     lambda x, fs: _rel_power(x, fs, (0.1, 0.5), (0.05, 5.0))),
    ("ECG R-peak amplitude (mV)", "ecg",
     lambda x, fs: float(np.percentile(_bandpass(x, fs, 0.5, 40.0), 99.5) - np.median(_bandpass(x, fs, 0.5, 40.0)))),
    ("ECG power share 5-20 Hz of 0.5-40 Hz", "ecg", lambda x, fs: _rel_power(x, fs, (5.0, 20.0), (0.5, 40.0))),
    ("chin EMG RMS 10-90 Hz (µV)", "chin", lambda x, fs: float(np.std(_bandpass(x, fs, 10.0, 90.0)))),
    ("EOG E1-M2 RMS 0.3-10 Hz (µV)", "eog", lambda x, fs: float(np.std(_bandpass(x, fs, 0.3, 10.0)))),
    ("EOG power share < 2 Hz of 0.3-30 Hz", "eog", lambda x, fs: _rel_power(x, fs, (0.3, 2.0), (0.3, 30.0))),
    ("SpO2 mean (%)", "spo2", lambda x, fs: float(np.mean(x))),
)
#: Real Nox labels (and scale to the simulator's units) per channel kind.
NOX_LABELS: dict[str, tuple[str, float]] = {
    "pressure": ("Nasal Pressure", 1.0), "abdomen": ("Abdomen", 1.0), "thorax": ("Chest", 1.0),
    "ecg": ("ECG", 1e3), "chin": ("1-2", 1e6), "eog": ("E1-M2", 1e6), "spo2": ("Saturation", 1.0),
}
#: Simulated (aasm site) file labels per channel kind.
SIM_LABELS: dict[str, str] = {"pressure": "NasalP", "abdomen": "Abdo", "thorax": "Thor", "ecg": "ECG II",
                              "chin": "Chin1-Chin2", "eog": "E1-M2", "spo2": "SpO2"}


def _window_stats(signals: dict[str, tuple[np.ndarray, float]], starts_s: list[float]) -> list[dict[str, float]]:
    out = []
    for t0 in starts_s:
        row = {}
        for name, kind, fn in NOX_STATISTICS:
            if kind not in signals:
                continue
            x, fs = signals[kind]
            seg = x[int(t0 * fs):int((t0 + EPOCH_S) * fs)]
            row[name] = fn(seg, fs) if len(seg) >= int(EPOCH_S * fs) else np.nan
        out.append(row)
    return out


def nox_comparison(path: Path, n_nights: int = 8, seed: int = 0) -> list[CalibrationRow]:
    """Amplitude and spectra of the real Nox file's non-EEG channels (four 30-s windows) against the
    wake epochs of ``n_nights`` simulated 45-min nights at the ``aasm`` site (file units)."""
    from sleeplm.encoder.io.edf import read_recording
    from sleeplm.encoder.sim.night import simulate_night

    rec = read_recording(path)
    by_label = {s.label: s for s in rec.signals}
    real_sig = {k: (np.asarray(by_label[lab].data, float) * scale, float(by_label[lab].fs_hz))
                for k, (lab, scale) in NOX_LABELS.items() if lab in by_label}
    real = _window_stats(real_sig, [i * EPOCH_S for i in range(int(rec.duration_s // EPOCH_S))])
    sim: list[dict[str, float]] = []
    for i, ss in enumerate(np.random.SeedSequence([seed, 5]).spawn(n_nights)):
        rng = np.random.default_rng(ss)
        night = simulate_night(draw_subject(i, rng, site="aasm"), rng, 0.75)
        labels = {s.label: s for s in night.signals}
        sig = {k: (np.asarray(labels[lab].data, float), float(labels[lab].fs_hz))
               for k, lab in SIM_LABELS.items() if lab in labels}
        wake = [e * EPOCH_S for e in np.flatnonzero(night.stages == "W")]
        sim += _window_stats(sig, wake)
    return compare_statistics("non-EEG channels (Nox A1, awake)", real, sim, [n for n, _, _ in NOX_STATISTICS],
                              "real in sim P10-P90")
