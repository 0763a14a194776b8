"""The tools across the cohort: search epochs by description, similar epochs, similar nights,
and cohort questions (counts, distributions, comparisons) answered by :mod:`sleeplm.index.stats`.

Results follow :mod:`sleeplm.agent.night_tools`: JSON-ready dicts with ``summary``, ``focus``,
``figures`` and the evidence (recording, epoch index, clock time per epoch).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

import numpy as np
from sleeplm.encoder.model.facts import event_inputs_present
from sleeplm.encoder.vocab import (
    EVENT_INPUTS,
    SCORING_KIND_NAMES,
    SCORING_KINDS,
    age_band,
    scoring_kind_of,
)
from sleeplm.index import stats
from sleeplm.index.queries import EpochFilter, EpochHit, NightHit
from sleeplm.index.querytext import caption_style, parse_query

from . import executor, lookup
from .context import ToolContext
from .measure_values import Frames
from .measures import event_position
from .query import POSITIONS, Filter, Query
from .vocab import KEY_METRICS, METRIC_SCORING_KIND, event_input_words, resolve_metric

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
                  hr_max_bpm: float | None = None, spo2_max_pct: float | None = None,
                  in_time_order: bool = False) -> dict[str, Any]:
    """Epochs whose signals best match a description, with filters on annotations, subjects and the epoch's
    measured heart rate and SpO2 (exact selections from the stored per-epoch features; the description only
    orders what they select). ``in_time_order`` lists the hits by night and epoch instead ("where does SpO2 drop
    below 85 %")."""
    flt = EpochFilter(recordings=_resolve_recordings(ctx, recordings), stages=stages or None,
                      event_types=event_types or None, phenotype=phenotype or None, sex=sex or None,
                      site=site or None, age_min=age_min, age_max=age_max, hr_min_bpm=hr_min_bpm,
                      hr_max_bpm=hr_max_bpm, spo2_max_pct=spo2_max_pct)
    k = k or ctx.config.search_k
    hits = ctx.cohort.search_text(description, k=k, filters=flt)
    terms = parse_query(description)
    out = [_hit(i + 1, h) for i, h in enumerate(hits)]
    agree = _annotation_agreement(ctx, hits, terms.stages, terms.events)
    position = event_position(description.lower())
    if position and hits:  # "obstructive apnea while supine": the model reads the words; the stored positions check them
        known = [p for p in ctx.cohort.epoch_positions([h.epoch_id for h in hits]).values() if p]
        agree.update({"named_position": position, "position_checked": len(known),
                      "hits_in_named_position": sum(p in POSITIONS[position] for p in known)})
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
        unrecorded = _unrecorded_features(ctx, flt)
        if unrecorded:  # no SpO2 at all in the nights asked about: unknown, not "no epoch drops below 85 %"
            why_empty = (f"no {' or '.join(unrecorded)} was recorded in the epochs asked about, so whether it crossed "
                         "the line there is unknown, not absent")
    # an epoch without any input a named event is read from (a recording with no airflow or belts, asked for
    # apneas) is ranked by nothing about that event
    readable = [e for e in terms.events if e in EVENT_INPUTS]
    blind = 0
    if hits and readable:
        blind = int((~event_inputs_present(readable, ctx.cohort.channel_masks([h.epoch_id for h in hits]))
                     .any(axis=1)).sum())
    # how many epochs the filters select: the description orders them, and only the first k are shown
    n_selected = int(stats.count_epochs(ctx.cohort.con, flt).rows[0][0]) if hits and filters else None
    every = n_selected is not None and n_selected <= len(hits)
    # the model's text search missing the stage it was asked for (a real night the model reads poorly): say how many
    # epochs are scored that stage and how to list them, so "0 of 5 are scored REM" is not where the answer ends
    stage_missed = None
    checked = agree.get("stage_checked") or 0
    if terms.stages and not stages and checked and 2 * (agree["hits_in_named_stage"] or 0) < checked:
        scored = int(stats.count_epochs(ctx.cohort.con, dataclasses.replace(flt, stages=list(terms.stages))).rows[0][0])
        stage_missed = {"stages": list(terms.stages), "n_scored": scored}
    unchecked = None
    if hits and not terms.stages and not terms.events and not (in_time_order and every):
        unchecked = _unchecked_search(ctx)  # (all the selected epochs, in time order: no order of the model's to check)
    if in_time_order:
        out = sorted(out, key=lambda h: (h["recording"], h["epoch_index"]))
    return {
        "n_selected": n_selected, "in_time_order": in_time_order,
        "why_empty": why_empty, "unchecked": unchecked, "stage_missed": stage_missed,
        "hits_without_inputs": blind, "event_inputs": event_input_words(readable) if blind else None,
        "description": description, "query_used": caption_style(description), "filters": filters,
        "hits": out, "annotation_agreement": agree, "figures": [],
        "focus": None,  # a search never moves "this night": the user opens a hit by naming it
        "summary": f"{len(out)} epoch(s) for “{description}”" + (f"; best {hits[0].ref()}" if hits else ""),
    }


#: Each per-epoch feature filter, a bound every recorded value meets, and the measure in words.
_FEATURE_ANY = {"hr_min_bpm": (-1e9, "heart rate"), "hr_max_bpm": (1e9, "heart rate"), "spo2_max_pct": (1e9, "SpO2")}


def _unrecorded_features(ctx: ToolContext, flt: EpochFilter) -> list[str]:
    """The measures a feature filter of ``flt`` names that no epoch under its other filters has a value of."""
    rest = dataclasses.replace(flt, **dict.fromkeys(_FEATURE_ANY))
    out = []
    for name, (bound, what) in _FEATURE_ANY.items():
        if getattr(flt, name) is not None and what not in out and \
                not stats.count_epochs(ctx.cohort.con, dataclasses.replace(rest, **{name: bound})).rows[0][0]:
            out.append(what)
    return out


def _annotation_agreement(ctx: ToolContext, hits: list[EpochHit], stages: list[str],
                          events: list[str]) -> dict[str, Any]:
    """How many hits carry the stage / event the description names, counted only in nights where that kind of
    annotation was scored (a night nobody scored cannot confirm or refute a hit), with the nights left out and the
    nights a program scored."""
    scoring = {name: ctx.cohort.night_record(name).scoring or {} for name in {h.recording for h in hits}}

    def state(name: str, kind: str | None) -> str | None:
        return (scoring[name].get(kind) or {}).get("state") if kind else None

    out: dict[str, Any] = {"named_stages": stages, "named_events": events, "hits_in_named_stage": None,
                           "hits_with_named_event": None}
    for key, named, kinds in (("stage", stages, ["stages"]),
                              ("event", events, list(dict.fromkeys(scoring_kind_of(e) for e in events)))):
        if not named:
            continue
        checked = [h for h in hits if any(state(h.recording, k) != "not scored" for k in kinds)]
        hit = (lambda h: h.stage in named) if key == "stage" else (lambda h: bool(set(h.event_types) & set(named)))
        out["hits_in_named_stage" if key == "stage" else "hits_with_named_event"] = sum(hit(h) for h in checked)
        out[f"{key}_checked"] = len(checked)
        out[f"{key}_not_scored_in"] = sorted({h.recording for h in hits if h not in checked})
        out[f"{key}_by_program_in"] = sorted({h.recording for h in checked
                                              if any(state(h.recording, k) == "automatic" for k in kinds)})
    return out


def _unchecked_search(ctx: ToolContext) -> dict[str, Any]:
    """For a search whose description names no sleep stage or scored event (nothing the annotations can confirm):
    what the model's text search was measured to do on the caption tracks other than stage/event, or that
    nothing was measured for these weights."""
    record = ctx.cohort.measured_text_search()
    if record is None:
        return {"measured": None}
    rows = {t: v for t, v in record["text_to_signal"].items() if t != "stage_event"}
    return {"measured": rows, "stage_event": record["text_to_signal"].get("stage_event"),
            "measured_on": (record.get("measured_on") or {}).get("cohort"), "source": record.get("source")}


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


#: A stored metric counts as close between two nights within this many of the cohort's SDs of it.
CLOSE_SD = 0.5


def _closest(a: dict[str, Any], b: dict[str, Any], spread: dict[str, float], n: int = 3) -> list[str]:
    """Metrics on which two nights agree best, by their difference in units of the cohort's SD of each metric
    (``spread``; a relative difference called 95.5 % and 55.6 % SpO2 close), at most :data:`CLOSE_SD` apart."""
    diffs = []
    for m, va in a.items():
        vb, sd = b.get(m), spread.get(m)
        if isinstance(va, (int, float)) and isinstance(vb, (int, float)) and sd and np.isfinite(sd) and sd > 0:
            z = abs(va - vb) / sd
            if z <= CLOSE_SD:
                diffs.append((z, m))
    return [m for _, m in sorted(diffs)[:n]]


def _cohort_spread(views: list[dict[str, Any]]) -> dict[str, float]:
    """The SD of each key metric over the nights ``views`` (every night of the cohort)."""
    out = {}
    for m in KEY_METRICS:
        x = np.array([v["metrics"].get(m) for v in views if isinstance(v["metrics"].get(m), (int, float))], float)
        x = x[np.isfinite(x)]
        if len(x) >= 2:
            out[m] = float(x.std(ddof=1))
    return out


def similar_nights(ctx: ToolContext, recording: str | None = None, k: int = 3) -> dict[str, Any]:
    """The nights most like a night, each with both nights' metrics side by side."""
    n = ctx.night(recording)
    me, everyone = ctx.cohort.similar_nights(n.recording, k=max(k, len(ctx.cohort.recordings())))
    others = everyone[:k]  # the k most similar; every night gives the cohort's spread of each metric
    spread = _cohort_spread([_night_view(me), *(_night_view(h) for h in everyone)])
    mine = _night_view(me)
    mine["scoring"] = ctx.cohort.night_record(me.recording).scoring
    rows = []
    for h in others:
        v = _night_view(h)
        v["scoring"] = ctx.cohort.night_record(h.recording).scoring
        v["score"] = round(h.score, 4)
        v["side_by_side"] = {m: {"this": mine["metrics"].get(m), "other": v["metrics"].get(m)}
                             for m in mine["metrics"]}
        v["closest_metrics"] = _closest(mine["metrics"], v["metrics"], spread)
        v["same_phenotype"] = (me.subject.get("phenotype") is not None
                               and me.subject.get("phenotype") == h.subject.get("phenotype"))
        rows.append(v)
    return {
        "night": mine, "hits": rows, "figures": [], "focus": {"recording": n.recording},
        "summary": f"{len(rows)} night(s) like {n.recording}" + (f"; closest {rows[0]['recording']}" if rows else ""),
    }


#: The group of nights whose subject attribute was not given.
NOT_GIVEN = "(not given)"


def _nights_by_group(ctx: ToolContext, by: str, scope: set[str] | None = None) -> dict[str, list[str]]:
    """Group value → recordings (those in ``scope``, default all), from subject attributes (the same bands as
    :mod:`stats`)."""
    ids = ctx.cohort.recording_ids()
    out: dict[str, list[str]] = {}
    for name, subj, _ in ctx.cohort.night_info(ids).values():
        if scope is not None and name not in scope:
            continue
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
                                          if state == "automatic" and v.get("method") else
                                          "from file" if state == "manual" else state)
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
            "summary": f"scoring of {len(rows)} night(s): {len(all_manual)} all from supplied files, "
                       f"{len(by_state['automatic'])} partly automatic, {len(by_state['not scored'])} partly unscored"}


#: Questions answered per night: their filters select nights (recordings, subject attributes), never epochs.
NIGHT_QUESTIONS = ("event_counts", "compare_metric", "count_nights", "list_nights")


def cohort_stats(ctx: ToolContext, question: StatsQuestion, by: str | None = None, metric: str | None = None,
                 recordings: list[str] | None = None, stages: list[str] | None = None,
                 event_types: list[str] | None = None, phenotype: list[str] | None = None,
                 sex: list[str] | None = None, site: list[str] | None = None, age_min: float | None = None,
                 age_max: float | None = None, hr_min_bpm: float | None = None, hr_max_bpm: float | None = None,
                 spo2_max_pct: float | None = None, nights_where: list[Any] | None = None) -> dict[str, Any]:
    """Counts, stage distributions, event counts and metric comparisons, via index/stats.py.

    Every filter given restricts the answer or is refused with the reason: a per-night question (event counts,
    a metric by group, the nights) takes the filters that select nights (recordings, phenotype, sex, site,
    age), not those that select epochs (stages, events, heart rate, SpO2). ``nights_where`` (query_cohort's
    filters: subject attributes incl. BMI, night-metric thresholds, missing channels) restricts every question to
    the nights that meet it.
    """
    if question == "scoring":
        return scoring_table(ctx)
    con = ctx.cohort.con
    flt = EpochFilter(recordings=_resolve_recordings(ctx, recordings), stages=stages or None,
                      event_types=event_types or None, phenotype=phenotype or None, sex=sex or None,
                      site=site or None, age_min=age_min, age_max=age_max, hr_min_bpm=hr_min_bpm,
                      hr_max_bpm=hr_max_bpm, spo2_max_pct=spo2_max_pct)
    if by is not None and by not in stats.GROUPS:
        raise ValueError(f"cannot group by {by!r}; choose one of {', '.join(stats.GROUPS)}")
    if question in NIGHT_QUESTIONS and flt.epoch_fields():
        raise ValueError(f"{question} is a table of nights: it cannot be restricted by "
                         f"{', '.join(flt.epoch_fields())}, which select epochs (count_epochs and stage_distribution "
                         "take them)")
    conditions = [executor.filter_text(f) for f in _night_conditions(nights_where)]
    if nights_where:
        met = executor.selected(Frames(ctx), Query("list", filters=_night_conditions(nights_where)))
        kept = [r for r in (flt.recordings or met) if r in met]
        if not kept:
            return {"question": question, "by": by, "metric": None, "filters": _filter_words(flt, conditions),
                    "columns": [], "rows": [], "figures": [], "focus": None, "no_night": True,
                    "summary": f"no night meets {' and '.join(conditions)}"}
        flt.recordings = kept
    col = None
    unmeasured = stats.unmeasured_epochs(con, flt) if question in ("count_epochs", "stage_distribution") else {}
    if question == "count_epochs":
        table = stats.count_epochs(con, flt, by)
    elif question == "stage_distribution":
        table = stats.stage_distribution(con, by or "phenotype", flt)
    elif question == "event_counts":
        table = stats.event_counts(con, by or "phenotype", flt)
    elif question == "compare_metric":
        if not metric:
            raise ValueError("compare_metric needs a metric (e.g. ahi_per_h, tst_min, sleep_efficiency_pct)")
        col = resolve_metric(metric, stats.metric_columns(con))
        table = stats.compare_metric(con, col, by or "phenotype", flt)
    elif question in ("count_nights", "list_nights"):
        table = stats.nights_table(con, [resolve_metric(metric, stats.metric_columns(con))] if metric else None,
                                   flt)
    else:
        raise ValueError(f"unknown question {question!r}")
    scope = None if flt.nights_only().is_empty() else set(stats.nights_matching(con, flt))
    records = lookup.jsonable(table.to_records())
    group_by = by or ("phenotype" if question in ("stage_distribution", "event_counts", "compare_metric") else None)
    result: dict[str, Any] = {
        "question": question, "by": group_by, "metric": col, "filters": _filter_words(flt, conditions),
        "columns": table.columns, "rows": records, "figures": [], "focus": None,
    }
    if question == "count_nights":
        result["n_nights"] = len(records)
        result["recordings"] = [r["recording"] for r in records]
        if by in NIGHT_GROUPS:
            groups = _nights_by_group(ctx, by, scope)
            result["rows"] = [{by: g, "nights": len(v)} for g, v in groups.items()]
            result["columns"] = [by, "nights"]
    if group_by in NIGHT_GROUPS:
        result["nights_per_group"] = _nights_by_group(ctx, group_by, scope)
    if group_by is not None:
        for rec in result["rows"]:
            if rec.get(group_by) is None:
                rec[group_by] = NOT_GIVEN
    if unmeasured:
        result["unmeasured"] = unmeasured
    notes = _scoring_notes(ctx, question, col, flt, scope)
    if notes:
        result["scoring_notes"] = notes
    if col is not None:
        per_night = stats.nights_table(con, [col], flt).to_records()
        ranked = sorted((r for r in per_night if r.get(col) is not None), key=lambda r: -r[col])
        result["per_night"] = lookup.jsonable([{"recording": r["recording"], col: r[col]} for r in ranked])
    result["summary"] = _stats_summary(result, len(records))
    return result


def _night_conditions(nights_where: list[Any] | None) -> list[Filter]:
    out = []
    for f in nights_where or []:
        d = f.model_dump() if hasattr(f, "model_dump") else dict(f)
        out.append(Filter(d["field"], d["op"], d["value"]))
    return out


def _filter_words(flt: EpochFilter, conditions: list[str]) -> dict[str, str]:
    """What an answer was restricted to, in words: name -> "stage N2", "heart rate > 100 bpm", "AHI > 15"."""
    words = {"recordings": lambda v: "nights " + ", ".join(v), "stages": lambda v: "stage " + "/".join(v),
             "event_types": lambda v: "overlapping " + " or ".join(e.replace("_", " ") for e in v),
             "phenotype": lambda v: "phenotype " + " or ".join(v), "sex": lambda v: "sex " + "/".join(v),
             "site": lambda v: "site " + " or ".join(v), "age_min": lambda v: f"age ≥ {v:g}",
             "age_max": lambda v: f"age ≤ {v:g}", "hours_min": lambda v: f"from hour {v:g} of the recording",
             "hours_max": lambda v: f"before hour {v:g} of the recording",
             "hr_min_bpm": lambda v: f"epoch heart rate > {v:g} bpm", "hr_max_bpm": lambda v: f"epoch heart rate < {v:g} bpm",
             "spo2_max_pct": lambda v: f"epoch SpO2 nadir ≤ {v:g} %"}
    out = {k: words[k](v) for k, v in vars(flt).items() if v is not None and v != [] and k in words}
    if conditions:
        out["nights_where"] = "nights with " + " and ".join(conditions)
    return out


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


def _scoring_notes(ctx: ToolContext, question: str, metric: str | None, flt: EpochFilter,
                   scope: set[str] | None) -> dict[str, dict[str, list[str]]]:
    """kind -> {"automatic": nights a program scored, "not_scored": nights nobody scored}, over the nights the
    answer covers (``scope``: those its filters select; None = every night), for the kinds its numbers rest on."""
    kinds = scoring_kinds(question, metric, flt)
    if not kinds:
        return {}
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
