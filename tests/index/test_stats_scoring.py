"""Cohort tables say what their numbers rest on: a night where nobody scored a kind of event is unknown, not zero,
so it stays out of that kind's per-night mean, and the tables name the nights a program or nobody scored.

The cohort: the three simulated nights of ``sim_cohort_dir`` with ``subjects.csv``; sim-0002's annotation file is
left out and ingest scores nothing, so sim-0002 has no stages and no events. Expected values come from the nights'
NSRR XML files and ``subjects.csv``.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from sleeplm.agent import ToolConfig, ask
from sleeplm.app.cli import app
from sleeplm.encoder.io.annotations import read_annotations
from sleeplm.index import stats
from sleeplm.index.ingest import ingest
from testdata import MINI_CHECKPOINT

SCORED = ("sim-0001", "sim-0003")
UNSCORED = "sim-0002"


@pytest.fixture(scope="module")
def part_scored_ws(sim_cohort_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("part-scored")
    cohort = root / "cohort"
    cohort.mkdir()
    shutil.copy(sim_cohort_dir / "subjects.csv", cohort / "subjects.csv")
    for name in (*SCORED, UNSCORED):
        shutil.copy(sim_cohort_dir / f"{name}.edf", cohort / f"{name}.edf")
    for name in SCORED:
        shutil.copy(sim_cohort_dir / f"{name}-nsrr.xml", cohort / f"{name}-nsrr.xml")
    report = ingest(cohort, root / "ws", model=str(MINI_CHECKPOINT), progress=False, score="never")
    assert len(report.ingested) == 3
    return root / "ws"


def _con(ws: Path) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(ws / "cohort.duckdb"), read_only=True)


def _sex(sim_cohort_dir: Path) -> dict[str, str]:
    with open(sim_cohort_dir / "subjects.csv") as f:
        return {r["recording"]: r["sex"] for r in csv.DictReader(f)}


def test_event_counts_average_over_the_nights_where_the_type_was_scored(part_scored_ws: Path,
                                                                        sim_cohort_dir: Path) -> None:
    sex = _sex(sim_cohort_dir)
    events = {n: [e.type for e in read_annotations(sim_cohort_dir / f"{n}-nsrr.xml").events] for n in SCORED}
    rows = {(r["sex"], r["event_type"]): r for r in stats.event_counts(_con(part_scored_ws), "sex").to_records()}
    types = {t for v in events.values() for t in v}
    assert {t for _, t in rows} == types
    for group in set(sex.values()):
        scored = [n for n in SCORED if sex[n] == group]
        for t in types:
            if not scored:
                assert (group, t) not in rows
                continue
            total = sum(events[n].count(t) for n in scored)
            r = rows[(group, t)]
            assert (r["events"], r["nights_scored"]) == (total, len(scored))
            assert r["per_night"] == round(total / len(scored), 1)
            assert r["nights_not_scored"] == int(sex[UNSCORED] == group)


def test_a_metric_compared_by_group_counts_only_the_nights_with_a_value(part_scored_ws: Path,
                                                                        sim_cohort_dir: Path) -> None:
    sex = _sex(sim_cohort_dir)
    rows = {r["sex"]: r for r in stats.compare_metric(_con(part_scored_ws), "tst_min", "sex").to_records()}
    for group in set(sex.values()):
        assert rows[group]["nights"] == sum(sex[n] == group for n in SCORED)
        assert rows[group]["no_value"] == int(sex[UNSCORED] == group)


def test_the_nights_table_says_who_scored_each_night(part_scored_ws: Path) -> None:
    rows = {r["recording"]: r["scored_by"] for r in stats.nights_table(_con(part_scored_ws)).to_records()}
    assert rows["sim-0001"] == "person"
    assert rows[UNSCORED].startswith("nobody: stages, respiratory")


def test_the_stage_distribution_answer_names_the_unstaged_night(part_scored_ws: Path, tmp_path: Path) -> None:
    turn = ask(part_scored_ws, "stage distribution by phenotype", config=ToolConfig(figure_dir=tmp_path))
    assert "Not scored by anyone" in turn.answer and f"sleep stages in {UNSCORED}" in turn.answer


def test_cli_stats_lists_the_nights_nobody_scored(part_scored_ws: Path) -> None:
    result = CliRunner().invoke(app, ["stats", "events", "-w", str(part_scored_ws), "--json"])
    assert result.exit_code == 0, result.output
    notes = json.loads(result.output)["scoring_notes"]
    assert notes["respiratory"]["not_scored"] == [UNSCORED]
    assert notes["respiratory"]["automatic"] == []
