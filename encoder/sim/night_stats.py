"""Per-night statistics computed the same way on real scorings and on simulated nights (for calibration).

A :class:`ScoredNight` holds what a night's scoring gives at 30-s resolution (the hypnogram, the
epoch and kind of each respiratory event and whether an arousal followed it) plus, when known,
the beat times of the ECG. :func:`night_statistics` turns it into a flat dict of named values;
the real MIT-BIH slpdb nights (:mod:`.slpdb`) and the simulated twins go through the same code.

Conventions (the slpdb scoring's, applied to both): a respiratory event counts in the epoch
where it starts; R&K stages 3 and 4 are N3 and movement time counts as wake; heart rate comes
from normal-to-normal intervals of 0.3-2.0 s.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from sleeplm.encoder.vocab import EPOCH_S, SCORED_STAGES, SLEEP_STAGES

#: Transitions reported besides the five "stay" probabilities (epoch to next epoch).
KEY_TRANSITIONS: tuple[tuple[str, str], ...] = (
    ("W", "N1"), ("N1", "N2"), ("N2", "N3"), ("N3", "N2"), ("N2", "REM"), ("N2", "W"), ("REM", "W"), ("REM", "N2"),
)
#: REM epochs closer than this (epochs) belong to one REM period (15 min).
REM_PERIOD_GAP_EPOCHS = 30


@dataclass
class ScoredNight:
    """One night's scoring at 30-s resolution, and its beats when known.

    Attributes
    ----------
    stages : numpy.ndarray of str
        One of ``W, N1, N2, N3, REM`` per epoch.
    event_epoch : numpy.ndarray of int
        Epoch in which each respiratory event starts.
    event_kind : numpy.ndarray of str
        ``obstructive`` (obstructive or mixed apnea), ``central`` or ``hypopnea``.
    event_arousal : numpy.ndarray of bool
        Whether the event was scored with an arousal.
    beat_s : numpy.ndarray, optional
        R-peak times (s from the start), normal beats only; empty when unknown.
    """

    name: str
    stages: np.ndarray
    event_epoch: np.ndarray
    event_kind: np.ndarray
    event_arousal: np.ndarray
    beat_s: np.ndarray = field(default_factory=lambda: np.empty(0))


def _runs(stages: np.ndarray) -> list[tuple[str, int, int]]:
    """(stage, start, length) of each run of equal stages."""
    change = np.flatnonzero(stages[1:] != stages[:-1]) + 1
    starts = np.r_[0, change]
    ends = np.r_[change, len(stages)]
    return [(str(stages[a]), int(a), int(b - a)) for a, b in zip(starts, ends)]


def hypnogram_statistics(stages: np.ndarray) -> dict[str, float]:
    """Stage shares (% of recording), latencies, bout lengths, transitions, REM-cycle timing."""
    st = np.asarray(stages).astype(str)
    n = len(st)
    out: dict[str, float] = {f"pct_{s}": 100.0 * float(np.mean(st == s)) for s in SCORED_STAGES}
    sleep_idx = np.flatnonzero(np.isin(st, SLEEP_STAGES))
    onset = int(sleep_idx[0]) if len(sleep_idx) else n
    # Latency only when the recording starts awake (a record cut mid-night has no latency).
    out["sleep_latency_min"] = onset * EPOCH_S / 60.0 if (n and st[0] == "W" and len(sleep_idx)) else np.nan
    rem_idx = np.flatnonzero(st == "REM")
    out["rem_latency_min"] = ((rem_idx[0] - onset) * EPOCH_S / 60.0
                              if (len(rem_idx) and np.isfinite(out["sleep_latency_min"])) else np.nan)
    period = st[onset:int(sleep_idx[-1]) + 1] if len(sleep_idx) else st[:0]
    out["waso_min"] = float(np.sum(period == "W")) * EPOCH_S / 60.0 if len(period) else np.nan
    runs = _runs(period) if len(period) else []
    for s in SCORED_STAGES:
        lengths = [ln for stage, _, ln in runs if stage == s]
        out[f"bout_{s}_min"] = float(np.mean(lengths)) * EPOCH_S / 60.0 if lengths else np.nan
    a, b = st[:-1], st[1:]
    for s in SCORED_STAGES:
        m = a == s
        out[f"p_{s}_{s}"] = float(np.mean(b[m] == s)) if m.any() else np.nan
    for s, t in KEY_TRANSITIONS:
        m = a == s
        out[f"p_{s}_{t}"] = float(np.mean(b[m] == t)) if m.any() else np.nan
    out["transitions_per_h"] = float(np.sum(a != b)) / (n * EPOCH_S / 3600.0) if n else np.nan
    # REM periods: REM epochs merged across gaps < 15 min; cycle = onset-to-onset interval.
    if len(rem_idx):
        new = np.r_[True, np.diff(rem_idx) > REM_PERIOD_GAP_EPOCHS]
        starts = rem_idx[new]
        sp_h = len(period) * EPOCH_S / 3600.0
        out["rem_periods_per_h"] = len(starts) / sp_h if sp_h > 0 else np.nan
        out["rem_cycle_min"] = float(np.mean(np.diff(starts))) * EPOCH_S / 60.0 if len(starts) > 1 else np.nan
    else:
        out["rem_periods_per_h"] = 0.0
        out["rem_cycle_min"] = np.nan
    return out


def event_statistics(night: ScoredNight) -> dict[str, float]:
    """Event rates per hour of sleep (all, NREM, REM), by half of the night, mix and share with arousal."""
    st = np.asarray(night.stages).astype(str)
    ep = np.asarray(night.event_epoch, dtype=int)
    kind = np.asarray(night.event_kind).astype(str)
    ep_stage = st[np.clip(ep, 0, len(st) - 1)] if len(ep) else np.array([], dtype=str)
    hours = {g: float(np.sum(np.isin(st, ss))) * EPOCH_S / 3600.0
             for g, ss in (("sleep", SLEEP_STAGES), ("nrem", ("N1", "N2", "N3")), ("rem", ("REM",)))}
    n = len(ep)
    out: dict[str, float] = {}
    out["ahi_per_h"] = n / hours["sleep"] if hours["sleep"] > 0 else np.nan
    out["ahi_nrem_per_h"] = float(np.isin(ep_stage, ("N1", "N2", "N3")).sum()) / hours["nrem"] if hours["nrem"] > 0 else np.nan
    # REM rates need enough REM to mean anything (≥ 10 min).
    out["ahi_rem_per_h"] = float(np.sum(ep_stage == "REM")) / hours["rem"] if hours["rem"] >= 1 / 6 else np.nan
    out["rem_nrem_ratio"] = (out["ahi_rem_per_h"] / out["ahi_nrem_per_h"]
                             if np.isfinite(out["ahi_rem_per_h"]) and out["ahi_nrem_per_h"] > 0 else np.nan)
    sleep_ep = np.flatnonzero(np.isin(st, SLEEP_STAGES))
    if len(sleep_ep) >= 120 and n:  # ≥ 1 h of sleep: second half vs first half of the sleep epochs
        mid = sleep_ep[len(sleep_ep) // 2]
        first, second = np.sum(ep < mid), np.sum(ep >= mid)
        out["second_half_share"] = float(second / (first + second))
    else:
        out["second_half_share"] = np.nan
    for k in ("obstructive", "central", "hypopnea"):
        out[f"share_{k}"] = float(np.mean(kind == k)) if n else np.nan
    out["share_with_arousal"] = float(np.mean(night.event_arousal)) if n else np.nan
    return out


def heart_statistics(night: ScoredNight) -> dict[str, float]:
    """Mean heart rate (bpm) and RMSSD (ms) per stage, and the within-epoch HR swing with vs without events."""
    b = np.asarray(night.beat_s, dtype=float)
    out: dict[str, float] = {}
    keys = [f"hr_{s}_bpm" for s in SCORED_STAGES] + [f"rmssd_{s}_ms" for s in SCORED_STAGES] + [
        "hr_swing_event_bpm", "hr_swing_quiet_bpm"]
    if len(b) < 100:
        return {k: np.nan for k in keys}
    rr = np.diff(b)
    t = b[1:]
    ok = (rr > 0.3) & (rr < 2.0)
    ok[1:] &= np.abs(np.diff(rr)) < 0.3  # drop ectopic-looking jumps
    rr, t = rr[ok], t[ok]
    st = np.asarray(night.stages).astype(str)
    ep = (t // EPOCH_S).astype(int)
    keep = ep < len(st)
    rr, t, ep = rr[keep], t[keep], ep[keep]
    hr = 60.0 / rr
    for s in SCORED_STAGES:
        m = st[ep] == s
        out[f"hr_{s}_bpm"] = float(np.mean(hr[m])) if m.sum() > 50 else np.nan
        # RMSSD per epoch (successive beats of one epoch), then the median over the stage's epochs.
        vals = []
        for e in np.unique(ep[m]):
            r = rr[ep == e]
            if len(r) > 10:
                vals.append(np.sqrt(np.mean(np.diff(r) ** 2)) * 1000.0)
        out[f"rmssd_{s}_ms"] = float(np.median(vals)) if len(vals) >= 5 else np.nan
    # Cyclic variation of heart rate: range of beat-to-beat HR within an epoch (NREM sleep),
    # epochs holding a respiratory event vs epochs with none nearby.
    ev_ep = set(np.asarray(night.event_epoch, dtype=int).tolist())
    near = ev_ep | {e + 1 for e in ev_ep} | {e - 1 for e in ev_ep}
    swing_ev, swing_q = [], []
    order = np.argsort(ep, kind="stable")
    ep_sorted, hr_sorted = ep[order], hr[order]
    bounds = np.searchsorted(ep_sorted, np.arange(len(st) + 1))
    for e in range(len(st)):
        if st[e] not in ("N1", "N2", "N3"):
            continue
        h = hr_sorted[bounds[e]:bounds[e + 1]]
        if len(h) < 15:
            continue
        if e in ev_ep:
            swing_ev.append(np.ptp(h))
        elif e not in near:
            swing_q.append(np.ptp(h))
    out["hr_swing_event_bpm"] = float(np.median(swing_ev)) if len(swing_ev) >= 10 else np.nan
    out["hr_swing_quiet_bpm"] = float(np.median(swing_q)) if len(swing_q) >= 10 else np.nan
    return out


def night_statistics(night: ScoredNight) -> dict[str, float]:
    """Every statistic of one night (hypnogram, events, heart)."""
    return hypnogram_statistics(night.stages) | event_statistics(night) | heart_statistics(night)
