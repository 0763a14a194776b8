"""Cohort questions over DuckDB: counts, distributions, night metrics, comparisons by subject attribute.

Column names a caller may choose (a metric, a grouping attribute) are checked against the
workspace's own columns before they reach SQL; values are always bound parameters. The
connection is the read-only one of :class:`~sleeplm.index.queries.Cohort`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import duckdb
from sleeplm.encoder.vocab import (
    EVENT_TYPES,
    SCORING_KINDS,
    age_band_sql,
    scoring_kind_of,
)

from .queries import EPOCH_FROM, EpochFilter
from .tables import has_table, parse_scoring

GROUPS = ("phenotype", "sex", "site", "age_band", "stage", "recording")
_GROUP_SQL = {
    "phenotype": "s.phenotype", "sex": "s.sex", "site": "s.site", "stage": "e.stage", "recording": "r.name",
    "age_band": age_band_sql("s.age"),
}


@dataclass
class Table:
    """A small result table (column names + rows) that prints and serialises well."""

    columns: list[str]
    rows: list[tuple[Any, ...]]

    def to_records(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, r)) for r in self.rows]


def _fetch(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any]) -> Table:
    rel = con.execute(sql, params)
    return Table([d[0] for d in rel.description], rel.fetchall())


def metric_columns(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Numeric night-metric columns available in this workspace."""
    rows = con.execute(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'night_metrics'"
    ).fetchall()
    return [c for c, t in rows if c != "recording_id" and t in ("DOUBLE", "BIGINT", "INTEGER", "FLOAT")]


def _group(by: str) -> str:
    if by not in _GROUP_SQL:
        raise ValueError(f"cannot group by {by!r}; choose one of {list(GROUPS)}")
    return _GROUP_SQL[by]


def count_epochs(con: duckdb.DuckDBPyConnection, filters: EpochFilter | None = None, by: str | None = None) -> Table:
    """Number of epochs matching ``filters``, optionally per group."""
    where, params = (filters or EpochFilter()).where()
    if by is None:
        return _fetch(con, f"SELECT count(*) AS epochs FROM {EPOCH_FROM} WHERE {where}", params)
    g = _group(by)
    return _fetch(con, f"SELECT {g} AS {by}, count(*) AS epochs FROM {EPOCH_FROM} WHERE {where} "
                       f"GROUP BY 1 ORDER BY 1 NULLS LAST", params)


#: Per-epoch feature column each feature filter of :class:`EpochFilter` reads, and its name in words.
FEATURE_FILTER_COLUMNS = {"hr_min_bpm": ("hr_mean_bpm", "heart rate"), "hr_max_bpm": ("hr_mean_bpm", "heart rate"),
                          "spo2_max_pct": ("spo2_min_pct", "SpO2")}


def unmeasured_epochs(con: duckdb.DuckDBPyConnection, filters: EpochFilter) -> dict[str, dict[str, int]]:
    """For each per-epoch measure ``filters`` selects on (heart rate, SpO2): the epochs its other fields select that
    have no value of it, per night (measure in words -> recording -> epochs). Such an epoch is neither above nor
    below a threshold: it is unknown, so a count that selects on the measure leaves it out and should say so.

    Raises
    ------
    ValueError
        When the workspace stores no per-epoch features at all.
    """
    used = dict.fromkeys(FEATURE_FILTER_COLUMNS[k] for k in filters.FEATURE_FILTERS if getattr(filters, k) is not None)
    if not used:
        return {}
    if not has_table(con, "features"):
        raise ValueError("this workspace stores no per-epoch features (heart rate, SpO2), so epochs cannot be selected "
                         "by them; re-ingest with the current version to add them")
    where, params = replace(filters, hr_min_bpm=None, hr_max_bpm=None, spo2_max_pct=None).where()
    out: dict[str, dict[str, int]] = {}
    for col, words in used:
        rows = con.execute(f"SELECT r.name, count(*) FROM {EPOCH_FROM} LEFT JOIN features f ON f.epoch_id = e.epoch_id "
                           f"WHERE {where} AND f.{col} IS NULL GROUP BY 1 ORDER BY 1", params).fetchall()
        if rows:
            out[words] = {name: int(n) for name, n in rows}
    return out


def nights_matching(con: duckdb.DuckDBPyConnection, filters: EpochFilter) -> list[str]:
    """Names of the nights the night-selecting fields of ``filters`` select (recordings, subject attributes; the
    fields that select epochs within a night are ignored here)."""
    where, params = filters.nights_only().where()
    return [r[0] for r in con.execute(f"SELECT r.name FROM recordings r LEFT JOIN subjects s USING (subject_id) "
                                      f"WHERE {where} ORDER BY 1", params).fetchall()]


def stage_distribution(con: duckdb.DuckDBPyConnection, by: str = "phenotype",
                       filters: EpochFilter | None = None) -> Table:
    """Percent of scored epochs in each stage, per group (``w_pct`` ... ``rem_pct``), and each sleep stage's percent
    of the sleep epochs (``n1_sleep_pct`` ... ``rem_sleep_pct``: for one night, the AASM's % of total sleep time;
    for a group, of the group's pooled sleep epochs; NULL where the group has no sleep epoch)."""
    where, params = (filters or EpochFilter()).where()
    g = _group(by)
    sleep = "e.stage IN ('N1', 'N2', 'N3', 'REM')"
    of_sleep = ",\n".join(
        f"round(100 * sum(CASE WHEN e.stage = '{st}' THEN 1 ELSE 0 END) / nullif(sum(CASE WHEN {sleep} THEN 1 ELSE 0 END), 0), 1)"
        f" AS {st.lower()}_sleep_pct" for st in ("N1", "N2", "N3", "REM"))
    sql = f"""
        SELECT {g} AS {by},
               round(100 * avg(CASE WHEN e.stage = 'W' THEN 1 ELSE 0 END), 1) AS w_pct,
               round(100 * avg(CASE WHEN e.stage = 'N1' THEN 1 ELSE 0 END), 1) AS n1_pct,
               round(100 * avg(CASE WHEN e.stage = 'N2' THEN 1 ELSE 0 END), 1) AS n2_pct,
               round(100 * avg(CASE WHEN e.stage = 'N3' THEN 1 ELSE 0 END), 1) AS n3_pct,
               round(100 * avg(CASE WHEN e.stage = 'REM' THEN 1 ELSE 0 END), 1) AS rem_pct,
               {of_sleep},
               count(*) AS epochs
        FROM {EPOCH_FROM} WHERE {where} AND e.stage != 'UNKNOWN' GROUP BY 1 ORDER BY 1 NULLS LAST"""
    return _fetch(con, sql, params)


def night_groups(con: duckdb.DuckDBPyConnection, by: str,
                 filters: EpochFilter | None = None) -> dict[str, tuple[Any, dict[str, dict[str, str]]]]:
    """recording name -> (its group under ``by``, its scoring: kind -> {state, method, reason} as stored at ingest),
    for the nights ``filters`` selects (default every night)."""
    if by == "stage":
        raise ValueError("nights cannot be grouped by stage")
    g = _group(by)
    where, params = (filters or EpochFilter()).night_where()
    rows = con.execute(f"SELECT r.name, {g}, CAST(r.scoring AS VARCHAR) FROM recordings r "
                       f"LEFT JOIN subjects s USING (subject_id) WHERE {where} ORDER BY r.name", params).fetchall()
    return {name: (grp, parse_scoring(sc)) for name, grp, sc in rows}


def is_scored(scoring: dict[str, dict[str, str]], kind: str | None) -> bool:
    """Whether a person or a program scored ``kind`` in a night (a night ingested without the record: unknown = no)."""
    return kind is not None and (scoring.get(kind) or {}).get("state") in ("manual", "automatic")


def event_counts(con: duckdb.DuckDBPyConnection, by: str = "phenotype", filters: EpochFilter | None = None) -> Table:
    """Events per type and group, with the mean per night *over the nights where that type was scored*.

    A night where nobody scored a type (``recordings.scoring``: "not scored") is left out of that type's
    denominator (its count is unknown, not zero) and counted in ``nights_not_scored``; a night that was
    scored and has none counts as zero. A group where no night scored a type gets no row for it. ``filters``
    selects nights (recordings, subject attributes; :meth:`EpochFilter.night_where`).
    """
    if by not in ("phenotype", "sex", "site", "age_band", "recording"):
        raise ValueError(f"cannot group events by {by!r}")
    nights = night_groups(con, by, filters)
    counts = con.execute("SELECT r.name, ev.type, count(*) FROM events ev JOIN recordings r USING (recording_id) "
                         "GROUP BY 1, 2").fetchall()
    n_events = {(name, t): int(n) for name, t, n in counts}
    types = sorted({t for _, t in n_events}, key=lambda t: (EVENT_TYPES.index(t) if t in EVENT_TYPES else 99, t))
    groups = sorted({grp for grp, _ in nights.values()}, key=lambda v: (v is None, str(v)))
    rows = []
    for grp in groups:
        members = [name for name, (gv, _) in nights.items() if gv == grp]
        for t in types:
            kind = scoring_kind_of(t)
            scored = [n for n in members if is_scored(nights[n][1], kind) or n_events.get((n, t))]
            if not scored:
                continue
            total = sum(n_events.get((n, t), 0) for n in scored)
            rows.append((grp, t, total, len(scored), round(total / len(scored), 1), len(members) - len(scored)))
    return Table([by, "event_type", "events", "nights_scored", "per_night", "nights_not_scored"], rows)


def scoring_notes(con: duckdb.DuckDBPyConnection, kinds: list[str]) -> dict[str, dict[str, list[str]]]:
    """For each kind of scoring: the nights a program scored (``automatic``) and the nights nobody scored
    (``not_scored``), so a table resting on them can say so. Kinds with neither are left out."""
    nights = night_groups(con, "recording")
    out: dict[str, dict[str, list[str]]] = {}
    for kind in kinds:
        states = {name: (sc.get(kind) or {}).get("state") for name, (_, sc) in nights.items()}
        auto = sorted(n for n, s in states.items() if s == "automatic")
        missing = sorted(n for n, (_, sc) in nights.items() if not is_scored(sc, kind))
        if auto or missing:
            out[kind] = {"automatic": auto, "not_scored": missing}
    return out


def scoring_summary(scoring: dict[str, dict[str, str]]) -> str:
    """One cell for a night's scoring: "person", or which kinds a program scored and which nobody did."""
    if not scoring:
        return "unknown"
    auto = [k for k in SCORING_KINDS if (scoring.get(k) or {}).get("state") == "automatic"]
    none = [k for k in SCORING_KINDS if not is_scored(scoring, k)]

    def names(kinds: list[str]) -> str:
        return ", ".join(k.replace("_", " ") for k in kinds)

    parts = ([f"program: {names(auto)}"] if auto else []) + ([f"nobody: {names(none)}"] if none else [])
    return "; ".join(parts) or "person"


def compare_metric(con: duckdb.DuckDBPyConnection, metric: str, by: str = "phenotype",
                   filters: EpochFilter | None = None) -> Table:
    """Mean, SD, min, max of a night metric per group of subjects; ``nights`` = nights with a value, ``no_value`` =
    nights without one (e.g. not staged or that kind not scored: unknown, so left out of the mean)."""
    available = metric_columns(con)
    if metric not in available:
        raise ValueError(f"unknown night metric {metric!r}; available: {', '.join(available)}")
    if by in ("stage",):
        raise ValueError("night metrics cannot be grouped by stage")
    g = _group(by)
    where, params = (filters or EpochFilter()).night_where()
    sql = f"""
        SELECT {g} AS {by}, count(m."{metric}") AS nights, round(avg(m."{metric}"), 2) AS mean,
               round(stddev_samp(m."{metric}"), 2) AS sd, round(min(m."{metric}"), 2) AS min,
               round(max(m."{metric}"), 2) AS max, count(*) - count(m."{metric}") AS no_value
        FROM recordings r LEFT JOIN night_metrics m USING (recording_id) LEFT JOIN subjects s USING (subject_id)
        WHERE {where} GROUP BY 1 ORDER BY 1 NULLS LAST"""
    return _fetch(con, sql, params)


def nights_table(con: duckdb.DuckDBPyConnection, metrics: list[str] | None = None,
                 filters: EpochFilter | None = None) -> Table:
    """One row per night: name, subject attributes, the chosen (default: key) metrics and who scored it
    (``scored_by``: "person", or the kinds a program scored and the kinds nobody scored, :func:`scoring_summary`)."""
    available = metric_columns(con)
    metrics = metrics or [m for m in ("tst_min", "sleep_efficiency_pct", "ahi_per_h", "odi_per_h", "n3_pct",
                                      "rem_pct", "waso_min") if m in available]
    unknown = [m for m in metrics if m not in available]
    if unknown:
        raise ValueError(f"unknown night metrics {unknown}; available: {', '.join(available)}")
    cols = ", ".join(f'round(m."{m}", 1) AS "{m}"' for m in metrics)
    where, params = (filters or EpochFilter()).night_where()
    sql = f"""SELECT r.name AS recording, s.subject_id, s.age, s.sex, s.phenotype, r.n_epochs{', ' + cols if cols else ''},
                     CAST(r.scoring AS VARCHAR) AS scored_by
              FROM recordings r LEFT JOIN subjects s USING (subject_id) LEFT JOIN night_metrics m USING (recording_id)
              WHERE {where} ORDER BY r.name"""
    table = _fetch(con, sql, params)
    table.rows = [(*r[:-1], scoring_summary(parse_scoring(r[-1]))) for r in table.rows]
    return table
