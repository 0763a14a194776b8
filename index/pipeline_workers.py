"""The ingest pipeline: worker processes prepare nights while this process embeds and writes.

Each worker process takes one night at a time and runs :func:`~sleeplm.index.night_rows.prepare_night`
(read, map, score, cut epochs, features, captions, metrics). As soon as the night's model input is
cut it is sent back, so the model embeds the night *while the worker is still computing its
features*; the rows follow when the worker is done, and then the next night is read while this one
is written. The driver (this process) handles the nights in the order they were given, so ids are
taken in the same order as the single-process engine and the workspace holds the same rows.

Bounded memory: at most ``max_in_flight`` nights are handed to the workers and not yet written
(default: workers + 1), so at most that many nights' signals exist at once.

Threads: the cores are shared. Workers run with one thread each (``OMP_NUM_THREADS`` etc. = 1,
set before they import numpy); the driver embeds with the cores the busy workers leave free, and
with every core once the workers are idle (``torch.set_num_threads`` between batches).

Failures stay per file: a worker's exception becomes the same message the single-process engine
writes (:func:`~sleeplm.index.failures.describe_failure`, at the stage the worker had reached); a
worker that dies (killed, out of memory, a crash in a C library) fails the night it held, with
the stage it had reached, and a new worker takes the remaining nights.

Messages from a worker, on its own result pipe (written by a thread of the worker, so the worker never waits for
the driver to read), as tuples ``(kind, seq, payload)``:
``("stage", seq, stage)``, ``("x", seq, x)``, ``("night", seq, NightRows)``,
``("error", seq, (stage, message))``; ``("start", seq, pid)`` when it takes a night; ``("ready", -1, pid)``
once, when its imports are done (a worker not ready after :data:`STARTUP_S`, or two that die before taking a
night, mean the workers cannot start: the caller's fallback prepares the nights in its own process).
Each worker has its own pipe, and the driver holds only its reading end: a worker killed while sending (out of
memory, ``kill -9``) leaves a half-written message that reads as the end of its pipe, never a lock held by a dead
process that every other worker then waits on (what one shared ``multiprocessing.Queue`` does).
This module imports no torch at import time, so a worker starts without it.
"""

from __future__ import annotations

import multiprocessing as mp
import multiprocessing.connection as mpc
import os
import threading
import time
import warnings
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sleeplm.encoder.io.records import PSGError

if TYPE_CHECKING:
    import numpy as np

    from .night_rows import NightRows

#: environment variables that cap native thread pools (numpy's BLAS, OpenMP, torch) in a worker
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS",
               "VECLIB_MAXIMUM_THREADS")
#: seconds between liveness checks of the workers while the driver waits for a message
POLL_S = 0.5
#: a worker that has not said it is ready (imports done) after this long is taken as unable to start, e.g. a
#: script without ``if __name__ == "__main__":`` whose re-import in the worker starts a server and never returns
STARTUP_S = 300.0


class WorkersCannotStart(RuntimeError):
    """Worker processes die before taking any night (e.g. a script without ``if __name__ == "__main__":``,
    which a spawned process re-runs)."""


class WorkerNightError(PSGError):
    """A night that failed in a pipeline worker; ``message`` is the full sentence, ``stage`` where."""

    def __init__(self, path: str | Path, message: str, stage: str) -> None:
        super().__init__(path, message)
        self.message, self.stage = message, stage

    def __str__(self) -> str:
        return self.message


def available_cores() -> int:
    """CPU cores this process may run on (the affinity mask where the system has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return max(1, os.cpu_count() or 1)


def default_workers(cores: int | None = None) -> int:
    """Worker processes for ``cores`` cores: one fewer than the cores (the driver embeds), at least one."""
    cores = available_cores() if cores is None else cores
    return max(1, cores - 1)


#: below this much recording data (bytes) to ingest, ``workers=None`` ingests in this process: starting a
#: worker process (importing numpy, scipy, neurokit2) costs more than it saves on a few short nights
PIPELINE_MIN_BYTES = 32 << 20


def choose_workers(workers: int | None, paths: Iterable[Path]) -> int:
    """Worker processes for the local engine: ``workers`` when given (0: none, all in this process);
    by default :func:`default_workers` when this process may use
    at least 2 cores and the recordings total at least :data:`PIPELINE_MIN_BYTES`, else 0."""
    if workers is not None:
        if workers < 0:
            raise ValueError(f"workers must be 0 or more, got {workers}")
        return workers
    if available_cores() < 2:
        return 0
    total = 0
    for p in paths:
        try:
            total += p.stat().st_size
        except OSError:
            continue  # the file's own guard reports it
    return default_workers() if total >= PIPELINE_MIN_BYTES else 0


# ------------------------------------------------------------------------------------- worker side
class _Sender:
    """A worker's messages to the driver: ``put`` appends to a buffer that a thread sends down the pipe, so the
    worker goes on preparing while the driver is busy embedding (the pipe holds only 64 kB)."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn
        self._buffer: deque[Any] = deque()
        self._ready = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="sleeplm-worker-sender", daemon=True)
        self._thread.start()

    def put(self, msg: Any) -> None:
        with self._ready:
            self._buffer.append(msg)
            self._ready.notify()

    def _run(self) -> None:
        while True:
            with self._ready:
                while not self._buffer:
                    self._ready.wait()
                msg = self._buffer.popleft()
            if msg is None:
                return
            try:
                self._conn.send(msg)
            except OSError:  # the driver is gone: nothing to send to
                return

    def close(self) -> None:
        """Send what is buffered, then close the pipe."""
        self.put(None)
        self._thread.join()
        self._conn.close()


def _worker_main(tasks: Any, conn: Any) -> None:
    """A worker's loop: prepare the nights it is given until it receives ``None``."""
    from .failures import describe_failure
    from .night_rows import prepare_night

    results = _Sender(conn)
    results.put(("ready", -1, os.getpid()))
    while True:
        task = tasks.get()
        if task is None:
            results.close()
            return
        seq, path, name, score, annotation_path, brain_scale = task
        results.put(("start", seq, os.getpid()))
        stage = ["reading"]

        def at(s: str, seq: int = seq, stage: list[str] = stage) -> None:
            stage[0] = s
            results.put(("stage", seq, s))

        def send_x(x: np.ndarray, seq: int = seq) -> None:
            results.put(("x", seq, x))

        try:
            night = prepare_night(Path(path), name, on_stage=at, score=score, on_epochs=send_x,
                                  brain_scale=brain_scale)
        except Exception as exc:  # noqa: BLE001 - one file's failure, whatever it is, is reported
            ann = Path(annotation_path) if annotation_path else None
            results.put(("error", seq, (stage[0], describe_failure(Path(path), stage[0], exc, ann))))
            continue
        results.put(("night", seq, night))


@contextmanager
def _single_threaded_children():
    """Spawned children inherit one-thread caps (set here, around ``Process.start``, then restored)."""
    saved = {k: os.environ.get(k) for k in THREAD_VARS}
    os.environ.update(dict.fromkeys(THREAD_VARS, "1"))
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


# ------------------------------------------------------------------------------------- driver side
@dataclass
class _Night:
    """What the driver knows of one night in flight."""

    seq: int
    stage: str = "reading"
    pid: int | None = None
    x: Any = None
    rows: Any = None
    error: tuple[str, str] | None = None
    done: bool = False  # rows or error received

    @property
    def has_input(self) -> bool:
        return self.x is not None or self.done


@dataclass
class PipelineStats:
    """Where the driver's time went (seconds, wall clock): for the bench's idle share."""

    embed_s: float = 0.0
    wait_s: float = 0.0
    nights: int = 0
    epochs: int = 0


@dataclass
class _Worker:
    """One worker process, its own task queue, and the nights handed to it (oldest first)."""

    proc: Any
    tasks: Any
    results: Any  # the reading end of its pipe
    seqs: deque[int] = field(default_factory=deque)
    eof: bool = False  # its pipe has ended (it exited or died)
    started: bool = False  # it has taken a night (a worker that dies before that failed to start)
    ready: bool = False  # its imports are done
    spawned_at: float = field(default_factory=time.monotonic)


class WorkerPool:
    """Worker processes preparing nights, in the order given; the driver asks for them one by one.

    Each worker has its own task queue, so the driver always knows which nights a worker holds:
    when a worker dies, the night it had started fails (naming the file and the stage reached) and
    the nights it had not started go to a new worker.

    Parameters
    ----------
    jobs : (path, name, annotation_path) per night, in the order the driver will ask for them.
    score : automatic scoring mode for :func:`~sleeplm.index.night_rows.prepare_night`.
    workers : worker processes.
    max_in_flight : nights handed out and not yet released by the driver (bounds memory).
    """

    def __init__(self, jobs: list[tuple[Path, str, Path | None]], score: str, workers: int,
                 max_in_flight: int, brain_scale: str = "sd") -> None:
        if workers < 1 or max_in_flight < 1:
            raise ValueError(f"workers and max_in_flight must be at least 1, got {workers} and {max_in_flight}")
        self._ctx = mp.get_context("spawn")  # never fork a process that holds torch's thread pools
        self._jobs, self._score, self._brain_scale = jobs, score, brain_scale
        self._n_workers, self._max = workers, max_in_flight
        self._workers: list[_Worker] = []
        self._nights: dict[int, _Night] = {}
        self._next = 0
        self._failed_starts = 0
        self._fill()

    # -- processes
    def _spawn(self) -> _Worker:
        tasks = self._ctx.Queue()
        reader, writer = self._ctx.Pipe(duplex=False)
        p = self._ctx.Process(target=_worker_main, args=(tasks, writer), daemon=True,
                              name="sleeplm-ingest-worker")
        with _single_threaded_children():
            p.start()
        writer.close()  # the worker holds the only writing end: its death ends the pipe
        w = _Worker(p, tasks, reader)
        self._workers.append(w)
        return w

    def _assign(self, seq: int) -> None:
        """Hand night ``seq`` to the worker with the fewest nights (a new one while below ``workers``)."""
        if len(self._workers) < self._n_workers:
            w = self._spawn()
        else:
            w = min(self._workers, key=lambda w: len(w.seqs))
        path, name, ann = self._jobs[seq]
        w.seqs.append(seq)
        w.tasks.put((seq, str(path), name, self._score, str(ann) if ann else None, self._brain_scale))

    def _fill(self) -> None:
        """Hand out nights until ``max_in_flight`` are out."""
        while self._next < len(self._jobs) and len(self._nights) < self._max:
            self._nights[self._next] = _Night(self._next)
            self._assign(self._next)
            self._next += 1

    def busy_workers(self) -> int:
        """Workers now preparing a night (started and not done)."""
        return sum(1 for n in self._nights.values() if n.pid is not None and not n.done)

    # -- messages
    def _take(self, msg: tuple[str, int, Any]) -> None:
        kind, seq, payload = msg
        if kind == "ready":
            for w in self._workers:
                if w.proc.pid == payload:
                    w.ready = True
            return
        night = self._nights.get(seq)
        if night is None:  # a released night: ignore
            return
        if kind == "start":
            night.pid = payload
            for w in self._workers:
                if w.proc.pid == payload:
                    w.started = True
        elif kind == "stage":
            night.stage = payload
        elif kind == "x":
            night.x = payload
        elif kind in ("night", "error"):
            if kind == "night":
                night.rows = payload
            else:
                night.stage = payload[0]
                night.error = payload
            night.done = True
            for w in self._workers:
                if seq in w.seqs:
                    w.seqs.remove(seq)

    def _read(self, w: _Worker) -> None:
        """Take one message from ``w``'s pipe (its end, or a message cut short by its death: ``w.eof``)."""
        try:
            msg = w.results.recv()
        except (EOFError, OSError):
            w.eof = True
            return
        self._take(msg)

    def poll(self, workers: Iterable[_Worker] | None = None) -> None:
        """Take every message that has arrived (from ``workers``, default all), without waiting."""
        for w in list(self._workers if workers is None else workers):
            while not w.eof and w.results.poll():
                self._read(w)

    def _check_workers(self) -> None:
        """Fail the night a dead worker had started; its other nights go to a new worker."""
        for w in list(self._workers):
            if w.proc.is_alive():
                if not w.ready and time.monotonic() - w.spawned_at > STARTUP_S:
                    raise WorkersCannotStart(f"an ingest worker process was not ready {STARTUP_S:.0f} s after it "
                                             "was started")
                continue
            self.poll([w])  # what it sent before dying (a message it was sending when killed: cut, dropped)
            self._workers.remove(w)
            _close_queue(w.tasks)
            w.results.close()
            code = w.proc.exitcode
            if not w.started:
                self._failed_starts += 1
                if self._failed_starts >= max(2, self._n_workers):
                    raise WorkersCannotStart(f"{self._failed_starts} ingest worker processes stopped before taking "
                                             f"a night (exit code {code})")
            why = f"killed by signal {-code}" if code is not None and code < 0 else f"exit code {code}"
            for seq in list(w.seqs):
                night = self._nights[seq]
                if night.pid == w.proc.pid:
                    message = (f"{self._jobs[seq][0]}: the worker process preparing it stopped ({why}; out of "
                               "memory, or a crash in a library)")
                    night.error = (night.stage, message)
                    night.done = True
                else:
                    self._assign(seq)

    def wait(self, seq: int, ready: Callable[[_Night], bool]) -> tuple[_Night, float]:
        """Block until ``ready(night)``; returns the night and the seconds spent waiting."""
        t0 = time.perf_counter()
        night = self._nights[seq]
        while not ready(night):
            open_ = {w.results: w for w in self._workers if not w.eof}
            arrived = mpc.wait(list(open_), timeout=POLL_S) if open_ else (time.sleep(POLL_S) or [])
            for conn in arrived:
                self._read(open_[conn])
            if not arrived or any(w.eof for w in self._workers):
                self._check_workers()
        return night, time.perf_counter() - t0

    def release(self, seq: int) -> None:
        """The driver is done with night ``seq``: forget it and hand out the next."""
        self._nights.pop(seq, None)
        self._fill()

    def close(self) -> None:
        """Stop the workers (politely, then by force) and the queues' feeder threads."""
        for w in self._workers:
            w.tasks.put(None)
        deadline = time.monotonic() + 5.0
        for w in self._workers:
            w.proc.join(timeout=max(0.0, deadline - time.monotonic()))
            if w.proc.is_alive():
                w.proc.terminate()
                w.proc.join(timeout=2.0)
            _close_queue(w.tasks)
            w.results.close()
        self._workers.clear()


def _close_queue(q: Any) -> None:
    q.cancel_join_thread()
    q.close()


def pipelined_nights(jobs: list[Any], load: Callable[[], tuple[Any, Any]], batch_size: int, score: str,
                     workers: int | None = None, max_in_flight: int | None = None,
                     on_batch: Callable[[Any, int, int], None] | None = None,
                     stats: PipelineStats | None = None,
                     fallback: Callable[[list[Any]], Iterator[tuple[Any, NightRows | BaseException]]] | None = None,
                     brain_scale: str = "sd") -> Iterator[tuple[Any, NightRows | BaseException]]:
    """Yield ``(job, NightRows or exception)`` per job, in order, nights prepared by worker processes.

    Parameters
    ----------
    jobs : objects with ``path``, ``name``, ``annotation_path`` and ``at(stage)`` (the ingest's jobs).
    load : returns ``(model, ood_reference)``; called once, right after the workers are started, so the
        model is ready when the first night's input arrives (a failure is retried at that night, and
        becomes that night's error, as before).
    batch_size : epochs per model call (the same batches as the single-process engine).
    workers, max_in_flight : default :func:`default_workers` and workers + 1.
    on_batch : ``on_batch(job, done, total)`` after each embedded batch (progress).
    stats : filled with the driver's embedding and waiting time.
    fallback : runs the nights not yet yielded in this process when the workers cannot start
        (:class:`WorkersCannotStart`, with a warning); without it the error is raised.
    brain_scale : the model's EEG/EOG input scale, for the workers' ``make_epochs``.
    """
    import torch

    from .night_rows import add_vectors, embed_epochs

    if not jobs:
        return
    cores = available_cores()
    workers = default_workers(cores) if workers is None else workers
    max_in_flight = workers + 1 if max_in_flight is None else max_in_flight
    stats = stats if stats is not None else PipelineStats()
    threads_before = torch.get_num_threads()
    pool = WorkerPool([(j.path, j.name, j.annotation_path) for j in jobs], score, workers, max_in_flight,
                      brain_scale=brain_scale)
    state: dict[str, Any] = {}
    seq = 0
    try:
        try:  # while the workers import and read: the model waits on them otherwise
            state["net"], state["ood"] = load()
        except Exception:  # noqa: BLE001 - retried at the first night, whose failure it then becomes
            state.clear()
        for seq, job in enumerate(jobs):
            try:
                night, waited = pool.wait(seq, lambda n: n.has_input)
            except WorkersCannotStart as exc:
                if fallback is None:
                    raise
                warnings.warn(f"{exc}; the nights are prepared in this process instead", RuntimeWarning,
                              stacklevel=2)
                pool.close()
                torch.set_num_threads(threads_before)
                yield from fallback(jobs[seq:])
                return
            stats.wait_s += waited
            job.at(night.stage)
            if night.error is not None:
                job.at(night.error[0])
                pool.release(seq)
                yield job, WorkerNightError(job.path, night.error[1], night.error[0])
                continue
            try:
                if night.x is None:
                    raise RuntimeError("the worker sent rows without model input")
                x, night.x = night.x, None
                if "net" not in state:
                    state["net"], state["ood"] = load()
                t0 = time.perf_counter()
                vectors = _embed_sharing_cores(x, state["net"], batch_size, pool, cores, embed_epochs,
                                               None if on_batch is None else
                                               (lambda done, total, j=job: on_batch(j, done, total)))
                stats.embed_s += time.perf_counter() - t0
                del x
            except Exception as exc:  # noqa: BLE001 - the model failed on this night: its failure only
                pool.wait(seq, lambda n: n.done)
                job.at("embedding")
                pool.release(seq)
                yield job, exc
                continue
            night, waited = pool.wait(seq, lambda n: n.done)
            stats.wait_s += waited
            if night.error is not None:
                job.at(night.error[0])
                pool.release(seq)
                yield job, WorkerNightError(job.path, night.error[1], night.error[0])
                continue
            rows = night.rows
            pool.release(seq)  # the next night starts while this one is finished and written
            try:
                job.at("embedding")
                rows = add_vectors(rows, vectors, state["ood"])
            except Exception as exc:  # noqa: BLE001
                yield job, exc
                continue
            stats.nights += 1
            stats.epochs += len(vectors)
            yield job, rows
    finally:
        pool.close()
        torch.set_num_threads(threads_before)


def _embed_sharing_cores(x: Any, net: Any, batch_size: int, pool: WorkerPool, cores: int,
                         embed_epochs: Callable[..., Any], on_batch: Callable[[int, int], Any] | None) -> Any:
    """Embed ``x`` in ``batch_size`` batches, using the cores the busy workers leave free
    (``on_batch(done, total)`` after each batch)."""
    import numpy as np
    import torch

    chunks = []
    if on_batch is not None:
        on_batch(0, len(x))  # the night's embedding starts now (its progress clock starts here)
    for i in range(0, len(x), batch_size):
        pool.poll()
        threads = max(1, cores - pool.busy_workers())
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
        chunks.append(embed_epochs(x[i : i + batch_size], net, batch_size))
        if on_batch is not None:
            on_batch(min(i + batch_size, len(x)), len(x))
    return np.concatenate(chunks).astype(np.float32)
