"""Readings left by session 35's trial (chat round 13): which of two named nights has more of something, and
follow-ups that change only the stage or the body position of the previous question ("and in REM?", "how about
supine?")."""

from __future__ import annotations

from sleeplm.agent.intents import Context
from sleeplm.agent.planner import decide
from sleeplm.agent.query import Measure
from sleeplm.agent.vocab import CohortNames

NAMES = CohortNames(recordings=["sim-0001", "sim-0002", "sim-0004", "sim-0006"],
                    phenotypes=["central_apnea", "healthy_young", "osa_moderate", "osa_severe"])


def _after(tool: str, args: dict, recording: str | None = None) -> Context:
    return Context(recording=recording, last_tool=tool, last_args=args)


def _measures(d) -> list[tuple[str, str, str | None]]:
    return [(m["kind"], m["name"], m["stage"]) for m in d.args["measures"]]


def test_which_of_two_named_nights_has_more_events_ranks_those_nights_by_the_count() -> None:
    d = decide("Which has more central apneas, sim-0002 or sim-0006?", NAMES, Context())
    assert d.tool == "query_cohort" and d.args["ask"] == "argmax"
    assert d.args["nights"] == ["sim-0002", "sim-0006"] and _measures(d) == [("event_count", "central_apnea", None)]


def test_does_one_night_have_more_events_than_another_is_not_a_comparison_of_phenotypes() -> None:
    # "central apneas" names the central_apnea phenotype too; the question is about the two nights
    d = decide("Does sim-0004 have more central apneas than sim-0002?", NAMES, Context())
    assert d.args["ask"] == "argmax" and "group_by" not in d.args and d.args["nights"] == ["sim-0004", "sim-0002"]


def test_fewer_or_lower_between_named_nights_is_the_lowest_of_them() -> None:
    d = decide("which has the lower nadir, sim-0002 or sim-0004?", NAMES, Context())
    assert d.args["ask"] == "argmin" and _measures(d) == [("metric", "spo2_min_pct", None)]
    d = decide("who has fewer apneas in REM, sim-0002 or sim-0004?", NAMES, Context())
    assert d.args["ask"] == "argmin" and _measures(d) == [("event_count", "apnea", "REM")]


def test_a_ratio_between_named_nights_is_not_read_as_which_is_higher() -> None:
    d = decide("Does sim-0004 have more than twice the AHI of sim-0002?", NAMES, Context())
    assert d.args["ask"] == "value" and d.args["nights"] == ["sim-0004", "sim-0002"]


def test_which_one_has_more_events_after_two_nights_ranks_those_two() -> None:
    ctx = _after("query_cohort", {"ask": "value", "measures": [{"kind": "metric", "name": "tst_min"}],
                                  "nights": ["sim-0002", "sim-0006"]})
    d = decide("which one has more central apneas?", NAMES, ctx)
    assert d.args["ask"] == "argmax" and d.args["nights"] == ["sim-0002", "sim-0006"]
    assert _measures(d) == [("event_count", "central_apnea", None)]


def test_and_in_another_stage_after_a_stage_heart_rate_is_that_stage_s_heart_rate() -> None:
    ctx = _after("describe_night", {"recording": "sim-0001", "metrics": ["hr_n3_bpm"]}, "sim-0001")
    assert decide("and in REM?", NAMES, ctx).args["metrics"] == ["hr_rem_bpm"]
    assert decide("and during wake?", NAMES, ctx).args["metrics"] == ["hr_w_bpm"]


def test_and_in_a_stage_after_a_cohort_ranking_ranks_by_the_index_in_that_stage() -> None:
    ctx = _after("query_cohort", {"ask": "argmax", "measures": [{"kind": "metric", "name": "ahi_per_h"}]})
    d = decide("and in REM?", NAMES, ctx)
    assert d.args["ask"] == "argmax" and _measures(d) == [("stage_index", "ahi_per_h", "REM")]


def test_an_event_count_follow_up_in_a_stage_counts_the_events_starting_in_it() -> None:
    ctx = _after("query_cohort", {"ask": "value", "measures": [{"kind": "event_count", "name": "arousal"}],
                                  "nights": ["sim-0002"]}, "sim-0002")
    assert _measures(decide("and in N3?", NAMES, ctx)) == [("event_count", "arousal", "N3")]


def test_an_index_asked_in_wake_is_declined() -> None:
    ctx = _after("describe_night", {"recording": "sim-0002", "metrics": ["ahi_per_h"]}, "sim-0002")
    d = decide("and during wake?", NAMES, ctx)
    assert d.tool is None and "per hour of sleep" in d.text


def test_a_whole_night_measure_asked_in_a_stage_is_declined() -> None:
    ctx = _after("describe_night", {"recording": "sim-0002", "metrics": ["sleep_efficiency_pct"]}, "sim-0002")
    d = decide("and in REM?", NAMES, ctx)
    assert d.tool is None and "whole-night measure" in d.text


def test_how_about_supine_after_the_ahi_is_the_supine_ahi() -> None:
    ctx = _after("describe_night", {"recording": "sim-0002", "metrics": ["ahi_per_h"]}, "sim-0002")
    assert decide("how about in the supine position?", NAMES, ctx).args["metrics"] == ["supine_ahi_per_h"]
    assert decide("and non-supine?", NAMES, ctx).args["metrics"] == ["non_supine_ahi_per_h"]


def test_a_measure_not_kept_by_position_is_declined_when_asked_supine() -> None:
    ctx = _after("describe_night", {"recording": "sim-0002", "metrics": ["odi_per_h"]}, "sim-0002")
    d = decide("how about in the supine position?", NAMES, ctx)
    assert d.tool is None and "ODI is not kept by body position" in d.text


def test_how_many_of_the_subjects_are_men_counts_them() -> None:
    d = decide("How many of the subjects are men?", NAMES, Context())
    assert d.args["ask"] == "count" and d.args["filters"] == [{"field": "sex", "op": "in", "value": ["M"]}]


def test_the_fraction_of_sleep_spent_supine_is_the_supine_share() -> None:
    assert decide("What fraction of sim-0004's sleep was spent supine?", NAMES, Context()).args["metrics"] == [
        "supine_pct"]


def test_the_bmi_of_the_night_with_the_highest_ahi_is_kept_and_the_ranking_is_by_the_ahi() -> None:
    d = decide("Which night has the highest AHI and what is its BMI?", NAMES, Context())
    assert d.args["ask"] == "argmax" and _measures(d) == [("metric", "ahi_per_h", None), ("attribute", "bmi", None)]


def test_a_count_of_nights_says_how_many_subjects_they_belong_to_when_that_differs() -> None:
    from sleeplm.agent.query_answers import compose_query

    rows = [{"recording": r, "subject_id": s, "sex": "M"} for r, s in (("n1", "S1"), ("n2", "S1"), ("n3", "S2"))]
    r = {"kind": "count", "n_nights": 3, "recordings": ["n1", "n2", "n3"], "rows": rows, "filters": ["sex = M"],
         "n_total": 5}
    assert "They are the nights of 2 subject(s)." in compose_query(r)
    r1 = {**r, "rows": [dict(x, subject_id=f"S{i}") for i, x in enumerate(rows)]}
    assert "subject(s)" not in compose_query(r1)


def test_osa_patients_against_healthy_subjects_pool_each_family_into_one_group() -> None:
    names = CohortNames(recordings=["sim-0001"], phenotypes=["healthy_older", "healthy_young", "insomnia",
                                                             "osa_moderate", "osa_severe"])
    d = decide("Is there a difference in arousal index between the OSA patients and the healthy subjects?", names,
               Context())
    assert d.args["ask"] == "compare" and d.args["group_by"] == "phenotype"
    assert d.args["pooled"] == {"osa_*": ["osa_moderate", "osa_severe"], "healthy_*": ["healthy_older", "healthy_young"]}


def test_phenotypes_named_one_by_one_are_not_pooled() -> None:
    names = CohortNames(recordings=["sim-0001"], phenotypes=["osa_moderate", "osa_severe"])
    d = decide("compare the AHI of moderate OSA and severe OSA patients", names, Context())
    assert d.args["ask"] == "compare" and "pooled" not in d.args


def test_pooled_groups_are_compared_as_one_group_each(sim_cohort_dir, sim_workspace, tmp_path) -> None:
    import pandas as pd
    from sleeplm.agent.context import ToolConfig, ToolContext
    from sleeplm.agent.executor import run_query
    from sleeplm.agent.query import Query
    from sleeplm.agent.state import SessionState
    from sleeplm.index.queries import Cohort

    subjects = pd.read_csv(sim_cohort_dir / "subjects.csv")  # the cohort's own subjects table
    first, *rest = sorted(subjects["phenotype"].unique())
    pooled = {"first": [first], "rest": rest}
    q = Query("compare", [Measure("attribute", "age")], group_by="phenotype", pooled=pooled)
    c = Cohort(sim_workspace)
    try:
        r = run_query(ToolContext(c, SessionState(), ToolConfig(), tmp_path), q)
    finally:
        c.close()
    got = {g["group"]: (g["n"], g["mean"]) for g in r["groups"]}
    for label, members in pooled.items():
        ages = subjects.loc[subjects["phenotype"].isin(members), "age"]
        if len(ages):
            assert got[label][0] == len(ages) and abs(got[label][1] - ages.mean()) < 1e-9, got


def test_worse_or_better_between_named_nights_follows_the_measure_s_clinical_direction() -> None:
    d = decide("Which has the worse sleep efficiency, sim-0001 or sim-0002?", NAMES, Context())
    assert d.args["ask"] == "argmin" and _measures(d) == [("metric", "sleep_efficiency_pct", None)]
    assert decide("which has the better AHI, sim-0001 or sim-0002?", NAMES, Context()).args["ask"] == "argmin"


def test_which_one_fell_asleep_faster_is_the_shorter_sleep_latency() -> None:
    ctx = _after("query_cohort", {"ask": "value", "measures": [{"kind": "metric", "name": "tst_min"}],
                                  "nights": ["sim-0001", "sim-0002"]})
    d = decide("which one fell asleep faster?", NAMES, ctx)
    assert d.args["ask"] == "argmin" and _measures(d) == [("metric", "sleep_latency_min", None)]


def test_a_position_with_a_stage_is_the_ahi_within_both() -> None:
    d = decide("What's the supine REM AHI of sim-0004?", NAMES, Context())
    assert d.args["measures"] == [{"kind": "stage_index", "name": "ahi_per_h", "stage": "REM", "position": "supine"}]


def test_a_position_the_plan_cannot_carry_is_declined() -> None:
    d = decide("What's the T90 in supine sleep for sim-0004?", NAMES, Context())
    assert d.tool is None and "body position (supine)" in d.text


def test_events_to_leave_out_of_a_measure_are_not_dropped() -> None:
    d = decide("What's the AHI of sim-0004 if you leave out the central apneas?", NAMES, Context())
    assert d.tool is None and "leave out the central apneas" in d.text


def test_the_sex_of_a_named_night_s_subject_is_its_attribute_not_a_condition() -> None:
    d = decide("Is sim-0004 a man or a woman?", NAMES, Context())
    assert _measures(d) == [("attribute", "sex", None)] and not d.args.get("filters")


def test_events_per_hour_of_a_stage_are_the_index_within_it() -> None:
    assert _measures(decide("Arousals per hour of REM in sim-0006?", NAMES, Context())) == [
        ("stage_index", "arousal_index_per_h", "REM")]


def test_when_did_it_happen_after_a_nadir_gives_its_epoch_and_stage() -> None:
    ctx = _after("describe_night", {"recording": "sim-0004", "metrics": ["spo2_min_pct"]}, "sim-0004")
    for q in ("when did it happen?", "what stage was it in?", "at what time was that?"):
        d = decide(q, NAMES, ctx)
        assert d.tool == "describe_night" and d.args["recording"] == "sim-0004" and "spo2_min_pct" in d.args["metrics"]


def test_and_the_lowest_in_the_cohort_after_a_night_s_value_ranks_every_night() -> None:
    ctx = _after("describe_night", {"recording": "sim-0004", "metrics": ["spo2_min_pct"]}, "sim-0004")
    d = decide("and the lowest in the cohort?", NAMES, ctx)
    assert d.args["ask"] == "argmin" and not d.args.get("nights") and _measures(d) == [("metric", "spo2_min_pct", None)]


def test_follow_ups_about_the_events_just_counted_or_listed_keep_that_event_and_night() -> None:
    counted = _after("query_cohort", {"ask": "value", "measures": [{"kind": "event_count", "name": "central_apnea"}],
                                      "nights": ["sim-0006"]}, "sim-0006")
    assert _measures(decide("and the longest one?", NAMES, counted)) == [
        ("longest_event_duration", "central_apnea", None)]
    by_stage = decide("in which stage are most of them?", NAMES, counted)
    assert {m[2] for m in _measures(by_stage) if m[0] == "event_count"} == {"W", "N1", "N2", "N3", "REM"}
    listed = _after("localize_events", {"description": "obstructive apnea", "recording": "sim-0001"}, "sim-0001")
    d = decide("how many were in REM?", NAMES, listed)
    assert d.args["nights"] == ["sim-0001"] and _measures(d) == [("event_count", "obstructive_apnea", "REM")]


def test_supine_after_an_ahi_within_a_stage_is_the_ahi_within_that_stage_and_position() -> None:
    ctx = _after("query_cohort", {"ask": "value", "measures": [{"kind": "stage_index", "name": "ahi_per_h",
                                                                 "stage": "REM"}], "nights": ["sim-0006"]}, "sim-0006")
    d = decide("what about supine?", NAMES, ctx)
    assert d.args["measures"] == [{"kind": "stage_index", "name": "ahi_per_h", "stage": "REM", "position": "supine"}]
    assert d.args["nights"] == ["sim-0006"]


def test_the_longest_one_after_events_counted_stage_by_stage_is_that_event_s_longest() -> None:
    ctx = _after("query_cohort", {"ask": "value", "nights": ["sim-0006"], "measures": [
        {"kind": "event_count", "name": "central_apnea", "stage": s} for s in ("W", "N1", "N2", "N3", "REM")]},
        "sim-0006")
    assert _measures(decide("and the longest one?", NAMES, ctx)) == [("longest_event_duration", "central_apnea", None)]


def test_is_the_oxygenation_abnormal_judges_every_oximetry_measure() -> None:
    ctx = _after("describe_night", {"recording": "sim-0004", "metrics": ["odi_per_h"]}, "sim-0004")
    d = decide("is the oxygenation abnormal?", NAMES, ctx)
    assert d.args["metrics"] == ["spo2_mean_pct", "spo2_min_pct", "t90_min", "odi_per_h"] and d.args["reference"]


def test_a_question_about_other_events_after_a_nadir_is_not_read_as_the_nadir_s_stage() -> None:
    ctx = _after("describe_night", {"recording": "sim-0004", "metrics": ["spo2_min_pct"]}, "sim-0004")
    d = decide("in which stage do the apneas occur most?", NAMES, ctx)
    assert d.tool != "describe_night" or "spo2_min_pct" not in d.args.get("metrics", [])
    assert decide("in which stage?", NAMES, ctx).args["metrics"] == ["spo2_min_pct"]
