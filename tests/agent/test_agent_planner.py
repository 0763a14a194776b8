"""The planner's typed plans (no workspace), the executor's comparisons, and where the focus goes."""

from __future__ import annotations

from pathlib import Path

import pytest
from sleeplm.agent import ChatSession, ToolConfig
from sleeplm.agent.intents import Context
from sleeplm.agent.planner import decide, plan
from sleeplm.agent.query import Decline, Filter, Measure, Query
from sleeplm.agent.spelling import correct_spelling
from sleeplm.agent.vocab import CohortNames
from sleeplm.index.queries import Cohort

NAMES = CohortNames(recordings=["sim-0001", "sim-0002", "sim-0003"],
                    subjects={"S0001": ["sim-0001"], "S0002": ["sim-0002"], "S0003": ["sim-0003"]},
                    phenotypes=["healthy_young", "central_apnea", "osa_severe"], sites=["shhs", "aasm"])
AT_1 = Context(recording="sim-0001")


def test_highest_ahi_then_its_hypnogram_is_one_two_step_plan() -> None:
    q = plan("Which night has the highest AHI? Show me its hypnogram.", NAMES, AT_1)
    assert q == Query("argmax", [Measure("metric", "ahi_per_h")], then="hypnogram")


def test_women_versus_men_is_a_comparison_by_sex_not_a_filter() -> None:
    q = plan("Is sleep efficiency lower in women than in men?", NAMES, Context())
    assert isinstance(q, Query) and (q.ask, q.group_by, q.filters) == ("compare", "sex", [])


def test_heart_rate_in_a_stage_is_the_per_stage_metric() -> None:
    q = plan("What is the average heart rate during N2 across the cohort?", NAMES, Context())
    assert q == Query("aggregate", [Measure("metric", "hr_n2_bpm")])


def test_metric_thresholds_and_ages_become_filters() -> None:
    q = plan("how many nights have an AHI above 15?", NAMES, Context())
    assert q == Query("count", filters=[Filter("ahi_per_h", ">", 15.0)])
    q = plan("which subjects are older than 50?", NAMES, Context())
    assert q == Query("list", filters=[Filter("age", ">", 50.0)])


def test_event_counts_can_be_restricted_to_a_stage() -> None:
    q = plan("how many arousals during REM in sim-0002?", NAMES, AT_1)
    assert q == Query("value", [Measure("event_count", "arousal", "REM")], nights=["sim-0002"])


def test_an_index_during_a_stage_is_the_index_within_that_stage() -> None:
    q = plan("What is the AHI during REM in sim-0002?", NAMES, AT_1)
    assert q == Query("value", [Measure("stage_index", "ahi_per_h", "REM")], nights=["sim-0002"])


@pytest.mark.parametrize("question, why", [
    ("what is the sleep efficiency in REM?", "whole-night measure"),
    ("what medication is sim-0001 on?", "no medication was recorded"),
    ("does sim-0002 complain of daytime sleepiness?", "no symptom or complaint was recorded"),
    ("does sim-0001 have Parkinson's disease?", "no medical history (comorbidities) was recorded"),
    ("what CPAP pressure should sim-0002 be titrated to?", "a treatment decision is a physician's"),
    ("which nights show narcolepsy?", "a diagnosis is a physician's"),
    ("how many spindles are there?", "sleep spindles are not scored"),
    ("¿cuántas noches hay?", "Spanish"),
    ("what is the mean heart rate over the whole night, wake included?", "stored per sleep stage"),
    ("what is the periodic limb movement index of sim-0002?", "periodicity rule"),
    ("which night has the highest PLMI?", "periodicity rule"),
    ("what was the ahi of sim-0002 during the last third of the night?", "cannot read as a time window"),
    ("how many arousals did sim-0001 have between 2 and 4 in the morning?", "cannot read as a time window"),
    ("what is the nrem heart rate?", "not pooled over NREM"),
    ("are there more arousals in rem than in n2?", "comparing stages"),  # per-stage indices are given side by side
    ("How well does the model stage sim-0001 compared with its hypnogram?", "zero_shot_staging"),
    ("does the model agree with the scorer on sim-0002 stages?", "not run in the chat"),
    ("What's the prevalence of OSA in this cohort?", "a diagnosis, not a stored value"),
])
def test_questions_the_data_cannot_answer_are_declined_with_the_reason(question: str, why: str) -> None:
    d = plan(question, NAMES, AT_1)
    assert isinstance(d, Decline) and why in d.reason and d.suggestion


def test_a_stage_share_asked_as_time_in_that_stage_is_the_stage_share_not_a_per_stage_value() -> None:
    q = plan("What percentage of the night was sim-0001 in N3?", NAMES, AT_1)
    assert q == Query("value", [Measure("metric", "n3_pct")], nights=["sim-0001"])


def test_the_mean_and_the_range_of_age_are_aggregates_of_age() -> None:
    assert plan("what is the mean age?", NAMES, Context()) == Query("aggregate", [Measure("attribute", "age")])
    q = plan("what is the age range?", NAMES, Context())
    assert isinstance(q, Query) and q.measures == [Measure("attribute", "age")] and q.stat == "range"


def test_a_stage_named_alone_in_a_comparison_is_its_share_of_sleep() -> None:
    q = plan("Is there a difference in N3 between sites?", NAMES, Context())
    assert isinstance(q, Query) and (q.ask, q.measures, q.group_by) == ("compare", [Measure("metric", "n3_pct")], "site")


def test_a_nights_value_against_the_cohort_places_it_among_every_night() -> None:
    q = plan("what is the sleep efficiency of sim-0002 compared with the cohort?", NAMES, AT_1)
    assert q == Query("value", [Measure("metric", "sleep_efficiency_pct")], nights=["sim-0002"], versus_cohort=True)
    assert decide("how does the AHI of sim-0002 compare to the rest of the cohort?", NAMES, AT_1).tool == "query_cohort"


def test_what_position_a_night_slept_in_is_its_share_of_sleep_in_each_position() -> None:
    q = plan("what position did sim-0002 sleep in?", NAMES, AT_1)
    assert q == Query("value", [Measure("metric", c) for c in ("supine_pct", "left_pct", "right_pct", "prone_pct",
                                                               "upright_pct")], nights=["sim-0002"])
    assert isinstance(plan("how many position changes did sim-0002 have?", NAMES, AT_1), Decline)


def test_a_recording_name_close_to_a_keyword_is_not_spelling_corrected() -> None:
    names = CohortNames(recordings=["night-a", "night-b"], subjects={}, phenotypes=[], sites=[])
    assert correct_spelling("what is the ahi of night-a?", names.known()) == "what is the ahi of night-a?"
    assert plan("what is the AHI of night-a?", names, Context()) == Query(
        "value", [Measure("metric", "ahi_per_h")], nights=["night-a"])


def test_the_limb_movement_index_is_answered_under_its_own_name() -> None:
    q = plan("what is the limb movement index of sim-0002?", NAMES, AT_1)
    assert q == Query("value", [Measure("metric", "limb_movement_index_per_h")], nights=["sim-0002"])


def test_misspelled_keywords_are_corrected() -> None:
    assert correct_spelling("whcih night has the higest AHI") == "which night has the highest ahi"


def test_a_search_for_an_event_in_a_stage_filters_the_stage_and_no_phenotype() -> None:
    step = decide("Find epochs that look like central apnea during N2 sleep", NAMES, AT_1)
    assert step.tool == "search_epochs" and step.args["stages"] == ["N2"] and "phenotype" not in step.args


def test_a_bare_event_word_is_not_answered_with_a_search() -> None:
    step = decide("hypopneas?", NAMES, AT_1)
    assert step.tool is None and "I did not understand the whole question" in (step.text or "")


@pytest.fixture(scope="module")
def cohort(sim_workspace: Path):
    c = Cohort(sim_workspace)
    yield c
    c.close()


def test_a_search_never_moves_the_current_night(cohort: Cohort, tmp_path: Path) -> None:
    s = ChatSession(cohort, "router", config=ToolConfig(figure_dir=tmp_path))
    s.respond("describe sim-0002")
    s.respond("find epochs like arousal")
    assert s.state.recording == "sim-0002"


def test_the_night_an_argmax_names_becomes_the_focus(cohort: Cohort, tmp_path: Path) -> None:
    s = ChatSession(cohort, "router", config=ToolConfig(figure_dir=tmp_path))
    turn = s.respond("which night has the highest AHI?")
    ahi = {r: cohort.night_metrics_of(cohort.recording_id(r))[0].get("ahi_per_h") for r in cohort.recordings()}
    top = max((r for r in ahi if ahi[r] is not None), key=lambda r: ahi[r])
    assert f"**{top}** has the highest" in turn.answer and s.state.recording == top


def test_a_comparison_reports_sizes_means_and_a_rank_test(cohort: Cohort, tmp_path: Path) -> None:
    s = ChatSession(cohort, "router", config=ToolConfig(figure_dir=tmp_path))
    turn = s.respond("compare AHI between men and women")
    assert turn.steps[0].name == "query_cohort" and "| sex | nights | mean | median |" in turn.answer
    assert "Mann-Whitney U test: p = " in turn.answer or "No test" in turn.answer
    assert "Caution: small groups" in turn.answer  # 3 nights: every group is small
    assert len(turn.figures) == 1 and turn.figures[0].is_file()  # a box per group, every night a point


def test_no_rem_in_the_cohort_is_said_not_replaced_by_another_answer(cohort: Cohort, tmp_path: Path) -> None:
    s = ChatSession(cohort, "router", config=ToolConfig(figure_dir=tmp_path))
    turn = s.respond("What is the average heart rate during REM across the cohort?")
    assert "no epoch of this cohort is scored REM" in turn.answer
    assert [st.name for st in turn.steps] == ["query_cohort"]


def test_an_llm_back_end_runs_the_same_typed_plan_through_the_same_executor(cohort: Cohort, tmp_path: Path) -> None:
    from typing import Any

    from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
    from langchain_core.messages import AIMessage

    class ToolCallingFake(GenericFakeChatModel):
        def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
            return self

    args = plan("which night has the highest AHI?", NAMES, Context()).to_args()
    script = iter([AIMessage(content="", tool_calls=[{"name": "query_cohort", "args": args, "id": "q",
                                                      "type": "tool_call"}]),
                   AIMessage(content="done")])
    llm_turn = ChatSession(cohort, ToolCallingFake(messages=script),
                           config=ToolConfig(figure_dir=tmp_path / "llm")).respond("which night has the highest AHI?")
    router_turn = ChatSession(cohort, "router", config=ToolConfig(figure_dir=tmp_path / "router")).respond(
        "which night has the highest AHI?")
    assert llm_turn.steps[0].summary == router_turn.steps[0].summary
    assert llm_turn.steps[0].args == router_turn.steps[0].args


def test_a_metric_between_two_numbers_is_a_closed_range_not_a_clock_window() -> None:
    q = plan("Which recordings have an AHI between 5 and 15?", NAMES, Context())
    assert q == Query("list", filters=[Filter("ahi_per_h", ">=", 5.0), Filter("ahi_per_h", "<=", 15.0)])


def test_a_proportion_of_the_cohort_is_a_count_with_its_filter() -> None:
    q = plan("What proportion of the cohort has an AHI of at least 15?", NAMES, Context())
    assert q == Query("count", filters=[Filter("ahi_per_h", ">=", 15.0)])


def test_a_correlation_with_bmi_is_a_trend_against_bmi_not_age() -> None:
    q = plan("Is there a correlation between BMI and AHI?", NAMES, Context())
    assert isinstance(q, Query) and (q.ask, q.group_by, q.measures[0].name) == ("trend", "bmi", "ahi_per_h")


def test_average_spo2_nadir_is_the_nadir_not_the_mean_saturation() -> None:
    q = plan("What's the average SpO2 nadir in men?", NAMES, Context())
    assert q == Query("aggregate", [Measure("metric", "spo2_min_pct")], filters=[Filter("sex", "in", ["M"])])


def test_deepest_desaturation_is_the_night_with_the_lowest_nadir() -> None:
    q = plan("Which night had the deepest oxygen desaturation?", NAMES, Context())
    assert q == Query("argmin", [Measure("metric", "spo2_min_pct")])


def test_in_the_cohort_asks_for_the_cohort_even_with_a_night_in_focus() -> None:
    q = plan("What is the limb movement index in the cohort?", NAMES, AT_1)
    assert isinstance(q, Query) and q.ask == "aggregate" and q.nights == []


def test_how_many_events_across_all_nights_is_their_total() -> None:
    q = plan("How many arousals occurred during N2 across all nights?", NAMES, Context())
    assert q == Query("aggregate", [Measure("event_count", "arousal", "N2")], stat="sum")


# ------------------------------------------------------------- found by asking new phrasings on the demo cohort
def test_an_average_asked_of_one_named_night_is_that_nights_value() -> None:
    q = plan("What is the mean heart rate during REM in sim-0002?", NAMES, Context())
    assert q == Query("value", [Measure("metric", "hr_rem_bpm")], nights=["sim-0002"])


def test_worst_sleep_efficiency_is_the_lowest_and_worst_ahi_the_highest() -> None:
    q = plan("Show me the hypnogram of the night with the worst sleep efficiency.", NAMES, Context())
    assert isinstance(q, Query) and (q.ask, q.then) == ("argmin", "hypnogram")
    assert plan("Which night has the worst AHI?", NAMES, Context()).ask == "argmax"
    assert plan("Which night has the best AHI?", NAMES, Context()).ask == "argmin"
    assert plan("Which night has the best sleep efficiency?", NAMES, Context()).ask == "argmax"


def test_worst_of_a_measure_without_a_clinical_direction_is_declined() -> None:
    d = plan("Which night has the worst heart rate in REM?", NAMES, Context())
    assert isinstance(d, Decline) and "no clinical direction" in d.reason


def test_osa_severity_by_ahi_counts_nights_in_the_aasm_range_not_the_phenotype_label() -> None:
    q = plan("How many nights have severe OSA by AHI?", NAMES, Context())
    assert q == Query("count", filters=[Filter("ahi_per_h", ">=", 30.0)])
    q = plan("How many nights have mild sleep apnea according to the AHI?", NAMES, Context())
    assert q == Query("count", filters=[Filter("ahi_per_h", ">=", 5.0), Filter("ahi_per_h", "<", 15.0)])
    q = plan("How many nights have moderate-to-severe OSA based on AHI?", NAMES, Context())
    assert q == Query("count", filters=[Filter("ahi_per_h", ">=", 15.0)])


def test_position_changes_are_declined_not_read_as_channels() -> None:
    assert correct_spelling("position changes") == "position changes"
    d = plan("How many position changes did sim-0002 have?", NAMES, Context())
    assert isinstance(d, Decline) and "position changes is not counted" in d.reason


def test_a_question_of_its_own_about_a_named_night_is_not_answered_with_the_last_tool() -> None:
    after_odi = Context(recording="sim-0001", last_tool="describe_night",
                        last_args={"recording": "sim-0001", "metrics": ["odi_per_h"], "plot": False})
    p = decide("How long was the longest apnea in sim-0003?", NAMES, after_odi)  # its own plan, not the last ODI
    assert p.tool == "query_cohort" and p.args["nights"] == ["sim-0003"]
    assert p.args["measures"] == [{"kind": "longest_event_duration", "name": "apnea", "stage": None}]
    q = decide("How long after sleep onset was the first apnea in sim-0003?", NAMES, after_odi)
    assert q.tool is None and "did not understand" in q.text and "sim-0003" in q.text
    follow = decide("what about sim-0003?", NAMES, after_odi)
    assert (follow.tool, follow.args["recording"], follow.args["metrics"]) == ("describe_night", "sim-0003",
                                                                              ["odi_per_h"])


def test_a_ranking_word_inside_a_metric_phrase_still_ranks_the_nights() -> None:
    q = plan("Which night has the lowest SpO2 nadir?", NAMES, AT_1)
    assert q == Query("argmin", [Measure("metric", "spo2_min_pct")])


def test_a_threshold_given_before_the_measure_is_a_filter() -> None:
    q = plan("Which nights have more than 20% REM?", NAMES, AT_1)
    assert q == Query("list", filters=[Filter("rem_pct", ">", 20.0)])


def test_older_patients_having_less_of_a_measure_is_a_trend_against_age() -> None:
    q = plan("Do older patients have less deep sleep?", NAMES, AT_1)
    assert isinstance(q, Query) and (q.ask, q.measures) == ("trend", [Measure("metric", "n3_pct")])
    assert q.group_by in (None, "age_band")  # the trend is against age unless BMI is named


def test_a_cohort_question_no_plan_reads_is_declined_not_answered_for_this_night() -> None:
    d = plan("Is the sleep efficiency of the subjects unusual?", NAMES, AT_1)
    assert isinstance(d, Decline)
    assert plan("what is the REM latency?", NAMES, AT_1) == Query("value", [Measure("metric", "rem_latency_min")],
                                                                   nights=["sim-0001"])


def test_which_group_has_the_highest_value_compares_the_groups() -> None:
    q = plan("Which site has the highest average AHI?", NAMES, AT_1)
    assert isinstance(q, Query) and (q.ask, q.group_by) == ("compare", "site")


def test_events_per_hour_is_the_stored_index_not_the_count() -> None:
    q = plan("How many arousals per hour does sim-0002 have?", NAMES, AT_1)
    assert q == Query("value", [Measure("metric", "arousal_index_per_h")], nights=["sim-0002"])
    q = plan("how many apneas per hour in sim-0002?", NAMES, AT_1)  # every kind of apnea: the apnea index (AI)
    assert q == Query("value", [Measure("metric", "apnea_index_per_h")], nights=["sim-0002"])
    d = plan("how many spindles per hour in sim-0002?", NAMES, AT_1)
    assert isinstance(d, Decline)


def test_two_named_nights_compared_are_their_values_not_a_phenotype_comparison() -> None:
    q = plan("What is the heart rate during N3 in sim-0001 compared with sim-0002?", NAMES, AT_1)
    assert q == Query("value", [Measure("metric", "hr_n3_bpm")], nights=["sim-0001", "sim-0002"])


def test_a_count_of_nights_under_a_condition_it_cannot_read_is_declined_not_the_cohort_size() -> None:
    d = plan("How many nights had poor sleep quality?", NAMES, AT_1)
    assert isinstance(d, Decline) and "count of nights" in d.understood
    q = plan("How many nights had no N3 at all?", NAMES, AT_1)  # read since session 26: no minute of N3
    assert q == Query("count", filters=[Filter("stage_minutes:N3", "==", 0.0)])
    assert plan("how many nights were recorded?", NAMES, AT_1) is None  # the cohort's size: the cohort_stats tool


def test_an_average_number_of_events_per_night_is_a_mean_not_a_total() -> None:
    q = plan("What is the average number of hypopneas per night?", NAMES, AT_1)
    assert isinstance(q, Query) and (q.ask, q.stat) == ("aggregate", "mean")
    assert plan("how many hypopneas in total?", NAMES, AT_1).stat == "sum"


def test_a_comparison_of_named_phenotypes_compares_only_those() -> None:
    q = plan("Compare the arousal index between central apnea and healthy subjects.", NAMES, AT_1)
    assert isinstance(q, Query) and q.group_by == "phenotype"
    [only] = q.filters
    assert (only.field, only.op, set(only.value)) == ("phenotype", "in", {"central_apnea", "healthy_young"})


def test_a_bmi_threshold_is_a_filter_beside_a_metric_threshold() -> None:
    q = plan("Which patients have both an AHI above 15 and a BMI over 30?", NAMES, AT_1)
    assert isinstance(q, Query) and q.ask == "list"
    assert set(q.filters) == {Filter("bmi", ">", 30.0), Filter("ahi_per_h", ">", 15.0)}


def test_subjects_are_over_an_age_is_an_age_filter_not_the_cohort_size() -> None:
    assert plan("How many subjects are over 60?", NAMES, AT_1) == Query("count", filters=[Filter("age", ">", 60.0)])


def test_longer_than_is_a_threshold() -> None:
    q = plan("Which nights have a REM latency longer than 90 minutes?", NAMES, AT_1)
    assert q == Query("list", filters=[Filter("rem_latency_min", ">", 90.0)])


def test_this_night_compared_with_another_is_both_nights_key_metrics() -> None:
    from sleeplm.agent.vocab import KEY_METRICS

    q = plan("How does it compare with sim-0002?", NAMES, AT_1)
    assert q == Query("value", [Measure("metric", c) for c in KEY_METRICS], nights=["sim-0001", "sim-0002"])


def test_no_missing_channels_selects_the_complete_nights_not_the_incomplete_ones() -> None:
    q = plan("Which nights have no missing channels?", NAMES, AT_1)
    assert q == Query("list", filters=[Filter("missing_channels", "==", "none")])


def test_ahi_in_the_supine_position_is_the_supine_ahi_not_the_whole_night() -> None:
    q = plan("What is the AHI in the supine position for sim-0002?", NAMES, AT_1)
    assert q == Query("value", [Measure("metric", "supine_ahi_per_h")], nights=["sim-0002"])


def test_n_or_more_is_an_inclusive_threshold() -> None:
    q = plan("What proportion of nights have an AHI of 15 or more?", NAMES, AT_1)
    assert q == Query("count", filters=[Filter("ahi_per_h", ">=", 15.0)])


def test_a_correlation_between_two_night_measures_sets_one_against_the_other_not_against_age() -> None:
    q = plan("Is the ODI correlated with the AHI?", NAMES, AT_1)
    assert (q.ask, q.group_by, q.measures) == ("trend", "odi_per_h", [Measure("metric", "ahi_per_h")])


def test_stage_minutes_named_after_the_stage_are_stage_minutes() -> None:
    q = plan("How many N1 minutes in sim-0003?", NAMES, AT_1)
    assert q == Query("value", [Measure("stage_minutes", "N1")], nights=["sim-0003"])


def test_obese_is_the_who_bmi_class() -> None:
    assert plan("How many patients are obese?", NAMES, AT_1) == Query("count", filters=[Filter("bmi", ">=", 30.0)])
    q = plan("What is the average AHI of obese patients?", NAMES, AT_1)
    assert isinstance(q, Query) and q.filters == [Filter("bmi", ">=", 30.0)]


def test_severity_words_without_a_phenotype_of_that_name_are_the_aasm_ahi_range() -> None:
    q = plan("Which nights have severe sleep apnea?", NAMES, AT_1)  # NAMES has no label "severe sleep apnea"
    assert q == Query("list", filters=[Filter("ahi_per_h", ">=", 30.0)])
    assert plan("Which nights have a normal AHI?", NAMES, AT_1) == Query("list", filters=[Filter("ahi_per_h", "<", 5.0)])


def test_a_named_osa_label_is_not_widened_to_every_osa_label() -> None:
    names = CohortNames(recordings=NAMES.recordings, subjects=NAMES.subjects,
                        phenotypes=["osa_mild", "osa_severe", "healthy_young"], sites=[])
    q = plan("What is the median ODI among the severe OSA patients?", names, AT_1)
    assert isinstance(q, Query) and q.filters == [Filter("phenotype", "in", ["osa_severe"])]


def test_most_or_least_of_a_stage_ranks_its_minutes_and_slept_longest_ranks_total_sleep() -> None:
    assert plan("Which night has the least REM sleep?", NAMES, AT_1) == Query("argmin", [Measure("stage_minutes",
                                                                                                  "REM")])
    assert plan("Which subject slept the longest?", NAMES, AT_1) == Query("argmax", [Measure("metric", "tst_min")])


def test_first_rem_and_falling_asleep_are_the_scored_latencies_not_a_model_localization() -> None:
    p = decide("When did sim-0002 first enter REM?", NAMES, AT_1)
    assert (p.tool, p.args["metrics"]) == ("describe_night", ["rem_latency_min"])
    p = decide("What time did sim-0003 fall asleep?", NAMES, AT_1)
    assert (p.tool, p.args["metrics"]) == ("describe_night", ["sleep_latency_min"])
    p = decide("How long was sim-0003 awake during the night?", NAMES, AT_1)
    assert (p.tool, p.args["metrics"]) == ("describe_night", ["waso_min"])


def test_captions_of_a_clock_range_go_to_the_epoch_tool_not_a_window_decline() -> None:
    p = decide("Caption the epochs from 01:00 to 01:02 in sim-0003.", NAMES, AT_1)
    assert (p.tool, p.args["clock_time"], p.args["end_clock_time"]) == ("caption_epochs", "01:00", "01:02")


def test_describing_an_epoch_of_a_named_night_captions_that_epoch() -> None:
    p = decide("Describe sim-0002 epoch 3", NAMES, AT_1)
    assert (p.tool, p.args["recording"], p.args["epoch"]) == ("caption_epochs", "sim-0002", 3)
    assert decide("Describe sim-0002", NAMES, AT_1).tool == "describe_night"


def test_the_most_severe_sleep_apnea_ranks_the_ahi() -> None:
    assert plan("Which patient has the most severe sleep apnea?", NAMES, AT_1) == Query(
        "argmax", [Measure("metric", "ahi_per_h")])


def test_hours_are_converted_for_a_measure_kept_in_minutes() -> None:
    q = plan("How many nights have a total sleep time under 6 hours?", NAMES, AT_1)
    assert q == Query("count", filters=[Filter("tst_min", "<", 360.0)])


def test_the_patient_with_the_highest_bmi_is_ranked_by_bmi_then_shows_the_measure() -> None:
    q = plan("What is the sleep efficiency of the patient with the highest BMI?", NAMES, AT_1)
    assert isinstance(q, Query) and q.ask == "argmax"
    assert q.measures == [Measure("attribute", "bmi"), Measure("metric", "sleep_efficiency_pct")]


def test_above_the_cohort_average_is_a_filter_at_the_cohorts_mean() -> None:
    q = plan("Which nights have an arousal index above the cohort average?", NAMES, AT_1)
    assert q == Query("list", filters=[Filter("arousal_index_per_h", ">", "mean")])


def test_standard_deviation_and_range_are_statistics() -> None:
    assert plan("What is the standard deviation of the AHI?", NAMES, AT_1).stat == "sd"
    assert plan("What is the range of sleep efficiency in the cohort?", NAMES, AT_1).stat == "range"


def test_event_counts_in_a_body_position_count_the_events_starting_in_it() -> None:
    q = plan("How many apneas occurred in supine position?", NAMES, AT_1)
    assert q.measures == [Measure("event_count", "apnea", None, "supine")]
    q = plan("how many hypopneas in sim-0002 while lying on their side?", NAMES, AT_1)
    assert q.measures == [Measure("event_count", "hypopnea", None, "lateral")]


def test_events_per_hour_in_a_body_position_are_declined_but_the_supine_ahi() -> None:
    d = plan("how many apneas per hour while supine in sim-0002?", NAMES, AT_1)
    assert isinstance(d, Decline) and "supine and non-supine AHI" in d.reason


def test_a_stage_percentage_threshold_is_a_filter() -> None:
    q = plan("Which nights have an N3 percentage below 10?", NAMES, AT_1)
    assert q == Query("list", filters=[Filter("n3_pct", "<", 10.0)])


def test_the_osa_patients_having_less_of_a_measure_is_a_phenotype_comparison() -> None:
    names = CohortNames(recordings=NAMES.recordings, subjects=NAMES.subjects,
                        phenotypes=["osa_mild", "osa_severe", "healthy_young", "rem_without_atonia"], sites=[])
    q = plan("Is REM percentage lower in the OSA patients?", names, AT_1)
    assert isinstance(q, Query) and (q.ask, q.group_by) == ("compare", "phenotype")
    assert "rem_without_atonia" not in q.filters[0].value  # "REM" here is the stage, not that label


def test_how_many_nights_have_a_phenotype_is_a_count_of_those_nights() -> None:
    names = CohortNames(recordings=NAMES.recordings, subjects=NAMES.subjects,
                        phenotypes=["osa_mild", "osa_severe", "healthy_young"], sites=[])
    q = plan("How many nights have mild OSA?", names, AT_1)
    assert q == Query("count", filters=[Filter("phenotype", "in", ["osa_mild"])])
    q = plan("How many obstructive apneas do the mild OSA patients have in total?", names, AT_1)
    assert isinstance(q, Query) and q.measures == [Measure("event_count", "obstructive_apnea")]


def test_did_a_night_have_any_rem_is_its_rem_minutes() -> None:
    q = plan("did sim-0002 have any REM sleep?", NAMES, Context())  # its minutes, and yes / no (since session 26)
    assert q == Query("value", [Measure("stage_minutes", "REM")], nights=["sim-0002"],
                      filters=[Filter("stage_minutes:REM", ">", 0.0)])


def test_did_a_night_have_apneas_in_a_stage_is_its_count_in_that_stage() -> None:
    q = plan("did sim-0002 have any central apneas in REM?", NAMES, Context())
    assert isinstance(q, Query) and q.measures == [Measure("event_count", "central_apnea", "REM")]
    assert q.nights == ["sim-0002"]


def test_rem_ahi_against_nrem_ahi_for_the_cohort_applies_the_rule_to_every_night() -> None:
    p = decide("is rem ahi higher than nrem ahi?", NAMES, AT_1)
    assert (p.tool, p.args) == ("rem_related_nights", {})


def test_rem_ahi_against_nrem_ahi_of_two_named_nights_applies_the_rule_to_those() -> None:
    p = decide("is the rem ahi higher than the nrem ahi in sim-0002 and sim-0003?", NAMES, AT_1)
    assert (p.tool, p.args) == ("rem_related_nights", {"recordings": ["sim-0002", "sim-0003"]})


def test_rem_ahi_against_nrem_ahi_of_one_night_shows_both_with_the_whole_night_ahi() -> None:
    p = decide("is sim-0002's REM AHI higher than its NREM AHI?", NAMES, AT_1)
    assert p.tool == "describe_night" and p.args["metrics"] == ["ahi_per_h", "ahi_rem_per_h", "ahi_nrem_per_h"]


def test_apnea_worse_in_rem_is_rem_against_nrem_ahi_not_a_count_of_apneas_in_rem() -> None:
    for q in ("is sleep apnea worse in REM for any patient?", "which nights have REM-predominant OSA?"):
        assert decide(q, NAMES, AT_1).tool == "rem_related_nights", q
    assert decide("how many apneas in REM did sim-0002 have?", NAMES, AT_1).tool != "rem_related_nights"


# ------------------------------------------------------------------ found by a physician trying the chat (session 33)
@pytest.mark.parametrize("question, attribute", [("What is the age of the subject with the highest AHI?", "age"),
                                                 ("What is the BMI of the subject with the highest AHI?", "bmi")])
def test_an_attribute_of_the_night_ranked_by_a_metric_is_shown_not_ranked(question: str, attribute: str) -> None:
    q = plan(question, NAMES, Context())
    assert isinstance(q, Query) and q.ask == "argmax"
    assert q.measures == [Measure("metric", "ahi_per_h"), Measure("attribute", attribute)]


def test_the_oldest_subject_is_still_ranked_by_age() -> None:
    q = plan("Which subject is the oldest?", NAMES, Context())
    assert isinstance(q, Query) and q.measures[0] == Measure("attribute", "age")


def test_the_rdi_is_declined_as_unscored_reras_not_answered_with_the_ahi() -> None:
    d = plan("What is the RDI of sim-0002?", NAMES, Context())
    assert isinstance(d, Decline) and "RERA" in d.reason and "lower bound" in d.reason


@pytest.mark.parametrize("question", ["What is the latency to N1 in sim-0002?", "What is the N3 latency of sim-0001?",
                                      "What is the REM latency from lights out of sim-0001?",
                                      "What is the latency to persistent sleep in sim-0003?"])
def test_latencies_that_are_not_stored_are_declined_naming_the_ones_that_are(question: str) -> None:
    d = plan(question, NAMES, Context())
    assert isinstance(d, Decline) and "sleep latency" in d.reason


@pytest.mark.parametrize("question", ["Which nights are missing the airflow channel?", "Which nights lack airflow?",
                                      "nights with a missing AF channel"])
def test_a_named_missing_channel_is_a_filter_on_that_channel(question: str) -> None:
    q = plan(question, NAMES, Context())
    assert isinstance(q, Query) and q.filters == [Filter("missing_channels", "==", "AF")]


def test_no_position_changes_is_not_a_missing_position_channel() -> None:
    q = plan("which nights have no position changes?", NAMES, Context())
    assert not (isinstance(q, Query) and any(f.field == "missing_channels" for f in q.filters))


def test_without_any_events_is_a_zero_count_condition() -> None:
    q = plan("nights without any central apneas", NAMES, Context())
    assert isinstance(q, Query) and q.filters == [Filter("event_count:central_apnea", "<", 1.0)]


def test_greater_than_but_less_than_is_both_conditions() -> None:
    q = plan("Which nights have an AHI greater than 15 but less than 30?", NAMES, Context())
    assert isinstance(q, Query) and q.filters == [Filter("ahi_per_h", ">", 15.0), Filter("ahi_per_h", "<", 30.0)]


def test_percent_of_the_night_in_rem_is_rem_share_of_sleep() -> None:
    q = plan("What percent of the night was REM in sim-0002?", NAMES, Context())
    assert isinstance(q, Query) and q.measures == [Measure("metric", "rem_pct")]


def test_and_the_lowest_after_the_highest_ranks_the_same_measure_the_other_way() -> None:
    ctx = Context(last_tool="query_cohort", last_args=Query("argmax", [Measure("metric", "ahi_per_h")]).to_args())
    plan_ = decide("and the lowest?", NAMES, ctx)
    assert plan_.tool == "query_cohort" and Query.from_args(plan_.args) == Query("argmin", [Measure("metric", "ahi_per_h")])


def test_compare_with_another_night_after_a_nights_metric_gives_both_nights() -> None:
    ctx = Context(recording="sim-0002", last_tool="describe_night",
                  last_args={"recording": "sim-0002", "metrics": ["arousal_index_per_h"]})
    plan_ = decide("how does that compare with sim-0001?", NAMES, ctx)
    assert plan_.tool == "query_cohort"
    assert Query.from_args(plan_.args) == Query("value", [Measure("metric", "arousal_index_per_h")],
                                                nights=["sim-0002", "sim-0001"])


def test_where_spo2_drops_below_a_value_selects_those_epochs_not_the_nights_nadir() -> None:
    plan_ = decide("Where does SpO2 drop below 85% in sim-0002?", NAMES, Context())
    assert plan_.tool == "search_epochs"
    assert (plan_.args["recordings"], plan_.args["spo2_max_pct"], plan_.args["k"]) == (["sim-0002"], 85.0, 20)
    assert plan_.args["in_time_order"]


def test_time_spent_below_90_percent_is_t90_and_its_share_of_sleep_ct90() -> None:
    d = decide("How much time did sim-0002 spend below 90% saturation?", NAMES, Context())
    assert (d.tool, d.args.get("metrics")) == ("describe_night", ["t90_min"])
    d = decide("What percentage of sleep time was below 90% for sim-0002?", NAMES, Context())
    assert (d.tool, d.args.get("metrics")) == ("describe_night", ["ct90_pct"])


def test_every_night_with_its_values_is_every_night_not_the_one_in_focus() -> None:
    d = decide("list every night with its AHI, ODI and total sleep time", NAMES,
               Context(recording="sim-0003", last_tool="describe_night", last_args={"recording": "sim-0003"}))
    assert d.tool == "query_cohort" and not Query.from_args(d.args).nights


def test_its_value_against_all_nights_stays_about_the_night_in_focus() -> None:
    d = decide("how does its AHI compare with all the nights?", NAMES, AT_1)
    assert d.tool is not None and "sim-0001" in str(d.args)
