"""A cohort workspace on disk: ``cohort.duckdb``, ``epochs.faiss``, ``nights.faiss``, ``manifest.json``.

DuckDB is the source of truth (vectors included, in ``epoch_vectors`` / ``night_vectors``; the
model that built the workspace in ``workspace_info``); the FAISS files and the manifest are
rebuilt from it at the end of every ingest (or by ``sleeplm check --repair``) and written
atomically, so their ids are the DuckDB ids by construction. :func:`check_workspace`
(:mod:`sleeplm.index.check`) verifies ids, vectors, counts and the manifest.

Opening a workspace never ends in a traceback: a busy database (another process holds DuckDB's
lock: which one), a read-only folder, a workspace made by another version of sleeplm, a damaged
manifest are all :class:`WorkspaceError` with a sentence saying what to do.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from . import vectors as vec
from .errors import WorkspaceError, repair_hint
from .schema import DDL, ID_KINDS, SCHEMA_VERSION

__all__ = [
    "Manifest",
    "Workspace",
    "WorkspaceError",
    "load_vectors",
    "now_iso",
    "rebuild_indexes",
    "write_atomic",
    "write_manifest",
]

MANIFEST_VERSION = 2


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
    schema_version: int = SCHEMA_VERSION
    manifest_version: int = MANIFEST_VERSION

    @classmethod
    def read(cls, path: Path) -> Manifest:
        """Read ``manifest.json``; a damaged one is a :class:`WorkspaceError` naming the repair command."""
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            known = {f.name for f in fields(cls)}
            if not isinstance(data, dict):
                raise TypeError("not a JSON object")
            return cls(**{k: v for k, v in data.items() if k in known})
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, TypeError) as exc:
            raise WorkspaceError(
                f"{path}: the manifest is unreadable ({type(exc).__name__}: {exc}); {repair_hint(path.parent)}"
            ) from exc

    def write(self, path: Path) -> None:
        write_atomic(Path(path), json.dumps(asdict(self), indent=2) + "\n")


def write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


_LOCK_RE = re.compile(r"Conflicting lock is held in (?P<exe>.+?) \(PID (?P<pid>\d+)\)")


def _who(pid: int) -> str:
    """The command line of a process, when /proc tells it."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return " ".join(a.decode(errors="replace") for a in raw.split(b"\0") if a)[:200]


def open_error(root: Path, exc: BaseException, writing: bool) -> WorkspaceError:
    """A :class:`WorkspaceError` saying why ``cohort.duckdb`` could not be opened, in words."""
    text = str(exc)
    m = _LOCK_RE.search(text)
    if m:
        pid = int(m["pid"])
        cmd = _who(pid)
        holder = f"process {pid} ({cmd or m['exe']})"
        return WorkspaceError(
            f"{root}: the workspace is busy: {holder} has cohort.duckdb open"
            f"{' for writing' if not writing else ''}. Wait for it to finish (an ingest or a served page "
            "holds the workspace), or stop it, then try again."
        )
    low = text.lower()
    if any(s in low for s in ("read-only", "read only", "permission denied", "operation not permitted")):
        return WorkspaceError(
            f"{root}: the workspace cannot be written (read-only file system or no permission: {text.splitlines()[0]}); "
            "ingest into a folder you can write, or open it read-only (search, ask, serve do)."
        )
    return WorkspaceError(f"{root}: cohort.duckdb cannot be opened: {text.splitlines()[0] if text else type(exc).__name__}")


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
        """Open the database; a writable connection creates the schema.

        Raises
        ------
        WorkspaceError
            No workspace (read-only), busy, read-only folder, or made by another sleeplm version.
        """
        if read_only:
            if not self.exists():
                raise WorkspaceError(f"{self.root}: no workspace here (cohort.duckdb is missing); run `sleeplm ingest`")
        else:
            try:
                self.root.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise open_error(self.root, exc, writing=True) from exc
        try:
            con = duckdb.connect(str(self.db_path), read_only=read_only)
        except (duckdb.Error, OSError) as exc:
            raise open_error(self.root, exc, writing=not read_only) from exc
        try:
            self._require_schema(con)
            if not read_only:
                con.execute(DDL)
                con.execute("INSERT OR IGNORE INTO workspace_info VALUES ('schema_version', ?)", [str(SCHEMA_VERSION)])
                for kind in ID_KINDS:
                    con.execute("INSERT OR IGNORE INTO id_counters VALUES (?, 0)", [kind])
        except WorkspaceError:
            con.close()
            raise
        except (duckdb.Error, OSError) as exc:
            con.close()
            raise open_error(self.root, exc, writing=not read_only) from exc
        return con

    def _require_schema(self, con: duckdb.DuckDBPyConnection) -> None:
        tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        if not tables:
            return  # a new workspace
        version = None
        if "workspace_info" in tables:
            row = next(iter(con.execute("SELECT value FROM workspace_info WHERE key = 'schema_version'").fetchall()), None)
            version = int(row[0]) if row and str(row[0]).isdigit() else None
        if version == SCHEMA_VERSION:
            return
        made_by = ("an older version of sleeplm" if version is None or version < SCHEMA_VERSION
                   else "a newer version of sleeplm")
        raise WorkspaceError(
            f"{self.root}: this workspace was made by {made_by} (schema {version or 1}, this sleeplm reads "
            f"schema {SCHEMA_VERSION}): re-ingest the cohort into a new workspace (`sleeplm ingest COHORT -w NEW`)."
        )

    def manifest(self) -> Manifest:
        if not self.manifest_path.is_file():
            raise WorkspaceError(f"{self.root}: manifest.json is missing; {repair_hint(self.root)}")
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

    def load_index(self, path: Path):
        """A FAISS file of this workspace (None when absent); damage is a WorkspaceError with the repair command."""
        if not Path(path).is_file():
            return None
        return vec.load_index(path, hint=repair_hint(self.root))


def workspace_info(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """The ``workspace_info`` key/value table as a dict."""
    return {k: v for k, v in con.execute("SELECT key, value FROM workspace_info").fetchall()}


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


def write_manifest(ws: Workspace, con: duckdb.DuckDBPyConnection, index_kinds: dict[str, str],
                   device: str) -> Manifest:
    """Write ``manifest.json`` from DuckDB (the model recorded in ``workspace_info``, the counts)."""
    info = workspace_info(con)
    counts = {t: int(con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0])
              for t in ("recordings", "epochs", "events", "subjects", "ingest_errors")}
    dim = next(iter(con.execute("SELECT len(vec) FROM epoch_vectors LIMIT 1").fetchall()), None)
    m = Manifest(
        model_name=info.get("model_name", ""), model_sha256=info.get("model_sha256", ""),
        embed_dim=int(dim[0]) if dim else 0, preprocessing_version=info.get("preprocessing_version", ""),
        created=info.get("created", now_iso()), updated=now_iso(), counts=counts,
        faiss={**index_kinds, "device": device}, model_weights=info.get("model_weights", ""),
        model_config=info.get("model_config") or None,
    )
    m.write(ws.manifest_path)
    return m


def load_vectors(con: duckdb.DuckDBPyConnection, table: str, key: str) -> tuple[np.ndarray, np.ndarray]:
    """(ids [N], vectors [N, D]) of a vector table, ordered by id."""
    tbl = con.sql(f"SELECT {key}, vec FROM {table} ORDER BY {key}").to_arrow_table()
    return arrow_vectors(tbl, key, writable=True)


def arrow_vectors(tbl: pa.Table, key: str, writable: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(ids, [N, D] float32) from an Arrow table with ``key`` and a ``vec`` list column
    (read-only views of Arrow's memory unless ``writable``)."""
    ids = tbl.column(key).to_numpy().astype(np.int64)
    if ids.size == 0:
        return ids, np.zeros((0, 0), np.float32)
    col = tbl.column("vec").combine_chunks()
    flat = col.flatten().to_numpy(zero_copy_only=False).astype(np.float32, copy=writable)
    if flat.size % ids.size:
        raise WorkspaceError(f"vectors of unequal length in the vector table ({flat.size} values for {ids.size} rows)")
    return ids, flat.reshape(ids.size, -1)


def _compare_vectors(con: duckdb.DuckDBPyConnection, table: str, key: str, idx_ids: np.ndarray,
                     idx_mat: np.ndarray, batch_rows: int = 65_536, atol: float = 1e-5) -> int:
    """How many of the FAISS vectors differ from DuckDB's (normalised) vectors with the same id."""
    stale = 0
    reader = con.sql(f"SELECT {key}, vec FROM {table} ORDER BY {key}").to_arrow_reader(batch_rows)
    for batch in reader:
        ids, mat = arrow_vectors(pa.Table.from_batches([batch]), key)
        if ids.size == 0:
            continue
        pos = np.searchsorted(idx_ids, ids)
        pos_ok = pos < idx_ids.size
        found = np.zeros(ids.size, bool)
        found[pos_ok] = idx_ids[pos[pos_ok]] == ids[pos_ok]
        if not found.any():
            continue
        mine = vec.normalise(mat[found])
        theirs = idx_mat[pos[found]]
        if theirs.shape[1] != mine.shape[1]:
            return int(found.sum())
        stale += int((np.abs(mine - theirs).max(axis=1) > atol).sum())
    return stale


def check_workspace(ws: Workspace, content: bool = True) -> list[str]:
    """Every inconsistency found (an empty list means the workspace is sound).

    Checks the schema version, that each FAISS file holds exactly the DuckDB ids and (``content``)
    the same vectors, row counts, and the manifest against DuckDB. Damaged or missing FAISS files
    and manifests are reported with the repair command, never raised.
    """
    problems: list[str] = []
    try:
        con = ws.connect(read_only=True)
    except WorkspaceError as exc:
        return [str(exc)]
    try:
        try:
            manifest = ws.manifest()
        except WorkspaceError as exc:
            problems.append(str(exc))
            manifest = None
        counts = {t: con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0]
                  for t in ("recordings", "epochs", "events", "epoch_vectors", "night_vectors", "captions")}
        stale_total = 0
        for table, key, vtable, path in (
            ("epochs", "epoch_id", "epoch_vectors", ws.epochs_index_path),
            ("recordings", "recording_id", "night_vectors", ws.nights_index_path),
        ):
            db_ids = np.sort(con.execute(f"SELECT {key} FROM {table}").fetchnumpy()[key].astype(np.int64))
            if not path.is_file():
                if db_ids.size:
                    problems.append(f"{path.name} is missing but {table} has {db_ids.size} rows; {repair_hint(ws.root)}")
                continue
            try:
                index = vec.load_index(path, hint=repair_hint(ws.root))
            except WorkspaceError as exc:
                problems.append(str(exc))
                continue
            if content:
                idx_ids, idx_mat = vec.index_vectors(index)
            else:
                idx_ids, idx_mat = vec.index_ids(index), None
            if idx_ids.size != db_ids.size or not np.array_equal(idx_ids, db_ids):
                only_db = np.setdiff1d(db_ids, idx_ids).size
                only_idx = np.setdiff1d(idx_ids, db_ids).size
                problems.append(f"{path.name} ids differ from {table}.{key}: {only_db} only in DuckDB, "
                                f"{only_idx} only in FAISS; {repair_hint(ws.root)}")
            if idx_mat is not None:
                stale = _compare_vectors(con, vtable, key, idx_ids, idx_mat)
                stale_total += stale
                if stale:
                    problems.append(f"{path.name}: {stale} vector(s) differ from {vtable} (a stale index); "
                                    f"{repair_hint(ws.root)}")
        if counts["epoch_vectors"] != counts["epochs"]:
            problems.append(f"{counts['epochs']} epochs but {counts['epoch_vectors']} epoch vectors")
        if counts["night_vectors"] != counts["recordings"]:
            problems.append(f"{counts['recordings']} recordings but {counts['night_vectors']} night vectors")
        orphan = con.execute(
            "SELECT count(*) FROM epochs e LEFT JOIN recordings r USING (recording_id) WHERE r.recording_id IS NULL"
        ).fetchall()[0][0]
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
                    problems.append(f"manifest counts {k}={manifest.counts.get(k)} but DuckDB has {counts[k]}; "
                                    f"{repair_hint(ws.root)}")
            info = workspace_info(con)
            if info.get("model_sha256") and manifest.model_sha256 != info["model_sha256"]:
                problems.append(f"the manifest names model sha256 {manifest.model_sha256[:12]}… but cohort.duckdb "
                                f"was built with {info['model_sha256'][:12]}…; {repair_hint(ws.root)}")
    finally:
        con.close()
    return problems


def repair_workspace(ws: Workspace) -> Manifest:
    """Rebuild ``epochs.faiss``, ``nights.faiss`` and ``manifest.json`` from ``cohort.duckdb``."""
    if not ws.exists():
        raise WorkspaceError(f"{ws.root}: no workspace here (cohort.duckdb is missing): nothing to repair")
    con = ws.connect()
    try:
        if not workspace_info(con).get("model_sha256"):
            raise WorkspaceError(f"{ws.root}: cohort.duckdb does not record which model built it (an ingest that "
                                 "never finished a night?): re-run `sleeplm ingest`")
        kinds = rebuild_indexes(ws, con)
        return write_manifest(ws, con, kinds, vec.device_report())
    finally:
        con.close()
