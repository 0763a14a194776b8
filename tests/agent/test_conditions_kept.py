"""Every condition a cohort question names restricts its answer, or the answer says it could not: none is dropped.

The first version counted every epoch for "how many epochs have a heart rate above 100?" (the tool's arguments
had no heart-rate field, so the threshold was silently discarded), gave every night's event counts for "event
counts in women", and a whole night's stage distribution for "after 1 hour". The cohort: the three simulated
30-min nights of ``sim_cohort_dir``; expected nights come from its ``subjects.csv`` and NSRR XML files.
"""

from __future__ import annotations

import csv
import re
import shutil
from pathlib import Path

import pytest
from pydantic import ValidationError
from sleeplm.agent import ToolConfig, ask
from sleeplm.agent.intents import Context
from sleeplm.agent.planner import decide
from sleeplm.agent.tools import make_tools
from sleeplm.agent.vocab import CohortNames
from sleeplm.encoder.io.annotations import read_annotations
from sleeplm.index.ingest import ingest
from sleeplm.index.queries import Cohort
from testdata import MINI_CHECKPOINT


def _subjects(cohort_dir: Path) -> list[dict[str, str]]:
    with open(cohort_dir / "subjects.csv", newline="") as f:
        return list(csv.DictReader(f))


def _count(answer: str) -> int:
    """The single number of a one-cell epoch-count table."""
    cells = re.findall(r"^\| (\d+) \|$", answer, flags=re.MULTILINE)
    assert len(cells) == 1, answer
    return int(cells[0])


def _stats_tool(cohort: Cohort, tmp_path: Path):
    return next(t for t in make_tools(cohort, config=ToolConfig(figure_dir=tmp_path)) if t.name == "cohort_stats")


def test_a_heart_rate_threshold_above_every_epoch_counts_no_epoch(sim_workspace: Path, tmp_path: Path) -> None:
    cohort = Cohort(sim_workspace)
    try:
        highest = cohort.feature_extremes()["hr_max_bpm"]
    finally:
        cohort.close()
    turn = ask(sim_workspace, f"how many epochs have a heart rate above {int(highest) + 1}?",
               config=ToolConfig(figure_dir=tmp_path))
    assert _count(turn.answer) == 0
    assert "heart rate >" in turn.answer


def test_a_heart_rate_threshold_below_every_epoch_counts_every_epoch_with_a_heart_rate(sim_workspace: Path,
                                                                                          tmp_path: Path) -> None:
    turn = ask(sim_workspace, "how many epochs have a heart rate above 20?", config=ToolConfig(figure_dir=tmp_path))
    every = ask(sim_workspace, "how many epochs are there?", config=ToolConfig(figure_dir=tmp_path))
    assert _count(turn.answer) == _count(every.answer) == 3 * 60  # three 30-min nights, ECG in each


def test_an_argument_the_tool_does_not_take_is_an_error_not_dropped(sim_workspace: Path, tmp_path: Path) -> None:
    cohort = Cohort(sim_workspace)
    try:
        with pytest.raises(ValidationError, match="heart_rate_above"):
            _stats_tool(cohort, tmp_path).invoke({"question": "count_epochs", "heart_rate_above": 100})
    finally:
        cohort.close()


def test_event_counts_in_women_cover_only_the_women_s_nights(sim_workspace: Path, sim_cohort_dir: Path,
                                                             tmp_path: Path) -> None:
    women = sorted(s["recording"] for s in _subjects(sim_cohort_dir) if s["sex"] == "F")
    men = sorted(s["recording"] for s in _subjects(sim_cohort_dir) if s["sex"] == "M")
    assert women and men  # the premise
    turn = ask(sim_workspace, "event counts in women", config=ToolConfig(figure_dir=tmp_path))
    listed = re.search(r"Nights in each group: (.*)\.", turn.answer).group(1)
    assert sorted(re.findall(r"sim-\d{4}", listed)) == women
    women_events = sum(len(read_annotations(sim_cohort_dir / f"{r}-nsrr.xml").events or []) for r in women)
    shown = sum(int(row[2]) for row in re.findall(r"^\| ([a-z_]+) \| ([a-z_]+) \| (\d+) \|", turn.answer, flags=re.MULTILINE))
    assert shown == women_events


def test_a_stage_distribution_for_nights_over_an_ahi_covers_only_those_nights(sim_workspace: Path,
                                                                                sim_cohort_dir: Path,
                                                                                tmp_path: Path) -> None:
    ahi = {}
    for s in _subjects(sim_cohort_dir):  # AHI from the annotation file: apneas + hypopneas per hour of sleep
        ann = read_annotations(sim_cohort_dir / f"{s['recording']}-nsrr.xml")
        events = sum(e.type in ("obstructive_apnea", "central_apnea", "mixed_apnea", "hypopnea") for e in ann.events or [])
        sleep_h = sum(st in ("N1", "N2", "N3", "REM") for st in ann.stages) * 30 / 3600
        ahi[s["recording"]] = events / sleep_h if sleep_h else None  # no sleep: undefined
    high = sorted(r for r, v in ahi.items() if v is not None and v > 5)
    assert high and len(high) < len(ahi)  # the premise: some nights above, some below
    turn = ask(sim_workspace, "stage distribution for nights with an AHI above 5", config=ToolConfig(figure_dir=tmp_path))
    assert "AHI (events/h) > 5" in turn.answer
    listed = re.search(r"Nights in each group: (.*)\.", turn.answer).group(1)
    assert sorted(re.findall(r"sim-\d{4}", listed)) == high


def test_a_condition_on_a_night_measure_is_passed_on_to_the_table() -> None:
    names = CohortNames(recordings=["sim-0001", "sim-0002"])
    plan = decide("how many epochs of N2 in nights with more than 20% REM?", names, Context())
    assert plan.tool == "cohort_stats" and plan.args["stages"] == ["N2"]
    assert plan.args["nights_where"] == [{"field": "rem_pct", "op": ">", "value": 20.0}]


def test_an_epoch_condition_on_a_table_of_nights_is_refused_with_the_reason(sim_workspace: Path,
                                                                           tmp_path: Path) -> None:
    cohort = Cohort(sim_workspace)
    try:
        with pytest.raises(ValueError, match="event_counts is a table of nights.*hr_min_bpm"):
            _stats_tool(cohort, tmp_path).invoke({"question": "event_counts", "hr_min_bpm": 90.0})
    finally:
        cohort.close()


@pytest.mark.parametrize("question", ["stage distribution of sim-0001 after 1 hour",
                                      "how many arousals after the first 2 hours of sleep?",
                                      "ahi after two hours"])
def test_a_time_after_some_hours_is_declined_not_ignored(sim_workspace: Path, tmp_path: Path, question: str) -> None:
    turn = ask(sim_workspace, question, config=ToolConfig(figure_dir=tmp_path))
    assert not turn.steps
    assert "cannot read as a time window" in turn.answer


@pytest.fixture
def eeg_and_full_ws(make_edf, sim_cohort_dir: Path, tmp_path: Path) -> Path:
    """A simulated full night and a 10-min recording with a single EEG lead (no ECG, no oximeter), ingested."""
    import numpy as np

    rng = np.random.default_rng(5)
    cohort = tmp_path / "cohort"
    cohort.mkdir()
    shutil.copy(sim_cohort_dir / "sim-0001.edf", cohort / "sim-0001.edf")
    shutil.copy(sim_cohort_dir / "sim-0001-nsrr.xml", cohort / "sim-0001-nsrr.xml")
    stages = [(30.0 * k, 30.0, "Sleep stage N2") for k in range(20)]
    edf = make_edf("eeg-only.edf", {"C3-M2": (rng.normal(0, 20, 128 * 600), 128.0, "uV")}, annotations=stages)
    shutil.move(edf, cohort / "night-a.edf")
    ingest(cohort, tmp_path / "ws", model=str(MINI_CHECKPOINT), progress=False, score="never")
    return tmp_path / "ws"


def test_an_epoch_count_by_heart_rate_says_how_many_epochs_have_no_heart_rate(eeg_and_full_ws: Path,
                                                                                tmp_path: Path) -> None:
    turn = ask(eeg_and_full_ws, "how many epochs have a heart rate above 20?", config=ToolConfig(figure_dir=tmp_path))
    assert _count(turn.answer) == 60  # sim-0001's 30 minutes; night-a has no ECG
    assert "Not counted: 20 epoch(s) with no heart rate value (night-a 20)" in turn.answer


NAMES = CohortNames(recordings=["sim-0001", "sim-0002", "sim-0003"], phenotypes=["healthy_young", "healthy_older",
                                                                                "insomnia", "osa_moderate"],
                    sites=["shhs", "aasm", "ref"])


@pytest.mark.parametrize("question, left_out", [
    ("Which nights have mean heart rate in N2 above 65 bpm?", "above 65 bpm"),
])
def test_a_number_or_a_stage_the_plan_has_no_place_for_is_declined(question: str, left_out: str) -> None:
    plan = decide(question, NAMES, Context(recording="sim-0001"))
    assert plan.tool is None and left_out in plan.text


def test_a_night_name_written_without_its_dash_and_zeros_is_that_night() -> None:
    plan = decide("what is the ahi of sim 2?", NAMES, Context(recording="sim-0001"))
    assert (plan.tool, plan.args["recording"]) == ("describe_night", "sim-0002")


def test_a_night_that_is_not_in_the_cohort_is_not_replaced_by_the_current_one() -> None:
    plan = decide("what is the ahi of night 4?", NAMES, Context(recording="sim-0001"))
    assert plan.tool is None


def test_nights_not_from_a_site_are_counted_from_the_subjects_table(sim_workspace: Path, sim_cohort_dir: Path,
                                                                     tmp_path: Path) -> None:
    others = sorted(s["recording"] for s in _subjects(sim_cohort_dir) if s["site"] != "shhs")
    turn = ask(sim_workspace, "How many nights are not from site shhs?", config=ToolConfig(figure_dir=tmp_path))
    assert f"**{len(others)} night(s)**" in turn.answer and ", ".join(others) in turn.answer


def test_non_healthy_subjects_exclude_every_healthy_phenotype() -> None:
    plan = decide("mean AHI of non-healthy subjects", NAMES, Context())
    assert plan.args["filters"] == [{"field": "phenotype", "op": "not in", "value": ["healthy_young", "healthy_older"]}]


def test_the_measure_asked_for_is_averaged_not_the_one_in_the_condition() -> None:
    plan = decide("Among nights with AHI above 15, what is the mean sleep efficiency?", NAMES, Context())
    assert [m["name"] for m in plan.args["measures"]] == ["sleep_efficiency_pct"]
    assert plan.args["filters"] == [{"field": "ahi_per_h", "op": ">", "value": 15.0}]


def test_an_apnea_of_no_stated_type_in_an_epoch_count_is_any_apnea() -> None:
    plan = decide("How many epochs contain an apnea?", NAMES, Context())
    assert sorted(plan.args["event_types"]) == ["central_apnea", "mixed_apnea", "obstructive_apnea"]


def test_epochs_holding_two_events_at_once_are_declined_not_counted_as_either() -> None:
    plan = decide("How many epochs have both an apnea and a desaturation?", NAMES, Context())
    assert plan.tool is None and "*any* of the events" in plan.text


def test_apneas_counted_in_a_stage_are_counted_in_that_stage_not_replaced_by_its_share() -> None:
    plan = decide("How many apneas in deep sleep in sim-0002?", NAMES, Context())
    assert plan.tool == "query_cohort"
    assert [(m["kind"], m["stage"]) for m in plan.args["measures"]] == [("event_count", "N3")]


def test_where_a_stage_is_in_a_staged_night_is_read_from_its_scored_stages(rem_cohort: Path, tmp_path: Path) -> None:
    stages = read_annotations(rem_cohort / "edf" / "sim-0001-nsrr.xml").stages
    rem = [i for i, st in enumerate(stages) if st == "REM"]
    assert rem  # the premise: seed 7 reaches REM
    turn = ask(rem_cohort / "ws", "When does REM occur in sim-0001?", config=ToolConfig(figure_dir=tmp_path))
    assert "from the scored hypnogram" in turn.answer
    runs = re.findall(r"epochs? (\d+)(?:–(\d+))?, [\d.]+ min\)", turn.answer)
    listed = sorted(i for a, b in runs for i in range(int(a), int(b or a) + 1))
    assert listed == rem


def test_events_asked_in_a_stage_are_located_only_in_epochs_scored_in_it(rem_cohort: Path, tmp_path: Path) -> None:
    turn = ask(rem_cohort / "ws", "where are the hypopneas in sim-0001 during REM?",
               config=ToolConfig(figure_dir=tmp_path))
    assert "only in epochs scored REM" in turn.answer
    stages = read_annotations(rem_cohort / "edf" / "sim-0001-nsrr.xml").stages
    for a, b in re.findall(r"^\d+\. epochs? (\d+)(?:–(\d+))?", turn.answer, flags=re.MULTILINE):
        assert all(stages[i] == "REM" for i in range(int(a), int(b or a) + 1))


@pytest.fixture(scope="module")
def stages_only_ws(sim_cohort_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """sim-0002 (the night with respiratory events) with a hypnogram only: its events were scored by nobody."""
    root = tmp_path_factory.mktemp("stages-only")
    (root / "cohort").mkdir()
    shutil.copy(sim_cohort_dir / "sim-0002.edf", root / "cohort" / "night.edf")
    stages = read_annotations(sim_cohort_dir / "sim-0002-nsrr.xml").stages
    (root / "cohort" / "night.txt").write_text("\n".join("R" if s == "REM" else s for s in stages) + "\n")
    ingest(root / "cohort", root / "ws", model=str(MINI_CHECKPOINT), progress=False, score="never")
    return root / "ws"


def test_a_search_does_not_check_its_hits_against_events_nobody_scored(stages_only_ws: Path, tmp_path: Path) -> None:
    turn = ask(stages_only_ws, "find epochs like hypopnea", config=ToolConfig(figure_dir=tmp_path))
    assert "overlap a scored hypopnea" not in turn.answer
    assert "hypopnea events were not scored in night" in turn.answer


def test_an_ahi_without_scored_arousals_is_called_a_lower_bound_not_normal() -> None:
    from sleeplm.agent.answers import describe_night

    r = {"recording": "n", "subject": None, "start_time": None, "n_epochs": 60, "duration_h": 0.5,
         "requested_metrics": {"ahi_per_h": 0.0}, "all_metrics": {"ahi_per_h": 0.0}, "key_metrics": {},
         "night_summary": "", "stage_epochs": {"N2": 60}, "event_counts": {}, "events": [], "n_events": 0,
         "missing_channels": [], "figures": [],
         "scoring": {"stages": {"state": "manual"}, "respiratory": {"state": "automatic", "method": "rules"},
                     "arousal": {"state": "not scored"}}}
    text = describe_night(r)
    assert "(normal)" not in text and "severity unknown; a lower bound" in text
    assert "The AHI is a lower bound here: arousals were not scored" in text


def test_the_second_one_after_a_search_opens_the_second_hit(sim_workspace: Path, tmp_path: Path) -> None:
    from sleeplm.agent import ChatSession

    cohort = Cohort(sim_workspace)
    try:
        session = ChatSession(cohort, config=ToolConfig(figure_dir=tmp_path))
        first = session.respond("find epochs like hypopnea")
        second_hit = re.search(r"^2\. (sim-\d{4}) epoch (\d+)", first.answer, flags=re.MULTILINE)
        turn = session.respond("show the second one")
        assert turn.steps[0].name == "show_epoch"
        assert (turn.steps[0].args["recording"], turn.steps[0].args["epoch"]) == (second_hit.group(1),
                                                                                int(second_hit.group(2)))
    finally:
        cohort.close()


def test_where_spo2_drops_in_a_night_without_an_oximeter_is_unknown_not_none(eeg_and_full_ws: Path,
                                                                             tmp_path: Path) -> None:
    turn = ask(eeg_and_full_ws, "where does SpO2 drop below 85% in night-a?", config=ToolConfig(figure_dir=tmp_path))
    assert turn.steps[0].name == "search_epochs"
    assert "no SpO2 was recorded in the epochs asked about" in turn.answer and "unknown, not absent" in turn.answer
