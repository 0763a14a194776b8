"""The router's reading of questions: which tool, which arguments (no workspace needed)."""

from __future__ import annotations

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from sleeplm.agent.intents import Context, parse, route
from sleeplm.agent.router import SleepRouter, context_from
from sleeplm.agent.state import SessionState
from sleeplm.agent.vocab import CohortNames, find_metrics, resolve_metric

NAMES = CohortNames(recordings=["sim-0001", "sim-0002", "sim-0003"],
                    subjects={"S0001": ["sim-0001"], "S0002": ["sim-0002"], "S0003": ["sim-0003"]},
                    phenotypes=["healthy_young", "insomnia", "osa_moderate", "osa_severe"], sites=["shhs", "aasm"])
AT_NIGHT_1 = Context(recording="sim-0001", epoch=10, last_tool="show_epoch", last_args={"epoch": 10})


@pytest.mark.parametrize("question, tool, args", [
    ("how many nights are there?", "cohort_stats", {"question": "count_nights"}),
    ("How many nights per phenotype?", "cohort_stats", {"question": "count_nights", "by": "phenotype"}),
    ("what is the AHI of sim-0002?", "describe_night", {"recording": "sim-0002", "metrics": ["ahi_per_h"]}),
    ("what's the sleep efficiency of S0003", "describe_night",
     {"recording": "sim-0003", "metrics": ["sleep_efficiency_pct"]}),
    ("describe sim-0001", "describe_night", {"recording": "sim-0001"}),
    ("show epoch 10 of sim-0001", "show_epoch", {"recording": "sim-0001", "epoch": 10}),
    ("caption epoch 5", "caption_epochs", {"recording": "sim-0001", "epoch": 5}),
    ("caption epochs 5 to 8 of sim-0002", "caption_epochs", {"recording": "sim-0002", "epoch": 5, "end_epoch": 8}),
    ("what happens at 02:30?", "caption_epochs", {"recording": "sim-0001", "clock_time": "02:30"}),
    ("What happens at 3 am in sim-0002?", "caption_epochs", {"recording": "sim-0002", "clock_time": "03:00"}),
    ("what is going on around midnight?", "caption_epochs", {"recording": "sim-0001", "clock_time": "00:00"}),
    ("show the signals at 11 pm", "show_epoch", {"recording": "sim-0001", "clock_time": "23:00"}),
    ("find epochs like obstructive apnea in REM", "search_epochs", {"description": "obstructive apnea in REM"}),
    ("find 3 epochs with central apnea in osa_severe patients", "search_epochs",
     {"k": 3, "phenotype": ["osa_severe"]}),
    ("find nights like this one", "similar_nights", {"recording": "sim-0001"}),
    ("find epochs similar to that epoch", "similar_epochs", {"recording": "sim-0001", "epoch": 10}),
    ("where are the hypopneas in sim-0002?", "localize_events", {"recording": "sim-0002", "description": "hypopnea"}),
    ("compare AHI by phenotype", "cohort_stats", {"question": "compare_metric", "metric": "ahi_per_h",
                                                  "by": "phenotype"}),
    ("stage distribution by sex", "cohort_stats", {"question": "stage_distribution", "by": "sex"}),
    ("who scored sim-0002?", "cohort_stats", {"question": "scoring"}),
    ("was sim-0003 scored by a person?", "cohort_stats", {"question": "scoring"}),
    ("which recordings have no event scoring?", "cohort_stats", {"question": "scoring"}),
    ("how many epochs in REM by phenotype?", "cohort_stats",
     {"question": "count_epochs", "stages": ["REM"], "by": "phenotype"}),
    ("list the nights", "cohort_stats", {"question": "list_nights"}),
    ("What recordings are in this cohort?", "cohort_stats", {"question": "list_nights"}),
    ("What stage is sim-0002 in at its first epoch?", "show_epoch", {"recording": "sim-0002", "epoch": 0}),
    ("which stage is sim-0003 in at the last epoch?", "show_epoch", {"recording": "sim-0003", "epoch": -1}),
    ("what is the heart rate at epoch 2 of sim-0002?", "show_epoch", {"recording": "sim-0002", "epoch": 2}),
    ("how many nights were scored automatically?", "cohort_stats", {"question": "scoring"}),
    ("Which recordings have no hypnogram?", "cohort_stats", {"question": "scoring"}),
    ("Give me a summary of the cohort", "cohort_stats", {"question": "list_nights"}),
    ("give me an overview of the nights", "cohort_stats", {"question": "list_nights"}),
    ("how many nights have unscored arousals?", "cohort_stats", {"question": "scoring"}),
    ("What is the oxygen saturation nadir in sim-0002?", "describe_night",
     {"recording": "sim-0002", "metrics": ["spo2_min_pct"]}),
])
def test_questions_route_to_the_right_tool(question: str, tool: str, args: dict) -> None:
    plan = route(question, NAMES, AT_NIGHT_1)
    assert plan.tool == tool
    assert {k: plan.args.get(k) for k in args} == args


def test_bare_epoch_follow_up_repeats_the_last_epoch_tool_on_this_night() -> None:
    ctx = Context(recording="sim-0002", epoch=3, last_tool="caption_epochs", last_args={"epoch": 3})
    plan = route("what about epoch 12?", NAMES, ctx)
    assert (plan.tool, plan.args["recording"], plan.args["epoch"]) == ("caption_epochs", "sim-0002", 12)


def test_next_epoch_steps_from_the_current_epoch() -> None:
    assert route("show the next epoch", NAMES, AT_NIGHT_1).args == {"recording": "sim-0001", "epoch": 11}


def test_unknown_recording_names_are_passed_to_the_tool() -> None:
    plan = route("describe sim-0099", NAMES, Context())
    assert (plan.tool, plan.args["recording"]) == ("describe_night", "sim-0099")


def test_unclear_questions_get_help_not_a_tool_call() -> None:
    plan = route("bananas?", NAMES, Context())
    assert plan.tool is None and "describe sim-0001" in (plan.text or "")


def test_parse_finds_clock_times_stages_events_and_subjects() -> None:
    p = parse("between 01:10 and 01:20 in S0002, any desaturation during deep sleep?", NAMES)
    assert p.clocks == ["01:10", "01:20"] and p.recordings == ["sim-0002"]
    assert p.stages == ["N3"] and p.events == ["oxygen_desaturation"]


def test_metric_words_resolve_to_columns() -> None:
    assert find_metrics("supine AHI and sleep efficiency") == ["supine_ahi_per_h", "sleep_efficiency_pct"]
    assert resolve_metric("AHI", ["ahi_per_h", "tst_min"]) == "ahi_per_h"
    with pytest.raises(ValueError, match="unknown night metric 'bogus'"):
        resolve_metric("bogus", ["ahi_per_h"])


def test_context_comes_from_the_session_state_not_the_prompt_text() -> None:
    msgs = [SystemMessage("...\nCurrent night: sim-0001\nCurrent epoch: 2"), HumanMessage("and epoch 9?")]
    ctx = context_from(msgs, SessionState(recording="sim-0003", epoch=7))
    assert (ctx.recording, ctx.epoch) == ("sim-0003", 7)


def test_router_is_a_chat_model_that_calls_bound_tools_then_answers() -> None:
    router = SleepRouter(names=NAMES)
    spec = {"type": "function", "function": {"name": "cohort_stats", "description": "stats",
                                             "parameters": {"type": "object", "properties": {}}}}
    bound = router.bind_tools([spec])
    ai = bound.invoke([HumanMessage("how many nights are there?")])
    assert isinstance(ai, AIMessage) and ai.tool_calls[0]["name"] == "cohort_stats"
    result = {"question": "count_nights", "n_nights": 3, "recordings": NAMES.recordings, "by": None}
    final = bound.invoke([HumanMessage("how many nights are there?"), ai,
                          ToolMessage(content="{}", artifact=result, tool_call_id=ai.tool_calls[0]["id"],
                                      name="cohort_stats")])
    assert not final.tool_calls and "**3 nights**" in final.text


def test_router_does_not_call_tools_that_are_not_bound() -> None:
    ai = SleepRouter(names=NAMES).bind_tools([]).invoke([HumanMessage("describe sim-0001")])
    assert ai.tool_calls and ai.tool_calls[0]["name"] == "describe_night"  # nothing bound: no restriction
    spec = {"type": "function", "function": {"name": "cohort_stats", "description": "",
                                             "parameters": {"type": "object", "properties": {}}}}
    ai = SleepRouter(names=NAMES).bind_tools([spec]).invoke([HumanMessage("describe sim-0001")])
    assert not ai.tool_calls and "describe_night" in ai.text


def test_questions_about_the_models_confidence_go_to_model_fit() -> None:
    for q in ("Is this night in the training distribution?", "can I trust the model on sim-0002?",
              "is the model confident here?"):
        plan = route(q, NAMES, AT_NIGHT_1)
        assert plan.tool == "model_fit", q


def test_what_stage_is_it_after_an_epoch_is_that_epoch() -> None:
    plan = route("What stage is it?", NAMES, AT_NIGHT_1)
    assert (plan.tool, plan.args) == ("show_epoch", {"recording": "sim-0001", "epoch": 10})


def test_a_count_or_list_under_a_condition_it_cannot_read_is_not_the_whole_cohort() -> None:
    for q in ("how many patients have restless legs?", "which nights have restless sleep?"):
        plan = route(q, NAMES, AT_NIGHT_1)
        assert plan.tool is None and "did not understand" in plan.text, q
    assert route("how many nights are there?", NAMES, AT_NIGHT_1).tool == "cohort_stats"
    assert route("list the nights", NAMES, AT_NIGHT_1).tool == "cohort_stats"


def test_heart_rate_and_spo2_thresholds_in_a_search_are_epoch_filters_not_ages() -> None:
    plan = route("find epochs with a heart rate above 90 bpm", NAMES, AT_NIGHT_1)
    assert plan.tool == "search_epochs" and plan.args["hr_min_bpm"] == 90.0 and "age_min" not in plan.args
    plan = route("find epochs where SpO2 drops below 85%", NAMES, AT_NIGHT_1)
    assert plan.tool == "search_epochs" and plan.args["spo2_max_pct"] == 85.0 and "age_max" not in plan.args
    plan = route("find epochs of obstructive apnea in patients over 60", NAMES, AT_NIGHT_1)
    assert plan.args["age_min"] == 60.0


def test_a_question_of_its_own_about_an_epoch_is_not_a_follow_up_of_the_last_epoch_tool() -> None:
    after_similar = Context(recording="sim-0001", epoch=2, last_tool="similar_epochs", last_args={"epoch": 2})
    assert route("what about epoch 4?", NAMES, after_similar).tool == "similar_epochs"
    assert route("what is the SpO2 at epoch 4?", NAMES, after_similar).tool == "show_epoch"
    assert route("how long is the longest apnea in epoch 4?", NAMES, after_similar).tool is None


def test_a_bare_event_follow_up_asks_the_last_count_again_for_that_event() -> None:
    after_count = Context(recording="sim-0001", last_tool="query_cohort",
                          last_args={"ask": "value", "nights": ["sim-0001"],
                                     "measures": [{"kind": "event_count", "name": "obstructive_apnea", "stage": "REM"}]})
    plan = route("and hypopneas?", NAMES, after_count)
    assert plan.tool == "query_cohort" and plan.args["nights"] == ["sim-0001"]
    assert plan.args["measures"] == [{"kind": "event_count", "name": "hypopnea", "stage": "REM"}]


def test_a_pronoun_question_is_not_read_as_describe_this_night() -> None:
    assert route("where does it happen?", NAMES, AT_NIGHT_1).tool is None
    assert route("and this night?", NAMES, AT_NIGHT_1).tool == "describe_night"
