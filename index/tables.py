"""Whole workspace tables as pandas frames, and small lookups by id: what eval/ and the agent's planner read.

Every function takes the workspace's (read-only) DuckDB connection; the SQL is fixed text with bound
parameters. These are the only reads of ``cohort.duckdb`` outside :mod:`sleeplm.index` queries and stats,
so the schema (:mod:`sleeplm.index.schema`) is a contract of this package alone.
"""

from __future__ import annotations

import json

import duckdb
import numpy as np
import pandas as pd
from sleeplm.encoder.signals.night import apnea_index_per_h, supine_ratio
from sleeplm.encoder.vocab import SLEEP_STAGES, age_band

#: Subject attribute columns of the ``subjects`` table (``attributes`` JSON holds the rest).
SUBJECT_COLUMNS: tuple[str, ...] = ("subject_id", "age", "sex", "bmi", "phenotype", "site")


def has_table(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    """Whether the workspace has a table (``features`` and ``night_metrics`` appear with the first night)."""
    return bool(con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = ?",
                            [name]).fetchone()[0])


def table_columns(con: duckdb.DuckDBPyConnection, name: str) -> list[str]:
    """Column names of a table (empty when the table is absent)."""
    return [r[0] for r in con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = ? ORDER BY ordinal_position",
        [name]).fetchall()]


def epochs_frame(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Every epoch: epoch_id, recording_id, recording, epoch_index, onset_s, stage, event_types (lists)."""
    df = con.execute(
        "SELECT e.epoch_id, e.recording_id, r.name AS recording, e.epoch_index, e.onset_s, e.stage, "
        "e.event_types FROM epochs e JOIN recordings r USING (recording_id) ORDER BY e.epoch_id").df()
    df["event_types"] = [list(v) if v is not None else [] for v in df["event_types"]]
    return df


def epoch_channel_masks(con: duckdb.DuckDBPyConnection, epoch_ids: np.ndarray) -> np.ndarray:
    """bool ``[len(epoch_ids), 10]``: which of the model's input channels each epoch has (``SLEEPLM_CHANNELS`` order)."""
    ids = [int(i) for i in np.asarray(epoch_ids, np.int64)]
    if not ids:
        return np.zeros((0, 10), bool)
    rows = dict(con.execute("SELECT epoch_id, channel_mask FROM epochs WHERE epoch_id IN (SELECT unnest(?))",
                            [ids]).fetchall())
    missing = [i for i in ids if i not in rows]
    if missing:
        raise KeyError(f"no epoch with id {missing[0]} in the workspace")
    return np.array([list(rows[i]) for i in ids], bool)


def events_frame(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Every scored event: recording_id, recording, type, onset_s, duration_s, spo2_nadir, the stage of the epoch
    it starts in (``stage``; UNKNOWN when it starts outside every epoch) and that epoch's body position
    (``position``: supine, left, right, prone, upright; None where not known or without per-epoch features)."""
    position = "f.position" if has_table(con, "features") else "CAST(NULL AS VARCHAR)"
    features = "LEFT JOIN features f ON f.epoch_id = e.epoch_id" if has_table(con, "features") else ""
    return con.execute(
        f"""SELECT ev.recording_id, r.name AS recording, ev.type, ev.onset_s, ev.duration_s, ev.spo2_nadir,
                  coalesce(e.stage, 'UNKNOWN') AS stage, {position} AS position
           FROM events ev JOIN recordings r USING (recording_id)
           ASOF LEFT JOIN epochs e ON e.recording_id = ev.recording_id AND ev.onset_s >= e.onset_s
           {features}
           ORDER BY ev.recording_id, ev.onset_s""").df()


def features_frame(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """The per-epoch feature table (empty frame when the workspace has none)."""
    if not has_table(con, "features"):
        return pd.DataFrame()
    return con.execute("SELECT * FROM features ORDER BY epoch_id").df()


def night_metrics_frame(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """The night-metrics table, one row per recording_id (empty frame when the workspace has none)."""
    if not has_table(con, "night_metrics"):
        return pd.DataFrame(columns=["recording_id"])
    return con.execute("SELECT * FROM night_metrics ORDER BY recording_id").df()


def add_derived_metrics(metrics: dict) -> dict:
    """One night's stored metrics with those derived from them added (``apnea_index_per_h``; NaN where the
    apneas were not scored; ``supine_ratio``, the supine over the non-supine AHI), as :func:`nights_frame` adds them
    to every night."""
    if "n_apneas" in metrics and "tst_min" in metrics:
        ai = apnea_index_per_h(pd.Series([metrics["n_apneas"]], dtype=object), pd.Series([metrics["tst_min"]]))
        metrics["apnea_index_per_h"] = float(ai.iloc[0])
    if "supine_ahi_per_h" in metrics and "non_supine_ahi_per_h" in metrics:
        ratio = supine_ratio(pd.Series([metrics["supine_ahi_per_h"]], dtype=object),
                             pd.Series([metrics["non_supine_ahi_per_h"]], dtype=object))
        metrics["supine_ratio"] = float(ratio.iloc[0])
    return metrics


def sleep_heart_rate(con: duckdb.DuckDBPyConnection, recording_id: int | None = None) -> dict[int, float]:
    """recording_id -> the mean of the per-epoch mean heart rate (bpm) over the epochs scored as sleep with a
    measured heart rate, for every night or one; a night without such epochs (or a workspace without per-epoch
    features) is left out."""
    if not has_table(con, "features"):
        return {}
    rid = None if recording_id is None else int(recording_id)
    rows = con.execute(
        """SELECT e.recording_id, avg(f.hr_mean_bpm) FROM epochs e JOIN features f USING (epoch_id)
           WHERE list_contains(?, e.stage) AND isfinite(f.hr_mean_bpm) AND (? IS NULL OR e.recording_id = ?)
           GROUP BY e.recording_id""", [list(SLEEP_STAGES), rid, rid]).fetchall()
    return {int(r): float(v) for r, v in rows if v is not None}


def parse_scoring(value: object) -> dict[str, dict[str, str]]:
    """``recordings.scoring`` as stored (JSON text, or already a dict): kind -> {state, method, reason}; {} if none."""
    if isinstance(value, str):
        return json.loads(value) if value else {}
    return value if isinstance(value, dict) else {}


def nights_frame(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """One row per night: recording_id, recording, n_epochs, duration_s, missing_channels (list),
    ``scoring`` (dict: kind -> {state, method, reason}), subject attributes (``age_band`` added), extra
    attributes as ``attributes`` (JSON text), every night metric (``summary`` left out), the metrics derived
    from them (``apnea_index_per_h``, ``supine_ratio``) and the sleep heart rate (``hr_sleep_bpm``, :func:`sleep_heart_rate`)."""
    df = con.execute(
        """SELECT r.recording_id, r.name AS recording, r.n_epochs, r.duration_s, r.missing_channels,
                  CAST(r.scoring AS VARCHAR) AS scoring,
                  r.subject_id, s.age, s.sex, s.bmi, s.phenotype, s.site, CAST(s.attributes AS VARCHAR) AS attributes
           FROM recordings r LEFT JOIN subjects s USING (subject_id) ORDER BY r.name""").df()
    df["missing_channels"] = [list(v) if v is not None else [] for v in df["missing_channels"]]
    df["scoring"] = [parse_scoring(v) for v in df["scoring"]]
    df["age_band"] = [age_band(a) for a in df["age"]]
    metrics = night_metrics_frame(con).drop(columns=["summary"], errors="ignore")
    df = df.merge(metrics, on="recording_id", how="left")
    if {"n_apneas", "tst_min"} <= set(df.columns):
        df["apnea_index_per_h"] = apnea_index_per_h(df["n_apneas"], df["tst_min"])
    if {"supine_ahi_per_h", "non_supine_ahi_per_h"} <= set(df.columns):
        df["supine_ratio"] = supine_ratio(df["supine_ahi_per_h"], df["non_supine_ahi_per_h"])
    hr = sleep_heart_rate(con)
    df["hr_sleep_bpm"] = [hr.get(int(r), float("nan")) for r in df["recording_id"]]
    return df


def captions_of(con: duckdb.DuckDBPyConnection, epoch_ids: np.ndarray, track: str) -> dict[int, str]:
    """epoch_id -> reference caption of ``track`` for the given epochs (absent ones left out)."""
    rows = con.execute("SELECT epoch_id, text FROM captions WHERE track = ? AND epoch_id IN (SELECT unnest(?))",
                       [track, [int(i) for i in epoch_ids]]).fetchall()
    return {int(i): t for i, t in rows}


def epoch_vectors_of(con: duckdb.DuckDBPyConnection, epoch_ids: list[int]) -> dict[int, np.ndarray]:
    """epoch_id -> stored epoch vector for the given epochs."""
    rows = con.execute("SELECT epoch_id, vec FROM epoch_vectors WHERE epoch_id IN (SELECT unnest(?))",
                       [[int(i) for i in epoch_ids]]).fetchall()
    return {int(i): np.asarray(v, np.float32) for i, v in rows}


def recording_file(con: duckdb.DuckDBPyConnection, recording_id: int) -> tuple[str, int]:
    """(path of the recording file, number of epochs) of a recording.

    Raises
    ------
    KeyError
        When the workspace has no such recording.
    """
    row = con.execute("SELECT path, n_epochs FROM recordings WHERE recording_id = ?", [int(recording_id)]).fetchone()
    if row is None:
        raise KeyError(f"no recording with id {recording_id}")
    return str(row[0]), int(row[1] or 0)
