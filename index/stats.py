"""Cohort questions over DuckDB: counts, distributions, night metrics, comparisons by subject attribute.

Column names a caller may choose (a metric, a grouping attribute) are checked against the
workspace's own columns before they reach SQL; values are always bound parameters. The
connection is the read-only one of :class:`~sleeplm.index.queries.Cohort`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import duckdb

from .queries import EPOCH_FROM, EpochFilter
from sleeplm.encoder.vocab import age_band_sql

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


def stage_distribution(con: duckdb.DuckDBPyConnection, by: str = "phenotype",
                       filters: EpochFilter | None = None) -> Table:
    """Percent of scored epochs in each stage, per group."""
    where, params = (filters or EpochFilter()).where()
    g = _group(by)
    sql = f"""
        SELECT {g} AS {by},
               round(100 * avg(CASE WHEN e.stage = 'W' THEN 1 ELSE 0 END), 1) AS w_pct,
               round(100 * avg(CASE WHEN e.stage = 'N1' THEN 1 ELSE 0 END), 1) AS n1_pct,
               round(100 * avg(CASE WHEN e.stage = 'N2' THEN 1 ELSE 0 END), 1) AS n2_pct,
               round(100 * avg(CASE WHEN e.stage = 'N3' THEN 1 ELSE 0 END), 1) AS n3_pct,
               round(100 * avg(CASE WHEN e.stage = 'REM' THEN 1 ELSE 0 END), 1) AS rem_pct,
               count(*) AS epochs
        FROM {EPOCH_FROM} WHERE {where} AND e.stage != 'UNKNOWN' GROUP BY 1 ORDER BY 1 NULLS LAST"""
    return _fetch(con, sql, params)


def event_counts(con: duckdb.DuckDBPyConnection, by: str = "phenotype") -> Table:
    """Scored events per type and group, with the per-night mean."""
    if by not in ("phenotype", "sex", "site", "age_band", "recording"):
        raise ValueError(f"cannot group events by {by!r}")
    g = _group(by)
    sql = f"""
        SELECT {g} AS {by}, ev.type AS event_type, count(*) AS events,
               round(count(*) / count(DISTINCT r.recording_id), 1) AS per_night
        FROM events ev JOIN recordings r USING (recording_id) LEFT JOIN subjects s USING (subject_id)
        GROUP BY 1, 2 ORDER BY 1 NULLS LAST, 2"""
    return _fetch(con, sql, [])


def compare_metric(con: duckdb.DuckDBPyConnection, metric: str, by: str = "phenotype") -> Table:
    """Mean, SD, min, max and n of a night metric per group of subjects."""
    available = metric_columns(con)
    if metric not in available:
        raise ValueError(f"unknown night metric {metric!r}; available: {', '.join(available)}")
    if by in ("stage",):
        raise ValueError("night metrics cannot be grouped by stage")
    g = _group(by)
    sql = f"""
        SELECT {g} AS {by}, count(*) AS nights, round(avg(m."{metric}"), 2) AS mean,
               round(stddev_samp(m."{metric}"), 2) AS sd, round(min(m."{metric}"), 2) AS min,
               round(max(m."{metric}"), 2) AS max
        FROM night_metrics m JOIN recordings r USING (recording_id) LEFT JOIN subjects s USING (subject_id)
        GROUP BY 1 ORDER BY 1 NULLS LAST"""
    return _fetch(con, sql, [])


def nights_table(con: duckdb.DuckDBPyConnection, metrics: list[str] | None = None) -> Table:
    """One row per night: name, subject attributes and the chosen (default: key) metrics."""
    available = metric_columns(con)
    metrics = metrics or [m for m in ("tst_min", "sleep_efficiency_pct", "ahi_per_h", "odi_per_h", "n3_pct",
                                      "rem_pct", "waso_min") if m in available]
    unknown = [m for m in metrics if m not in available]
    if unknown:
        raise ValueError(f"unknown night metrics {unknown}; available: {', '.join(available)}")
    cols = ", ".join(f'round(m."{m}", 1) AS "{m}"' for m in metrics)
    sql = f"""SELECT r.name AS recording, s.subject_id, s.age, s.sex, s.phenotype, r.n_epochs{', ' + cols if cols else ''}
              FROM recordings r LEFT JOIN subjects s USING (subject_id) LEFT JOIN night_metrics m USING (recording_id)
              ORDER BY r.name"""
    return _fetch(con, sql, [])
