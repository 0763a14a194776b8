"""Night- and segment-level metrics (AASM conventions); their text lives in captions/night.py.

Conventions (AASM Scoring Manual terms):

- Scored epochs are those with a stage other than ``UNKNOWN``; time in bed (TIB, "TRT") runs
  from the first to the last scored epoch (lights off/on are not in the files).
- Sleep onset: the first epoch of N1, N2, N3 or REM. Sleep latency: lights off -> sleep onset.
  REM latency: sleep onset -> first REM epoch. WASO = TIB - sleep latency - TST.
- Indices are events per hour of TST; an event counts when its onset lies in a sleep epoch.
  AHI counts all apneas and hypopneas; OAI obstructive + mixed apneas; CAI central apneas;
  ODI desaturation events; arousal index arousals; limb movement index limb movements. The apnea index
  (AI: apneas of every kind per hour of TST) is derived from the stored apnea count (:func:`apnea_index_per_h`).
- Sleep period: sleep onset -> the last sleep epoch. Awakenings: bouts of W (>= 1 epoch) inside the sleep
  period, and those lasting at least 1 min (>= 2 epochs of 30 s; some scoring traditions count only these);
  stage shifts: changes of stage between consecutive scored epochs inside it (W included; unscored epochs
  skipped). The awakening and stage-shift indices are those counts per hour of TST.
- T90: minutes of sleep with SpO2 below 90 % (``spo2_below90_s`` of the sleep epochs); CT90: T90 as a percent of
  the sleep time with a valid SpO2 reading; both NaN when fewer than half of the sleep epochs have one. REM / NREM AHI: respiratory events starting in REM
  (N1-N3) epochs per hour of REM (NREM) sleep.
- Position shares are % of TST by the epoch's position; supine AHI is events in supine sleep
  per hour of supine sleep.
- A kind of annotation that was not scored (``Annotations.status(kind)``) gives NaN / None for every
  metric built on it (:data:`KIND_METRICS`): an unscored night has no AHI, never an AHI of 0.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from sleeplm.encoder.io.records import Annotations, Event
from sleeplm.encoder.vocab import APNEAS, EPOCH_S, SLEEP_STAGES
from sleeplm.encoder.vocab import SCORED_STAGES



@dataclass
class NightMetrics:
    """Whole-night metrics (NaN where the night lacks what a metric needs)."""

    n_epochs: int
    n_scored_epochs: int
    tib_min: float
    tst_min: float
    sleep_efficiency_pct: float
    sleep_latency_min: float
    rem_latency_min: float
    waso_min: float
    n1_pct: float  # of TST
    n2_pct: float
    n3_pct: float
    rem_pct: float
    n_awakenings: int | None  # None without sleep
    n_awakenings_1min: int | None  # awakenings lasting at least 1 min; None without sleep
    awakening_index_per_h: float  # awakenings per hour of TST
    n_stage_shifts: int | None  # None without sleep
    stage_shift_index_per_h: float  # stage shifts per hour of TST
    ahi_per_h: float
    ahi_rem_per_h: float  # NaN without REM sleep
    ahi_nrem_per_h: float
    oai_per_h: float
    cai_per_h: float
    hypopnea_index_per_h: float
    odi_per_h: float
    arousal_index_per_h: float
    limb_movement_index_per_h: float
    n_apneas: int | None  # None when the kind was not scored
    n_hypopneas: int | None  # None when the kind was not scored
    n_desaturations: int | None  # None when the kind was not scored
    n_arousals: int | None  # None when the kind was not scored
    supine_pct: float  # of TST
    left_pct: float
    right_pct: float
    prone_pct: float
    upright_pct: float
    supine_ahi_per_h: float
    non_supine_ahi_per_h: float
    hr_w_bpm: float
    hr_n1_bpm: float
    hr_n2_bpm: float
    hr_n3_bpm: float
    hr_rem_bpm: float
    spo2_mean_pct: float  # over sleep epochs
    spo2_min_pct: float
    t90_min: float  # minutes of sleep with SpO2 < 90 %
    ct90_pct: float  # T90 as a share of the sleep time with a valid SpO2 reading (CT90)

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


#: The metrics each kind of annotation supports (NaN / None when that kind was not scored).
KIND_METRICS: dict[str, tuple[str, ...]] = {
    "respiratory": ("ahi_per_h", "ahi_rem_per_h", "ahi_nrem_per_h", "oai_per_h", "cai_per_h", "hypopnea_index_per_h", "n_apneas", "n_hypopneas",
                    "supine_ahi_per_h", "non_supine_ahi_per_h"),
    "desaturation": ("odi_per_h", "n_desaturations"),
    "arousal": ("arousal_index_per_h", "n_arousals"),
    "limb_movement": ("limb_movement_index_per_h",),
}


def _per_h(count: float, minutes: float) -> float:
    return float(count) / (minutes / 60.0) if minutes > 0 else math.nan


def apnea_index_per_h(n_apneas: pd.Series, tst_min: pd.Series) -> pd.Series:
    """The apnea index (AASM AI): obstructive, central and mixed apneas per hour of TST, from the nights' stored
    apnea counts (``n_apneas``: NaN where respiratory events were not scored) and total sleep times.

    Vectorised over nights; NaN where either is missing or the night has no sleep (no rate of zero hours).
    """
    n = pd.to_numeric(n_apneas, errors="coerce").astype(float)
    hours = pd.to_numeric(tst_min, errors="coerce").astype(float) / 60.0
    return (n / hours).where(hours > 0)


def supine_ratio(supine_ahi: pd.Series, non_supine_ahi: pd.Series) -> pd.Series:
    """The supine AHI over the non-supine AHI, per night (the positional rule, Cartwright 1984: a ratio of 2 or more).

    Vectorised over nights; NaN where either index is unknown (no sleep in that position, no position channel);
    ``inf`` where only the supine position has events; 1 where neither has any (no difference between them).
    """
    sup = pd.to_numeric(supine_ahi, errors="coerce").astype(float)
    non = pd.to_numeric(non_supine_ahi, errors="coerce").astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = sup / non
    ratio[(sup == 0) & (non == 0)] = 1.0
    return ratio


def _mean(x: pd.Series | np.ndarray) -> float:
    x = np.asarray(x, dtype=np.float64)
    x = x[np.isfinite(x)]
    return float(x.mean()) if len(x) else math.nan


#: T90 is unknown when fewer than this share of the sleep epochs have a valid SpO2 reading.
T90_MIN_COVERAGE = 0.5


def sleep_period_counts(stages: np.ndarray) -> tuple[int | None, int | None]:
    """(awakenings, stage shifts) inside the sleep period (sleep onset -> last sleep epoch); None without sleep.

    Unscored epochs (``UNKNOWN``) are skipped: a shift is a change between consecutive scored epochs, an
    awakening a run of W between sleep epochs.
    """
    bouts = awakening_bouts(stages)
    if bouts is None:
        return None, None
    period = _sleep_period(stages)
    return len(bouts), int((period[1:] != period[:-1]).sum())


def _sleep_period(stages: np.ndarray) -> np.ndarray:
    """The scored epochs from sleep onset to the last sleep epoch (empty without sleep)."""
    stages = np.asarray(stages, dtype=object)
    sleep = np.flatnonzero(np.isin(stages, SLEEP_STAGES))
    if not len(sleep):
        return stages[:0]
    period = stages[sleep[0]: sleep[-1] + 1]
    return period[period != "UNKNOWN"]


def awakening_bouts(stages: np.ndarray) -> np.ndarray | None:
    """Length in epochs of each awakening (a run of W between sleep epochs, unscored epochs skipped) in the sleep
    period, in order; None without sleep."""
    period = _sleep_period(stages)
    if not len(period):
        return None
    wake = np.concatenate([[False], period == "W", [False]])
    starts, ends = np.flatnonzero(wake[1:] & ~wake[:-1]), np.flatnonzero(~wake[1:] & wake[:-1])
    return ends - starts


def _t90_min(below90_s: np.ndarray) -> float:
    """Minutes below 90 % over the sleep epochs' ``spo2_below90_s`` (NaN under :data:`T90_MIN_COVERAGE`)."""
    x = np.asarray(below90_s, dtype=np.float64)
    if not len(x) or np.isfinite(x).mean() < T90_MIN_COVERAGE:
        return math.nan
    return float(np.nansum(x) / 60.0)


def _ct90_pct(below90_s: np.ndarray, epoch_s: float) -> float:
    """CT90: the sleep epochs' time below 90 % as a percent of the sleep time with a valid SpO2 reading (NaN under
    :data:`T90_MIN_COVERAGE`, as T90)."""
    x = np.asarray(below90_s, dtype=np.float64)
    if not len(x) or np.isfinite(x).mean() < T90_MIN_COVERAGE:
        return math.nan
    return float(100.0 * np.nansum(x) / (np.isfinite(x).sum() * epoch_s))


def _event_epochs(events: Iterable[Event], onset_s: np.ndarray, epoch_s: float) -> tuple[list[str], np.ndarray]:
    evs = list(events)
    t = np.array([e.onset_s for e in evs], dtype=np.float64)
    k = np.searchsorted(onset_s, t, side="right") - 1
    inside = (k >= 0) & (t < onset_s[np.clip(k, 0, None)] + epoch_s) if len(t) else np.zeros(0, bool)
    return [e.type for e in evs], np.where(inside, k, -1)


def _on_hypnogram(features: pd.DataFrame, onset: np.ndarray) -> pd.DataFrame | None:
    """The feature rows of the hypnogram's epochs, matched by onset (NaN where an epoch has no row), so that a
    hypnogram a few epochs shorter or longer than the cut epochs keeps its heart rate, SpO2 and position; None when
    no epoch matches."""
    f = features.assign(_key=np.round(features["onset_s"].to_numpy(dtype=np.float64), 3))
    f = f.drop_duplicates("_key").set_index("_key")
    out = f.reindex(np.round(onset, 3))
    return None if out["onset_s"].isna().all() else out.reset_index(drop=True)


def night_metrics(annotations: Annotations, features: pd.DataFrame | None = None) -> NightMetrics:
    """Metrics of one night from its annotations and (optionally) its epoch features.

    ``features`` (from ``compute_epoch_features``) supplies position, heart rate and SpO2, matched to the
    hypnogram's epochs by onset (``onset_s``); epochs without a row count as unmeasured.
    """
    ep_s = annotations.epoch_s
    stages = np.array(annotations.stages, dtype=object)
    n = len(stages)
    onset = annotations.stage_onset_s + ep_s * np.arange(n)
    scored = np.flatnonzero(stages != "UNKNOWN")
    sleep = np.isin(stages, SLEEP_STAGES)
    m_ep = ep_s / 60.0
    tst = float(sleep.sum() * m_ep)
    nan = math.nan
    if len(scored):
        tib = float((scored[-1] - scored[0] + 1) * m_ep)
        first = scored[0]
    else:
        tib, first = 0.0, 0
    sl_idx = np.flatnonzero(sleep)
    sl = float((sl_idx[0] - first) * m_ep) if len(sl_idx) else nan
    rem_idx = np.flatnonzero(stages == "REM")
    rl = float((rem_idx[0] - sl_idx[0]) * m_ep) if len(rem_idx) and len(sl_idx) else nan
    waso = tib - sl - tst if len(sl_idx) else nan
    pct = {s: (100.0 * float((stages == s).sum() * m_ep) / tst if tst > 0 else nan) for s in SLEEP_STAGES}

    types, k = _event_epochs(annotations.events, onset, ep_s)
    types_a = np.array(types, dtype=object)
    in_sleep = (k >= 0) & sleep[np.clip(k, 0, None)] if len(k) else np.zeros(0, bool)

    def count(tset: tuple[str, ...], mask: np.ndarray | None = None) -> int:
        sel = in_sleep & np.isin(types_a, tset) if len(types_a) else np.zeros(0, bool)
        if mask is not None and len(sel):
            sel &= mask
        return int(sel.sum())

    resp = APNEAS + ("hypopnea",)
    pos_pct = dict.fromkeys(("supine", "left", "right", "prone", "upright"), nan)
    sup_ahi = non_sup_ahi = nan
    hr = dict.fromkeys(SCORED_STAGES, nan)
    spo2_mean = spo2_min = t90 = ct90 = nan
    features = _on_hypnogram(features, onset) if features is not None else None
    if features is not None:
        pos = features["position_code"].to_numpy(dtype=np.float64)
        if (sleep & np.isin(pos, (0, 1, 2, 3, 4))).any() and tst > 0:  # no known position: unknown, not 0 %
            for name, code in (("right", 0), ("left", 1), ("supine", 2), ("prone", 3), ("upright", 4)):
                pos_pct[name] = 100.0 * float((sleep & (pos == code)).sum() * m_ep) / tst
            supine_ep = sleep & (pos == 2)
            known_non = sleep & np.isin(pos, (0, 1, 3, 4))
            ev_sup = supine_ep[np.clip(k, 0, None)] if len(k) else np.zeros(0, bool)
            ev_non = known_non[np.clip(k, 0, None)] if len(k) else np.zeros(0, bool)
            sup_ahi = _per_h(count(resp, ev_sup), float(supine_ep.sum() * m_ep))
            non_sup_ahi = _per_h(count(resp, ev_non), float(known_non.sum() * m_ep))
        for s in hr:
            hr[s] = _mean(features["hr_mean_bpm"].to_numpy()[stages == s])
        sp = features["spo2_mean_pct"].to_numpy(dtype=np.float64)[sleep]
        spo2_mean = _mean(sp)
        spm = features["spo2_min_pct"].to_numpy(dtype=np.float64)[sleep]
        spo2_min = float(np.nanmin(spm)) if np.isfinite(spm).any() else nan
        if "spo2_below90_s" in features:
            below90 = features["spo2_below90_s"].to_numpy(dtype=np.float64)[sleep]
            t90, ct90 = _t90_min(below90), _ct90_pct(below90, ep_s)
    rem_ep, nrem_ep = stages == "REM", np.isin(stages, ("N1", "N2", "N3"))
    in_rem = rem_ep[np.clip(k, 0, None)] if len(k) else np.zeros(0, bool)
    in_nrem = nrem_ep[np.clip(k, 0, None)] if len(k) else np.zeros(0, bool)
    n_awake, n_shifts = sleep_period_counts(stages)
    bouts = awakening_bouts(stages)

    m = NightMetrics(
        n_epochs=n, n_scored_epochs=int(len(scored)), tib_min=tib, tst_min=tst,
        sleep_efficiency_pct=100.0 * tst / tib if tib > 0 else nan,
        sleep_latency_min=sl, rem_latency_min=rl, waso_min=waso,
        n1_pct=pct["N1"], n2_pct=pct["N2"], n3_pct=pct["N3"], rem_pct=pct["REM"],
        n_awakenings=n_awake, n_awakenings_1min=None if bouts is None else int((bouts * ep_s >= 60.0).sum()),
        awakening_index_per_h=_per_h(n_awake, tst) if n_awake is not None else nan,
        n_stage_shifts=n_shifts, stage_shift_index_per_h=_per_h(n_shifts, tst) if n_shifts is not None else nan,
        ahi_per_h=_per_h(count(resp), tst),
        ahi_rem_per_h=_per_h(count(resp, in_rem), float(rem_ep.sum() * m_ep)),
        ahi_nrem_per_h=_per_h(count(resp, in_nrem), float(nrem_ep.sum() * m_ep)),
        oai_per_h=_per_h(count(("obstructive_apnea", "mixed_apnea")), tst),
        cai_per_h=_per_h(count(("central_apnea",)), tst),
        hypopnea_index_per_h=_per_h(count(("hypopnea",)), tst),
        odi_per_h=_per_h(count(("oxygen_desaturation",)), tst),
        arousal_index_per_h=_per_h(count(("arousal",)), tst),
        limb_movement_index_per_h=_per_h(count(("limb_movement",)), tst),
        n_apneas=count(APNEAS), n_hypopneas=count(("hypopnea",)),
        n_desaturations=count(("oxygen_desaturation",)), n_arousals=count(("arousal",)),
        supine_pct=pos_pct["supine"], left_pct=pos_pct["left"], right_pct=pos_pct["right"],
        prone_pct=pos_pct["prone"], upright_pct=pos_pct["upright"],
        supine_ahi_per_h=sup_ahi, non_supine_ahi_per_h=non_sup_ahi,
        hr_w_bpm=hr["W"], hr_n1_bpm=hr["N1"], hr_n2_bpm=hr["N2"], hr_n3_bpm=hr["N3"],
        hr_rem_bpm=hr["REM"], spo2_mean_pct=spo2_mean, spo2_min_pct=spo2_min,
        t90_min=t90, ct90_pct=ct90,
    )
    for kind, names in KIND_METRICS.items():
        if not annotations.status(kind).scored:
            for name in names:
                setattr(m, name, None if name.startswith("n_") else nan)
    return m


def segment_table(features: pd.DataFrame, events: Iterable[Event], window_s: float = 300.0,
                  epoch_s: float = EPOCH_S) -> pd.DataFrame:
    """Per-window (default 5-min) summary of a night: stages, events, HR, breathing, SpO2, position."""
    on = features["onset_s"].to_numpy(dtype=np.float64)
    w = np.floor((on - on[0]) / window_s).astype(int) if len(on) else np.zeros(0, int)
    types, k = _event_epochs(events, on, epoch_s)
    ev_w = np.where(k >= 0, w[np.clip(k, 0, None)], -1) if len(k) else np.zeros(0, int)
    types_a = np.array(types, dtype=object)
    rr = features[["thx_rate_bpm", "abd_rate_bpm", "af_rate_bpm"]].bfill(axis=1).iloc[:, 0]
    rows = []
    for i in np.unique(w):
        sel = w == i
        st = features["stage"][sel].value_counts()
        ev = types_a[ev_w == i] if len(ev_w) else types_a
        pos = features["position"][sel]
        pos = pos[pos != ""]
        rows.append({
            "onset_s": float(on[sel][0]), "duration_s": float(sel.sum() * epoch_s),
            "stage": str(st.index[0]) if len(st) else "UNKNOWN",
            "stage_share_pct": 100.0 * float(st.iloc[0]) / sel.sum() if len(st) else math.nan,
            "n_resp_events": int(np.isin(ev, APNEAS + ("hypopnea",)).sum()),
            "n_desaturations": int((ev == "oxygen_desaturation").sum()),
            "n_arousals": int((ev == "arousal").sum()),
            "hr_mean_bpm": _mean(features["hr_mean_bpm"][sel]),
            "resp_rate_bpm": _mean(rr[sel]),
            "spo2_min_pct": float(np.nanmin(features["spo2_min_pct"][sel]))
            if np.isfinite(features["spo2_min_pct"][sel]).any() else math.nan,
            "position": str(pos.mode().iloc[0]) if len(pos) else "",
        })
    return pd.DataFrame(rows)
