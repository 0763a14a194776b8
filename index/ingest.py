"""Ingest a cohort folder into a workspace, one night at a time; one bad file never stops the run.

Nights are prepared in worker processes while this process embeds and writes
(:mod:`sleeplm.index.pipeline_workers`), or all in this process (``workers=0``); the steps and the
guard below are the same either way.

For each recording, inside ONE guard: fingerprint (sha256 of the recording and its annotation
file) → name → read + map + pair annotations → 30-s epochs → features → reference captions
(5 tracks) → night metrics → epoch embeddings → night vector → ONE DuckDB transaction that writes
all of the night's rows. Any exception in any of these becomes an ``ingest_errors`` row naming the
file (the recording, or its annotation file when that is at fault), the stage of work and the
problem in words, and the run goes on with the next file. A crash or ``kill -9`` loses at most
the night in flight: running the same command again skips nights already stored with the same
content hashes, re-ingests changed files, and retries failed ones. The FAISS indexes and the
manifest are rebuilt from DuckDB at the end, atomically.

Night identity: a night's name is its file stem, or its path relative to the cohort folder
(without the suffix) when several files share a stem. A name is unique in a workspace; a file
whose name is taken by a *different* night (other path, other content) is refused with a message,
never merged into or substituted for it, unless the caller names it in ``replace``. Ids only grow
(``id_counters``), so an id is never reused.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
from sleeplm.encoder.captions import events_in_epochs
from sleeplm.encoder.io.annotations import find_annotations
from sleeplm.encoder.io.records import PSGError
from sleeplm.encoder.signals.preprocess import PREPROCESSING_VERSION
from tqdm.auto import tqdm

from . import vectors as vec
from .cohort_files import SUBJECTS_CSV, night_names, read_subjects, scan, unpaired_annotations
from .errors import WorkspaceError
from .failures import describe_failure
from .models import ModelRef, resolve_model, sha256_file
from .night_rows import NightRows, embed_night, prepare_night
from .ood import reference_for
from .pipeline_workers import (
    PipelineStats,
    WorkerNightError,
    choose_workers,
    pipelined_nights,
)
from .workspace import (
    Workspace,
    now_iso,
    open_error,
    rebuild_indexes,
    workspace_info,
    write_manifest,
)

@dataclass
class IngestReport:
    """What an ingest run did."""

    ingested: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (path, message)
    conflicts: list[str] = field(default_factory=list)  # names refused because another night has them
    #: (path, message): files that look like annotations but that no recording reads (stage "pairing" in
    #: ``ingest_errors``); not failures, but a night whose scoring sits in one was ingested as unscored.
    unused: list[tuple[str, str]] = field(default_factory=list)
    #: Nights skipped as unchanged whose subject attributes were updated from the subjects table.
    subjects_updated: list[str] = field(default_factory=list)
    epochs_added: int = 0
    seconds: float = 0.0
    index_kinds: dict[str, str] = field(default_factory=dict)
    device: str = ""

    @property
    def ok(self) -> bool:
        return not self.failed


# ----------------------------------------------------------------------------------------- writing
def _vector_table(ids: np.ndarray, mat: np.ndarray, key: str, ood: np.ndarray | None = None) -> pa.Table:
    flat = pa.array(np.ascontiguousarray(mat, np.float32).reshape(-1))
    cols = {key: pa.array(ids, pa.int64()), "vec": pa.ListArray.from_arrays(
        pa.array(np.arange(0, mat.size + 1, mat.shape[1], dtype=np.int32)), flat)}
    if ood is not None:  # out-of-distribution scores (index/ood.py); absent: NULL
        cols["ood_score"] = pa.array(np.asarray(ood, np.float64))
    return pa.table(cols)


def delete_recording(con: duckdb.DuckDBPyConnection, recording_id: int) -> None:
    """Remove every row of a recording (used before re-ingesting a changed file)."""
    ids = "SELECT epoch_id FROM epochs WHERE recording_id = ?"
    for table in ("captions", "epoch_vectors", "features"):
        con.execute(f"DELETE FROM {table} WHERE epoch_id IN ({ids})", [recording_id])
    for table in ("epochs", "events", "night_vectors", "night_metrics", "recording_notes"):
        con.execute(f"DELETE FROM {table} WHERE recording_id = ?", [recording_id])
    con.execute("DELETE FROM recordings WHERE recording_id = ?", [recording_id])


def _take_ids(con: duckdb.DuckDBPyConnection, kind: str, table: str, key: str, n: int) -> int:
    """Reserve ``n`` ids of ``kind`` (inside the caller's transaction); returns the first. Ids only grow."""
    counter = con.execute("SELECT next_id FROM id_counters WHERE kind = ?", [kind]).fetchone()
    highest = con.execute(f"SELECT coalesce(max({key}), -1) + 1 FROM {table}").fetchone()[0]
    first = max(int(counter[0]) if counter else 0, int(highest))
    con.execute("INSERT OR REPLACE INTO id_counters VALUES (?, ?)", [kind, first + n])
    return first


def _existing(con: duckdb.DuckDBPyConnection, name: str) -> tuple[int, str, str, str | None] | None:
    return con.execute("SELECT recording_id, path, sha256, annotation_sha256 FROM recordings WHERE name = ?",
                       [name]).fetchone()


class NameTaken(Exception):
    """Another night (other file, other content) already has this name in the workspace."""

    def __init__(self, name: str, path: Path, other_path: str) -> None:
        self.name, self.path, self.other_path = name, path, other_path
        super().__init__(
            f"{path}: a different night named '{name}' is already in the workspace (from {other_path}); "
            "it was not replaced. Rename this file, or confirm the replacement (the page asks; "
            "Python: ingest(..., replace=[name]))"
        )


def _write_subject(con: duckdb.DuckDBPyConnection, name: str, subject: dict[str, object] | None) -> str:
    """Store a night's row of the subjects table (when it has one); returns the night's subject id."""
    subject_id = str(subject.get("subject_id") or name) if subject else name
    if subject:
        con.execute(
            "INSERT OR REPLACE INTO subjects VALUES (?, ?, ?, ?, ?, ?, ?)",
            [subject_id, _num(subject.get("age")), subject.get("sex"), _num(subject.get("bmi")),
             subject.get("phenotype"), subject.get("site"), _attributes(subject)],
        )
    return subject_id


def _attributes(subject: dict[str, object]) -> str:
    """The subjects-table columns beyond the known ones, as JSON."""
    known = {"subject_id", "recording", "age", "sex", "bmi", "phenotype", "site"}
    return json.dumps({k: v for k, v in subject.items() if k not in known and k is not None})


def refresh_subject(con: duckdb.DuckDBPyConnection, name: str, subject: dict[str, object]) -> bool:
    """Bring a stored night's subject up to date with the subjects table (a night skipped as unchanged keeps its
    signals, but a corrected age or sex must not be lost); returns whether anything changed. A subject row no
    night refers to any more is removed."""
    row = con.execute("SELECT r.subject_id, s.age, s.sex, s.bmi, s.phenotype, s.site, s.attributes FROM recordings r "
                      "LEFT JOIN subjects s USING (subject_id) WHERE r.name = ?", [name]).fetchall()
    if not row:
        return False
    row = row[0]
    want = (str(subject.get("subject_id") or name), _num(subject.get("age")), subject.get("sex"),
            _num(subject.get("bmi")), subject.get("phenotype"), subject.get("site"), _attributes(subject))
    if tuple(row[:6]) == want[:6] and json.loads(row[6] or "{}") == json.loads(want[6]):
        return False
    con.execute("BEGIN TRANSACTION")
    try:
        subject_id = _write_subject(con, name, subject)
        con.execute("UPDATE recordings SET subject_id = ? WHERE name = ?", [subject_id, name])
        con.execute("DELETE FROM subjects WHERE subject_id NOT IN (SELECT subject_id FROM recordings "
                    "WHERE subject_id IS NOT NULL)")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return True


def write_night(con: duckdb.DuckDBPyConnection, night: NightRows, subject: dict[str, object] | None,
                replace: bool = False) -> int:
    """Write one night in a single transaction; returns its recording_id.

    A stored night of the same name is replaced only when it came from the same file (a changed
    file) or ``replace`` is set; otherwise :class:`NameTaken` is raised and nothing is written.
    """
    con.execute("BEGIN TRANSACTION")
    try:
        old = _existing(con, night.name)
        if old is not None:
            if old[1] != str(night.path.resolve()) and not replace:
                raise NameTaken(night.name, night.path, old[1])
            delete_recording(con, old[0])
        n = len(night.onset_s)
        rid = _take_ids(con, "recording", "recordings", "recording_id", 1)
        first_epoch = _take_ids(con, "epoch", "epochs", "epoch_id", n)
        epoch_ids = np.arange(first_epoch, first_epoch + n, dtype=np.int64)
        subject_id = _write_subject(con, night.name, subject)
        con.execute(
            "INSERT INTO recordings VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [rid, night.name, subject_id, str(night.path.resolve()), night.sha256,
             str(night.annotation_path.resolve()) if night.annotation_path else None, night.annotation_sha256,
             night.annotation_source, night.start_time, night.duration_s, n, json.dumps(night.channel_map),
             night.missing, night.position_coding, night.repairs, datetime.now(), json.dumps(night.scoring)],
        )
        for note in night.notes:
            con.execute("INSERT INTO recording_notes VALUES (?, ?)", [rid, note])
        per_epoch = events_in_epochs(night.events, night.onset_s)
        clock = [night.start_time + timedelta(seconds=float(t)) if night.start_time else None for t in night.onset_s]
        _insert(con, "epochs", pd.DataFrame({
            "epoch_id": epoch_ids, "recording_id": rid, "epoch_index": np.arange(n, dtype=np.int32),
            "onset_s": night.onset_s, "clock_time": pd.to_datetime(pd.Series(clock, dtype=object)),
            "stage": night.stages, "channel_mask": [list(map(bool, m)) for m in night.channel_mask],
            "event_types": [sorted({e.type for e in evs}) for evs in per_epoch],
        }))
        if night.events:
            first_event = _take_ids(con, "event", "events", "event_id", len(night.events))
            _insert(con, "events", pd.DataFrame({
                "event_id": np.arange(first_event, first_event + len(night.events)), "recording_id": rid,
                "type": [e.type for e in night.events], "onset_s": [e.onset_s for e in night.events],
                "duration_s": [e.duration_s for e in night.events], "label": [e.label for e in night.events],
                "spo2_nadir": [e.spo2_nadir for e in night.events],
                "source": [night.event_source(e.type) for e in night.events],
            }))
        feats = night.features.copy()
        feats.insert(0, "epoch_id", epoch_ids)
        _insert(con, "features", feats)
        _insert(con, "captions", pd.DataFrame({
            "epoch_id": np.concatenate([epoch_ids] * len(night.captions)),
            "track": np.repeat(list(night.captions), n),
            "text": np.concatenate([night.captions[t] for t in night.captions]),
        }))
        _insert(con, "epoch_vectors", _vector_table(epoch_ids, night.vectors, "epoch_id", night.ood_epochs))
        _insert(con, "night_vectors", _vector_table(np.array([rid]), night.night_vec[None], "recording_id",
                                                    None if night.ood_night is None else np.array([night.ood_night])))
        metrics = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in night.metrics.items()}
        _insert(con, "night_metrics", pd.DataFrame([{"recording_id": rid, **metrics,
                                                     "summary": night.summary or None}]))
        con.execute("DELETE FROM ingest_errors WHERE path = ?", [error_key(night.path)])
        con.execute("COMMIT")
    except BaseException:
        try:
            con.execute("ROLLBACK")
        except duckdb.Error:
            pass  # the transaction is already gone
        raise
    return rid


def _insert(con: duckdb.DuckDBPyConnection, table: str, rows: pd.DataFrame | pa.Table) -> None:
    """INSERT rows BY NAME into a declared table (columns the rows lack stay NULL)."""
    con.register("_sleeplm_rows", rows)
    try:
        con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM _sleeplm_rows")
    finally:
        try:
            con.unregister("_sleeplm_rows")
        except duckdb.Error:
            pass  # an aborted transaction refuses even this; the caller rolls back


def _num(v: object) -> float | None:
    try:
        x = float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def error_key(path: Path) -> str:
    """The path of an ``ingest_errors`` row: absolute, links not followed (a dangling link is listed as itself)."""
    return os.path.abspath(path)


def _store_error(con: duckdb.DuckDBPyConnection, path: Path, stage: str, message: str) -> None:
    """The file's ``ingest_errors`` row (one per file: an earlier one is replaced)."""
    key = error_key(path)
    con.execute("DELETE FROM ingest_errors WHERE path = ?", [key])
    con.execute("INSERT INTO ingest_errors VALUES (?, ?, ?, ?)", [key, stage, message, datetime.now()])


def _record_failure(con: duckdb.DuckDBPyConnection, report: IngestReport, path: Path, stage: str,
                    message: str) -> None:
    _store_error(con, path, stage, message)
    report.failed.append((str(path), message))


# ------------------------------------------------------------------------------------- one file
@dataclass
class _Job:
    """One recording on its way through the stages (``stage`` = where it is now)."""

    path: Path
    name: str
    stage: str = "hashing"
    annotation_path: Path | None = None

    def at(self, stage: str) -> None:
        self.stage = stage

    @property
    def shown(self) -> str:
        """The file as reports list it: its name, or its path in the cohort when names collide."""
        return self.path.name if self.name == self.path.stem else f"{self.name}{self.path.suffix}"

    def message(self, exc: BaseException) -> str:
        return describe_failure(self.path, self.stage, exc, self.annotation_path)


def _fingerprint(job: _Job) -> tuple[str, str, str | None]:
    """(path key, sha256, annotation sha256) of a recording and its sidecar annotation file."""
    job.at("hashing")
    key = str(job.path.resolve())
    sha = sha256_file(job.path)
    job.annotation_path = find_annotations(job.path)
    job.at("annotations")
    ann_sha = sha256_file(job.annotation_path) if job.annotation_path else None
    job.at("hashing")
    return key, sha, ann_sha


def _triage(con: duckdb.DuckDBPyConnection, job: _Job, replace: bool) -> str:
    """"skip" (stored and unchanged), "same" (this content is stored under this name from another
    file; when that file is gone, e.g. a moved cohort folder, the stored paths follow), or "ingest";
    raises :class:`NameTaken` for a different night with this name."""
    key, sha, ann_sha = _fingerprint(job)
    by_path = con.execute("SELECT sha256, annotation_sha256 FROM recordings WHERE path = ?", [key]).fetchone()
    if by_path is not None and tuple(by_path) == (sha, ann_sha):
        return "skip"
    job.at("naming")
    old = _existing(con, job.name)
    if old is not None and old[1] != key:
        if (old[2], old[3]) == (sha, ann_sha):
            if not Path(old[1]).exists():  # the cohort folder moved: the stored night now lives here
                con.execute("UPDATE recordings SET path = ?, annotation_path = ? WHERE recording_id = ?",
                            [key, str(job.annotation_path.resolve()) if job.annotation_path else None, old[0]])
            return "same"
        if not replace:
            raise NameTaken(job.name, job.path, old[1])
    job.at("reading")
    return "ingest"


def _require_model(ws: Workspace, con: duckdb.DuckDBPyConnection, ref: ModelRef) -> None:
    """Refuse to mix models; record this model in a new workspace."""
    info = workspace_info(con)
    if info.get("model_sha256"):
        if info["model_sha256"] != ref.sha256:
            raise WorkspaceError(
                f"{ws.root} was built with model {info.get('model_name')} (weights sha256 "
                f"{info['model_sha256'][:12]}…), not {ref.name} ({ref.sha256[:12]}…): vectors would not be "
                "comparable. Use the same model or ingest into a new workspace.")
        if info.get("preprocessing_version") != PREPROCESSING_VERSION:
            raise WorkspaceError(
                f"{ws.root} was preprocessed with version {info.get('preprocessing_version')}, this sleeplm uses "
                f"{PREPROCESSING_VERSION}: re-ingest into a new workspace")
        return
    created = now_iso()
    if ws.manifest_path.is_file():
        try:
            m = ws.require_model(ref.name, ref.sha256)
            created = m.created
        except WorkspaceError as exc:
            if "comparable" in str(exc) or "preprocessed" in str(exc):
                raise
    rows = {"model_name": ref.name, "model_sha256": ref.sha256, "model_weights": str(ref.weights.resolve()),
            "model_config": ref.config or "", "preprocessing_version": PREPROCESSING_VERSION, "created": created}
    con.execute("BEGIN TRANSACTION")
    for k, v in rows.items():
        con.execute("INSERT OR REPLACE INTO workspace_info VALUES (?, ?)", [k, v])
    con.execute("COMMIT")


NightSource = Callable[[list[_Job]], Iterator[tuple[_Job, NightRows | BaseException]]]


def _local_nights(ref: ModelRef, batch_size: int, progress: bool, score: str = "missing") -> NightSource:
    """Single-process engine: prepares and embeds one night at a time, each inside its own guard."""
    state: dict[str, object] = {}

    def run(jobs: list[_Job]) -> Iterator[tuple[_Job, NightRows | BaseException]]:
        for job in jobs:
            try:
                with tqdm(desc=f"  {job.path.name}", unit="epoch", leave=False, disable=not progress) as ebar:
                    night = prepare_night(job.path, job.name, on_stage=job.at, score=score,
                                          brain_scale=ref.brain_scale)
                    ebar.total = len(night.onset_s)
                    job.at("embedding")
                    if "net" not in state:
                        state["net"] = ref.load()
                        state["ood"] = reference_for(ref.weights, ref.sha256)
                    yield job, embed_night(night, state["net"], batch_size, on_batch=ebar.update,
                                           ood=state["ood"])
            except Exception as exc:  # noqa: BLE001 - one file's failure, whatever it is, is recorded
                yield job, exc

    return run


def _pipelined_nights(ref: ModelRef, batch_size: int, progress: bool, score: str, workers: int,
                      stats: PipelineStats | None = None) -> NightSource:
    """Pipelined engine: ``workers`` processes prepare nights while this one embeds and writes
    (:mod:`sleeplm.index.pipeline_workers`)."""

    def load() -> tuple[object, object]:
        return ref.load(), reference_for(ref.weights, ref.sha256)

    def run(jobs: list[_Job]) -> Iterator[tuple[_Job, NightRows | BaseException]]:
        bar = tqdm(desc="  epochs", unit="epoch", leave=False, disable=not progress)

        current: list[_Job] = []

        def on_batch(job: _Job, done: int, total: int) -> None:
            if not current or current[0] is not job:  # a new night: its own clock, so rate and ETA are its own
                current[:] = [job]
                bar.reset(total=total)
                bar.set_description_str(f"  {job.path.name}", refresh=False)
            bar.n = done
            bar.refresh()

        try:
            yield from pipelined_nights(jobs, load, batch_size, score, workers=workers, on_batch=on_batch,
                                        stats=stats, fallback=_local_nights(ref, batch_size, progress, score),
                                        brain_scale=ref.brain_scale)
        finally:
            bar.close()

    return run


def _ray_nights(ref: ModelRef, ws: Workspace, batch_size: int, num_cpus: int | None) -> NightSource:
    def run(jobs: list[_Job]) -> Iterator[tuple[_Job, NightRows | BaseException]]:
        from .ray_engine import ray_nights

        by_path = {j.path: j for j in jobs}
        for path, night in ray_nights([j.path for j in jobs], ref, ws.root / "shards", batch_size, num_cpus,
                                      names={j.path: j.name for j in jobs}):
            job = by_path[Path(path)]
            if isinstance(night, BaseException):
                job.at(getattr(night, "stage", job.stage))
            yield job, night

    return run


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
    replace: Collection[str] = (),
    score: str = "missing",
    workers: int | None = None,
    pipeline_stats: PipelineStats | None = None,
) -> IngestReport:
    """Ingest every recording of ``cohort_dir`` into ``workspace`` (see the module doc).

    ``engine`` "local" processes one night at a time in this process; "ray" runs reading,
    preprocessing and embedding on Ray (:mod:`sleeplm.index.ray_engine`); both write the same rows.
    ``replace``: night names that may replace a different stored night of the same name.
    ``score``: automatic scoring (:func:`sleeplm.encoder.signals.scoring.auto_score`): "missing" (the
    kinds nobody scored), "auto" (every kind it can) or "never"; the Ray engine does "missing" only.
    ``workers`` (local engine): processes that prepare nights while this one embeds and writes
    (:mod:`sleeplm.index.pipeline_workers`); 0 does everything in this process; default
    :func:`choose_workers`. Both ways store the same rows (vectors may differ in the last bits:
    the model runs with other thread counts). ``pipeline_stats`` receives the pipeline's timings.

    Raises
    ------
    WorkspaceError
        The workspace cannot be used (busy, read-only, another model or version); no file is touched.
    """
    t0 = time.perf_counter()
    ws = Workspace(workspace)
    if engine not in ("local", "ray"):
        raise ValueError(f"unknown engine {engine!r}: 'local' or 'ray'")
    if score not in ("missing", "auto", "never"):
        raise ValueError(f"unknown scoring mode {score!r}: 'missing', 'auto' or 'never'")
    if engine == "ray" and score != "missing":
        raise ValueError(f"--score {score} is not available with the Ray engine yet (it scores 'missing')")
    ref: ModelRef = resolve_model(model, model_config)
    if files is not None:
        paths, problems = sorted(Path(p) for p in files), []
    else:
        paths, problems = scan(cohort_dir)
    names = night_names(paths, cohort_dir)
    stem_count = Counter(p.stem for p in paths)
    report = IngestReport(device=vec.device_report())
    con = ws.connect()
    try:
        _require_model(ws, con, ref)
        for path, stage, message in problems:
            _record_failure(con, report, path, stage, message)
        if files is None:  # a full scan says anew which annotation files no recording reads
            con.execute("DELETE FROM ingest_errors WHERE stage = 'pairing'")
            for path, stage, message in unpaired_annotations(cohort_dir, paths):
                _store_error(con, path, stage, message)  # not a failure: listed as not used
                report.unused.append((str(path), message))
        subjects_path = Path(subjects_csv) if subjects_csv else Path(cohort_dir) / SUBJECTS_CSV
        subject_problems: list[str] = []
        try:
            subjects = read_subjects(subjects_path, subject_problems)
        except PSGError as exc:
            subjects = {}
            _record_failure(con, report, subjects_path, "subjects", str(exc))
        if not subject_problems and subjects:  # a table that reads cleanly now clears what an earlier run said of it
            con.execute("DELETE FROM ingest_errors WHERE path = ? AND stage = 'subjects'", [error_key(subjects_path)])
        if subject_problems:  # the table is used; the rows it could not use as they are are named
            _record_failure(con, report, subjects_path, "subjects", f"{subjects_path}: " + "; ".join(
                subject_problems[:12]) + (f"; and {len(subject_problems) - 12} more" if len(subject_problems) > 12 else ""))

        def subject_of(job: _Job) -> dict[str, object] | None:
            """The night's row of the subjects table: by night name, else by file stem when that is unique."""
            return subjects.get(job.name) or (subjects.get(job.path.stem) if stem_count[job.path.stem] == 1 else None)

        todo: list[_Job] = []
        for path in paths:
            job = _Job(path, names[path])
            try:
                verdict = _triage(con, job, replace=job.name in replace)
            except NameTaken as exc:
                report.conflicts.append(job.name)
                _record_failure(con, report, path, "naming", str(exc))
                continue
            except Exception as exc:  # noqa: BLE001 - e.g. an unreadable annotation file on a re-run
                _record_failure(con, report, path, job.stage, job.message(exc))
                continue
            if verdict == "ingest":
                todo.append(job)
                continue
            report.skipped.append(job.shown)
            subject = subject_of(job)
            if subject and refresh_subject(con, job.name, subject):
                report.subjects_updated.append(job.name)
        if engine == "ray":
            source = _ray_nights(ref, ws, batch_size, ray_num_cpus)
        else:
            n_workers = choose_workers(workers, [j.path for j in todo])
            source = (_pipelined_nights(ref, batch_size, progress, score, n_workers, pipeline_stats) if n_workers
                      else _local_nights(ref, batch_size, progress, score))
        bar = tqdm(source(todo), total=len(todo), desc="nights", unit="night", disable=not progress)
        for job, night in bar:
            bar.set_postfix_str(job.path.name)
            if isinstance(night, BaseException):
                prewritten = isinstance(night, WorkerNightError) or type(night).__name__ == "RayNightError"
                written = getattr(night, "message", None) if prewritten else None
                _record_failure(con, report, job.path, job.stage, written or job.message(night))
                continue
            job.at("writing")
            subject = subject_of(job)
            try:
                write_night(con, night, subject, replace=job.name in replace)
            except NameTaken as exc:
                report.conflicts.append(job.name)
                _record_failure(con, report, job.path, "naming", str(exc))
                continue
            except Exception as exc:  # noqa: BLE001
                _record_failure(con, report, job.path, "writing", job.message(exc))
                continue
            report.ingested.append(job.shown)
            report.epochs_added += len(night.onset_s)
        try:
            report.index_kinds = rebuild_indexes(ws, con)
            write_manifest(ws, con, report.index_kinds, report.device)
        except OSError as exc:
            raise WorkspaceError(f"{ws.root}: the nights are stored in cohort.duckdb, but the FAISS indexes or "
                                 f"the manifest could not be written ({exc.strerror or exc}); free space or fix "
                                 f"permissions, then run `sleeplm check -w {ws.root} --repair`") from exc
    except duckdb.Error as exc:
        raise open_error(ws.root, exc, writing=True) from exc
    finally:
        con.close()
    report.seconds = time.perf_counter() - t0
    return report
