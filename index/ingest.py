"""Ingest a cohort folder into a workspace, one night at a time.

For each recording: read + map + pair annotations → 30-s epochs → features → reference captions
(5 tracks) → night metrics → epoch embeddings → night vector, then ONE DuckDB transaction writes
all of the night's rows. A crash or Ctrl-C loses at most the night in flight; running the same
command again skips nights already stored with the same content hash (recording and annotation
file), re-ingests changed files, and retries failed ones. The FAISS indexes and the manifest are
rebuilt from DuckDB at the end, atomically. A file that fails gets a row in ``ingest_errors`` and
the run goes on.
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
from tqdm.auto import tqdm

from sleeplm.encoder.captions import events_in_epochs
from sleeplm.encoder.signals.preprocess import PREPROCESSING_VERSION
from sleeplm.encoder.io.records import PSGError
from sleeplm.encoder.io.textsig import is_text_signal

from . import vectors as vec
from .models import ModelRef, resolve_model, sha256_file
from .night_rows import NightRows, embed_night, prepare_night
from .workspace import Manifest, Workspace, now_iso, rebuild_indexes

RECORDING_SUFFIXES = (".edf", ".bdf", ".rec")


@dataclass
class IngestReport:
    """What an ingest run did."""

    ingested: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (path, message)
    epochs_added: int = 0
    seconds: float = 0.0
    index_kinds: dict[str, str] = field(default_factory=dict)
    device: str = ""

    @property
    def ok(self) -> bool:
        return not self.failed


def discover(cohort_dir: Path) -> list[Path]:
    """Recordings under a folder (EDF/BDF, and DREAMS-style text signals), sorted."""
    cohort_dir = Path(cohort_dir)
    if not cohort_dir.is_dir():
        raise FileNotFoundError(f"{cohort_dir}: no such cohort folder")
    found = [p for p in cohort_dir.rglob("*") if p.is_file() and p.suffix.lower() in RECORDING_SUFFIXES]
    found += [p for p in cohort_dir.rglob("*.txt") if p.is_file() and is_text_signal(p)]
    return sorted(found)


def read_subjects(path: Path | None) -> dict[str, dict[str, object]]:
    """recording name -> subject attributes, from a CSV with ``subject_id`` and ``recording`` columns."""
    if path is None or not Path(path).is_file():
        return {}
    out: dict[str, dict[str, object]] = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            rec = row.get("recording") or row.get("subject_id")
            if rec:
                out[rec] = row
    return out


def _vector_table(ids: np.ndarray, mat: np.ndarray, key: str) -> pa.Table:
    flat = pa.array(np.ascontiguousarray(mat, np.float32).reshape(-1))
    return pa.table({key: pa.array(ids, pa.int64()), "vec": pa.ListArray.from_arrays(
        pa.array(np.arange(0, mat.size + 1, mat.shape[1], dtype=np.int32)), flat)})


def delete_recording(con: duckdb.DuckDBPyConnection, recording_id: int) -> None:
    """Remove every row of a recording (used before re-ingesting a changed file)."""
    ids = "SELECT epoch_id FROM epochs WHERE recording_id = ?"
    for table in ("captions", "epoch_vectors"):
        con.execute(f"DELETE FROM {table} WHERE epoch_id IN ({ids})", [recording_id])
    if _has_table(con, "features"):
        con.execute(f"DELETE FROM features WHERE epoch_id IN ({ids})", [recording_id])
    for table in ("epochs", "events", "night_vectors"):
        con.execute(f"DELETE FROM {table} WHERE recording_id = ?", [recording_id])
    if _has_table(con, "night_metrics"):
        con.execute("DELETE FROM night_metrics WHERE recording_id = ?", [recording_id])
    con.execute("DELETE FROM recordings WHERE recording_id = ?", [recording_id])


def _has_table(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    return bool(con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [name]).fetchall()[0][0])


def _next_id(con: duckdb.DuckDBPyConnection, table: str, key: str) -> int:
    return int(con.execute(f"SELECT coalesce(max({key}), -1) + 1 FROM {table}").fetchall()[0][0])


def write_night(con: duckdb.DuckDBPyConnection, night: NightRows, subject: dict[str, object] | None) -> int:
    """Write one night in a single transaction; returns its recording_id."""
    con.execute("BEGIN TRANSACTION")
    try:
        old = next(iter(con.execute("SELECT recording_id FROM recordings WHERE name = ?", [night.name]).fetchall()), None)
        if old is not None:
            delete_recording(con, old[0])
        rid = _next_id(con, "recordings", "recording_id")
        first_epoch = _next_id(con, "epochs", "epoch_id")
        n = len(night.onset_s)
        epoch_ids = np.arange(first_epoch, first_epoch + n, dtype=np.int64)
        subject_id = str(subject.get("subject_id")) if subject else night.name
        if subject:
            known = {"subject_id", "recording", "age", "sex", "bmi", "phenotype", "site"}
            con.execute(
                "INSERT OR REPLACE INTO subjects VALUES (?, ?, ?, ?, ?, ?, ?)",
                [subject_id, _num(subject.get("age")), subject.get("sex"), _num(subject.get("bmi")),
                 subject.get("phenotype"), subject.get("site"),
                 json.dumps({k: v for k, v in subject.items() if k not in known})],
            )
        con.execute(
            "INSERT INTO recordings VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [rid, night.name, subject_id, str(night.path.resolve()), night.sha256,
             str(night.annotation_path.resolve()) if night.annotation_path else None, night.annotation_sha256,
             night.annotation_source, night.start_time, night.duration_s, n, json.dumps(night.channel_map),
             night.missing, night.position_coding, night.repairs, datetime.now()],
        )
        per_epoch = events_in_epochs(night.events, night.onset_s)
        clock = [night.start_time + timedelta(seconds=float(t)) if night.start_time else None for t in night.onset_s]
        _insert(con, "epochs", pd.DataFrame({
            "epoch_id": epoch_ids, "recording_id": rid, "epoch_index": np.arange(n, dtype=np.int32),
            "onset_s": night.onset_s, "clock_time": pd.to_datetime(pd.Series(clock)), "stage": night.stages,
            "channel_mask": [list(map(bool, m)) for m in night.channel_mask],
            "event_types": [sorted({e.type for e in evs}) for evs in per_epoch],
        }))
        if night.events:
            first_event = _next_id(con, "events", "event_id")
            _insert(con, "events", pd.DataFrame({
                "event_id": np.arange(first_event, first_event + len(night.events)), "recording_id": rid,
                "type": [e.type for e in night.events], "onset_s": [e.onset_s for e in night.events],
                "duration_s": [e.duration_s for e in night.events], "label": [e.label for e in night.events],
                "spo2_nadir": [e.spo2_nadir for e in night.events],
            }))
        feats = night.features.copy()
        feats.insert(0, "epoch_id", epoch_ids)
        _insert(con, "features", feats, create=True)
        _insert(con, "captions", pd.DataFrame({
            "epoch_id": np.concatenate([epoch_ids] * len(night.captions)),
            "track": np.repeat(list(night.captions), n),
            "text": np.concatenate([night.captions[t] for t in night.captions]),
        }))
        _insert(con, "epoch_vectors", _vector_table(epoch_ids, night.vectors, "epoch_id"))
        _insert(con, "night_vectors", _vector_table(np.array([rid]), night.night_vec[None], "recording_id"))
        _insert(con, "night_metrics", pd.DataFrame([{"recording_id": rid, **night.metrics, "summary": night.summary}]),
                create=True)
        con.execute("DELETE FROM ingest_errors WHERE path = ?", [str(night.path.resolve())])
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return rid


def _insert(con: duckdb.DuckDBPyConnection, table: str, rows: pd.DataFrame | pa.Table, create: bool = False) -> None:
    """INSERT rows BY NAME; ``create`` makes the table from the rows' columns the first time."""
    con.register("_sleeplm_rows", rows)
    try:
        if create and not _has_table(con, table):
            con.execute(f"CREATE TABLE {table} AS SELECT * FROM _sleeplm_rows LIMIT 0")
        con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM _sleeplm_rows")
    finally:
        con.unregister("_sleeplm_rows")


def _num(v: object) -> float | None:
    try:
        return float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def _stored(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[str, str | None]]:
    rows = con.execute("SELECT path, sha256, annotation_sha256 FROM recordings").fetchall()
    return {p: (s, a) for p, s, a in rows}


def _unchanged(path: Path, stored: dict[str, tuple[str, str | None]]) -> bool:
    key = str(path.resolve())
    if key not in stored:
        return False
    sha, ann_sha = stored[key]
    if sha256_file(path) != sha:
        return False
    from sleeplm.encoder.io.annotations import find_annotations

    ann = find_annotations(path)
    return (sha256_file(ann) if ann else None) == ann_sha


def _record_failure(con: duckdb.DuckDBPyConnection, report: IngestReport, path: Path, exc: BaseException) -> None:
    message = str(exc) if isinstance(exc, PSGError) else f"{path}: {type(exc).__name__}: {exc}"
    con.execute("DELETE FROM ingest_errors WHERE path = ?", [str(Path(path).resolve())])
    con.execute("INSERT INTO ingest_errors VALUES (?, ?, ?, ?)",
                [str(Path(path).resolve()), "ingest", message, datetime.now()])
    report.failed.append((str(path), message))


#: Errors that fail one file (and are recorded) rather than the run.
FILE_ERRORS = (PSGError, ValueError, OSError, RuntimeError, KeyError, IndexError)


def _local_nights(paths: list[Path], ref: ModelRef, batch_size: int, progress: bool):
    """Single-process engine: yields (path, NightRows | exception) one night at a time."""
    net = ref.load()
    for path in paths:
        try:
            with tqdm(desc=f"  {path.name}", unit="epoch", leave=False, disable=not progress) as ebar:
                night = prepare_night(path)
                ebar.total = len(night.onset_s)
                yield path, embed_night(night, net, batch_size, on_batch=ebar.update)
        except FILE_ERRORS as exc:
            yield path, exc


def ingest(
    cohort_dir: Path,
    workspace: Path,
    model: str | Path | None = None,
    model_config: str | None = None,
    subjects_csv: Path | None = None,
    batch_size: int = 32,
    progress: bool = True,
    files: Iterable[Path] | None = None,
    engine: str = "local",
    ray_num_cpus: int | None = None,
) -> IngestReport:
    """Ingest every recording of ``cohort_dir`` into ``workspace`` (see the module doc).

    ``engine`` "local" processes one night at a time in this process; "ray" runs reading,
    preprocessing and embedding on Ray (:mod:`sleeplm.index.ray_engine`); both write the same rows.
    """
    t0 = time.perf_counter()
    ws = Workspace(workspace)
    ref: ModelRef = resolve_model(model, model_config)
    if ws.manifest_path.is_file():
        ws.require_model(ref.name, ref.sha256)
    paths = sorted(Path(p) for p in files) if files is not None else discover(cohort_dir)
    subjects = read_subjects(subjects_csv or (Path(cohort_dir) / "subjects.csv"))
    report = IngestReport(device=vec.device_report())
    con = ws.connect()
    try:
        stored = _stored(con)
        created = ws.manifest().created if ws.manifest_path.is_file() else now_iso()
        todo = []
        for path in paths:
            (report.skipped.append(path.name) if _unchanged(path, stored) else todo.append(path))
        if engine == "local":
            nights = _local_nights(todo, ref, batch_size, progress)
        elif engine == "ray":
            from .ray_engine import ray_nights

            nights = ray_nights(todo, ref, ws.root / "shards", batch_size, ray_num_cpus)
        else:
            raise ValueError(f"unknown engine {engine!r}: 'local' or 'ray'")
        bar = tqdm(nights, total=len(todo), desc="nights", unit="night", disable=not progress)
        for path, night in bar:
            bar.set_postfix_str(Path(path).name)
            if isinstance(night, BaseException):
                _record_failure(con, report, path, night)
                continue
            try:
                write_night(con, night, subjects.get(night.name))
            except FILE_ERRORS as exc:
                _record_failure(con, report, path, exc)
                continue
            report.ingested.append(Path(path).name)
            report.epochs_added += len(night.onset_s)
        report.index_kinds = rebuild_indexes(ws, con)
        counts = {t: int(con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0])
                  for t in ("recordings", "epochs", "events", "subjects", "ingest_errors")}
        dim = next(iter(con.execute("SELECT len(vec) FROM epoch_vectors LIMIT 1").fetchall()), None)
        Manifest(
            model_name=ref.name, model_sha256=ref.sha256, embed_dim=int(dim[0]) if dim else 0,
            preprocessing_version=PREPROCESSING_VERSION, created=created, updated=now_iso(), counts=counts,
            faiss={**report.index_kinds, "device": report.device}, model_weights=str(ref.weights.resolve()),
            model_config=ref.config,
        ).write(ws.manifest_path)
    finally:
        con.close()
    report.seconds = time.perf_counter() - t0
    return report
