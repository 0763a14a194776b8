"""Scored events of a night: body position, respiratory events, desaturations, arousals, limb movements.

Events are drawn on top of the hypnogram: respiratory events only in sleep, more
often in REM and supine (obstructive) or in light NREM (central); every apnea or
hypopnea is followed by an SpO2 desaturation lagging ~20-30 s and, often, by an
arousal. Times are seconds from the recording start.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sleeplm.encoder.sim._util import EPOCH_S, SLEEP_STAGES
from sleeplm.encoder.sim.phenotypes import PhenotypeParams

RESPIRATORY_TYPES: tuple[str, ...] = ("obstructive_apnea", "central_apnea", "mixed_apnea", "hypopnea")


@dataclass
class ScoredEvent:
    """One simulated event (type from ``records.EVENT_TYPES``)."""

    type: str
    onset_s: float
    duration_s: float
    spo2_nadir: float | None = None  # desaturations: lowest SpO2 (%)
    spo2_baseline: float | None = None  # desaturations: SpO2 before the drop (%)
    cause: int = -1  # desaturations / arousals: index of the respiratory event that caused it

    @property
    def end_s(self) -> float:
        return self.onset_s + self.duration_s


def simulate_position(rng: np.random.Generator, n_epochs: int, params: PhenotypeParams) -> np.ndarray:
    """Body position per 30-s epoch, in SleepLM codes (0 right, 1 left, 2 supine, 3 prone).

    A few changes a night (Poisson, mean 4), never repeating the same position.
    """
    probs = np.array([1.0, 1.0, 0.0, 0.25])
    probs[2] = 2.0 * params.supine_preference / (1.0 - params.supine_preference + 1e-9)
    probs /= probs.sum()
    n_changes = int(rng.poisson(4.0)) + 1
    cuts = np.sort(rng.choice(np.arange(1, max(n_epochs, 2)), size=min(n_changes, max(n_epochs - 1, 1)),
                              replace=False))
    pos = np.empty(n_epochs, dtype=np.int8)
    cur = int(rng.choice(4, p=probs))
    prev = 0
    for c in list(cuts) + [n_epochs]:
        pos[prev:c] = cur
        p = probs.copy()
        p[cur] = 0.0
        cur = int(rng.choice(4, p=p / p.sum()))
        prev = c
    return pos


def _place_events(rng: np.random.Generator, weights: np.ndarray, n_target: int,
                  durations: np.ndarray, min_gap_s: float, busy: list[tuple[float, float]]) -> list[tuple[float, float, int]]:
    """Place up to ``n_target`` non-overlapping intervals in epochs drawn with probability ∝ weights."""
    if n_target <= 0 or weights.sum() <= 0:
        return []
    n_cand = 4 * n_target
    ep = rng.choice(len(weights), size=n_cand, p=weights / weights.sum())
    onset = (ep + rng.random(n_cand)) * EPOCH_S
    dur_idx = rng.integers(0, len(durations), n_cand)
    starts = np.array([b[0] for b in busy], dtype=float)
    ends = np.array([b[1] for b in busy], dtype=float)
    out: list[tuple[float, float, int]] = []
    for o, di in zip(onset, dur_idx):
        d = float(durations[di])
        ok = not np.any((starts < o + d + min_gap_s) & (ends + min_gap_s > o))
        if ok:
            out.append((float(o), d, int(di)))
            starts = np.append(starts, o)
            ends = np.append(ends, o + d)
            if len(out) >= n_target:
                break
    return out


def simulate_events(rng: np.random.Generator, stages: np.ndarray, position: np.ndarray,
                    params: PhenotypeParams) -> list[ScoredEvent]:
    """Respiratory events, desaturations, arousals and limb movements of one night.

    Parameters
    ----------
    stages : numpy.ndarray of str
        Hypnogram (one stage per 30-s epoch).
    position : numpy.ndarray of int
        SleepLM position code per epoch.
    params : PhenotypeParams

    Returns
    -------
    list of ScoredEvent
        Sorted by onset.
    """
    stages = np.asarray(stages).astype(str)
    n_ep = len(stages)
    sleep = np.isin(stages, SLEEP_STAGES)
    tst_h = sleep.sum() * EPOCH_S / 3600.0
    dur_s = n_ep * EPOCH_S
    supine = position == 2
    # Candidate epochs must be sleep and followed by sleep (events need room).
    ok = sleep & np.r_[sleep[1:], False]

    n_resp = int(rng.poisson(params.ahi * tst_h))
    frac = {"central_apnea": params.central_fraction, "mixed_apnea": params.mixed_fraction,
            "hypopnea": params.hypopnea_fraction}
    frac["obstructive_apnea"] = max(1.0 - sum(frac.values()), 0.0)
    kinds = rng.choice(RESPIRATORY_TYPES, size=n_resp, p=np.array([frac[k] for k in RESPIRATORY_TYPES])
                       / sum(frac.values()))
    stage_w_obs = {"N1": 1.0, "N2": 1.0, "N3": 0.35, "REM": 2.0}
    stage_w_cen = {"N1": 1.8, "N2": 1.0, "N3": 0.2, "REM": 0.3}
    events: list[ScoredEvent] = []
    busy: list[tuple[float, float]] = []
    for kind in RESPIRATORY_TYPES:
        n_k = int(np.sum(kinds == kind))
        if n_k == 0:
            continue
        table = stage_w_cen if kind == "central_apnea" else stage_w_obs
        w = np.array([table.get(s, 0.0) for s in stages]) * ok
        if kind != "central_apnea":
            w = w * np.where(supine, 2.5, 1.0)
        lo, hi = {"obstructive_apnea": (12, 45), "central_apnea": (10, 28), "mixed_apnea": (15, 45),
                  "hypopnea": (12, 40)}[kind]
        durs = np.clip(rng.lognormal(np.log(lo + 0.35 * (hi - lo)), 0.3, 64), 10.5, hi)
        for o, d, _ in _place_events(rng, w, n_k, durs, min_gap_s=12.0, busy=busy):
            events.append(ScoredEvent(kind, round(o, 1), round(d, 1)))
            busy.append((o, o + d))
    events.sort(key=lambda e: e.onset_s)

    # Desaturation after every respiratory event, and an arousal after many.
    out: list[ScoredEvent] = []
    base = params.spo2_baseline
    for i, e in enumerate(events):
        lag = rng.uniform(20.0, 30.0)
        depth = {"obstructive_apnea": 4.0, "mixed_apnea": 4.5, "central_apnea": 3.5, "hypopnea": 3.2}[e.type]
        depth = 3.0 + (depth - 3.0 + rng.exponential(1.0 + e.duration_s / 30.0)) * params.desat_depth_scale
        if stages[min(int(e.onset_s // EPOCH_S), n_ep - 1)] == "REM":
            depth += rng.exponential(1.0)
        depth = min(depth, 35.0)
        onset = e.onset_s + lag
        if onset + e.duration_s + 8.0 < dur_s:
            out.append(ScoredEvent("oxygen_desaturation", round(onset, 1), round(e.duration_s + 8.0, 1),
                                   spo2_nadir=round(base - depth, 1), spo2_baseline=round(base, 1), cause=i))
        if rng.random() < params.resp_arousal_prob:
            a_on = e.end_s + rng.uniform(-2.0, 3.0)
            out.append(ScoredEvent("arousal", round(a_on, 1), round(float(rng.uniform(3.0, 15.0)), 1), cause=i))
    events += out

    # Spontaneous arousals (N1/N2 favoured) and periodic limb movements.
    busy = [(e.onset_s, e.end_s) for e in events if e.type == "arousal"]
    stage_w = np.array([{"N1": 1.5, "N2": 1.2, "N3": 0.3, "REM": 0.8}.get(s, 0.0) for s in stages]) * ok
    for o, d, _ in _place_events(rng, stage_w, int(rng.poisson(params.arousal_index_spont * tst_h)),
                                 rng.uniform(3.0, 15.0, 64), min_gap_s=10.0, busy=busy):
        events.append(ScoredEvent("arousal", round(o, 1), round(d, 1)))
    n_plm = int(rng.poisson(params.plm_index * tst_h))
    w = np.array([{"N1": 1.5, "N2": 1.5, "N3": 0.3, "REM": 0.2}.get(s, 0.0) for s in stages]) * ok
    while n_plm > 0 and w.sum() > 0:
        start = (rng.choice(n_ep, p=w / w.sum()) + rng.random()) * EPOCH_S
        n_series = min(int(rng.integers(4, 16)), n_plm)
        onsets = start + np.cumsum(rng.uniform(20.0, 40.0, n_series))
        for o in onsets[onsets < dur_s - 10.0]:
            events.append(ScoredEvent("limb_movement", round(float(o), 1), round(float(rng.uniform(0.5, 5.0)), 1)))
            if rng.random() < 0.3:
                events.append(ScoredEvent("arousal", round(float(o) + 0.5, 1), round(float(rng.uniform(3.0, 8.0)), 1)))
        n_plm -= n_series
    events = [e for e in events if e.onset_s >= 0.0 and e.end_s <= dur_s]
    events.sort(key=lambda e: (e.onset_s, e.type))
    return events


def ahi(events: list[ScoredEvent], stages: np.ndarray) -> float:
    """Apnea-hypopnea index: respiratory events per hour of sleep."""
    tst_h = np.isin(np.asarray(stages).astype(str), SLEEP_STAGES).sum() * EPOCH_S / 3600.0
    n = sum(e.type in RESPIRATORY_TYPES for e in events)
    return n / tst_h if tst_h > 0 else 0.0
