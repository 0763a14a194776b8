"""Typed lookups of one night, one epoch and the cohort's names: the part of the :class:`Cohort` API the
agent's tools use for evidence (recording, epoch index, clock time).

:class:`CohortLookups` is mixed into :class:`sleeplm.index.queries.Cohort`; it needs only ``self.con``
(the workspace's read-only DuckDB connection). SQL here is fixed text with bound parameters; a column
name a caller chooses is checked against a fixed list first.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import duckdb
import pandas as pd
from sleeplm.encoder.vocab import SLEEP_STAGES

from . import ood, tables


@dataclass(frozen=True)
class NightRecord:
    """One recording's identity and clock."""

    recording_id: int
    recording: str
    subject_id: str | None
    path: str
    start_time: datetime | None
    duration_s: float
    n_epochs: int
    missing_channels: list[str] = field(default_factory=list)
    #: Who scored each kind of annotation (:data:`~sleeplm.encoder.vocab.SCORING_KINDS`):
    #: ``{kind: {"state": "manual" | "automatic" | "not scored", "method": ..., "reason": ...}}``.
    scoring: dict[str, dict[str, str]] = field(default_factory=dict)
    #: sha256 of the recording file as ingested (what generated captions of this night are keyed by).
    sha256: str = ""

    def clock_at(self, onset_s: float) -> datetime | None:
        """Wall-clock time ``onset_s`` seconds after the start (None when the file has no start time)."""
        return self.start_time + timedelta(seconds=float(onset_s)) if self.start_time else None


@dataclass(frozen=True)
class EpochRow:
    """One epoch of a night as stored: index, onset, clock time, annotated stage and overlapping events."""

    epoch_index: int
    onset_s: float
    clock_time: datetime | None
    stage: str
    event_types: list[str]
    #: Body position of the epoch where it was asked for and read ("supine", "left" ...); None when not known.
    position: str | None = None


@dataclass(frozen=True)
class EventRow:
    """One scored event: type, onset and duration (s from the recording start), SpO2 nadir (% or None)."""

    type: str
    onset_s: float
    duration_s: float
    spo2_nadir: float | None


@dataclass(frozen=True)
class EpochDetail:
    """One epoch with its channel mask and reference caption per track."""

    epoch_id: int
    epoch_index: int
    onset_s: float
    clock_time: datetime | None
    stage: str
    event_types: list[str]
    channel_mask: list[bool]
    captions: dict[str, str]
    #: The epoch's measured ``hr_mean_bpm``, ``spo2_mean_pct`` and ``spo2_min_pct`` (None where not measured).
    measured: dict[str, float | None] = field(default_factory=dict)


#: Per-epoch features an epoch's description reports.
EPOCH_MEASURES: tuple[str, ...] = ("hr_mean_bpm", "spo2_mean_pct", "spo2_min_pct")


class CohortLookups:
    """Lookups by name and index; see the module docstring.

    Small whole-workspace answers (names, night records, the nights table, stored scores) are kept in
    ``self.memo`` when the cohort has one (:class:`~sleeplm.index.queries.Cohort` does): the workspace is
    opened read-only, so they hold for the cohort's life; the page's per-session views share the memo
    (a shallow copy of the cohort), and the page opens a new cohort, with a new memo, after an upload.
    Callers get copies of mutable results.
    """

    con: duckdb.DuckDBPyConnection

    def memoized(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        """``compute()``, once per ``key`` for this cohort (every call when it has no memo)."""
        memo = getattr(self, "memo", None)
        return compute() if memo is None else memo.get(key, compute)

    # ---------------------------------------------------------------- names
    def recording_names(self, limit: int | None = None) -> list[str]:
        """Recording names in order (the first ``limit`` when given)."""
        sql = "SELECT name FROM recordings ORDER BY name" + (" LIMIT ?" if limit else "")
        return list(self.memoized(("recording_names", limit), lambda: [
            r[0] for r in self.con.execute(sql, [int(limit)] if limit else []).fetchall()]))

    def recording_subjects(self) -> list[tuple[str, str | None]]:
        """(recording name, subject id) of every night, by name."""
        return list(self.memoized(("recording_subjects",), lambda: [(r[0], r[1]) for r in self.con.execute(
            "SELECT name, subject_id FROM recordings ORDER BY name").fetchall()]))

    def subject_values(self, column: str) -> list[str]:
        """Distinct non-null values of a subject attribute (``phenotype``, ``sex`` or ``site``).

        Raises
        ------
        ValueError
            For any other column.
        """
        if column not in ("phenotype", "sex", "site"):
            raise ValueError(f"no distinct values for subject column {column!r}")
        return list(self.memoized(("subject_values", column), lambda: [r[0] for r in self.con.execute(
            f"SELECT DISTINCT {column} FROM subjects WHERE {column} IS NOT NULL ORDER BY 1").fetchall()]))

    def recording_ids(self) -> list[int]:
        return [int(r[0]) for r in self.con.execute("SELECT recording_id FROM recordings ORDER BY 1").fetchall()]

    def find_recording(self, name: str) -> str | None:
        """The recording a name means: a recording name or a subject id (its first night), case-insensitive."""
        name = name.strip()

        def find() -> str | None:
            row = self.con.execute("SELECT name FROM recordings WHERE lower(name) = lower(?)", [name]).fetchone()
            if row is None:
                row = self.con.execute("SELECT name FROM recordings WHERE lower(subject_id) = lower(?) ORDER BY name "
                                       "LIMIT 1", [name]).fetchone()
            return None if row is None else str(row[0])

        return self.memoized(("find_recording", name.lower()), find)

    def resolve_recording(self, name: str) -> str:
        """:meth:`find_recording`, or an error that lists some known recordings.

        Raises
        ------
        ValueError
            When neither a recording nor a subject has that name.
        """
        found = self.find_recording(name)
        if found is None:
            known = self.recording_names(12)
            raise ValueError(f"no recording or subject named {name.strip()!r} in this cohort; known recordings: "
                             f"{', '.join(known)}{' …' if len(known) == 12 else ''}")
        return found

    # ---------------------------------------------------------------- one night
    def night_record(self, name: str) -> NightRecord:
        """A night by recording name or subject id (see :meth:`resolve_recording`)."""
        recording = self.resolve_recording(name)

        def read() -> NightRecord:
            r = self.con.execute(
                """SELECT recording_id, name, subject_id, path, start_time, duration_s, n_epochs, missing_channels,
                          scoring, sha256 FROM recordings WHERE name = ?""", [recording]).fetchone()
            scoring = tables.parse_scoring(r[8])
            return NightRecord(int(r[0]), r[1], r[2], r[3], r[4], float(r[5] or 0.0), int(r[6] or 0),
                               list(r[7] or []), scoring, str(r[9] or ""))

        return copy.deepcopy(self.memoized(("night_record", recording), read))

    def subject_attributes(self, subject_id: str | None) -> dict[str, Any]:
        """Age, sex, BMI, phenotype and site of a subject ({} for None; only the id when unknown)."""
        if subject_id is None:
            return {}
        rel = self.con.execute(f"SELECT {', '.join(tables.SUBJECT_COLUMNS)} FROM subjects WHERE subject_id = ?",
                               [subject_id])
        row = rel.fetchone()
        return dict(zip(tables.SUBJECT_COLUMNS, row)) if row else {"subject_id": subject_id}

    def night_metrics_of(self, recording_id: int) -> tuple[dict[str, Any], str]:
        """(night metrics, rendered night summary) of a night; ({}, "") when it has none."""
        def read() -> tuple[dict[str, Any], str]:
            if not self.has_table("night_metrics"):
                return {}, ""
            rel = self.con.execute("SELECT * EXCLUDE (recording_id) FROM night_metrics WHERE recording_id = ?",
                                   [int(recording_id)])
            row = rel.fetchone()
            if row is None:
                return {}, ""
            d = dict(zip([c[0] for c in rel.description], row))
            summary = str(d.pop("summary", "") or "")
            d["hr_sleep_bpm"] = tables.sleep_heart_rate(self.con, recording_id).get(int(recording_id), float("nan"))
            return tables.add_derived_metrics(d), summary

        metrics, summary = self.memoized(("night_metrics_of", int(recording_id)), read)
        return dict(metrics), summary

    def acquisition(self, recording_id: int) -> dict[str, Any]:
        """How a night was recorded and read, as ingest stored it: the annotation file and its format, each model
        channel's file labels, derivation and lead (``channel_map``), the body-position coding and the repairs the
        reader made ({} for an unknown id)."""
        row = self.con.execute(
            """SELECT annotation_path, annotation_source, channel_map, position_coding, repairs FROM recordings
               WHERE recording_id = ?""", [int(recording_id)]).fetchone()
        if row is None:
            return {}
        channel_map = json.loads(row[2]) if isinstance(row[2], str) else (row[2] or {})
        return {"annotation_path": row[0], "annotation_source": row[1], "channel_map": channel_map,
                "position_coding": row[3], "repairs": list(row[4] or [])}

    def recording_notes(self, recording_id: int) -> list[str]:
        """What reading a night's files changed or found suspect, one sentence each, as ingest stored it ([] when
        nothing, or in a workspace ingested before notes were kept)."""
        def read() -> tuple[str, ...]:
            if not self.has_table("recording_notes"):
                return ()
            rows = self.con.execute("SELECT note FROM recording_notes WHERE recording_id = ? ORDER BY rowid",
                                    [int(recording_id)]).fetchall()
            return tuple(r[0] for r in rows)

        return list(self.memoized(("recording_notes", int(recording_id)), read))

    def stored_night_scores(self, names: list[str]) -> dict[str, float | None]:
        """The stored out-of-distribution scores of the named nights (:func:`ood.stored_night_scores`)."""
        key = tuple(sorted(set(names)))
        return dict(self.memoized(("stored_night_scores", key), lambda: ood.stored_night_scores(self.con, list(key))))

    def night_ood(self, recording_id: int, threshold: float) -> tuple[float | None, int, int]:
        """(the night's stored out-of-distribution score, epochs scored above ``threshold``, epochs scored);
        (None, 0, 0) when the model that built the workspace had no training-data reference."""
        row = self.con.execute("SELECT ood_score FROM night_vectors WHERE recording_id = ?",
                               [int(recording_id)]).fetchone()
        counts = self.con.execute(
            "SELECT count(*) FILTER (WHERE v.ood_score > ?), count(v.ood_score) FROM epoch_vectors v "
            "JOIN epochs e USING (epoch_id) WHERE e.recording_id = ?", [float(threshold), int(recording_id)]).fetchone()
        score = None if row is None or row[0] is None else float(row[0])
        return score, int(counts[0] or 0), int(counts[1] or 0)

    def feature_extremes(self) -> dict[str, float | None]:
        """The highest and lowest epoch mean heart rate and the lowest epoch SpO2 in the workspace (bpm, %;
        {} when it stores no per-epoch features)."""
        def read() -> dict[str, float | None]:
            if not self.has_table("features"):
                return {}
            row = self.con.execute("SELECT max(hr_mean_bpm), min(hr_mean_bpm), min(spo2_min_pct) FROM features").fetchone()
            return {k: (None if v is None else float(v)) for k, v in zip(("hr_max_bpm", "hr_min_bpm", "spo2_min_pct"), row)}

        return dict(self.memoized(("feature_extremes",), read))

    def spo2_nadir_epoch(self, recording_id: int) -> EpochRow | None:
        """The sleep epoch (scored N1, N2, N3 or REM) holding a night's lowest per-epoch SpO2, the first of equals,
        with its body position: where the night's ``spo2_min_pct`` lies (None without per-epoch features, sleep or
        SpO2)."""
        if not self.has_table("features"):
            return None
        row = self.con.execute(
            """SELECT e.epoch_index, e.onset_s, e.clock_time, e.stage, e.event_types, f.position FROM epochs e
               JOIN features f USING (epoch_id)
               WHERE e.recording_id = ? AND list_contains(?, e.stage) AND isfinite(f.spo2_min_pct)
               ORDER BY f.spo2_min_pct, e.epoch_index LIMIT 1""", [int(recording_id), list(SLEEP_STAGES)]).fetchone()
        if row is None:
            return None
        return EpochRow(int(row[0]), float(row[1]), row[2], row[3], list(row[4] or []), row[5] or None)

    def epoch_positions(self, epoch_ids: list[int]) -> dict[int, str | None]:
        """epoch_id -> the body position stored for that epoch (None where not known or without per-epoch features)."""
        if not epoch_ids or not self.has_table("features"):
            return dict.fromkeys(epoch_ids)
        rows = self.con.execute("SELECT epoch_id, position FROM features WHERE list_contains(?, epoch_id)",
                                [[int(i) for i in epoch_ids]]).fetchall()
        found = {int(i): p for i, p in rows}
        return {int(i): found.get(int(i)) for i in epoch_ids}

    def positioned_recordings(self) -> list[str]:
        """The nights with a known body position in at least one epoch (none without per-epoch features)."""
        if not self.has_table("features"):
            return []
        return [r[0] for r in self.con.execute(
            """SELECT DISTINCT r.name FROM features f JOIN epochs e USING (epoch_id) JOIN recordings r
               USING (recording_id) WHERE f.position IS NOT NULL ORDER BY 1""").fetchall()]

    def has_table(self, name: str) -> bool:
        """Whether the workspace has table ``name`` (:func:`tables.has_table`)."""
        return self.memoized(("has_table", name), lambda: tables.has_table(self.con, name))

    def night_epochs(self, recording_id: int) -> list[EpochRow]:
        """Every epoch of a night, in order."""
        rows = self.con.execute(
            """SELECT epoch_index, onset_s, clock_time, stage, event_types FROM epochs
               WHERE recording_id = ? ORDER BY epoch_index""", [int(recording_id)]).fetchall()
        return [EpochRow(int(i), float(o), c, s, list(e or [])) for i, o, c, s, e in rows]

    def night_events(self, recording_id: int) -> list[EventRow]:
        """Every scored event of a night, by onset."""
        rows = self.con.execute(
            "SELECT type, onset_s, duration_s, spo2_nadir FROM events WHERE recording_id = ? ORDER BY onset_s",
            [int(recording_id)]).fetchall()
        return [EventRow(t, float(o), float(d), n) for t, o, d, n in rows]

    def first_epoch(self, recording_id: int) -> tuple[datetime | None, float | None]:
        """(clock time, onset s) of a night's first epoch; (None, None) for a night without epochs."""
        def read() -> tuple[datetime | None, float | None]:
            row = self.con.execute("SELECT min(clock_time), min(onset_s) FROM epochs WHERE recording_id = ?",
                                   [int(recording_id)]).fetchone()
            return (row[0], row[1]) if row else (None, None)

        return self.memoized(("first_epoch", int(recording_id)), read)

    def epoch_detail(self, recording_id: int, epoch_index: int) -> EpochDetail | None:
        """One epoch with its reference captions; None when the night has no such epoch."""
        row = self.con.execute(
            """SELECT epoch_id, epoch_index, onset_s, clock_time, stage, event_types, channel_mask FROM epochs
               WHERE recording_id = ? AND epoch_index = ?""", [int(recording_id), int(epoch_index)]).fetchone()
        if row is None:
            return None
        caps = dict(self.con.execute("SELECT track, text FROM captions WHERE epoch_id = ? ORDER BY track",
                                     [int(row[0])]).fetchall())
        measured: dict[str, float | None] = {}
        if self.has_table("features"):
            vals = self.con.execute(f"SELECT {', '.join(EPOCH_MEASURES)} FROM features WHERE epoch_id = ?",
                                    [int(row[0])]).fetchone()
            measured = {c: (None if v is None or v != v else float(v)) for c, v in zip(EPOCH_MEASURES, vals or ())}
        return EpochDetail(int(row[0]), int(row[1]), float(row[2]), row[3], row[4], list(row[5] or []),
                           [bool(b) for b in (row[6] or [])], caps, measured)

    # ---------------------------------------------------------------- whole tables
    def nights_frame(self) -> pd.DataFrame:
        """One row per night with subject attributes and every night metric (:func:`tables.nights_frame`)."""
        return self.memoized(("nights_frame",), lambda: tables.nights_frame(self.con)).copy()

    def epochs_frame(self) -> pd.DataFrame:
        """Every epoch (:func:`tables.epochs_frame`)."""
        return tables.epochs_frame(self.con)

    def epoch_timeline_frame(self) -> pd.DataFrame:
        """Every epoch of every night in time order, for questions about a part of the night.

        Columns: recording, epoch_index, onset_s (from the recording start), clock_time (None when the
        file has no start time), stage, the per-epoch ``hr_mean_bpm``, ``spo2_mean_pct`` and
        ``spo2_min_pct`` features (NaN when the workspace has no feature table or the epoch no value) and the
        epoch's body ``position`` (None where not known).
        """
        feats = ("hr_mean_bpm", "spo2_mean_pct", "spo2_min_pct")
        if self.has_table("features"):
            cols = ", ".join(f"f.{c}" for c in feats) + ", f.position"
            join = "LEFT JOIN features f ON f.epoch_id = e.epoch_id"
        else:
            cols, join = ", ".join(f"CAST(NULL AS DOUBLE) AS {c}" for c in feats) + ", CAST(NULL AS VARCHAR) AS position", ""
        df = self.con.execute(
            f"""SELECT r.name AS recording, e.epoch_index, e.onset_s, e.clock_time, e.stage, {cols}
                FROM epochs e JOIN recordings r USING (recording_id) {join}
                ORDER BY r.name, e.epoch_index""").df()
        for c in feats:
            df[c] = pd.to_numeric(df[c], errors="coerce")
        return df

    def events_frame(self) -> pd.DataFrame:
        """Every scored event with the stage it starts in (:func:`tables.events_frame`)."""
        return tables.events_frame(self.con)
