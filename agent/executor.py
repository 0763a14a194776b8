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
    EPOCH_S,
    SLEEPLM_CHANNELS,
)

from . import lookup, plots
from .clinical import position_caution, position_minutes
from .context import ToolContext
from .lookup import finite
from .measure_values import (
    STAGE_WORDS,
    Frames,
    Unanswerable,
    decline,
    events_of,
    measure_label,
    missing_why,
    stage_epochs,
    values,
    why_empty,
)
from .provenance import provenance_note
from .query import (
    ATTRIBUTES,
    GROUPINGS,
    OXYGENATION,
    STAGE_MINUTES_FIELD,
    Filter,
    Measure,
    Query,
    event_count_of,
)
from .vocab import BETTER_DIRECTION, METRIC_LABELS, metric_label


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
        raise decline(f"no subject attribute or night metric {flt.field!r} was recorded; attributes: "
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
            out += [{"condition": filter_text(f), **g} for g in missing_why(fr, m, missing)]
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
        raise decline("the question names no measure (e.g. AHI, sleep efficiency, heart rate in N2).",
                       suggestion="what is the average AHI across the cohort?")
    m = q.measures[0]
    if not nights:
        unknown = base.get("unknown") or []
        if unknown:  # "the mean AHI of nights with apneas in REM" where nobody scored apneas: not "no night has them"
            raise decline("no night is known to meet " + " and ".join(base["filters"]) + ": it cannot be checked in "
                           + "; ".join(f"{', '.join(u['nights'])} ({u['why']})" for u in unknown) + ".",
                           suggestion="list the nights")
        raise decline("no night meets " + " and ".join(base["filters"]) + ".", suggestion="list the nights")
    vals = values(fr, m).reindex(nights)
    base.update({"measure": vars(m), "label": label(fr, m)})
    base["little_sleep"] = _little_sleep(fr, m, [r for r in nights if finite(vals.get(r)) is not None])
    if vals.isna().all() and m.kind != "attribute":
        raise decline(why_empty(fr, m, nights) + ".", understood=f"{label(fr, m)}, {q.ask}",
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
                     "missing_why": missing_why(fr, m, [r for r in nights if pd.isna(vals[r])]),
                     "per_night": [{"recording": r, "value": finite(vals[r])} for r in nights],
                     "summary": f"{q.stat} {label(fr, m)} over {len(x)} night(s): {float(fn(x)):.1f}"})
        return base
    if q.ask in ("rank", "argmax", "argmin"):
        return _rank(ctx, fr, q, vals, base)
    if q.ask in ("compare", "trend"):
        from .group_stats import compare_groups, trend

        return compare_groups(ctx, fr, q, vals, base) if q.ask == "compare" else trend(fr, q, vals, base)
    raise decline(f"unknown question kind {q.ask!r}.")


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
    sel = events_of(fr, m)
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
                row.setdefault("why_missing", {})[label(fr, m)] = why_empty(fr, m, [r])
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
                 "missing_why": missing_why(fr, q.measures[0], missing)})
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
                 "extra_missing": {label(fr, m): why_empty(fr, m, [winners[0]]) for m in q.measures[1:]
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
