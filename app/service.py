"""The cohort behind the web page: one read-only :class:`Cohort` shared by every browser session.

Thread safety (the page serves many sessions at once, each event in a worker thread):

* DuckDB connections are not safe to share across threads. Every session therefore gets its own
  :meth:`SharedCohort.view`: a shallow copy of the shared :class:`Cohort` whose ``con`` is its own
  DuckDB cursor (``con.cursor()``, a separate connection to the same database). The model and the
  FAISS indexes are shared read-only; FAISS CPU searches and a torch forward pass under
  ``no_grad`` are safe to run concurrently. A GPU FAISS index is not, so when the shared cohort
  searches on a GPU every call of a view is serialised by one lock.
* Uploading a recording writes to the workspace. DuckDB refuses a writing connection while
  read-only ones are open in the same process, so :meth:`SharedCohort.ingest` takes the write side
  of a readers-writer lock (every use of the cohort holds the read side: :meth:`SharedCohort.reading`), closes every view's cursor and the
  shared connection, ingests, reopens the cohort and bumps :attr:`SharedCohort.generation`.
  Sessions notice the new generation and rebuild their view before their next turn.

Caches: the shared cohort carries one :class:`~sleeplm.index.caption_cache.ChatCache` as
``chat_cache`` (views share it, being shallow copies): the preprocessed epochs of the last few nights
opened, every generated caption, rendered figures and query text embeddings (the cohort's model is
wrapped in a :class:`~sleeplm.index.caption_cache.CachedTextModel`), so that a repeated or concurrent
question reads the EDF, runs the model and draws a figure once. In memory only; emptied by every ingest.
Nights are read and preprocessed in a pool of :data:`READ_WORKERS` processes (``ChatCache.workers``),
not in the server's threads: a cold read is seconds of work that holds the GIL.
"""

from __future__ import annotations

import contextlib
import copy
import multiprocessing
import os
import threading
import time
import weakref
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sleeplm.index import stats
from sleeplm.index import vectors as vec
from sleeplm.index.caption_cache import CachedTextModel, ChatCache
from sleeplm.index.cohort_files import unpaired_annotations
from sleeplm.index.ingest import IngestReport, ingest
from sleeplm.index.models import ModelRef, resolve_model
from sleeplm.index.queries import Cohort
from sleeplm.index.workspace import Manifest, WorkspaceError


#: Processes that read and preprocess nights for the page's sessions (the machine has 2 cores).
READ_WORKERS = 2
#: How much lower the read workers' CPU priority is than the server's (``nice`` increment): a whole-night read
#: is seconds of work for one turn, and the other sessions' turns, a few milliseconds each, go first.
READ_WORKER_NICENESS = 10


def _exit_with_parent(parent_pid: int, poll_s: float = 1.0) -> None:
    """In a worker: end this process once the server is gone (a server killed by a signal leaves its
    pool's workers waiting for work forever otherwise)."""
    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(poll_s)
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-server", daemon=True).start()


def _init_read_worker(parent_pid: int, niceness: int) -> None:
    os.nice(niceness)
    _exit_with_parent(parent_pid)


def start_read_workers(n: int, niceness: int = READ_WORKER_NICENESS) -> ProcessPoolExecutor:
    """``n`` processes that read and preprocess nights, so that a cold read of an 8-h recording (seconds of
    work that holds the GIL) does not stop the server's other turns.

    They are forked now, before the server starts its threads and loads the model, and all at once
    (``ProcessPoolExecutor`` forks every worker at the first task): forked, not spawned, because a
    spawned worker imports the server's main module (the whole page: gradio, torch), tens of CPU-seconds
    on a loaded machine. They run ``niceness`` steps below the server's priority
    (:data:`READ_WORKER_NICENESS`), so short turns are not queued behind a long read.
    """
    pool = ProcessPoolExecutor(max_workers=n, mp_context=multiprocessing.get_context("fork"),
                               initializer=_init_read_worker, initargs=(os.getpid(), niceness))
    for ready in [pool.submit(os.getpid) for _ in range(n)]:
        ready.result()
    return pool


class RWLock:
    """A writer-preferring readers-writer lock: many readers, or one writer."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writer = False
        self._waiting_writers = 0

    @contextmanager
    def read(self) -> Iterator[None]:
        with self._cond:
            while self._writer or self._waiting_writers:
                self._cond.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                self._cond.notify_all()

    @contextmanager
    def write(self) -> Iterator[None]:
        with self._cond:
            self._waiting_writers += 1
            while self._writer or self._readers:
                self._cond.wait()
            self._waiting_writers -= 1
            self._writer = True
        try:
            yield
        finally:
            with self._cond:
                self._writer = False
                self._cond.notify_all()


class _SerialisedMethods:
    """Wraps a cohort view so that each method call holds ``lock`` (for GPU FAISS indexes)."""

    def __init__(self, inner: Cohort, lock: threading.Lock):
        object.__setattr__(self, "_inner", inner)
        object.__setattr__(self, "_lock", lock)

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                return attr(*args, **kwargs)

        return call

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._inner, name, value)


def workspace_model_ref(manifest: Manifest) -> ModelRef:
    """The model that built a workspace (bundled name first, then the weights path), checked by sha256."""
    for spec in (manifest.model_name, manifest.model_weights):
        if not spec:
            continue
        try:
            ref = resolve_model(spec, manifest.model_config)
        except (FileNotFoundError, ValueError, KeyError):
            continue
        if ref.sha256 == manifest.model_sha256:
            return ref
    raise WorkspaceError(
        f"the model that built this workspace ({manifest.model_name}, sha256 {manifest.model_sha256[:12]}…) "
        "is not available on this machine"
    )


@dataclass
class SharedCohort:
    """The workspace opened once for the whole server; sessions use :meth:`view`.

    ``opener`` builds the :class:`Cohort` (tests may pass a lighter one); by default the
    workspace's own model is loaded once and reused when the cohort is reopened after an upload.
    ``cache``: the sessions' shared :class:`ChatCache` (None: each session keeps its own, one night).
    """

    workspace: Path
    opener: Callable[[Path, Any], Cohort] | None = None
    generation: int = 0
    lock: RWLock = field(default_factory=RWLock)
    cache: ChatCache | None = field(default_factory=ChatCache)
    _cohort: Cohort | None = field(default=None, repr=False)
    _views: weakref.WeakSet = field(default_factory=weakref.WeakSet, repr=False)
    _gpu_lock: threading.Lock | None = field(default=None, repr=False)
    _ingest_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _views_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        self.workspace = Path(self.workspace)
        if self.cache is not None and self.cache.workers is None:
            self.cache.workers = start_read_workers(READ_WORKERS)
        self._open(model=None)

    # ------------------------------------------------------------------ opening
    def _open(self, model: Any) -> None:
        if self.opener is not None:
            self._cohort = self.opener(self.workspace, model)
        elif model is None:
            self._cohort = Cohort(self.workspace)
        else:  # reopening after an upload: same model, already checked against the manifest by ingest
            self._cohort = Cohort(self.workspace, model=model,
                                  model_ref=getattr(getattr(self, "_cohort", None), "model_ref", None))
        if self.cache is not None:
            self.cache.clear()
            self._cohort.chat_cache = self.cache  # type: ignore[attr-defined]
            self._cohort.model = CachedTextModel(self._cohort.model, self.cache.text_vectors,
                                                 self._cohort.manifest.model_sha256)
        self._gpu_lock = threading.Lock() if vec.n_gpus() > 0 else None

    @property
    def cohort(self) -> Cohort:
        assert self._cohort is not None, "the shared cohort is closed (an ingest is running)"
        return self._cohort

    @property
    def manifest(self) -> Manifest:
        return self.cohort.manifest

    def reading(self):
        """Hold this around any use of the cohort or its views (the read side of :attr:`lock`)."""
        return self.lock.read()

    def view(self) -> Cohort:
        """A per-session cohort: shared model and indexes, its own DuckDB cursor. Call under :meth:`reading`."""
        view = copy.copy(self.cohort)
        view.con = self.cohort.con.cursor()
        with self._views_lock:
            self._views.add(view)
        if self._gpu_lock is not None:
            return _SerialisedMethods(view, self._gpu_lock)  # type: ignore[return-value]
        return view

    # ------------------------------------------------------------------ reading
    def nights_table(self) -> stats.Table:
        """One row per night (subject attributes and key metrics), on a fresh cursor. Call under :meth:`reading`."""
        cur = self.cohort.con.cursor()
        try:
            return stats.nights_table(cur)
        finally:
            cur.close()

    # ------------------------------------------------------------------ writing
    def describe_night(self, name: str) -> str:
        """A stored night in a few words ("120 epochs, subject S-01"), for the page's questions."""
        table = self.nights_table()
        rows = [dict(zip(table.columns, r)) for r in table.rows if r[table.columns.index("recording")] == name]
        if not rows:
            return "no longer stored"
        return f"{rows[0]['n_epochs']} epochs, subject {rows[0]['subject_id'] or 'unknown'}"

    def ingest(self, files: Iterable[Path], cohort_dir: Path,
               on_file: Callable[[int, int, str], None] | None = None,
               replace: Collection[str] = ()) -> IngestReport:
        """Ingest ``files`` (found in ``cohort_dir``) with the workspace's own model, then reopen.

        ``replace``: night names that may replace a different stored night (the user confirmed).

        One file at a time, calling ``on_file(i, n, name)`` before each (for a progress bar); the
        reports are merged. Waits for running chat turns to finish; new turns wait until the
        cohort is reopened. One ingest at a time.
        """
        files = [Path(f) for f in files]
        total = IngestReport()
        with self._ingest_lock:
            ref = workspace_model_ref(self.manifest)
            with self.lock.write():
                model = self.cohort.model
                model = model.wrapped if isinstance(model, CachedTextModel) else model
                self._close_all()
                try:
                    for i, path in enumerate(files):
                        if on_file is not None:
                            on_file(i, len(files), path.name)
                        report = ingest(cohort_dir, self.workspace, model=str(ref.weights), model_config=ref.config,
                                        progress=False, files=[path], replace=replace,
                                        workers=0)  # one file at a time, inside the server: no worker processes
                        total.ingested += report.ingested
                        total.skipped += report.skipped
                        total.failed += report.failed
                        total.conflicts += report.conflicts
                        total.epochs_added += report.epochs_added
                        total.seconds += report.seconds
                        total.index_kinds, total.device = report.index_kinds, report.device
                finally:
                    self._open(model=model)
                    self.generation += 1
        total.unused = [(str(p), m) for p, _, m in unpaired_annotations(cohort_dir, files)]
        return total

    def _close_all(self) -> None:
        with self._views_lock:
            views = list(self._views)
        for view in views:
            with contextlib.suppress(Exception):  # a cursor already closed by its session
                view.con.close()
        self._views = weakref.WeakSet()
        self.cohort.close()
        self._cohort = None

    def close(self) -> None:
        with self.lock.write():
            if self._cohort is not None:
                self._close_all()
        if self.cache is not None and self.cache.workers is not None:
            self.cache.workers.shutdown(wait=False, cancel_futures=True)
            self.cache.workers = None


#: Environment variables read by :func:`load_credentials`.
AUTH_ENV = "SLEEPLM_AUTH"  # "user:password"
AUTH_PASSWORD_ENV = "SLEEPLM_AUTH_PASSWORD"  # the password for --auth-user


def load_credentials(user: str | None, auth_file: Path | None, environ: Mapping[str, str]) -> str | None:
    """``"user:password"`` for the page's login, never from the command line (``ps`` shows arguments).

    From ``auth_file`` (one line ``user:password``), else ``user`` with the password in
    ``$SLEEPLM_AUTH_PASSWORD``, else ``$SLEEPLM_AUTH`` (``user:password``); None when none is given.

    Raises
    ------
    ValueError
        A file that cannot be read or holds no ``user:password``, a user without a password.
    """
    if auth_file is not None:
        try:
            text = Path(auth_file).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise ValueError(f"--auth-file {auth_file}: cannot be read ({exc})") from exc
        name, sep, password = text.partition(":")
        if not sep or not name or not password or "\n" in text:
            raise ValueError(f"--auth-file {auth_file}: must hold one line 'user:password'")
        if user and user != name:
            raise ValueError(f"--auth-user {user!r} differs from the user in --auth-file {auth_file}")
        return text
    if user:
        password = environ.get(AUTH_PASSWORD_ENV, "")
        if not password:
            raise ValueError(f"--auth-user needs a password: set ${AUTH_PASSWORD_ENV} or use --auth-file "
                             "(a password on the command line would show in `ps`)")
        if ":" in user:
            raise ValueError("--auth-user is a user name only; the password goes in "
                             f"${AUTH_PASSWORD_ENV} or --auth-file")
        return f"{user}:{password}"
    env = environ.get(AUTH_ENV, "").strip()
    if env:
        name, sep, password = env.partition(":")
        if not sep or not name or not password:
            raise ValueError(f"${AUTH_ENV} must be 'user:password'")
        return env
    return None
