"""The fuzz corpus (tests/fuzz/corpus.py): one bad file never stops a cohort, ``inspect`` never crashes."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from corpus import Corpus, write_corpus
from sleeplm.app.cli import app
from sleeplm.index.workspace import Workspace, check_workspace
from testdata import MINI_CHECKPOINT
from typer.testing import CliRunner

runner = CliRunner()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    return write_corpus(tmp_path_factory.mktemp("fuzz") / "cohort")


@pytest.fixture(scope="module")
def ingested(corpus: Corpus, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    ws = tmp_path_factory.mktemp("fuzz-ws")
    result = runner.invoke(app, ["ingest", str(corpus.root), "-w", str(ws), "--model", str(MINI_CHECKPOINT)])
    return ws, result.output + (str(result.exception) if result.exception and not isinstance(result.exception, SystemExit) else "")


def _rows(ws: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(Workspace(ws).db_path), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_corpus_has_at_least_sixty_kinds_of_input(corpus: Corpus) -> None:
    assert len(corpus.cases) >= 60 and len(corpus.good) >= 5 and len(corpus.bad) >= 40


def test_ingest_of_the_corpus_prints_no_traceback_and_reports_failures(ingested: tuple[Path, str]) -> None:
    _, output = ingested
    assert "Traceback" not in output
    assert "failed:" in output and "ingested" in output


def test_every_good_night_is_stored_under_its_name(corpus: Corpus, ingested: tuple[Path, str]) -> None:
    ws, _ = ingested
    names = {r[0] for r in _rows(ws, "SELECT name FROM recordings")}
    assert {c.name for c in corpus.good} <= names


def test_every_bad_file_is_listed_with_a_message_naming_it(corpus: Corpus, ingested: tuple[Path, str]) -> None:
    ws, _ = ingested
    errors = {Path(p).name: (stage, msg) for p, stage, msg in _rows(ws, "SELECT path, stage, message FROM ingest_errors")}
    for case in corpus.bad:
        stem = case.path.stem
        listed = {n: v for n, v in errors.items() if n.startswith(stem)}  # the recording or its annotation file
        assert listed, f"{case.path.name} ({case.why}) is not listed in ingest_errors"
        stage, msg = next(iter(listed.values()))
        assert stem in msg and stage and "Traceback" not in msg, (case.why, msg)


def test_no_file_is_both_stored_and_listed(corpus: Corpus, ingested: tuple[Path, str]) -> None:
    ws, _ = ingested
    stored = {Path(p).resolve() for (p,) in _rows(ws, "SELECT path FROM recordings")}
    failed = {Path(p) for (p,) in _rows(ws, "SELECT path FROM ingest_errors")}
    for case in corpus.cases:
        if case.kind == "odd":
            target = case.path.resolve()
            assert (target in stored) != any(f.stem.startswith(case.path.stem) for f in failed), case.why


def test_workspace_of_the_corpus_passes_check(ingested: tuple[Path, str]) -> None:
    ws, _ = ingested
    assert check_workspace(Workspace(ws)) == []


def test_night_without_scoring_stores_null_metrics(ingested: tuple[Path, str]) -> None:
    ws, _ = ingested
    rows = _rows(ws, "SELECT m.ahi_per_h, m.tst_min, m.summary FROM night_metrics m JOIN recordings r "
                     "USING (recording_id) WHERE r.name IN ('000-unscored', 'events-only')")
    assert len(rows) == 2 and all(ahi is None and tst is None for ahi, tst, _ in rows)
    assert all(summary is None or "not scored" in summary for _, _, summary in rows)


def test_inspect_of_every_case_gives_a_report_or_one_sentence(corpus: Corpus) -> None:
    for case in corpus.cases:
        result = runner.invoke(app, ["inspect", str(case.path), "--json"])
        assert result.exit_code in (0, 2), (case.why, result.output, result.exception)
        assert "Traceback" not in result.output, case.why
        if result.exit_code == 0:
            assert json.loads(result.output)["path"]
        else:
            assert result.output.startswith("error:") and case.path.stem[:40] in result.output, (case.why, result.output)
