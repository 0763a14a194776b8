"""The value of one measure for every night of a cohort (:func:`values`), how it is named in answers
(:func:`measure_label`) and why a night has none (:func:`why_empty`): the measure layer under
:mod:`sleeplm.agent.executor`. A night whose value cannot be known (events nobody scored, a stage nobody reached, no
body position) gets NaN, never 0.
"""
from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pandas as pd
from sleeplm.encoder.vocab import (
    APNEAS,
    EPOCH_S,
    EVENT_TYPES,
    RESPIRATORY_EVENTS,
    SCORED_STAGES,
    SCORING_KIND_NAMES,
    SCORING_KINDS,
)

from .context import ToolContext
from .provenance import unscored_kinds
from .query import (
    ATTRIBUTES,
    DURATION_KINDS,
    POSITIONS,
    STAGE_GROUPS,
    STAGE_METRICS,
    Decline,
    Measure,
    Window,
    stages_in,
)
from .vocab import EVENT_GROUPS, METRIC_LABELS, metric_label

#: Events-per-hour indices that have a per-stage value, and the event types each counts (AASM).
INDEX_EVENTS: dict[str, tuple[str, ...]] = {
    "ahi_per_h": RESPIRATORY_EVENTS, "oai_per_h": ("obstructive_apnea", "mixed_apnea"),
    "cai_per_h": ("central_apnea",), "apnea_index_per_h": APNEAS, "hypopnea_index_per_h": ("hypopnea",),
    "odi_per_h": ("oxygen_desaturation",),
    "arousal_index_per_h": ("arousal",), "limb_movement_index_per_h": ("limb_movement",),
}
STAGE_WORDS = {"W": "wake", "N1": "N1", "N2": "N2", "N3": "N3", "REM": "REM"}


class Unanswerable(Exception):
    """The data cannot answer a query; carries the :class:`Decline` to show."""

    def __init__(self, decline: Decline):
        super().__init__(decline.reason)
        self.decline = decline


def unscored(nights: pd.DataFrame, event_types: tuple[str, ...] | list[str]) -> np.ndarray:
    """Per night (row of ``nights``): whether nobody scored any kind of scoring these event types belong to."""
    kinds = [k for k, types in SCORING_KINDS.items() if set(event_types) & set(types)]
    if "scoring" not in nights.columns or not kinds:
        return np.zeros(len(nights), bool)
    return np.asarray([all(sc.get(k, {}).get("state") == "not scored" for k in kinds) if sc else False
                       for sc in nights["scoring"]], bool)


def measure_label(m: Measure) -> str:
    """How a measure is named in answers ("AHI (events/h)", "obstructive apneas in REM")."""
    if m.kind == "metric" and m.stage:  # "the lowest SpO2 in REM"
        return {"spo2_min_pct": "SpO2 nadir", "spo2_mean_pct": "mean SpO2"}.get(m.name, m.name) + f" in {m.stage} (%)"
    if m.kind == "metric":
        return "heart rate, every epoch (bpm)" if m.name == "hr_bpm" else metric_label(m.name)
    if m.kind == "stage_minutes":
        return f"{STAGE_WORDS.get(m.name, m.name)} time (min)"
    if m.kind == "event_count":
        what = {"any": "scored events", "apnea": "apneas (obstructive, central and mixed)"}.get(
            m.name, f"{m.name.replace('_', ' ')}s")
        where = f" while {m.position.replace('_', '-')}" if m.position else ""
        return f"{what}{duration_words(m)} in {m.stage}{where}" if m.stage else what + duration_words(m) + where
    if m.kind in DURATION_KINDS:
        what = {"any": "scored event", "apnea": "apnea (obstructive, central or mixed)"}.get(m.name, m.name.replace("_", " "))
        label = f"mean {what} duration" if m.kind == "mean_event_duration" else f"longest {what}"
        label += f" (of those{duration_words(m)})" if duration_words(m) else ""
        return f"{label} in {m.stage} (s)" if m.stage else f"{label} (s)"
    if m.kind == "missing_channels":
        return f"{m.name} missing" if m.name else "missing channels"
    if m.kind == "stage_index":
        label, unit = METRIC_LABELS.get(m.name, (m.name, ""))
        where = f" while {m.position.replace('_', '-')}" if m.position else ""
        return f"{label} in {m.stage}{where} ({unit or 'events/h'})"
    return m.name


def duration_words(m: Measure) -> str:
    """A measure's condition on event durations in words (" lasting more than 30 s"), "" without one."""
    if m.duration_op is None or m.duration_s is None:
        return ""
    return " lasting " + {">": "more than", ">=": "at least", "<": "less than", "<=": "at most"}[m.duration_op] + \
        f" {m.duration_s:g} s"


class Frames:
    """The cohort tables one query reads (read once per query)."""

    def __init__(self, ctx: ToolContext, window: Window | None = None):
        self.cohort = ctx.cohort
        self.nights = ctx.cohort.nights_frame().set_index("recording", drop=False)
        self.window = window
        self._events: pd.DataFrame | None = None
        self._stage_counts: pd.DataFrame | None = None
        self._timeline: pd.DataFrame | None = None
        self._window_data: Any = None

    def window_data(self) -> Any:
        """The window placed on every night (:class:`~sleeplm.agent.windows.WindowData`), computed once."""
        from .windows import WindowData

        if self._window_data is None:
            self._window_data = WindowData(self, self.window)
        return self._window_data

    def events(self) -> pd.DataFrame:
        if self._events is None:
            self._events = self.cohort.events_frame()
        return self._events

    def timeline(self) -> pd.DataFrame:
        """Every epoch of every night with its stage and per-epoch features (read once per query)."""
        if self._timeline is None:
            self._timeline = self.cohort.epoch_timeline_frame()
        return self._timeline

    def positioned(self) -> list[str]:
        """The nights with a known body position in some epoch; the others have none to count events by."""
        return self.cohort.positioned_recordings()

    def unstaged(self) -> pd.Series:
        """recording -> True where no epoch has a scored stage (the night was not staged)."""
        return self.stage_counts().sum(axis=1) == 0

    def stage_counts(self) -> pd.DataFrame:
        """recording × stage epoch counts (every scored stage a column, zeros filled)."""
        if self._stage_counts is None:
            e = self.cohort.epochs_frame()
            t = pd.crosstab(e["recording"], e["stage"]) if len(e) else pd.DataFrame()
            self._stage_counts = t.reindex(index=self.nights.index, columns=list(SCORED_STAGES), fill_value=0)
        return self._stage_counts


def decline(reason: str, understood: str = "", suggestion: str = "") -> Unanswerable:
    return Unanswerable(Decline(reason, understood, suggestion))


def events_of(fr: Frames, m: Measure) -> pd.DataFrame:
    """The scored events a measure counts or times: its type (or group), starting in its stage when it names one."""
    ev = fr.events()
    sel = ev[ev["type"].isin(EVENT_GROUPS.get(m.name, (m.name,)))]
    if m.position:
        sel = sel[sel["position"].isin(POSITIONS[m.position])]
    if m.duration_op is not None and m.duration_s is not None:  # "apneas longer than 30 s"
        d = pd.to_numeric(sel["duration_s"], errors="coerce")
        sel = sel[{">": d > m.duration_s, ">=": d >= m.duration_s, "<": d < m.duration_s,
                   "<=": d <= m.duration_s}[m.duration_op].fillna(False).to_numpy()]
    return sel[sel["stage"].isin(stages_in(m.stage))] if m.stage else sel


def stage_epochs(fr: Frames, stage: str) -> pd.Series:
    """recording -> its epochs scored ``stage`` (every member of a pooled stage such as NREM summed)."""
    return fr.stage_counts()[list(stages_in(stage))].sum(axis=1)


def in_stage_values(fr: Frames, m: Measure) -> pd.Series:
    """A night metric over the epochs of one stage (:data:`~sleeplm.agent.query.STAGE_METRICS`): the lowest per-epoch
    SpO2 minimum, or the mean of the per-epoch SpO2 means (NaN without an epoch of the stage or without SpO2)."""
    if m.name not in STAGE_METRICS or not set(stages_in(m.stage)) <= set(SCORED_STAGES):
        raise decline(f"{metric_label(m.name)} is a whole-night measure here: it is stored for the whole night, and I "
                       f"do not compute it within one stage.", suggestion=f"what is the AHI during {m.stage} in each night?")
    e = fr.timeline()
    in_stage = e["stage"].isin(stages_in(m.stage))
    x = pd.to_numeric(e.loc[in_stage, m.name], errors="coerce")
    per_night = x.groupby(e.loc[in_stage, "recording"]).agg("min" if m.name == "spo2_min_pct" else "mean")
    return per_night.reindex(fr.nights.index).astype(float)


def values(fr: Frames, m: Measure) -> pd.Series:
    """recording -> the measure's value (NaN where a night has none).

    Raises
    ------
    Unanswerable
        When the workspace has no such measure at all.
    """
    n = fr.nights
    if fr.window is not None:
        from . import windows

        return windows.values(fr, m)
    if m.kind == "metric" and m.stage:
        return in_stage_values(fr, m)
    if m.kind == "metric":
        if m.name not in n.columns:
            have = "no night metrics" if "ahi_per_h" not in n.columns else f"no night metric {m.name!r}"
            raise decline(f"the workspace has {have}.", suggestion="list the nights")
        return pd.to_numeric(n[m.name], errors="coerce")
    if m.kind == "stage_minutes":
        if m.name not in SCORED_STAGES:
            raise decline(f"{m.name!r} is not a sleep stage ({', '.join(SCORED_STAGES)}).")
        # a night nobody staged has no minutes of any stage (unknown), not 0
        return (fr.stage_counts()[m.name].astype(float) * EPOCH_S / 60.0).where(~fr.unstaged())
    if m.kind == "event_count":
        if m.name not in EVENT_GROUPS and m.name not in EVENT_TYPES:
            raise decline(f"{m.name.replace('_', ' ')} is not a scored event kind in this cohort.",
                           suggestion="how many hypopneas are there in each night?")
        sel = events_of(fr, m)
        counts = sel.groupby("recording").size().reindex(n.index, fill_value=0).astype(float)
        if m.stage:  # events in REM of a night nobody staged: unknown, not 0
            counts[fr.unstaged()] = np.nan
            # a night with no epoch of the stage has no events "in REM" to count: undefined (as its REM AHI), not 0
            counts[(stage_epochs(fr, m.stage) == 0).to_numpy()] = np.nan
        if m.position:  # a night whose body position is never known has no count in a position: unknown, not 0
            counts[~n.index.isin(fr.positioned())] = np.nan
        # a night where nobody scored this kind of event has no count (NaN), never 0
        counts[unscored(n, EVENT_GROUPS.get(m.name, (m.name,)))] = np.nan
        return counts
    if m.kind in DURATION_KINDS:
        if m.name not in EVENT_GROUPS and m.name not in EVENT_TYPES:
            raise decline(f"{m.name.replace('_', ' ')} is not a scored event kind in this cohort.",
                           suggestion="what is the longest apnea of each night?")
        sel = events_of(fr, m)
        durations = pd.to_numeric(sel["duration_s"], errors="coerce")
        # a night without such an event has no duration (NaN; _why_empty says why), never 0
        per_night = durations.groupby(sel["recording"]).agg("mean" if m.kind == "mean_event_duration" else "max")
        return per_night.reindex(n.index).astype(float)
    if m.kind == "stage_index":
        kinds = INDEX_EVENTS.get(m.name)
        if kinds is None or not set(stages_in(m.stage)) <= set(SCORED_STAGES):
            raise decline(f"{metric_label(m.name)} has no per-stage value; per-stage indices: "
                           f"{', '.join(metric_label(k) for k in INDEX_EVENTS)}.")
        ev = fr.events()
        sel = ev[ev["type"].isin(kinds) & ev["stage"].isin(stages_in(m.stage))]
        if m.position:  # "the supine REM AHI": events and sleep both in that stage and that position
            sel = sel[sel["position"].isin(POSITIONS[m.position])]
            e = fr.timeline()
            both = e["stage"].isin(stages_in(m.stage)) & e["position"].isin(POSITIONS[m.position])
            epochs = e[both].groupby("recording").size().reindex(n.index, fill_value=0)
        else:
            epochs = stage_epochs(fr, m.stage)
        counts = sel.groupby("recording").size().reindex(n.index, fill_value=0).astype(float)
        hours = epochs.astype(float) * EPOCH_S / 3600.0
        index = (counts / hours).where(hours > 0)
        index[unscored(n, kinds)] = np.nan  # "REM AHI" where nobody scored respiratory events: unknown, not 0
        if m.position:  # a night whose position is never known: unknown
            index[~n.index.isin(fr.positioned())] = np.nan
        return index
    if m.kind == "attribute":
        if m.name not in ATTRIBUTES or m.name not in n.columns:
            raise decline(f"no subject attribute {m.name!r} was recorded.")
        return n[m.name]
    if m.kind == "missing_channels":
        if m.name:
            return pd.Series([float(m.name in chans) for chans in n["missing_channels"]], index=n.index)
        return pd.Series([float(len(chans)) for chans in n["missing_channels"]], index=n.index)
    raise decline(f"unknown measure kind {m.kind!r}.")



def missing_why(fr: Frames, m: Measure, nights: list[str]) -> list[dict[str, Any]]:
    """The nights without a value, grouped by why (each group's reason said of all its nights)."""
    if m.kind in ("attribute", "missing_channels") or not nights:
        return []
    groups: dict[str, list[str]] = {}
    for r in nights:  # one night at a time: the same reason for two nights reads the same but for the name
        groups.setdefault(why_empty(fr, m, [r]).replace(r, "\0"), []).append(r)
    return [{"nights": g, "why": why_empty(fr, m, g)} for g in groups.values()]


def why_empty(fr: Frames, m: Measure, nights: list[str]) -> str:
    """Why a measure has no value for these nights, in a physician's words."""
    if fr.window is not None:
        from . import windows

        why = windows.why_empty(fr, m, nights)
        if why:
            return why
    stage = m.stage
    if m.kind == "metric" and m.name.startswith("hr_"):
        stage = m.name.split("_")[1].upper()  # hr_rem_bpm -> REM
    if m.kind == "metric" and m.name == "rem_latency_min":
        stage = "REM"
    if stage in SCORED_STAGES or stage in STAGE_GROUPS:
        n_ep = int(stage_epochs(fr, stage).loc[nights].sum())
        if n_ep == 0 and bool(fr.unstaged().loc[nights].all()):
            where = nights[0] if len(nights) == 1 else "these nights"
            return (f"{where} {'was' if len(nights) == 1 else 'were'} not staged (no epoch has a scored sleep stage), "
                    f"so {measure_label(m)} is unknown")
        if n_ep == 0:
            where = nights[0] if len(nights) == 1 else "this cohort" if len(nights) == len(fr.nights) else \
                "these nights"
            return f"no epoch of {where} is scored {stage}, so {measure_label(m)} is undefined"
    unscored = unscored_kinds(fr, m, nights)
    if unscored:
        what = "the count" if m.kind == "event_count" else measure_label(m)  # "arousals were not scored ... the count"
        return (f"{', '.join(SCORING_KIND_NAMES[k] for k in unscored)} were "  # every kind's name is a plural
                f"not scored in {nights[0] if len(nights) == 1 else 'these nights'} (by a person or automatically), "
                f"so {what} is unknown, not zero")
    if m.kind in DURATION_KINDS:
        what = measure_label(dataclasses.replace(m, kind="event_count"))
        where = nights[0] if len(nights) == 1 else "these nights"
        return f"{where} {'has' if len(nights) == 1 else 'have'} no scored {what}, so there is no duration to give"
    if m.kind == "metric" and m.name.endswith("_per_h"):
        tst = pd.to_numeric(fr.nights.loc[nights, "tst_min"], errors="coerce") if "tst_min" in fr.nights else None
        if tst is not None and (tst.fillna(0) == 0).all():
            return "no sleep was scored, so per-hour indices are undefined"
    if m.kind == "metric" and m.stage:
        return f"no SpO2 value was read in {'its' if len(nights) == 1 else 'their'} {m.stage} epochs, so " \
               f"{measure_label(m)} is unknown"
    if m.kind == "stage_index" and m.position:
        return (f"no {m.stage} sleep in that position (or no usable body-position channel), so "
                f"{measure_label(m)} is undefined")
    if m.name.startswith(("supine", "non_supine")):
        return "no sleep time in that position (or no usable body-position channel), so it is undefined"
    return f"{measure_label(m)} was not computed for {'this night' if len(nights) == 1 else 'these nights'}"
