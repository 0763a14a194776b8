"""Questions that ask why are answered with what the recording holds, the stated number beside the night's own."""

from __future__ import annotations

from sleeplm.agent.intents import Context
from sleeplm.agent.planner import decide
from sleeplm.agent.premises import read_why, why_preface
from sleeplm.agent.vocab import CohortNames

NAMES = CohortNames(recordings=["sim-0001", "sim-0002", "sim-0003"])


def test_a_why_question_about_a_count_is_answered_with_the_count() -> None:
    plan = decide("Why did sim-0001 have 300 apneas?", NAMES, Context())
    assert plan.tool == "query_cohort"
    assert plan.args["nights"] == ["sim-0001"] and plan.args["measures"][0]["name"] == "apnea"


def test_the_number_a_why_question_states_is_repeated_so_a_false_premise_shows() -> None:
    line = why_preface("Why did sim-0001 have 300 apneas?")
    assert "not why" in line and "says 300 apneas" in line


def test_a_low_sleep_efficiency_is_answered_with_its_parts() -> None:
    plan = decide("why is the sleep efficiency of sim-0003 so low?", NAMES, Context())
    assert plan.tool == "describe_night"
    assert plan.args["metrics"] == ["sleep_efficiency_pct", "sleep_latency_min", "waso_min"]


def test_other_questions_get_no_why_preface() -> None:
    assert read_why("what is the AHI of sim-0002?") is None and why_preface("how many nights?") == ""
