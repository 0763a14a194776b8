"""Readings found by a physician-style trial on a whole-night cohort (session 34): each was answered as another
question (a cohort mean for "which one", the N3 share for "the AHI in slow wave sleep", one grade for a range of
grades) or declined although the stored values answer it."""

from __future__ import annotations

from sleeplm.agent.intents import Context
from sleeplm.agent.planner import decide
from sleeplm.agent.query import Measure, Query
from sleeplm.agent.vocab import CohortNames, find_metrics
from sleeplm.agent.wording import rk_stage_note

NAMES = CohortNames(recordings=["sim-0001", "sim-0002", "sim-0003", "sim-0004"],
                    phenotypes=["healthy_young", "osa_mild", "osa_moderate", "osa_severe", "central_apnea"],
                    sites=["shhs", "aasm", "ref"])
AFTER_TWO = Context(last_tool="query_cohort", last_args=Query(
    "value", [Measure("metric", "tst_min"), Measure("metric", "n3_pct")], nights=["sim-0002", "sim-0004"]).to_args())


def _query(question: str, ctx: Context | None = None) -> Query:
    d = decide(question, NAMES, ctx or Context())
    assert d.tool == "query_cohort", d
    return Query.from_args(d.args)


def test_which_one_after_two_named_nights_ranks_those_two_not_the_cohort() -> None:
    assert _query("which one has more slow wave sleep?", AFTER_TWO) == Query(
        "argmax", [Measure("metric", "n3_pct")], nights=["sim-0002", "sim-0004"])
    assert _query("and a lower nadir?", AFTER_TWO) == Query(
        "argmin", [Measure("metric", "spo2_min_pct")], nights=["sim-0002", "sim-0004"])


def test_which_night_has_the_highest_after_two_nights_is_still_the_whole_cohort() -> None:
    assert not _query("which night has the highest AHI?", AFTER_TWO).nights


def test_and_in_a_stage_after_a_nights_index_is_that_index_within_the_stage() -> None:
    ctx = Context(recording="sim-0002", last_tool="describe_night",
                  last_args={"recording": "sim-0002", "metrics": ["ahi_per_h"]})
    assert _query("and in slow wave sleep?", ctx) == Query("value", [Measure("stage_index", "ahi_per_h", "N3")],
                                                           nights=["sim-0002"])


def test_the_ahi_in_slow_wave_sleep_is_the_n3_ahi_not_the_n3_share() -> None:
    assert _query("What's the AHI in slow wave sleep for sim-0004?") == Query(
        "value", [Measure("stage_index", "ahi_per_h", "N3")], nights=["sim-0004"])
    assert find_metrics("how much slow wave sleep did sim-0001 have") == ["n3_pct"]


def test_moderate_to_severe_osa_is_both_grades_and_mild_to_severe_every_grade_between() -> None:
    f = _query("How many patients have moderate-to-severe OSA?").filters[0]
    assert (f.field, f.op, sorted(f.value)) == ("phenotype", "in", ["osa_moderate", "osa_severe"])
    f = _query("How many patients have mild to severe OSA?").filters[0]
    assert sorted(f.value) == ["osa_mild", "osa_moderate", "osa_severe"]


def test_supine_against_non_supine_asks_for_both_position_indices() -> None:
    assert find_metrics("Is the AHI higher supine than non-supine in sim-0002?") == [
        "supine_ahi_per_h", "non_supine_ahi_per_h"]


def test_paradoxical_sleep_is_rem_sleep() -> None:
    assert _query("How much paradoxical sleep did sim-0003 have?") == Query(
        "value", [Measure("stage_minutes", "REM")], nights=["sim-0003"])


def test_minutes_below_90_percent_saturation_is_t90() -> None:
    d = decide("How many minutes was sim-0002 below 90% saturation?", NAMES, Context())
    assert (d.tool, d.args.get("metrics")) == ("describe_night", ["t90_min"])


def test_stage_4_is_said_to_be_part_of_n3_not_silently_replaced() -> None:
    assert "AASM scoring merged Rechtschaffen & Kales stages 3 and 4 into N3" in rk_stage_note(
        "How many minutes of stage 4 sleep did sim-0001 have?")
    assert rk_stage_note("How many minutes of N3 did sim-0001 have?") == ""


def test_the_hypopnea_rule_and_a_4_percent_ahi_are_declined_with_why_not_answered_with_the_ahi() -> None:
    for q in ("Which hypopnea scoring rule was used for the AHI in this cohort?",
              "Was the ODI of sim-0002 computed with a 3% or a 4% desaturation criterion?",
              "AHI of sim-0004 using the 4% rule"):
        d = decide(q, NAMES, Context())
        assert d.tool is None and "not the rule the scorer used" in d.text, q
    assert decide("what is the AHI of sim-0004?", NAMES, Context()).tool == "describe_night"


def test_events_in_the_first_rem_period_are_declined_not_answered_with_the_rem_latency() -> None:
    for q in ("How many central apneas occurred in sim-0002 during the first REM period?",
              "how many sleep cycles did sim-0001 have?"):
        d = decide(q, NAMES, Context())
        assert d.tool is None and "sleep cycles and REM periods are not segmented here" in d.text, q
    d = decide("what is the REM latency of sim-0001?", NAMES, Context())
    assert d.tool is not None
    d = decide("when did the first REM period start in sim-0001?", NAMES, Context())
    assert d.tool is not None


def test_why_a_night_has_severe_osa_is_answered_with_its_ahi_beside_the_stated_grade() -> None:
    from sleeplm.agent.premises import read_why, why_preface

    p = read_why("Why does sim-0001 have severe obstructive sleep apnea?")
    assert (p.factual, p.stated) == ("what is the AHI of sim-0001?", "severe")
    assert "The question says severe sleep apnea" in why_preface("Why does sim-0001 have severe obstructive sleep apnea?")
    assert read_why("why did sim-0004 have sleep apnea?").factual == "what is the AHI of sim-0004?"


def test_its_age_and_bmi_asks_for_both_attributes() -> None:
    ctx = Context(recording="sim-0004", last_tool="describe_night", last_args={"recording": "sim-0004"})
    assert _query("what's its age and BMI?", ctx) == Query(
        "value", [Measure("attribute", "age"), Measure("attribute", "bmi")], nights=["sim-0004"])


def test_which_subjects_are_obese_and_their_ahis_gives_each_selected_night_its_ahi() -> None:
    q = _query("Which subjects are obese, and what are their AHIs?")
    assert (q.ask, q.measures) == ("rank", [Measure("metric", "ahi_per_h")])
    assert [(f.field, f.op, f.value) for f in q.filters] == [("bmi", ">=", 30.0)]
    assert _query("which nights have an AHI above 15?").ask == "list"


def test_a_stage_against_another_gives_both_stages_values_not_a_decline() -> None:
    d = decide("What was sim-0002's heart rate in REM compared with N2?", NAMES, Context())
    assert (d.tool, d.args["metrics"]) == ("describe_night", ["hr_rem_bpm", "hr_n2_bpm"])
    assert _query("is the AHI higher in REM than in N2 in sim-0002?") == Query(
        "value", [Measure("stage_index", "ahi_per_h", "REM"), Measure("stage_index", "ahi_per_h", "N2")],
        nights=["sim-0002"])
    assert _query("is the heart rate higher in REM than in N3 across the cohort?").ask == "rank"


def test_a_latency_that_exceeded_a_value_is_a_threshold() -> None:
    q = _query("List the nights where sleep latency exceeded 30 minutes")
    assert q.ask == "list" and [(f.field, f.op, f.value) for f in q.filters] == [("sleep_latency_min", ">", 30.0)]
