"""The typed planner reads each condition of a cohort question as a researcher means it, or declines.

Each case was a confident wrong answer found by asking about 480 new questions of a held-out simulated cohort
(seed 4242, 6 nights) and reading the answers against its files: a condition dropped or inverted, the wrong
measure averaged, a grouping nobody asked for.
"""

from __future__ import annotations

import pytest

from sleeplm.agent.intents import Context
from sleeplm.agent.planner import decide
from sleeplm.agent.vocab import CohortNames

NAMES = CohortNames(recordings=["sim-0001", "sim-0002", "sim-0003", "sim-0004"],
                    phenotypes=["healthy_young", "healthy_older", "insomnia", "osa_moderate", "osa_severe"],
                    sites=["shhs", "aasm", "ref"])


def _plan(question: str):
    return decide(question, NAMES, Context())


def test_a_night_excluded_by_name_is_filtered_out() -> None:
    plan = _plan("Which nights have AHI above 15, excluding sim-0004?")
    assert {"field": "recording", "op": "not in", "value": ["sim-0004"]} in plan.args["filters"]


def test_conditions_joined_by_or_are_declined_not_combined_with_and() -> None:
    plan = _plan("Which nights have AHI above 15 or ODI above 20?")
    assert plan.tool is None and 'joined by "or"' in plan.text


def test_a_comparison_between_two_named_sites_groups_by_site_over_those_sites() -> None:
    plan = _plan("Is AHI different between sites aasm and shhs?")
    assert plan.args["group_by"] == "site"
    assert {"field": "site", "op": "in", "value": ["shhs", "aasm"]} in plan.args["filters"]


@pytest.mark.parametrize(("question", "by", "cut"), [("compare sleep efficiency for age over 60 vs under 60", "age", 60),
                                                     ("compare AHI between obese and non-obese", "bmi", 30),
                                                     ("Compare arousal index between subjects over 60 and under 60",
                                                      "age", 60),
                                                     ("Is the AHI different in patients aged 65 and older versus "
                                                      "younger ones?", "age", 65),
                                                     ("compare sleep efficiency between a BMI above 28 and below 28",
                                                      "bmi", 28)])
def test_groups_cut_at_a_threshold_are_two_groups_of_that_attribute_not_phenotypes(question: str, by: str,
                                                                                   cut: float) -> None:
    plan = _plan(question)
    assert (plan.args["ask"], plan.args["group_by"], plan.args["cut"]) == ("compare", by, cut)
    assert not any(f["field"] in ("age", "bmi") for f in plan.args.get("filters", []))


def test_two_different_age_limits_are_both_conditions() -> None:
    plan = _plan("Which subjects are over 40 and under 60?")
    assert {"field": "age", "op": ">", "value": 40.0} in plan.args["filters"]
    assert {"field": "age", "op": "<", "value": 60.0} in plan.args["filters"]


def test_a_number_before_and_below_is_not_read_as_an_age() -> None:
    plan = _plan("Which nights have a sleep efficiency of 80 or below?")
    assert not any(f["field"] == "age" for f in plan.args.get("filters", []))


def test_the_lowest_value_in_the_cohort_is_the_night_with_it_not_the_mean() -> None:
    plan = _plan("What's the lowest SpO2 nadir in the cohort?")
    assert plan.args["ask"] == "argmin" and plan.args["measures"][0]["name"] == "spo2_min_pct"


def test_the_second_highest_is_a_ranking_down_to_it() -> None:
    plan = _plan("Which night has the second highest AHI?")
    assert (plan.args["ask"], plan.args["k"], plan.args["descending"]) == ("rank", 2, True)


def test_minutes_of_a_stage_are_its_minutes_not_its_share() -> None:
    plan = decide("How many minutes of deep sleep in sim-0003?", NAMES, Context())
    assert plan.args["measures"] == [{"kind": "stage_minutes", "name": "N3", "stage": None}]


def test_similar_nights_restricted_to_a_group_are_declined() -> None:
    plan = _plan("nights similar to sim-0002 among men")
    assert plan.tool is None and "sex = M" in plan.text


def test_two_severities_named_together_are_both_kept() -> None:
    plan = _plan("How many nights have moderate or severe OSA?")
    assert plan.args["filters"] == [{"field": "phenotype", "op": "in", "value": ["osa_moderate", "osa_severe"]}]


def test_a_percentage_asked_as_a_fraction_is_declined_with_the_percent_it_may_mean() -> None:
    plan = _plan("Which nights have sleep efficiency above 0.8?")
    assert plan.tool is None and "did you mean 80 %" in plan.text


def test_letters_of_a_metric_abbreviation_inside_a_word_are_not_that_metric() -> None:
    plan = _plan("mean sleep efficiency for those under 65")  # "those" ends in "se", sleep efficiency's abbreviation
    assert plan.args["filters"] == [{"field": "age", "op": "<", "value": 65.0}]


def test_an_age_group_is_the_age_band() -> None:
    assert _plan("AHI by age group").args["group_by"] == "age_band"


@pytest.mark.parametrize("question, flt", [
    ("nights with AHI ≥ 30", {"field": "ahi_per_h", "op": ">=", "value": 30.0}),
    ("which nights have an AHI no more than 3", {"field": "ahi_per_h", "op": "<=", "value": 3.0}),
    ("How many nights have REM% below 5?", {"field": "rem_pct", "op": "<", "value": 5.0}),
])
def test_a_threshold_written_with_a_symbol_or_as_no_more_than_is_read(question: str, flt: dict) -> None:
    assert _plan(question).args["filters"] == [flt]


def test_epochs_of_a_stage_in_a_named_night_are_counted() -> None:
    plan = _plan("How many N2 epochs are there in sim-0004?")
    assert plan.tool == "cohort_stats" and (plan.args["recordings"], plan.args["stages"]) == (["sim-0004"], ["N2"])


@pytest.mark.parametrize("question, epoch", [("show the epoch 10 minutes into sim-0002", 20),
                                             ("show the epoch 1 hour into sim-0002", 120),
                                             ("what stage is the 100th epoch of sim-0002?", 99)])
def test_a_time_into_the_night_or_an_ordinal_is_read_as_the_epoch_it_means(question: str, epoch: int) -> None:
    plan = _plan(question)
    assert (plan.tool, plan.args["epoch"]) == ("show_epoch", epoch)


def test_an_epoch_counted_from_the_end_other_than_the_last_is_declined() -> None:
    assert _plan("show the second to last epoch of sim-0002").tool is None


def test_the_least_similar_night_is_declined_not_answered_with_the_most_similar() -> None:
    plan = _plan("which night is least similar to sim-0002?")
    assert plan.tool is None and "*most* like" in plan.text


def test_similar_epochs_from_other_nights_exclude_the_night_itself() -> None:
    plan = _plan("similar epochs to epoch 20 of sim-0002 from other nights")
    assert plan.tool == "similar_epochs" and plan.args["other_nights_only"] is True


def test_an_epoch_question_about_two_nights_is_declined_not_answered_for_the_first() -> None:
    plan = _plan("show epoch 10 of sim-0002 and sim-0003")
    assert plan.tool is None and "sim-0002, sim-0003" in plan.text


def test_the_heart_rate_at_a_clock_time_is_that_epoch_s_measured_heart_rate() -> None:
    plan = _plan("what is the heart rate at 23:30 in sim-0002?")
    assert (plan.tool, plan.args["clock_time"]) == ("show_epoch", "23:30")


def test_where_the_apneas_are_means_every_kind_of_apnea() -> None:
    plan = _plan("where are the apneas in sim-0002?")
    assert (plan.tool, plan.args["description"]) == ("localize_events", "apnea")


def test_a_model_caption_that_states_an_spo2_says_spo2_is_not_a_model_input() -> None:
    from sleeplm.agent.answers import caption_epochs

    r = {"recording": "n", "tracks": ["stage_event"], "epochs": [{
        "epoch_index": 3, "clock_time": None, "stage": "N2", "event_types": [],
        "reference": {"stage_event": "N2."}, "model": {"stage_event": "oxygen desaturation with a nadir of 91.6%."}}]}
    assert "SpO2 is not one of the model's inputs" in caption_epochs(r)


def test_the_second_result_of_the_last_list_is_that_result() -> None:
    ctx = Context(recording="sim-0001", last_hits=[("sim-0002", 194), ("sim-0003", 190), ("sim-0002", 40)])
    assert decide("show the second one", NAMES, ctx).args == {"recording": "sim-0003", "epoch": 190}
    assert decide("caption the third one", NAMES, ctx).args == {"recording": "sim-0002", "epoch": 40}
    assert decide("show the fifth one", NAMES, ctx).tool is None


def test_the_model_s_stage_of_an_epoch_is_declined_not_answered_with_the_scored_one() -> None:
    plan = _plan("what stage is epoch 100 in sim-0002 according to the model?")
    assert plan.tool is None and "*scored* stage" in plan.text


def test_does_a_night_have_moderate_sleep_apnea_is_answered_with_its_ahi_not_an_apnea_count() -> None:
    plan = _plan("does sim-0002 have moderate sleep apnea?")
    assert plan.tool == "describe_night" and plan.args["metrics"] == ["ahi_per_h"]


def test_a_night_s_possessive_does_not_hide_its_name() -> None:
    plan = _plan("what is sim-0002's AHI?")
    assert plan.tool == "describe_night" and plan.args["recording"] == "sim-0002"


def test_a_stage_written_before_the_index_restricts_it_to_that_stage() -> None:
    plan = _plan("what is the REM AHI of sim-0002?")
    assert plan.args["measures"] == [{"kind": "stage_index", "name": "ahi_per_h", "stage": "REM"}]


def test_a_stage_written_before_an_event_word_counts_only_that_stage_s_events() -> None:
    assert _plan("which nights had REM arousals?").args["filters"] == [
        {"field": "event_count:arousal@REM", "op": ">=", "value": 1.0}]
    assert _plan("how many REM hypopneas were there in total?").args["measures"] == [
        {"kind": "event_count", "name": "hypopnea", "stage": "REM"}]


def test_excerpts_are_counted_like_nights() -> None:
    plan = _plan("how many excerpts had hypopneas in REM?")
    assert plan.args["ask"] == "count"
    assert plan.args["filters"] == [{"field": "event_count:hypopnea@REM", "op": ">=", "value": 1.0}]


def test_a_threshold_on_one_named_night_is_checked_not_dropped() -> None:
    plan = _plan("was sim-0002's AHI above 15?")
    assert plan.tool == "query_cohort" and plan.args["nights"] == ["sim-0002"]
    assert plan.args["filters"] == [{"field": "ahi_per_h", "op": ">", "value": 15.0}]
    plan = _plan("is the sleep efficiency of sim-0002 below 85%?")
    assert plan.args["filters"] == [{"field": "sleep_efficiency_pct", "op": "<", "value": 85.0}]


def test_a_percentage_of_total_sleep_time_in_a_stage_is_that_stage_s_share() -> None:
    plan = _plan("what percentage of total sleep time was N3 in sim-0001?")
    assert plan.tool == "describe_night" and plan.args["metrics"] == ["n3_pct"]


def test_the_obstructive_ahi_is_declined_with_how_to_get_it_not_answered_with_the_ahi() -> None:
    plan = _plan("what is the obstructive AHI of sim-0002?")
    assert plan.tool is None and "obstructive + mixed apnea index plus the hypopnea index" in plan.text


def test_the_share_of_central_apneas_is_answered_with_each_kind_s_count() -> None:
    plan = _plan("what proportion of sim-0002's apneas were central?")
    assert [m["name"] for m in plan.args["measures"]] == ["central_apnea", "obstructive_apnea", "mixed_apnea"]


def test_the_severity_of_a_night_s_sleep_apnea_is_its_ahi() -> None:
    plan = _plan("what's the severity of sim-0002's sleep apnea?")
    assert plan.tool == "describe_night" and plan.args["metrics"] == ["ahi_per_h"]


def test_nights_without_an_event_is_a_list_of_nights_with_none() -> None:
    plan = _plan("nights without central apneas")
    assert plan.args["ask"] == "list"
    assert plan.args["filters"] == [{"field": "event_count:central_apnea", "op": "<", "value": 1.0}]


def test_how_long_a_night_spent_in_a_stage_is_its_minutes_and_a_threshold_on_it_is_checked() -> None:
    plan = _plan("how long was sim-0002 in N1?")
    assert plan.args["measures"] == [{"kind": "stage_minutes", "name": "N1", "stage": None}]
    plan = _plan("did sim-0002 spend more than 30 minutes in N1?")
    assert plan.args["filters"] == [{"field": "stage_minutes:N1", "op": ">", "value": 30.0}]
