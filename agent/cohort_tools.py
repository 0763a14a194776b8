"""The tools across the cohort: search epochs by description, similar epochs, similar nights,
and cohort questions (counts, distributions, comparisons) answered by :mod:`sleeplm.index.stats`.

Results follow :mod:`sleeplm.agent.night_tools`: JSON-ready dicts with ``summary``, ``focus``,
``figures`` and the evidence (recording, epoch index, clock time per epoch).
"""

from __future__ import annotations

from typing import Any, Literal

from sleeplm.encoder.vocab import (
    SCORING_KIND_NAMES,
    SCORING_KINDS,
    age_band,
    scoring_kind_of,
)
from sleeplm.index import stats
from sleeplm.index.queries import EpochFilter, EpochHit, NightHit
from sleeplm.index.querytext import caption_style, parse_query

from . import lookup
from .context import ToolContext
from .vocab import KEY_METRICS, METRIC_SCORING_KIND, resolve_metric

StatsQuestion = Literal["count_nights", "count_epochs", "stage_distribution", "event_counts", "compare_metric",
                        "list_nights", "scoring"]
NIGHT_GROUPS = ("phenotype", "sex", "site", "age_band")


def _hit(rank: int, h: EpochHit) -> dict[str, Any]:
    return {"rank": rank, "recording": h.recording, "epoch_index": h.epoch_index,
            "clock_time": lookup.hhmmss(h.clock_time), "stage": h.stage, "event_types": h.event_types,
            "score": round(h.score, 4), "subject_id": h.subject_id, "caption": h.caption}


def _resolve_recordings(ctx: ToolContext, names: list[str] | None) -> list[str] | None:
    return [lookup.resolve_recording(ctx.cohort, r) for r in names] if names else None


def search_epochs(ctx: ToolContext, description: str, k: int | None = None, recordings: list[str] | None = None,
                  stages: list[str] | None = None, event_types: list[str] | None = None,
                  phenotype: list[str] | None = None, sex: list[str] | None = None, site: list[str] | None = None,
                  age_min: float | None = None, age_max: float | None = None, hr_min_bpm: float | None = None,
                  hr_max_bpm: float | None = None, spo2_max_pct: float | None = None) -> dict[str, Any]:
    """Epochs whose signals best match a description, with filters on annotations, subjects and the epoch's
    measured heart rate and SpO2 (exact selections from the stored per-epoch features; the description only
    orders what they select)."""
    flt = EpochFilter(recordings=_resolve_recordings(ctx, recordings), stages=stages or None,
                      event_types=event_types or None, phenotype=phenotype or None, sex=sex or None,
                      site=site or None, age_min=age_min, age_max=age_max, hr_min_bpm=hr_min_bpm,
                      hr_max_bpm=hr_max_bpm, spo2_max_pct=spo2_max_pct)
    k = k or ctx.config.search_k
    hits = ctx.cohort.search_text(description, k=k, filters=flt)
    terms = parse_query(description)
    out = [_hit(i + 1, h) for i, h in enumerate(hits)]
    agree = {
        "named_stages": terms.stages, "named_events": terms.events,
        "hits_in_named_stage": sum(h.stage in terms.stages for h in hits) if terms.stages else None,
        "hits_with_named_event": sum(bool(set(h.event_types) & set(terms.events)) for h in hits)
        if terms.events else None,
    }
    filters = {k_: v for k_, v in vars(flt).items() if v is not None}
    why_empty = None
    if not hits:
        absent = [s for s in stages or [] if not stats.count_epochs(ctx.cohort.con, EpochFilter(stages=[s])).rows[0][0]]
        why_empty = (f"no epoch of this cohort is scored {' or '.join(absent)}" if absent
                     else "no epoch meets all the filters")
        ext = ctx.cohort.feature_extremes() if flt.needs_features() else {}
        seen = [f"the highest epoch mean heart rate is {ext['hr_max_bpm']:.1f} bpm" if hr_min_bpm is not None
                and ext.get("hr_max_bpm") is not None else "",
                f"the lowest is {ext['hr_min_bpm']:.1f} bpm" if hr_max_bpm is not None
                and ext.get("hr_min_bpm") is not None else "",
                f"the lowest epoch SpO2 is {ext['spo2_min_pct']:.1f} %" if spo2_max_pct is not None
                and ext.get("spo2_min_pct") is not None else ""]
        if any(seen):
            why_empty += " (in this cohort " + "; ".join(x for x in seen if x) + ")"
    return {
        "why_empty": why_empty,
        "description": description, "query_used": caption_style(description), "filters": filters,
        "hits": out, "annotation_agreement": agree, "figures": [],
        "focus": None,  # a search never moves "this night": the user opens a hit by naming it
        "summary": f"{len(out)} epoch(s) for “{description}”" + (f"; best {hits[0].ref()}" if hits else ""),
    }


def similar_epochs(ctx: ToolContext, recording: str | None = None, epoch: int | None = None,
                   clock_time: str | None = None, k: int | None = None,
                   other_nights_only: bool = False) -> dict[str, Any]:
    """Epochs whose embeddings are closest to a given epoch's."""
    n = ctx.night(recording)
    idx = ctx.epoch_index(n, epoch, clock_time)
    eid = ctx.cohort.epoch_id(n.recording, idx)
    flt = None
    if other_nights_only:
        flt = EpochFilter(recordings=[r for r in ctx.cohort.recordings() if r != n.recording])
    hits = ctx.cohort.similar_epochs(eid, k=k or ctx.config.search_k, filters=flt)
    info = lookup.epoch(ctx.cohort, n, idx)
    return {
        "query_epoch": {"recording": n.recording, "epoch_index": idx, "clock_time": info["clock_time"],
                        "stage": info["stage"], "event_types": info["event_types"],
                        "caption": info["reference_captions"].get("stage_event", "")},
        "hits": [_hit(i + 1, h) for i, h in enumerate(hits)],
        "same_stage": sum(h.stage == info["stage"] for h in hits), "figures": [],
        "focus": {"recording": n.recording, "epoch_index": idx},
        "summary": f"{len(hits)} epoch(s) like {n.recording} epoch {idx}",
    }


def _night_view(h: NightHit) -> dict[str, Any]:
    return {"recording": h.recording, "subject": lookup.jsonable(h.subject),
            "metrics": lookup.jsonable({m: h.metrics.get(m) for m in KEY_METRICS if m in h.metrics})}


def _closest(a: dict[str, Any], b: dict[str, Any], n: int = 3) -> list[str]:
    """Metrics on which two nights agree best (relative difference)."""
    diffs = []
    for m, va in a.items():
        vb = b.get(m)
        if isinstance(va, (int, float)) and isinstance(vb, (int, float)):
            diffs.append((abs(va - vb) / max(abs(va), abs(vb), 1.0), m))
    return [m for _, m in sorted(diffs)[:n]]


def similar_nights(ctx: ToolContext, recording: str | None = None, k: int = 3) -> dict[str, Any]:
    """The nights most like a night, each with both nights' metrics side by side."""
    n = ctx.night(recording)
    me, others = ctx.cohort.similar_nights(n.recording, k=k)
    mine = _night_view(me)
    rows = []
    for h in others:
        v = _night_view(h)
        v["score"] = round(h.score, 4)
        v["side_by_side"] = {m: {"this": mine["metrics"].get(m), "other": v["metrics"].get(m)}
                             for m in mine["metrics"]}
        v["closest_metrics"] = _closest(mine["metrics"], v["metrics"])
        v["same_phenotype"] = (me.subject.get("phenotype") is not None
                               and me.subject.get("phenotype") == h.subject.get("phenotype"))
        rows.append(v)
    return {
        "night": mine, "hits": rows, "figures": [], "focus": {"recording": n.recording},
        "summary": f"{len(rows)} night(s) like {n.recording}" + (f"; closest {rows[0]['recording']}" if rows else ""),
    }


#: The group of nights whose subject attribute was not given.
NOT_GIVEN = "(not given)"


def _nights_by_group(ctx: ToolContext, by: str) -> dict[str, list[str]]:
    """Group value → recordings, from subject attributes (the same bands as :mod:`stats`)."""
    ids = ctx.cohort.recording_ids()
    out: dict[str, list[str]] = {}
    for name, subj, _ in ctx.cohort.night_info(ids).values():
        if by == "age_band":
            age = subj.get("age")
            g = age_band(age)
        elif by == "recording":
            g = name
        else:
            g = subj.get(by)
        out.setdefault(NOT_GIVEN if g is None else str(g), []).append(name)
    return {g: sorted(v) for g, v in sorted(out.items())}


def scoring_table(ctx: ToolContext) -> dict[str, Any]:
    """Who scored what in each night: a person ("manual"), a program ("automatic", named) or nobody, per kind of
    annotation (stages, respiratory events, desaturations, arousals, limb movements), as stored at ingest."""
    kinds = list(SCORING_KIND_NAMES)
    rows, by_state = [], {"manual": [], "automatic": [], "not scored": []}
    for name in ctx.cohort.recordings():
        sc = ctx.cohort.night_record(name).scoring or {}
        row: dict[str, Any] = {"recording": name}
        for k in kinds:
            v = sc.get(k) or {}
            state = v.get("state") or "unknown"
            row[SCORING_KIND_NAMES[k]] = (f"automatic ({v['method'].split(';')[0].strip()})"
                                          if state == "automatic" and v.get("method") else state)
        states = {(sc.get(k) or {}).get("state") for k in kinds}
        for state in by_state:
            if state in states:
                by_state[state].append(name)
        rows.append(row)
    all_manual = [r["recording"] for r in rows if r["recording"] not in by_state["automatic"]
                  and r["recording"] not in by_state["not scored"] and r["recording"] in by_state["manual"]]
    return {"question": "scoring", "by": None, "metric": None, "filters": {},
            "columns": ["recording", *(SCORING_KIND_NAMES[k] for k in kinds)], "rows": rows, "figures": [],
            "focus": None, "all_by_a_person": all_manual, "some_automatic": by_state["automatic"],
            "some_not_scored": by_state["not scored"],
            "summary": f"scoring of {len(rows)} night(s): {len(all_manual)} all by a person, "
                       f"{len(by_state['automatic'])} partly automatic, {len(by_state['not scored'])} partly unscored"}


def cohort_stats(ctx: ToolContext, question: StatsQuestion, by: str | None = None, metric: str | None = None,
                 recordings: list[str] | None = None, stages: list[str] | None = None,
                 event_types: list[str] | None = None, phenotype: list[str] | None = None,
                 sex: list[str] | None = None, site: list[str] | None = None) -> dict[str, Any]:
    """Counts, stage distributions, event counts and metric comparisons, via index/stats.py."""
    if question == "scoring":
        return scoring_table(ctx)
    con = ctx.cohort.con
    flt = EpochFilter(recordings=_resolve_recordings(ctx, recordings), stages=stages or None,
                      event_types=event_types or None, phenotype=phenotype or None, sex=sex or None,
                      site=site or None)
    if by is not None and by not in stats.GROUPS:
        raise ValueError(f"cannot group by {by!r}; choose one of {', '.join(stats.GROUPS)}")
    col = None
    if question == "count_epochs":
        table = stats.count_epochs(con, flt, by)
    elif question == "stage_distribution":
        table = stats.stage_distribution(con, by or "phenotype", flt)
    elif question == "event_counts":
        table = stats.event_counts(con, by or "phenotype")
    elif question == "compare_metric":
        if not metric:
            raise ValueError("compare_metric needs a metric (e.g. ahi_per_h, tst_min, sleep_efficiency_pct)")
        col = resolve_metric(metric, stats.metric_columns(con))
        table = stats.compare_metric(con, col, by or "phenotype")
    elif question in ("count_nights", "list_nights"):
        table = stats.nights_table(con, [resolve_metric(metric, stats.metric_columns(con))] if metric else None)
    else:
        raise ValueError(f"unknown question {question!r}")
    records = lookup.jsonable(table.to_records())
    group_by = by or ("phenotype" if question in ("stage_distribution", "event_counts", "compare_metric") else None)
    result: dict[str, Any] = {
        "question": question, "by": group_by, "metric": col, "filters": {k: v for k, v in vars(flt).items() if v},
        "columns": table.columns, "rows": records, "figures": [], "focus": None,
    }
    if question == "count_nights":
        result["n_nights"] = len(records)
        result["recordings"] = [r["recording"] for r in records]
        if by in NIGHT_GROUPS:
            groups = _nights_by_group(ctx, by)
            result["rows"] = [{by: g, "nights": len(v)} for g, v in groups.items()]
            result["columns"] = [by, "nights"]
    if group_by in NIGHT_GROUPS:
        result["nights_per_group"] = _nights_by_group(ctx, group_by)
    if group_by is not None:
        for rec in result["rows"]:
            if rec.get(group_by) is None:
                rec[group_by] = NOT_GIVEN
    notes = _scoring_notes(ctx, question, col, flt)
    if notes:
        result["scoring_notes"] = notes
    if col is not None:
        per_night = stats.nights_table(con, [col]).to_records()
        ranked = sorted((r for r in per_night if r.get(col) is not None), key=lambda r: -r[col])
        result["per_night"] = lookup.jsonable([{"recording": r["recording"], col: r[col]} for r in ranked])
    result["summary"] = _stats_summary(result, len(records))
    return result


def scoring_kinds(question: str, metric: str | None, flt: EpochFilter) -> list[str]:
    """The kinds of scoring (stages, respiratory, ...) a cohort_stats answer's numbers rest on."""
    if question == "stage_distribution":
        return ["stages"]
    if question == "event_counts":  # every kind of event: one nobody scored has no rows, so the note is all that says so
        return [k for k, types in SCORING_KINDS.items() if types]
    if metric is not None:
        return ["stages"] + ([METRIC_SCORING_KIND[metric]] if metric in METRIC_SCORING_KIND else [])
    if question == "count_epochs":
        kinds = ["stages"] if flt.stages else []
        return kinds + list(dict.fromkeys(k for t in flt.event_types or [] if (k := scoring_kind_of(t))))
    return []


def _scoring_notes(ctx: ToolContext, question: str, metric: str | None,
                   flt: EpochFilter) -> dict[str, dict[str, list[str]]]:
    """kind -> {"automatic": nights a program scored, "not_scored": nights nobody scored}, over the nights the
    answer covers (its recording and subject filters), for the kinds its numbers rest on."""
    kinds = scoring_kinds(question, metric, flt)
    if not kinds:
        return {}
    scope = None
    if flt.recordings or flt.phenotype or flt.sex or flt.site:
        scope = set()
        for name, subj, _ in ctx.cohort.night_info(ctx.cohort.recording_ids()).values():
            if ((not flt.recordings or name in flt.recordings) and (not flt.phenotype or subj.get("phenotype") in flt.phenotype)
                    and (not flt.sex or subj.get("sex") in flt.sex) and (not flt.site or subj.get("site") in flt.site)):
                scope.add(name)
    out = {}
    for kind, d in stats.scoring_notes(ctx.cohort.con, kinds).items():
        kept = {state: [n for n in names if scope is None or n in scope] for state, names in d.items()}
        if any(kept.values()):
            out[kind] = kept
    return out


def _stats_summary(result: dict[str, Any], n_rows: int) -> str:
    q = result["question"]
    if q == "count_nights":
        return f"{result['n_nights']} night(s)"
    what = {"count_epochs": "epoch counts", "stage_distribution": "stage distribution",
            "event_counts": "event counts", "compare_metric": f"{result['metric']}", "list_nights": "nights"}[q]
    return f"{what}{' by ' + result['by'] if result['by'] else ''}: {n_rows} row(s)"
