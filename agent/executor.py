"""Run a typed :class:`~sleeplm.agent.query.Query` over a cohort: the one executor that the router and any
LLM back end share (through the ``query_cohort`` tool).

Per-night values come from the index's frames (:meth:`Cohort.nights_frame`, ``events_frame``,
``epochs_frame``); group comparisons and trends are :mod:`sleeplm.agent.group_stats`'s. When the data cannot answer (a measure the workspace lacks, a stage nobody
reached, an unknown attribute) the result is a decline that says why, never another quantity.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pandas as pd
from sleeplm.encoder.captions.night import (
    MIN_SLEEP_FOR_SEVERITY_MIN,
    MIN_STAGE_FOR_INDEX_MIN,
)
from sleeplm.encoder.vocab import (
    APNEAS,
    EPOCH_S,
    EVENT_TYPES,
    RESPIRATORY_EVENTS,
    SCORED_STAGES,
    SCORING_KIND_NAMES,
    SCORING_KINDS,
    SLEEPLM_CHANNELS,
)

from . import lookup, plots
from .clinical import position_caution, position_minutes
from .context import ToolContext
from .lookup import finite
from .provenance import provenance_note, unscored_kinds
from .query import (
    ATTRIBUTES,
    DURATION_KINDS,
    GROUPINGS,
    OXYGENATION,
    POSITIONS,
    STAGE_GROUPS,
    STAGE_METRICS,
    STAGE_MINUTES_FIELD,
    Decline,
    Filter,
    Measure,
    Query,
    Window,
    event_count_of,
    stages_in,
)
from .vocab import BETTER_DIRECTION, EVENT_GROUPS, METRIC_LABELS, metric_label

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


def _unscored(nights: pd.DataFrame, event_types: tuple[str, ...] | list[str]) -> np.ndarray:
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


def _decline(reason: str, understood: str = "", suggestion: str = "") -> Unanswerable:
    return Unanswerable(Decline(reason, understood, suggestion))


def _events_of(fr: Frames, m: Measure) -> pd.DataFrame:
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


def _in_stage_values(fr: Frames, m: Measure) -> pd.Series:
    """A night metric over the epochs of one stage (:data:`~sleeplm.agent.query.STAGE_METRICS`): the lowest per-epoch
    SpO2 minimum, or the mean of the per-epoch SpO2 means (NaN without an epoch of the stage or without SpO2)."""
    if m.name not in STAGE_METRICS or not set(stages_in(m.stage)) <= set(SCORED_STAGES):
        raise _decline(f"{metric_label(m.name)} is a whole-night measure here: it is stored for the whole night, and I "
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
        return _in_stage_values(fr, m)
    if m.kind == "metric":
        if m.name not in n.columns:
            have = "no night metrics" if "ahi_per_h" not in n.columns else f"no night metric {m.name!r}"
            raise _decline(f"the workspace has {have}.", suggestion="list the nights")
        return pd.to_numeric(n[m.name], errors="coerce")
    if m.kind == "stage_minutes":
        if m.name not in SCORED_STAGES:
            raise _decline(f"{m.name!r} is not a sleep stage ({', '.join(SCORED_STAGES)}).")
        # a night nobody staged has no minutes of any stage (unknown), not 0
        return (fr.stage_counts()[m.name].astype(float) * EPOCH_S / 60.0).where(~fr.unstaged())
    if m.kind == "event_count":
        if m.name not in EVENT_GROUPS and m.name not in EVENT_TYPES:
            raise _decline(f"{m.name.replace('_', ' ')} is not a scored event kind in this cohort.",
                           suggestion="how many hypopneas are there in each night?")
        sel = _events_of(fr, m)
        counts = sel.groupby("recording").size().reindex(n.index, fill_value=0).astype(float)
        if m.stage:  # events in REM of a night nobody staged: unknown, not 0
            counts[fr.unstaged()] = np.nan
            # a night with no epoch of the stage has no events "in REM" to count: undefined (as its REM AHI), not 0
            counts[(stage_epochs(fr, m.stage) == 0).to_numpy()] = np.nan
        if m.position:  # a night whose body position is never known has no count in a position: unknown, not 0
            counts[~n.index.isin(fr.positioned())] = np.nan
        # a night where nobody scored this kind of event has no count (NaN), never 0
        counts[_unscored(n, EVENT_GROUPS.get(m.name, (m.name,)))] = np.nan
        return counts
    if m.kind in DURATION_KINDS:
        if m.name not in EVENT_GROUPS and m.name not in EVENT_TYPES:
            raise _decline(f"{m.name.replace('_', ' ')} is not a scored event kind in this cohort.",
                           suggestion="what is the longest apnea of each night?")
        sel = _events_of(fr, m)
        durations = pd.to_numeric(sel["duration_s"], errors="coerce")
        # a night without such an event has no duration (NaN; _why_empty says why), never 0
        per_night = durations.groupby(sel["recording"]).agg("mean" if m.kind == "mean_event_duration" else "max")
        return per_night.reindex(n.index).astype(float)
    if m.kind == "stage_index":
        kinds = INDEX_EVENTS.get(m.name)
        if kinds is None or not set(stages_in(m.stage)) <= set(SCORED_STAGES):
            raise _decline(f"{metric_label(m.name)} has no per-stage value; per-stage indices: "
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
        index[_unscored(n, kinds)] = np.nan  # "REM AHI" where nobody scored respiratory events: unknown, not 0
        if m.position:  # a night whose position is never known: unknown
            index[~n.index.isin(fr.positioned())] = np.nan
        return index
    if m.kind == "attribute":
        if m.name not in ATTRIBUTES or m.name not in n.columns:
            raise _decline(f"no subject attribute {m.name!r} was recorded.")
        return n[m.name]
    if m.kind == "missing_channels":
        if m.name:
            return pd.Series([float(m.name in chans) for chans in n["missing_channels"]], index=n.index)
        return pd.Series([float(len(chans)) for chans in n["missing_channels"]], index=n.index)
    raise _decline(f"unknown measure kind {m.kind!r}.")



def _missing_why(fr: Frames, m: Measure, nights: list[str]) -> list[dict[str, Any]]:
    """The nights without a value, grouped by why (each group's reason said of all its nights)."""
    if m.kind in ("attribute", "missing_channels") or not nights:
        return []
    groups: dict[str, list[str]] = {}
    for r in nights:  # one night at a time: the same reason for two nights reads the same but for the name
        groups.setdefault(_why_empty(fr, m, [r]).replace(r, "\0"), []).append(r)
    return [{"nights": g, "why": _why_empty(fr, m, g)} for g in groups.values()]


def _why_empty(fr: Frames, m: Measure, nights: list[str]) -> str:
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


def _count_measure(flt: Filter) -> Measure | None:
    """The event count an ``event_count:<type>[@<stage>]`` filter is on (None for any other filter)."""
    if flt.field.startswith(STAGE_MINUTES_FIELD):  # "more than 10 minutes of N3"
        return Measure("stage_minutes", flt.field[len(STAGE_MINUTES_FIELD):])
    of = event_count_of(flt.field)
    return None if of is None else Measure("event_count", of[0], of[1])


def _filter_values(fr: Frames, flt: Filter) -> pd.Series | None:
    """The per-night numbers a threshold filter compares (NaN: unknown for that night), None for other filters."""
    count = _count_measure(flt)
    if count is not None:
        return values(fr, count)
    if flt.op in ("==", "in", "not in") or flt.field == "missing_channels" or flt.field not in fr.nights.columns:
        return None
    return pd.to_numeric(fr.nights[flt.field], errors="coerce")


def _apply(fr: Frames, flt: Filter) -> pd.Series:
    n = fr.nights
    if _count_measure(flt) is not None:
        return _meets(_filter_values(fr, flt), flt.op, float(flt.value))
    if flt.field == "missing_channels":
        if flt.value == "none":  # every channel recorded
            return pd.Series([not c for c in n["missing_channels"]], index=n.index)
        want = flt.value if isinstance(flt.value, str) and flt.value in SLEEPLM_CHANNELS else None
        return pd.Series([(want in c) if want else bool(c) for c in n["missing_channels"]], index=n.index)
    if flt.field not in n.columns:
        raise _decline(f"no subject attribute or night metric {flt.field!r} was recorded; attributes: "
                       f"{', '.join(a for a in ATTRIBUTES if a in n.columns)}.")
    col = n[flt.field]
    if flt.op in ("==", "in", "not in"):
        want = flt.value if isinstance(flt.value, (list, tuple)) else [flt.value]
        if flt.op == "not in":  # a night whose attribute is unknown is not known to be outside the values
            return ~col.isin(want) & col.notna()
        return col.isin(want)
    x = pd.to_numeric(col, errors="coerce")
    # "above the cohort average": the threshold is the cohort's own mean / median of the measure
    v = float({"mean": x.mean, "median": x.median}[flt.value]()) if flt.value in ("mean", "median") else float(flt.value)
    return _meets(x, flt.op, v)


def _meets(x: pd.Series, op: str, v: float) -> pd.Series:
    """``x op v`` per night; a night without a value does not meet the condition."""
    return {">": x > v, ">=": x >= v, "<": x < v, "<=": x <= v, "==": x == v}[op].fillna(False)


def filter_text(flt: Filter) -> str:
    count = _count_measure(flt)
    if count is not None:
        return f"{measure_label(count)} {flt.op} {flt.value:g}"
    field = metric_label(flt.field) if flt.field not in ATTRIBUTES and flt.field != "missing_channels" else flt.field
    if flt.field == "missing_channels":
        if flt.value == "none":
            return "no missing channel"
        return f"missing {flt.value}" if isinstance(flt.value, str) and flt.value else "a missing channel"
    v = ", ".join(map(str, flt.value)) if isinstance(flt.value, (list, tuple)) else flt.value
    if v in ("mean", "median"):
        v = f"the cohort {v}"
    return f"{field} {'=' if flt.op in ('==', 'in') else '≠' if flt.op == 'not in' else flt.op} {v}"


def selected(fr: Frames, q: Query) -> list[str]:
    """The nights a query covers: the named ones, else every night that meets the filters."""
    if q.nights:
        return [fr.cohort.resolve_recording(r) for r in q.nights]
    keep = pd.Series(True, index=fr.nights.index)
    for f in q.filters:
        keep &= _apply(fr, f)
    return list(fr.nights.index[keep])


def unknown_under_filters(fr: Frames, q: Query) -> list[dict[str, Any]]:
    """Nights left out because a condition cannot be checked there (its value is unknown: events nobody scored, an
    index of a night without sleep), grouped by the condition, with why."""
    if q.nights:
        return []
    out = []
    values_of = [_filter_values(fr, f) for f in q.filters]  # each condition's values and verdict, computed once
    possible = [_apply(fr, f) | (x.isna() if x is not None else False) for f, x in zip(q.filters, values_of)]
    for i, (f, x) in enumerate(zip(q.filters, values_of)):
        if x is None:
            continue
        others = pd.Series(True, index=fr.nights.index)  # a night another condition rules out is not "left out"
        for j, ok in enumerate(possible):
            if j != i:
                others &= ok
        missing = [r for r in fr.nights.index if pd.isna(x.get(r)) and others[r]]
        if missing:
            m = _count_measure(f) or Measure("metric", f.field)
            out += [{"condition": filter_text(f), **g} for g in _missing_why(fr, m, missing)]
    return out


def run_query(ctx: ToolContext, q: Query) -> dict[str, Any]:
    """Run a query; a JSON-ready result with ``kind``, the rows behind the answer, ``summary`` and ``focus``."""
    try:
        return _run(ctx, q)
    except Unanswerable as exc:
        return {"kind": "declined", "ask": q.ask, "decline": lookup.jsonable(vars(exc.decline)),
                "figures": [], "focus": None, "summary": f"declined: {exc.decline.reason}"}


def _run(ctx: ToolContext, q: Query) -> dict[str, Any]:
    fr = Frames(ctx, q.window)
    if q.window is not None:
        from .windows import check_window

        check_window(q)
    nights = selected(fr, q)
    base: dict[str, Any] = {"kind": q.ask, "filters": [filter_text(f) for f in q.filters], "figures": [],
                            "focus": None, "n_nights": len(nights), "unknown": unknown_under_filters(fr, q)}
    if q.ask in ("count", "list"):
        counts = [m for m in map(_count_measure, q.filters) if m is not None]
        base["provenance"] = provenance_note(fr, counts, nights)
        return _count_list(fr, q, nights, base)
    if q.window is not None:
        from .windows import spans_of

        base.update({"window": q.window.text(), "spans": spans_of(fr, nights)})
    base["provenance"] = provenance_note(fr, q.measures, nights)
    if not q.measures:
        raise _decline("the question names no measure (e.g. AHI, sleep efficiency, heart rate in N2).",
                       suggestion="what is the average AHI across the cohort?")
    m = q.measures[0]
    if not nights:
        unknown = base.get("unknown") or []
        if unknown:  # "the mean AHI of nights with apneas in REM" where nobody scored apneas: not "no night has them"
            raise _decline("no night is known to meet " + " and ".join(base["filters"]) + ": it cannot be checked in "
                           + "; ".join(f"{', '.join(u['nights'])} ({u['why']})" for u in unknown) + ".",
                           suggestion="list the nights")
        raise _decline("no night meets " + " and ".join(base["filters"]) + ".", suggestion="list the nights")
    vals = values(fr, m).reindex(nights)
    base.update({"measure": vars(m), "label": label(fr, m)})
    base["little_sleep"] = _little_sleep(fr, m, [r for r in nights if finite(vals.get(r)) is not None])
    if vals.isna().all() and m.kind != "attribute":
        raise _decline(_why_empty(fr, m, nights) + ".", understood=f"{label(fr, m)}, {q.ask}",
                       suggestion=_nearest(fr, m, nights))
    if q.ask == "value":
        return _value(fr, q, nights, base)
    if q.ask == "aggregate":
        x = pd.to_numeric(vals, errors="coerce").dropna()
        fn = {"mean": np.mean, "median": np.median, "min": np.min, "max": np.max, "sum": np.sum,
              "sd": lambda v: np.std(v, ddof=1) if len(v) > 1 else np.nan,  # the sample standard deviation
              "range": lambda v: np.max(v) - np.min(v)}[q.stat]
        if q.stat == "range" and len(x):
            base.update({"low": float(np.min(x)), "high": float(np.max(x))})
        base.update({"stat": q.stat, "value": float(fn(x)), "n_with_value": len(x),
                     "n_missing": [r for r in nights if pd.isna(vals[r])],
                     "missing_why": _missing_why(fr, m, [r for r in nights if pd.isna(vals[r])]),
                     "per_night": [{"recording": r, "value": finite(vals[r])} for r in nights],
                     "summary": f"{q.stat} {label(fr, m)} over {len(x)} night(s): {float(fn(x)):.1f}"})
        return base
    if q.ask in ("rank", "argmax", "argmin"):
        return _rank(ctx, fr, q, vals, base)
    if q.ask in ("compare", "trend"):
        from .group_stats import compare_groups, trend

        return compare_groups(ctx, fr, q, vals, base) if q.ask == "compare" else trend(fr, q, vals, base)
    raise _decline(f"unknown question kind {q.ask!r}.")


def _little_sleep(fr: Frames, m: Measure, nights: list[str]) -> str | None:
    """A caution for a per-hour index over nights whose whole-night sleep is under the
    :data:`~sleeplm.encoder.captions.night.MIN_SLEEP_FOR_SEVERITY_MIN` a night's severity is graded on: in a
    mean, a group comparison or a ranking those values count as much as any other."""
    if fr.window is not None or not (m.name.endswith("_per_h") or m.kind == "stage_index") or \
            "tst_min" not in fr.nights.columns:
        return None
    tst = pd.to_numeric(fr.nights["tst_min"].reindex(nights), errors="coerce")
    short = tst[tst < MIN_SLEEP_FOR_SEVERITY_MIN].dropna()
    if short.empty:
        return None
    return (f"{len(short)} of {len(nights)} night(s) have under {MIN_SLEEP_FOR_SEVERITY_MIN / 60:g} h of sleep ("
            + ", ".join(f"{r} {v:.1f} min" for r, v in short.items()) + "): their per-hour values rest on little "
            "sleep, and a single event there moves them far")


def label(fr: Frames, m: Measure) -> str:
    """The measure's name in answers, with the window it is restricted to."""
    return f"{measure_label(m)} {fr.window.text()}" if fr.window is not None and \
        m.kind not in ("attribute", "missing_channels") else measure_label(m)


def _nearest(fr: Frames, m: Measure, nights: list[str]) -> str:
    if fr.window is not None:
        return f"{measure_label(m).split(' (')[0]} in the second half of the night"
    if m.kind == "metric" and m.name.startswith("hr_"):
        counts = fr.stage_counts().loc[nights].sum()
        other = next((s for s in ("N2", "N3", "N1", "W") if counts.get(s, 0) > 0), None)
        if other:
            return f"what is the average heart rate during {other} across the cohort?"
    if m.kind == "event_count" and m.stage:
        return f"how many {m.name.replace('_', ' ')}s are there in each night?"
    return "describe a night, or compare AHI by phenotype"


def _versus_cohort(fr: Frames, m: Measure, nights: list[str]) -> dict[str, Any]:
    """Where the named nights stand among every night of the cohort with a value of ``m``: the cohort's size,
    median and range, and each night's rank from the highest (ties share the better rank)."""
    allv = pd.to_numeric(values(fr, m), errors="coerce").dropna()
    ranks = {r: int((allv > allv[r]).sum()) + 1 for r in nights if r in allv.index}
    return {"label": label(fr, m), "n": int(len(allv)), "mean": finite(allv.mean()) if len(allv) else None,
            "median": finite(allv.median()) if len(allv) else None,
            "low": finite(allv.min()) if len(allv) else None, "high": finite(allv.max()) if len(allv) else None,
            "ranks": ranks}


def _longest_at(fr: Frames, m: Measure, recording: str) -> str:
    """Where a night's longest event of a measure lies: its clock time, epoch and the stage it starts in."""
    sel = _events_of(fr, m)
    ev = sel[sel["recording"] == recording].sort_values(["duration_s", "onset_s"], ascending=[False, True]).iloc[0]
    clock = fr.cohort.night_record(recording).clock_at(float(ev["onset_s"]))
    when = f"at {clock:%H:%M:%S}, " if clock is not None else f"{float(ev['onset_s']):.0f} s into the recording, "
    return f"{when}epoch {int(float(ev['onset_s']) // EPOCH_S)}, in {STAGE_WORDS.get(ev['stage'], ev['stage'])}"


def _stage_series(fr: Frames, measures: list[Measure]) -> list[dict[str, Any]]:
    """The measures that are one quantity taken stage by stage (three stages or more): what it is, whether it is a
    rate per hour, and each stage's label among the answer's labels ("in which stage do the apneas occur most?")."""
    series: dict[tuple[str, str, str | None], dict[str, Any]] = {}
    for m in measures:
        if m.stage and m.kind in ("event_count", "stage_index"):
            per_hour = m.kind == "stage_index"
            what = METRIC_LABELS.get(m.name, (m.name, ""))[0] if per_hour else measure_label(dataclasses.replace(m, stage=None))
            s = series.setdefault((m.kind, m.name, m.position), {"what": what, "per_hour": per_hour, "labels": {}})
            s["labels"][m.stage] = label(fr, m)
    return [s for s in series.values() if len(s["labels"]) >= 3]


def _value(fr: Frames, q: Query, nights: list[str], base: dict[str, Any]) -> dict[str, Any]:
    rows = []
    for r in nights:
        row: dict[str, Any] = {"recording": r}
        for m in q.measures:
            v = values(fr, m).get(r)
            row[label(fr, m)] = v if m.kind == "attribute" else finite(v)
            if m.kind == "event_count" and finite(v) is not None:  # a count: 41, not 41.0
                row[label(fr, m)] = int(round(finite(v)))
            if m.kind != "attribute" and finite(v) is None:
                row.setdefault("why_missing", {})[label(fr, m)] = _why_empty(fr, m, [r])
            elif m.kind == "attribute" and (v is None or (isinstance(v, float) and np.isnan(v))):  # "is X a man?"
                row.setdefault("why_missing", {})[label(fr, m)] = f"no {m.name} was recorded for this subject"
            if m.kind == "stage_index" and finite(v) is not None:  # an index from little of the stage is noisy
                minutes = float(stage_epochs(fr, m.stage).get(r, 0)) * EPOCH_S / 60.0
                if minutes < MIN_STAGE_FOR_INDEX_MIN:
                    row.setdefault("notes", []).append(
                        f"{label(fr, m)} rests on only {minutes:.1f} min of {m.stage}, under the "
                        f"{MIN_STAGE_FOR_INDEX_MIN:g} min a per-stage index needs to be relied on (a single event "
                        f"there is {60.0 / max(minutes, 0.5):.1f}/h)")
            if m.kind == "longest_event_duration" and finite(v) is not None:  # "when did the longest apnea occur?"
                row.setdefault("at", {})[label(fr, m)] = _longest_at(fr, m, r)
            caution = position_caution(label(fr, m), position_minutes(fr.nights.loc[r], m.name)) \
                if m.kind == "metric" and fr.window is None and finite(v) is not None else None
            if caution:  # "supine AHI 10.4" from 2 events in 11.5 min supine
                row.setdefault("notes", []).append(caution)
        for f in q.filters:  # "was its AHI above 15?": the threshold asked, met or not (None: no value to compare)
            x = _filter_values(fr, f)
            v = finite(x.get(r)) if x is not None else None
            met = None if v is None else bool(_meets(pd.Series([v]), f.op, float(f.value)).iloc[0])
            row.setdefault("checks", []).append({"condition": filter_text(f), "met": met})
        rows.append(row)
    if q.versus_cohort and q.measures and q.measures[0].kind != "attribute":
        base["cohort"] = _versus_cohort(fr, q.measures[0], nights)
        base["provenance"] = provenance_note(fr, q.measures, list(fr.nights.index))  # the cohort's nights count too
    base["by_stage"] = _stage_series(fr, q.measures)
    base.update({"labels": [label(fr, m) for m in q.measures], "rows": lookup.jsonable(rows),
                 "focus": {"recording": nights[0]} if len(nights) == 1 else None,
                 "summary": "; ".join(f"{r['recording']}: " + ", ".join(f"{k} {r[k]}" for k in
                                                                         [label(fr, m) for m in q.measures])
                                      for r in rows)})
    return base


def _rank(ctx: ToolContext, fr: Frames, q: Query, vals: pd.Series, base: dict[str, Any]) -> dict[str, Any]:
    x = pd.to_numeric(vals, errors="coerce")
    have = x.dropna()
    desc = q.ask == "argmax" or (q.ask == "rank" and q.descending)
    order = have.sort_values(ascending=not desc, kind="stable")
    rows = [{"recording": r, "value": float(v), "subject_id": fr.nights.at[r, "subject_id"]} for r, v in order.items()]
    if q.ask == "rank" and len(q.measures) > 1:  # "the awakening index and the stage shift index of each night"
        others = {label(fr, m): (values(fr, m), m.name.startswith("n_")) for m in q.measures[1:]}
        for row in rows:
            row["extra"] = {lab: (int(round(x)) if count and x is not None else x)
                            for lab, (v, count) in others.items() for x in [finite(v.get(row["recording"]))]}
    missing = [r for r in x.index if pd.isna(x[r])]
    base.update({"rows": lookup.jsonable(rows), "missing": missing, "descending": desc,
                 "missing_why": _missing_why(fr, q.measures[0], missing)})
    if q.ask == "rank":
        base["rows"] = base["rows"][: q.k] if q.k else base["rows"]
        base["summary"] = f"{len(base['rows'])} night(s) ranked by {base['label']}"
        if base["rows"]:
            base["figures"] = [str(plots.ranking_bars(
                ctx.figure_path("ranking", q.measures[0].name), [r["recording"] for r in base["rows"]],
                [r["value"] for r in base["rows"]], base["label"], f"nights ranked by {base['label']}",
                cache=ctx.figure_cache))]
        return base
    best = order.iloc[0]
    winners = [r for r, v in order.items() if v == best]
    # what else the question asked of that night ("and what is its BMI?"); a category (sex, phenotype) as it is
    extra = {label(fr, m): (v if m.kind == "attribute" and m.name in GROUPINGS else finite(v))
             for m in q.measures[1:] for v in [values(fr, m).get(winners[0])]}
    base.update({"night": winners[0], "ties": winners[1:], "value": float(best),
                 "subject": lookup.jsonable(fr.cohort.subject_attributes(fr.nights.at[winners[0], "subject_id"])),
                 "focus": {"recording": winners[0]},
                 "extra": extra,
                 "extra_missing": {label(fr, m): _why_empty(fr, m, [winners[0]]) for m in q.measures[1:]
                                   if extra[label(fr, m)] is None},
                 "summary": f"{'highest' if desc else 'lowest'} {base['label']}: {winners[0]} ({float(best):.1f})"})
    if tuple(m.name for m in q.measures) == OXYGENATION and not any(m.stage for m in q.measures):
        # "the worst oxygenation": ranked by the nadir, so say which night is worst (best) on each other measure too
        worst = not desc  # the lowest nadir is the worst oxygenation
        base["each"] = {"word": "worst" if worst else "best", "by": {}}
        for m in q.measures[1:]:
            v = values(fr, m).dropna()
            if len(v):
                pick = v.idxmax() if (BETTER_DIRECTION[m.name] > 0) != worst else v.idxmin()
                base["each"]["by"][label(fr, m)] = {"night": pick, "value": finite(v[pick])}
    if q.then:
        from . import cohort_tools, night_tools

        if q.then == "similar_nights":
            base["then"] = {"tool": "similar_nights", "result": cohort_tools.similar_nights(ctx, winners[0])}
        else:
            res = night_tools.describe_night(ctx, winners[0], plot=True)
            base["then"] = {"tool": "describe_night", "result": res}
            base["figures"] = res["figures"]
    return base


def _count_list(fr: Frames, q: Query, nights: list[str], base: dict[str, Any]) -> dict[str, Any]:
    n = fr.nights.loc[nights]
    cols = ["recording", "subject_id", "age", "sex", "phenotype", "site"]
    fields = [f.field for f in q.filters]
    if "supine_ratio" in fields:  # the ratio with the two indices it is made of
        fields[fields.index("supine_ratio") + 1:1] = ["supine_ahi_per_h", "non_supine_ahi_per_h"]
    extra = list(dict.fromkeys(f for f in fields if f in n.columns and f not in cols))
    rows = n[cols + extra].copy()
    for m in filter(None, map(_count_measure, q.filters)):  # the count a condition is on, beside each night
        v = values(fr, m).reindex(nights)
        rows[measure_label(m)] = v.astype("Int64") if m.kind == "event_count" else v.round(1)
    rows["missing_channels"] = [", ".join(c) for c in n["missing_channels"]]
    base.update({"recordings": nights, "rows": lookup.jsonable(rows.to_dict("records")), "n_total": len(fr.nights),
                 "summary": f"{len(nights)} night(s)" + (" with " + " and ".join(base["filters"])
                                                         if base["filters"] else "")})
    if q.group_by:
        from .group_stats import groups_of

        g = groups_of(fr, q.group_by, nights, q.pooled, q.cut)
        base["by"] = q.group_by
        base["per_group"] = {str(k): sorted(v.index) for k, v in g.groupby(g, dropna=False)}
    return base
