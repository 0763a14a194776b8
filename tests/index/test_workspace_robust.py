"""A workspace that says what is wrong: schema version, busy, damaged FAISS or manifest, stale vectors,
night names that never silently replace another night, ids never reused."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from sleeplm.app.cli import app
from sleeplm.app.service import load_credentials
from sleeplm.encoder.io.records import PSGError
from sleeplm.index import vectors as vec
from sleeplm.index.cohort_files import read_subjects
from sleeplm.index.ingest import ingest
from sleeplm.index.queries import Cohort
from sleeplm.index.workspace import (
    Workspace,
    WorkspaceError,
    check_workspace,
    load_vectors,
)
from testdata import MINI_CHECKPOINT
from typer.testing import CliRunner

runner = CliRunner()


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from sleeplm.encoder.sim import simulate_cohort

    out = tmp_path_factory.mktemp("cohort")
    simulate_cohort(out, n_nights=2, seed=5, duration_h=1 / 60, progress=False)
    return out


@pytest.fixture(scope="module")
def built(cohort: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    ws = tmp_path_factory.mktemp("ws")
    report = ingest(cohort, ws, model=str(MINI_CHECKPOINT), progress=False)
    assert len(report.ingested) == 2 and report.ok
    return ws


@pytest.fixture
def ws(built: Path, tmp_path: Path) -> Workspace:
    shutil.copytree(built, tmp_path / "ws")
    return Workspace(tmp_path / "ws")


def _ids(ws: Workspace, sql: str) -> list:
    con = duckdb.connect(str(ws.db_path), read_only=True)
    try:
        return [r[0] for r in con.execute(sql).fetchall()]
    finally:
        con.close()


def test_zero_byte_faiss_file_is_reported_with_the_repair_command(ws: Workspace) -> None:
    ws.epochs_index_path.write_bytes(b"")
    problems = check_workspace(ws)
    assert any("0 bytes" in p and "--repair" in p for p in problems)
    with pytest.raises(WorkspaceError, match="--repair"):
        Cohort(ws.root)


def test_truncated_faiss_file_is_damaged_not_a_traceback(ws: Workspace) -> None:
    data = ws.nights_index_path.read_bytes()
    ws.nights_index_path.write_bytes(data[: len(data) // 2])
    result = runner.invoke(app, ["search", "wake", "-w", str(ws.root)])
    assert result.exit_code == 2 and "damaged" in result.output and "--repair" in result.output
    assert "Traceback" not in result.output


def test_repair_rebuilds_indexes_and_manifest_from_duckdb(ws: Workspace) -> None:
    ws.epochs_index_path.unlink()
    ws.manifest_path.write_text("{ not json")
    result = runner.invoke(app, ["check", "-w", str(ws.root), "--repair"])
    assert result.exit_code == 0, result.output
    assert check_workspace(ws) == []


def test_garbage_manifest_is_a_clear_error(ws: Workspace) -> None:
    ws.manifest_path.write_bytes(b"\x00\xffgarbage")
    with pytest.raises(WorkspaceError, match="manifest is unreadable.*--repair"):
        ws.manifest()
    result = runner.invoke(app, ["ask", "how many nights?", "-w", str(ws.root)])
    assert result.exit_code == 2 and "Traceback" not in result.output


def test_check_finds_a_stale_vector_with_the_right_ids(ws: Workspace) -> None:
    con = ws.connect(read_only=True)
    ids, mat = load_vectors(con, "epoch_vectors", "epoch_id")
    con.close()
    mat[1] = -mat[1]  # same ids, one vector not the one DuckDB holds
    vec.save_index(vec.build_index(mat, ids), ws.epochs_index_path)
    problems = check_workspace(ws)
    assert any("1 vector(s) differ" in p for p in problems)
    assert check_workspace(ws, content=False) == []


def test_workspace_of_an_older_schema_is_refused_with_re_ingest(tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "cohort.duckdb"))
    con.execute("CREATE TABLE recordings (recording_id INTEGER, name VARCHAR)")
    con.close()
    with pytest.raises(WorkspaceError, match="older version of sleeplm.*re-ingest"):
        Workspace(tmp_path).connect()


def test_busy_workspace_names_the_process_holding_it(ws: Workspace) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", ("import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
                                "print('ready', flush=True); time.sleep(60)"), str(ws.db_path)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(WorkspaceError, match=rf"busy: process {holder.pid} "):
            ws.connect()
        result = runner.invoke(app, ["check", "-w", str(ws.root)])
        assert result.exit_code == 1 and "busy" in result.output and "Traceback" not in result.output
    finally:
        holder.kill()
        holder.wait()


def test_a_different_night_with_a_taken_name_is_refused_then_replaced_on_request(
        cohort: Path, ws: Workspace, tmp_path: Path) -> None:
    other = tmp_path / "upload"
    other.mkdir()
    names = sorted(p.stem for p in cohort.glob("*.edf"))
    shutil.copyfile(cohort / f"{names[1]}.edf", other / f"{names[0]}.edf")  # another night, a taken name
    before = _ids(ws, f"SELECT sha256 FROM recordings WHERE name = '{names[0]}'")
    report = ingest(other, ws.root, model=str(MINI_CHECKPOINT), progress=False)
    assert report.conflicts == [names[0]] and not report.ingested
    assert _ids(ws, f"SELECT sha256 FROM recordings WHERE name = '{names[0]}'") == before
    assert any("already in the workspace" in m for _, m in report.failed)
    report = ingest(other, ws.root, model=str(MINI_CHECKPOINT), progress=False, replace=[names[0]])
    assert report.ingested == [f"{names[0]}.edf"]
    assert _ids(ws, f"SELECT sha256 FROM recordings WHERE name = '{names[0]}'") != before


def test_epoch_ids_are_never_reused_after_a_night_is_replaced(cohort: Path, tmp_path: Path) -> None:
    src = tmp_path / "c"
    shutil.copytree(cohort, src)
    ws = Workspace(tmp_path / "ws")
    ingest(src, ws.root, model=str(MINI_CHECKPOINT), progress=False)
    first = set(_ids(ws, "SELECT epoch_id FROM epochs"))
    xml = max(src.glob("*-nsrr.xml"))
    xml.write_text(xml.read_text().replace("<Duration>30.0</Duration>", "<Duration>30.00</Duration>", 1))
    ingest(src, ws.root, model=str(MINI_CHECKPOINT), progress=False)
    second = set(_ids(ws, "SELECT epoch_id FROM epochs"))
    new = second - first
    assert new and min(new) > max(first)
    assert check_workspace(ws) == []


def test_same_file_name_in_two_folders_gives_two_nights(cohort: Path, tmp_path: Path) -> None:
    src = tmp_path / "c"
    edf = sorted(cohort.glob("*.edf"))
    for sub, path in (("x", edf[0]), ("y", edf[1])):
        (src / sub).mkdir(parents=True)
        shutil.copyfile(path, src / sub / "night.edf")
    report = ingest(src, tmp_path / "ws", model=str(MINI_CHECKPOINT), progress=False)
    assert sorted(report.ingested) == ["x/night.edf", "y/night.edf"]
    assert sorted(_ids(Workspace(tmp_path / "ws"), "SELECT name FROM recordings")) == ["x/night", "y/night"]


def test_subjects_csv_that_is_not_utf8_is_named_in_the_error(tmp_path: Path) -> None:
    bad = tmp_path / "subjects.csv"
    bad.write_bytes(b"subject_id,recording,site\nS1,n1,Z\xfcrich\n")
    with pytest.raises(PSGError, match=r"subjects.csv: the subjects table is not UTF-8"):
        read_subjects(bad)


def test_password_comes_from_a_file_or_the_environment_never_argv(tmp_path: Path) -> None:
    secret = tmp_path / "auth"
    secret.write_text("ana:s3cret\n")
    assert load_credentials(None, secret, {}) == "ana:s3cret"
    assert load_credentials("ana", None, {"SLEEPLM_AUTH_PASSWORD": "pw"}) == "ana:pw"
    assert load_credentials(None, None, {"SLEEPLM_AUTH": "bo:pw2"}) == "bo:pw2"
    assert load_credentials(None, None, {}) is None
    with pytest.raises(ValueError, match="SLEEPLM_AUTH_PASSWORD"):
        load_credentials("ana", None, {})
    with pytest.raises(ValueError, match="user name only"):
        load_credentials("ana:pw", None, {"SLEEPLM_AUTH_PASSWORD": "x"})


def test_a_moved_cohort_is_recognised_and_its_paths_follow(cohort: Path, built: Path, tmp_path: Path) -> None:
    moved = tmp_path / "moved"
    shutil.copytree(cohort, moved)
    ws = Workspace(tmp_path / "ws")
    shutil.copytree(built, ws.root)
    con = duckdb.connect(str(ws.db_path))
    con.execute("UPDATE recordings SET path = '/gone/' || name || '.edf'")  # the old folder no longer exists
    con.close()
    report = ingest(moved, ws.root, model=str(MINI_CHECKPOINT), progress=False)
    assert not report.ingested and not report.failed and len(report.skipped) == 2
    assert all(p.startswith(str(moved.resolve())) for p in _ids(ws, "SELECT path FROM recordings"))
