"""The ingest pipeline (worker processes prepare nights while the driver embeds and writes) stores what
the single-process ingest stores, and keeps its per-file guard."""

from __future__ import annotations

import os
import shutil
import signal
import time
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from sleeplm.index.ingest import ingest
from sleeplm.index.pipeline_workers import WorkerPool, pipelined_nights
from sleeplm.index.workspace import Workspace
from testdata import MINI_CHECKPOINT

#: columns that hold the time of the run, not the night
RUN_TIME_COLUMNS = {"ingested_at", "occurred_at"}
#: table -> ORDER BY key
TABLES = {
    "recordings": "recording_id", "subjects": "subject_id", "epochs": "epoch_id", "events": "event_id",
    "features": "epoch_id", "captions": "epoch_id, track", "night_metrics": "recording_id",
    "id_counters": "kind", "ingest_errors": "path", "epoch_vectors": "epoch_id", "night_vectors": "recording_id",
}


@pytest.fixture(scope="module")
def cohort(sim_cohort_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two simulated nights of the session cohort, their subjects table, and one truncated recording."""
    out = tmp_path_factory.mktemp("pipeline-cohort")
    for edf in sorted(sim_cohort_dir.glob("*.edf"))[:2]:
        shutil.copy(edf, out / edf.name)
        shutil.copy(edf.with_name(f"{edf.stem}-nsrr.xml"), out / f"{edf.stem}-nsrr.xml")
    shutil.copy(sim_cohort_dir / "subjects.csv", out / "subjects.csv")
    good = min(sim_cohort_dir.glob("*.edf"))
    (out / "cut.edf").write_bytes(good.read_bytes()[:300])
    return out


@pytest.fixture(scope="module")
def both(cohort: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The cohort ingested in one process (workers=0) and by the pipeline (one worker process)."""
    serial, piped = tmp_path_factory.mktemp("ws-serial"), tmp_path_factory.mktemp("ws-piped")
    r0 = ingest(cohort, serial, model=str(MINI_CHECKPOINT), progress=False, workers=0)
    r1 = ingest(cohort, piped, model=str(MINI_CHECKPOINT), progress=False, workers=1)
    assert sorted(r0.ingested) == sorted(r1.ingested) == ["sim-0001.edf", "sim-0002.edf"]
    return serial, piped


def _table(ws: Path, table: str) -> pd.DataFrame:
    con = duckdb.connect(str(Workspace(ws).db_path), read_only=True)
    try:
        df = con.execute(f"SELECT * FROM {table} ORDER BY {TABLES[table]}").df()
    finally:
        con.close()
    return df.drop(columns=[c for c in df.columns if c in RUN_TIME_COLUMNS])


@pytest.mark.parametrize("table", [t for t in TABLES if not t.endswith("_vectors")])
def test_pipelined_ingest_stores_the_same_rows_as_single_process(both: tuple[Path, Path], table: str) -> None:
    serial, piped = (_table(ws, table) for ws in both)
    assert len(serial) > 0
    pd.testing.assert_frame_equal(serial, piped)


@pytest.mark.parametrize("table", ["epoch_vectors", "night_vectors"])
def test_pipelined_vectors_match_single_process_to_float_rounding(both: tuple[Path, Path], table: str) -> None:
    # the driver embeds with 1 or 2 threads as the workers leave cores free; the matrix products then
    # sum in another order, so the last bits may differ (measured: 4e-8 between 1 and 2 threads)
    serial, piped = (_table(ws, table) for ws in both)
    key = TABLES[table]
    assert serial[key].tolist() == piped[key].tolist()
    np.testing.assert_allclose(np.stack(serial["vec"]), np.stack(piped["vec"]), rtol=0, atol=1e-6)
    np.testing.assert_allclose(serial["ood_score"].to_numpy(float), piped["ood_score"].to_numpy(float),
                               rtol=1e-5, equal_nan=True)


def test_a_bad_file_in_a_worker_is_an_ingest_error_naming_it(both: tuple[Path, Path]) -> None:
    errors = _table(both[1], "ingest_errors")
    cut = errors[errors["path"].str.endswith("cut.edf")]
    assert len(cut) == 1
    assert "cut.edf" in cut["message"].iloc[0] and cut["stage"].iloc[0] == "reading"


def test_a_killed_worker_fails_only_its_night_and_a_new_worker_goes_on(cohort: Path) -> None:
    jobs = [(cohort / "sim-0001.edf", "sim-0001", None), (cohort / "sim-0002.edf", "sim-0002", None)]
    pool = WorkerPool(jobs, score="missing", workers=1, max_in_flight=1)
    try:
        first, _ = pool.wait(0, lambda n: n.pid is not None)
        os.kill(first.pid, signal.SIGKILL)
        first, _ = pool.wait(0, lambda n: n.done)
        assert first.rows is None and first.error is not None
        _stage, message = first.error
        assert message.startswith(f"{cohort / 'sim-0001.edf'}: the worker process preparing it stopped")
        assert "signal 9" in message
        pool.release(0)
        second, _ = pool.wait(1, lambda n: n.done)
        assert second.error is None and second.rows is not None and len(second.rows.onset_s) > 0
    finally:
        pool.close()


def test_a_worker_killed_while_sending_a_night_does_not_stop_the_next_worker(cohort: Path) -> None:
    """Each worker has its own result pipe: a worker killed in the middle of sending leaves a message cut short
    (read as the end of its pipe), not a lock held by a dead process. With one shared multiprocessing.Queue the
    next worker waited for that lock forever and the ingest hung."""
    jobs = [(cohort / "sim-0001.edf", "sim-0001", None), (cohort / "sim-0002.edf", "sim-0002", None)]
    pool = WorkerPool(jobs, score="missing", workers=1, max_in_flight=1)
    try:
        first, _ = pool.wait(0, lambda n: n.pid is not None)
        time.sleep(4.0)  # nobody reads: the worker is now sending the night's epochs (megabytes through a pipe)
        os.kill(first.pid, signal.SIGKILL)
        first, _ = pool.wait(0, lambda n: n.done)
        assert first.error is not None and "signal 9" in first.error[1]
        pool.release(0)
        second, _ = pool.wait(1, lambda n: n.done)
        assert second.error is None and second.rows is not None and len(second.rows.onset_s) > 0
    finally:
        pool.close()


def test_default_workers_run_the_pipeline_only_for_enough_data_on_two_cores(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sleeplm.index import pipeline_workers as pw

    small, big = tmp_path / "small.edf", tmp_path / "big.edf"
    small.write_bytes(b"0" * 1024)
    with open(big, "wb") as f:
        f.truncate(pw.PIPELINE_MIN_BYTES)  # sparse: the size counts, not the content
    monkeypatch.setattr(pw, "available_cores", lambda: 2)
    assert pw.choose_workers(None, [small]) == 0
    assert pw.choose_workers(None, [small, big]) == 1
    assert pw.choose_workers(3, [small]) == 3 and pw.choose_workers(0, [big]) == 0
    monkeypatch.setattr(pw, "available_cores", lambda: 1)
    assert pw.choose_workers(None, [big]) == 0
    with pytest.raises(ValueError, match="workers must be 0 or more"):
        pw.choose_workers(-1, [big])


@pytest.mark.slow
def test_a_script_without_a_main_guard_falls_back_to_one_process(cohort: Path, tmp_path: Path) -> None:
    import subprocess
    import sys

    script = tmp_path / "no_guard.py"
    script.write_text(
        "from pathlib import Path\nfrom sleeplm.index.ingest import ingest\n"
        f"r = ingest(Path({str(cohort)!r}), Path({str(tmp_path / 'ws')!r}), model={str(MINI_CHECKPOINT)!r}, "
        "progress=False, workers=1, files=[Path(" + repr(str(cohort / "sim-0001.edf")) + ")])\n"
        "print('INGESTED', r.ingested)\n")
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=900, check=False)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "INGESTED ['sim-0001.edf']" in run.stdout
    assert "the nights are prepared in this process instead" in run.stderr


class _Job:
    """What :func:`pipelined_nights` needs of the ingest's jobs."""

    def __init__(self, path: Path) -> None:
        self.path, self.name, self.annotation_path, self.stages = path, path.stem, None, []

    def at(self, stage: str) -> None:
        self.stages.append(stage)


def test_a_model_that_cannot_load_is_each_nights_error_and_is_retried(cohort: Path) -> None:
    """The model is loaded while the workers start; when that fails it is tried again at each night,
    whose error it becomes (as in one process)."""
    calls: list[int] = []

    def load() -> tuple[object, object]:
        calls.append(1)
        raise FileNotFoundError("no weights here")

    jobs = [_Job(cohort / "sim-0001.edf"), _Job(cohort / "sim-0002.edf")]
    out = list(pipelined_nights(jobs, load, batch_size=8, score="missing", workers=1))
    assert [(job.name, type(res), str(res)) for job, res in out] == [
        ("sim-0001", FileNotFoundError, "no weights here"), ("sim-0002", FileNotFoundError, "no weights here")]
    assert len(calls) == 3


def test_each_nights_progress_starts_at_zero_when_its_embedding_starts() -> None:
    """The page's and the terminal's per-night progress bar restarts its clock at 0 epochs, so a later night's
    rate and time left are its own, not averaged from the start of the run."""
    from sleeplm.index.pipeline_workers import _embed_sharing_cores

    class IdlePool:
        def poll(self) -> None:
            pass

        def busy_workers(self) -> int:
            return 0

    calls: list[tuple[int, int]] = []
    x = np.zeros((5, 2), dtype=np.float32)
    out = _embed_sharing_cores(x, None, 2, IdlePool(), 1, lambda xb, net, bs: xb[:, :1],  # type: ignore[arg-type]
                               lambda done, total: calls.append((done, total)))
    assert calls == [(0, 5), (2, 5), (4, 5), (5, 5)] and out.shape == (5, 1)
