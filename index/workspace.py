"""A cohort workspace on disk: ``cohort.duckdb``, ``epochs.faiss``, ``nights.faiss``, ``manifest.json``.

DuckDB is the source of truth (vectors included, in ``epoch_vectors`` / ``night_vectors``); the
FAISS files are rebuilt from it at the end of every ingest and written atomically, so their ids
are the DuckDB ids by construction. :func:`check_workspace` verifies that, the counts and the
manifest, and lists every problem it finds.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import numpy as np

from . import vectors as vec
from .schema import DDL

MANIFEST_VERSION = 1


class WorkspaceError(RuntimeError):
    """A workspace that is missing, inconsistent, or built by another model/preprocessing."""


@dataclass
class Manifest:
    """What built a workspace; a query with another model is refused."""

    model_name: str
    model_sha256: str
    embed_dim: int
    preprocessing_version: str
    created: str
    updated: str
    counts: dict[str, int] = field(default_factory=dict)
    faiss: dict[str, str] = field(default_factory=dict)
    model_weights: str = ""  # the weights file used (a bundled name resolves without it)
    model_config: str | None = None
    manifest_version: int = MANIFEST_VERSION

    @classmethod
    def read(cls, path: Path) -> Manifest:
        data = json.loads(Path(path).read_text())
        return cls(**data)

    def write(self, path: Path) -> None:
        write_atomic(Path(path), json.dumps(asdict(self), indent=2) + "\n")


def write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass
class Workspace:
    """Paths of a workspace folder."""

    root: Path

    def __post_init__(self) -> None:
        self.root = Path(self.root)

    @property
    def db_path(self) -> Path:
        return self.root / "cohort.duckdb"

    @property
    def epochs_index_path(self) -> Path:
        return self.root / "epochs.faiss"

    @property
    def nights_index_path(self) -> Path:
        return self.root / "nights.faiss"

    @property
    def manifest_path(self) -> Path:
        return self.root / "manifest.json"

    def exists(self) -> bool:
        return self.db_path.is_file()

    def connect(self, read_only: bool = False) -> duckdb.DuckDBPyConnection:
        """Open the database; a writable connection creates the schema."""
        if read_only:
            if not self.exists():
                raise WorkspaceError(f"{self.root}: no workspace here (cohort.duckdb is missing); run `sleeplm ingest`")
            return duckdb.connect(str(self.db_path), read_only=True)
        self.root.mkdir(parents=True, exist_ok=True)
        con = duckdb.connect(str(self.db_path))
        con.execute(DDL)
        return con

    def manifest(self) -> Manifest:
        if not self.manifest_path.is_file():
            raise WorkspaceError(f"{self.root}: manifest.json is missing; re-run `sleeplm ingest` to finish the workspace")
        return Manifest.read(self.manifest_path)

    def require_model(self, model_name: str, model_sha256: str) -> Manifest:
        """The manifest, or WorkspaceError when it was built by another model/preprocessing."""
        from sleeplm.encoder.signals.preprocess import PREPROCESSING_VERSION

        m = self.manifest()
        if m.model_sha256 != model_sha256:
            raise WorkspaceError(
                f"{self.root} was built with model {m.model_name} (weights sha256 {m.model_sha256[:12]}…), "
                f"not {model_name} ({model_sha256[:12]}…): vectors would not be comparable. "
                "Use the same model or ingest into a new workspace."
            )
        if m.preprocessing_version != PREPROCESSING_VERSION:
            raise WorkspaceError(
                f"{self.root} was preprocessed with version {m.preprocessing_version}, this sleeplm uses "
                f"{PREPROCESSING_VERSION}: re-ingest into a new workspace"
            )
        return m


def rebuild_indexes(ws: Workspace, con: duckdb.DuckDBPyConnection, kind: str = "auto") -> dict[str, str]:
    """Rebuild ``epochs.faiss`` and ``nights.faiss`` from DuckDB; returns the index kinds used."""
    kinds = {}
    for table, key, path in (("epoch_vectors", "epoch_id", ws.epochs_index_path),
                             ("night_vectors", "recording_id", ws.nights_index_path)):
        ids, mat = load_vectors(con, table, key)
        if mat.shape[0] == 0:
            if path.exists():
                path.unlink()
            kinds[table] = "empty"
            continue
        index = vec.build_index(mat, ids, kind=kind if table == "epoch_vectors" else "flat")
        vec.save_index(index, path)
        kinds[table] = type(index).__name__
    return kinds


def load_vectors(con: duckdb.DuckDBPyConnection, table: str, key: str) -> tuple[np.ndarray, np.ndarray]:
    """(ids [N], vectors [N, D]) of a vector table, ordered by id."""
    rows = con.execute(f"SELECT {key}, vec FROM {table} ORDER BY {key}").fetchnumpy()
    ids = np.asarray(rows[key], dtype=np.int64)
    if ids.size == 0:
        return ids, np.zeros((0, 0), np.float32)
    mat = np.stack([np.asarray(v, np.float32) for v in rows["vec"]])
    return ids, mat


def check_workspace(ws: Workspace) -> list[str]:
    """Every inconsistency found (an empty list means the workspace is sound)."""
    problems: list[str] = []
    try:
        con = ws.connect(read_only=True)
    except WorkspaceError as exc:
        return [str(exc)]
    try:
        manifest = ws.manifest()
    except WorkspaceError as exc:
        problems.append(str(exc))
        manifest = None
    counts = {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
              for t in ("recordings", "epochs", "events", "epoch_vectors", "night_vectors", "captions")}
    for table, key, path, total_key in (
        ("epochs", "epoch_id", ws.epochs_index_path, "epochs"),
        ("recordings", "recording_id", ws.nights_index_path, "recordings"),
    ):
        db_ids = np.sort(con.execute(f"SELECT {key} FROM {table}").fetchnumpy()[key].astype(np.int64))
        if not path.is_file():
            if db_ids.size:
                problems.append(f"{path.name} is missing but {table} has {db_ids.size} rows")
            continue
        idx_ids = vec.index_ids(vec.load_index(path))
        if idx_ids.size != db_ids.size or not np.array_equal(idx_ids, db_ids):
            only_db = np.setdiff1d(db_ids, idx_ids).size
            only_idx = np.setdiff1d(idx_ids, db_ids).size
            problems.append(f"{path.name} ids differ from {table}.{key}: {only_db} only in DuckDB, {only_idx} only in FAISS")
    if counts["epoch_vectors"] != counts["epochs"]:
        problems.append(f"{counts['epochs']} epochs but {counts['epoch_vectors']} epoch vectors")
    if counts["night_vectors"] != counts["recordings"]:
        problems.append(f"{counts['recordings']} recordings but {counts['night_vectors']} night vectors")
    orphan = con.execute(
        "SELECT count(*) FROM epochs e LEFT JOIN recordings r USING (recording_id) WHERE r.recording_id IS NULL"
    ).fetchone()[0]
    if orphan:
        problems.append(f"{orphan} epochs belong to no recording")
    bad_n = con.execute(
        "SELECT r.name, r.n_epochs, count(e.epoch_id) FROM recordings r LEFT JOIN epochs e USING (recording_id) "
        "GROUP BY ALL HAVING r.n_epochs != count(e.epoch_id)"
    ).fetchall()
    for name, stated, actual in bad_n:
        problems.append(f"recording {name}: n_epochs says {stated} but {actual} epochs are stored")
    if manifest is not None:
        for k in ("recordings", "epochs"):
            if manifest.counts.get(k) != counts[k]:
                problems.append(f"manifest counts {k}={manifest.counts.get(k)} but DuckDB has {counts[k]}")
    con.close()
    return problems
