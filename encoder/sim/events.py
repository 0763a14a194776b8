"""Scored events of a night: body position, respiratory events, desaturations, arousals, limb movements.

Events are drawn on top of the hypnogram, and what follows an event is physiology, not a label:

* Respiratory events occur only in sleep: obstructive events and hypopneas twice as often in REM
  and 2.5 times as often supine (so position changes move the AHI); central apneas favour light
  NREM. Events that start in REM last ~30 % longer (REM events are longer and deeper in OSA).
* Each event lowers SpO2 by an amount that grows with its duration and its depth (the share of
  airflow lost), and is larger at a lower baseline SpO2 (the steep part of the oxyhaemoglobin
  dissociation curve), in REM (lower lung volume) and with the subject's ``desat_depth_scale``
  (obesity / severity). Only a fall of ≥ 3 % is scored as an ``oxygen_desaturation``, so most
  apneas but only some hypopneas desaturate and the ODI is below the AHI. Sub-threshold dips
  stay in the SpO2 signal (see :func:`..respiration.simulate_spo2`).
* AASM rule 1A: a hypopnea is scored only with a ≥ 3 % desaturation or an arousal, so a
  hypopnea without a desaturation always ends in an arousal; other events end in one with the
  subject's ``resp_arousal_prob``. Arousals start at the event end (−2 to +3 s).

Times are seconds from the recording start.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sleeplm.encoder.sim._util import EPOCH_S, SLEEP_STAGES
from sleeplm.encoder.sim.phenotypes import PhenotypeParams
from sleeplm.encoder.vocab import RESPIRATORY_EVENTS

#: The respiratory event types (the vocabulary's, in its order).
RESPIRATORY_TYPES: tuple[str, ...] = RESPIRATORY_EVENTS
#: A desaturation is scored when SpO2 falls by at least this much (AASM, %).
DESAT_THRESHOLD_PCT = 3.0
#: SpO2 fall per second of complete airflow cessation at a baseline of 96.5 % (%/s), before the
#: first 5 s (oxygen stores) and before the subject's ``desat_depth_scale``.
DESAT_RATE_PCT_PER_S = 0.2
#: Share of airflow left during each event type (uniform range): apneas ≥ 90 % reduction,
#: hypopneas 30-70 % (AASM).
FLOW_FRACTION: dict[str, tuple[float, float]] = {
    "obstructive_apnea": (0.0, 0.08), "central_apnea": (0.0, 0.05), "mixed_apnea": (0.0, 0.06),
    "hypopnea": (0.3, 0.65),
}
#: Event duration multiplier for events starting in REM.
REM_DURATION_FACTOR = 1.3


@dataclass
class ScoredEvent:
    """One simulated event (type from ``records.EVENT_TYPES``)."""

    type: str
    onset_s: float
    duration_s: float
    spo2_nadir: float | None = None  # desaturations: lowest SpO2 (%)
    spo2_baseline: float | None = None  # desaturations: SpO2 before the drop (%)
    cause: int = -1  # desaturations / arousals: index of the respiratory event that caused it
    flow_fraction: float | None = None  # respiratory: airflow left during the event (fraction of baseline)
    spo2_drop: float | None = None  # respiratory: SpO2 fall it causes (%), scored or not
    desat_lag_s: float | None = None  # respiratory: event onset -> start of the SpO2 fall (s)
    with_arousal: bool = False  # respiratory: an arousal follows its end

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
                  durations: np.ndarray, min_gap_s: float, busy: list[tuple[float, float]],
                  duration_scale: np.ndarray | None = None) -> list[tuple[float, float, int]]:
    """Place up to ``n_target`` non-overlapping intervals in epochs drawn with probability ∝ weights.

    ``duration_scale`` (one factor per epoch) multiplies the duration of an interval starting there.
    """
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
        d = float(durations[di]) * (1.0 if duration_scale is None else float(duration_scale[int(o // EPOCH_S)]))
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
    rem = stages == "REM"
    dur_scale = np.where(rem, REM_DURATION_FACTOR, 1.0)
    placed: list[tuple[str, float, float]] = []
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
        for o, d, _ in _place_events(rng, w, n_k, durs, min_gap_s=12.0, busy=busy, duration_scale=dur_scale):
            placed.append((kind, o, d))
            busy.append((o, o + d))
    placed.sort(key=lambda x: x[1])

    events: list[ScoredEvent] = []
    out: list[ScoredEvent] = []
    base = round(params.spo2_baseline, 1)
    odc_gain = float(np.clip(1.0 + 0.35 * (96.5 - base), 0.6, 2.5))
    for i, (kind, o, d) in enumerate(placed):
        in_rem = bool(rem[min(int(o // EPOCH_S), n_ep - 1)])
        flow = float(rng.uniform(*FLOW_FRACTION[kind]))
        drop = (DESAT_RATE_PCT_PER_S * max(d - 5.0, 0.0) * (1.0 - flow) * odc_gain * (1.3 if in_rem else 1.0)
                * params.desat_depth_scale * rng.lognormal(0.0, 0.45))
        drop = float(min(drop, 40.0))
        lag = float(rng.uniform(20.0, 30.0))
        desat = drop >= DESAT_THRESHOLD_PCT
        arousal = (kind == "hypopnea" and not desat) or rng.random() < params.resp_arousal_prob
        e = ScoredEvent(kind, round(o, 1), round(d, 1), flow_fraction=round(flow, 3), spo2_drop=round(drop, 2),
                        desat_lag_s=round(lag, 1), with_arousal=bool(arousal))
        events.append(e)
        onset = e.onset_s + lag
        if desat and onset + e.duration_s + 8.0 < dur_s:
            out.append(ScoredEvent("oxygen_desaturation", round(onset, 1), round(e.duration_s + 8.0, 1),
                                   spo2_nadir=float(np.floor(10.0 * (base - drop) + 1e-6) / 10.0),
                                   spo2_baseline=base, cause=i))
        if arousal:
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
