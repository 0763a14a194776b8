"""Readings found in session 35's chat checks on a whole-night cohort: questions the stored values answer that
were declined as not understood ("is the oxygen OK?", "list the apneas in sim-0004")."""

from __future__ import annotations

import pytest
from sleeplm.agent.intents import Context
from sleeplm.agent.planner import decide
from sleeplm.agent.vocab import CohortNames

NAMES = CohortNames(recordings=["sim-0001", "sim-0002", "sim-0003", "sim-0004"],
                    phenotypes=["healthy_young", "osa_mild", "osa_severe"], sites=["shhs", "ref"])
OXIMETRY = ["spo2_mean_pct", "spo2_min_pct", "t90_min", "odi_per_h"]


@pytest.mark.parametrize("question", ["is the oxygen OK in sim-0004?", "was oxygenation normal in sim-0004?",
                                      "how was the oxygen saturation in sim-0004?", "how was the SpO2 of sim-0004?"])
def test_a_question_on_a_night_s_oxygen_as_a_whole_gets_its_oximetry_measures(question: str) -> None:
    d = decide(question, NAMES, Context())
    assert (d.tool, d.args.get("recording"), d.args.get("metrics")) == ("describe_night", "sim-0004", OXIMETRY)


def test_a_named_oximetry_measure_is_still_read_alone() -> None:
    d = decide("how was the SpO2 nadir in sim-0004?", NAMES, Context())
    assert d.args.get("metrics") == ["spo2_min_pct"]


@pytest.mark.parametrize("question", ["list the apneas in sim-0004", "show me the hypopneas in sim-0003",
                                      "find all the arousals in sim-0001"])
def test_listing_a_night_s_events_locates_them(question: str) -> None:
    d = decide(question, NAMES, Context())
    assert d.tool == "localize_events" and d.args["recording"] in question


def test_listing_nights_or_counting_events_is_not_locating_them() -> None:
    assert decide("list the nights with apneas", NAMES, Context()).tool == "query_cohort"
    assert decide("how many apneas in sim-0004?", NAMES, Context()).tool != "localize_events"


@pytest.mark.parametrize("question", ["what is the mean heart rate over all sleep in sim-0002?",
                                      "what is the sleeping heart rate of sim-0002?", "what is the heart rate of sim-0002?"])
def test_a_night_s_heart_rate_without_a_stage_is_its_heart_rate_in_sleep(question: str) -> None:
    d = decide(question, NAMES, Context())
    assert (d.tool, d.args.get("metrics")) == ("describe_night", ["hr_sleep_bpm"])


def test_a_heart_rate_over_the_whole_recording_with_its_wake_is_declined() -> None:
    d = decide("what is the mean heart rate over the whole night, wake included?", NAMES, Context())
    assert d.tool is None and "not for the whole recording with its wake" in d.text


@pytest.mark.parametrize("question", ["in which stage do the central apneas of sim-0002 occur most?",
                                      "central apneas by stage in sim-0002",
                                      "how are the central apneas of sim-0002 distributed across stages?"])
def test_events_asked_by_stage_get_each_stage_s_count_and_index(question: str) -> None:
    d = decide(question, NAMES, Context())
    measures = {(m["kind"], m["name"], m["stage"]) for m in d.args["measures"]}
    assert ("event_count", "central_apnea", "N2") in measures and ("event_count", "central_apnea", "W") in measures
    assert ("stage_index", "cai_per_h", "REM") in measures and d.args["nights"] == ["sim-0002"]


def test_events_in_one_named_stage_are_still_that_stage_s_count() -> None:
    d = decide("how many central apneas in REM in sim-0002?", NAMES, Context())
    assert [(m["name"], m["stage"]) for m in d.args["measures"]] == [("central_apnea", "REM")]


@pytest.mark.parametrize("question", ["how well does the model fit sim-0001?", "what is the model fit of sim-0001?"])
def test_asking_how_well_the_model_fits_a_night_gives_its_out_of_distribution_score(question: str) -> None:
    d = decide(question, NAMES, Context())
    assert (d.tool, d.args.get("recording")) == ("model_fit", "sim-0001")


def test_events_by_stage_without_a_named_night_are_listed_for_every_night_of_a_small_cohort() -> None:
    d = decide("in which stage do central apneas occur most across the cohort?", NAMES, Context())
    assert d.tool == "query_cohort" and d.args["ask"] == "value" and not d.args.get("nights")  # not the argmax night
    assert {m["stage"] for m in d.args["measures"]} == {"W", "N1", "N2", "N3", "REM"}


def test_events_by_stage_in_a_large_cohort_are_declined_not_pooled_or_ranked() -> None:
    many = CohortNames(recordings=[f"sim-{i:04d}" for i in range(1, 31)])
    d = decide("central apneas by stage", many, Context())
    assert d.tool is None and "I do not pool them across nights" in d.text
