"""Readings found wrong, misread or declined in session 37's chat trial (round 15, `eval/results/chat-round15/`):
stage names no manual has, a subject's "second night", "of those", count follow-ups about the night in focus, a
cohort total, the share of central events, who scored a night, how a night was recorded, "why?", "the worst one",
a correlation between two night measures and groups cut at a night measure. Expected values come from the EDF
headers, the NSRR XML and subjects.csv."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pyedflib
import pytest
from sleeplm.agent.intents import Context
from sleeplm.agent.planner import decide
from sleeplm.agent.vocab import CohortNames

NAMES = CohortNames(recordings=["sim-0001", "sim-0002", "sim-0003", "sim-0004"],
                    phenotypes=["healthy_young", "osa_mild", "osa_severe", "central_apnea"], sites=["shhs", "ref"])
NIGHTS = ("sim-0001", "sim-0002", "sim-0003", "sim-0004")


def _labels(edf_dir: Path, night: str) -> list[str]:
    with pyedflib.EdfReader(str(edf_dir / f"{night}.edf")) as f:
        return list(f.getSignalLabels())


def _events(edf_dir: Path, night: str) -> list[tuple[str, float]]:
    root = ET.parse(edf_dir / f"{night}-nsrr.xml").getroot()
    return [(ev.findtext("EventConcept") or "", float(ev.findtext("Start"))) for ev in root.iter("ScoredEvent")]


@pytest.mark.parametrize("question", ["How many apneas in N5 did sim-0002 have?", "What is the AHI in stage 6?"])
def test_a_stage_no_scoring_manual_has_is_declined_not_dropped(question: str) -> None:
    d = decide(question, NAMES, Context())
    assert d.tool is None and "there is no sleep stage" in d.text


def test_n4_is_read_as_n3_with_a_note(rem_session) -> None:
    turn = rem_session.respond("What's the AHI in N4 for sim-0002?")
    assert turn.steps[0].args["measures"][0]["stage"] == "N3" and "there is no N4" in turn.answer


def test_a_subject_s_second_night_is_declined_not_answered_with_the_only_night() -> None:
    d = decide("What was sim-0003's AHI on the second night?", NAMES, Context())
    assert d.tool is None and "second night" in d.text


def test_which_of_those_after_a_list_ranks_only_the_listed_nights() -> None:
    ctx = Context(last_tool="query_cohort", last_args={"ask": "list", "filters": [
        {"field": "ahi_per_h", "op": ">", "value": 15.0}]}, last_nights=["sim-0002", "sim-0004"])
    d = decide("which of those is the oldest?", NAMES, ctx)
    assert d.args["ask"] == "argmax" and {"field": "recording", "op": "in", "value": ["sim-0002", "sim-0004"]} in \
        d.args["filters"]


def test_a_count_follow_up_in_a_conversation_about_one_night_counts_that_night() -> None:
    ctx = Context(recording="sim-0003", last_tool="describe_night",
                  last_args={"recording": "sim-0003", "metrics": ["arousal_index_per_h"]})
    d = decide("how many arousals in REM?", NAMES, ctx)
    assert (d.args["ask"], d.args["nights"]) == ("value", ["sim-0003"])
    assert decide("how many hypopneas in each night?", NAMES, ctx).args["ask"] == "rank"


def test_events_across_the_whole_cohort_are_summed(rem_session, rem_cohort) -> None:
    total = sum(1 for n in NIGHTS for c, _ in _events(rem_cohort / "edf", n) if re.search("hypopnea", c, re.I))
    turn = rem_session.respond("How many hypopneas occurred across the whole cohort?")
    assert f"**Total hypopneas: {total}**" in turn.answer


def test_who_scored_a_night_does_not_claim_a_person_scored_a_supplied_file(rem_session) -> None:
    turn = rem_session.respond("Who scored sim-0002?")
    assert "by a person" not in turn.answer.split("\n")[0] and "is not recorded in it" in turn.answer


def test_which_channels_a_night_has_are_its_file_s_signals_and_the_model_channels_read(rem_session, rem_cohort) -> None:
    labels = _labels(rem_cohort / "edf", "sim-0001")
    turn = rem_session.respond("Which channels does sim-0001 have?")
    assert turn.steps[0].name == "recording_info"
    assert f"The file's {len(labels)} signals: {', '.join(labels)}." in turn.answer


def test_whether_a_night_has_an_electrode_the_model_does_not_read_comes_from_its_file(rem_session, rem_cohort) -> None:
    has_o1 = any(re.search(r"(?<![a-z0-9])o1(?![a-z0-9])", x.lower()) for x in _labels(rem_cohort / "edf", "sim-0002"))
    turn = rem_session.respond("Show me the EEG at O1 for sim-0002")
    assert turn.steps[0].name == "recording_info"
    assert ("the file has it" if has_o1 else "the file has no signal labelled so") in turn.answer


def test_when_a_recording_started_is_its_file_s_start(rem_session, rem_cohort) -> None:
    with pyedflib.EdfReader(str(rem_cohort / "edf" / "sim-0003.edf")) as f:
        start = f.getStartdatetime()
    turn = rem_session.respond("What time did the recording of sim-0003 start?")
    assert start.strftime("%H:%M:%S") in turn.answer.split("\n")[0]


def test_an_ahi_mostly_made_of_central_apneas_says_so() -> None:
    from sleeplm.agent.clinical import central_reading

    assert "Mostly central" in central_reading(32.1, 22.2)
    assert central_reading(19.3, 0.8) is None
    assert "Not mostly central" in central_reading(19.3, 0.8, asked=True)


def test_is_it_central_sleep_apnea_gets_the_ahi_with_its_central_and_obstructive_parts() -> None:
    d = decide("is sim-0004 central sleep apnea?", NAMES, Context())
    assert d.args["metrics"] == ["ahi_per_h", "cai_per_h", "oai_per_h"]


def test_why_after_a_night_s_sleep_efficiency_shows_what_it_is_made_of() -> None:
    ctx = Context(recording="sim-0004", last_tool="query_cohort",
                  last_args={"ask": "argmin", "measures": [{"kind": "metric", "name": "sleep_efficiency_pct"}]})
    d = decide("why?", NAMES, ctx)
    assert d.tool == "describe_night" and d.args["recording"] == "sim-0004"
    assert d.args["metrics"][:3] == ["sleep_efficiency_pct", "sleep_latency_min", "waso_min"]


def test_the_worst_one_after_a_comparison_is_the_night_with_the_worst_value() -> None:
    ctx = Context(last_tool="query_cohort", last_args={"ask": "compare", "group_by": "sex", "measures": [
        {"kind": "metric", "name": "sleep_efficiency_pct"}]})
    assert decide("show me the worst one", NAMES, ctx).args["ask"] == "argmin"  # the lowest efficiency is worst


def _ahi(edf_dir: Path, night: str) -> float:
    """Apneas and hypopneas starting in a sleep epoch per hour of sleep, from the XML alone."""
    sleep = set()
    root = ET.parse(edf_dir / f"{night}-nsrr.xml").getroot()
    for ev in root.iter("ScoredEvent"):
        c, start, dur = ev.findtext("EventConcept") or "", float(ev.findtext("Start")), float(ev.findtext("Duration"))
        if re.match(r"(Stage [1-4] sleep|REM sleep)\|", c):
            sleep.update(range(int(round(start / 30)), int(round((start + dur) / 30))))
    n = sum(1 for c, s in _events(edf_dir, night) if re.search(r"apnea|hypopnea", c, re.I) and int(s // 30) in sleep)
    return n / (len(sleep) * 30 / 3600)


def test_a_comparison_cut_at_a_night_measure_groups_the_nights_on_each_side(rem_session, rem_cohort) -> None:
    ahi = {n: _ahi(rem_cohort / "edf", n) for n in NIGHTS}
    cut = round(sorted(ahi.values())[len(ahi) // 2], 1)
    turn = rem_session.respond(f"Compare the REM percentage between nights with an AHI above {cut:g} and the rest")
    assert turn.steps[0].args["group_by"] == "ahi_per_h" and turn.steps[0].args["cut"] == cut
    above = ", ".join(sorted(n for n, v in ahi.items() if v >= cut))
    assert f"AHI ≥ {cut:g}: {above}" in turn.answer


def test_a_night_without_sleep_apnea_is_not_called_positional() -> None:
    from sleeplm.agent.clinical import positional_reading

    assert "**No**" in positional_reading(4.5, 1.8, ahi=3.8) and "under the 5/h" in positional_reading(4.5, 1.8, 3.8)
    assert "**Yes**" in positional_reading(10.3, 3.7, ahi=6.0)


@pytest.mark.parametrize(("question", "why"), [("What was the end-tidal CO2 in sim-0004?", "no CO2"),
                                               ("Does sim-0001 have REM sleep without atonia?", "not scored or computed")])
def test_measures_no_channel_or_scoring_holds_are_declined_saying_why(question: str, why: str) -> None:
    d = decide(question, NAMES, Context())
    assert d.tool is None and why in d.text


def test_a_short_misspelling_of_how_is_read() -> None:
    d = decide("hw many hypopnaes in sim-0003", NAMES, Context())
    assert d.args["measures"][0]["name"] == "hypopnea" and d.args["nights"] == ["sim-0003"]


def test_a_why_question_with_a_premise_judges_the_value_against_its_reference() -> None:
    d = decide("Why is the sleep efficiency of sim-0002 so poor?", NAMES, Context())
    assert d.tool == "describe_night" and d.args["reference"] is True


def test_supine_ahi_more_than_twice_the_non_supine_is_a_threshold_on_their_ratio() -> None:
    d = decide("Which nights have a supine AHI more than twice the non-supine AHI?", NAMES, Context())
    assert d.args["filters"] == [{"field": "supine_ratio", "op": ">", "value": 2.0}]


def test_positional_osa_across_nights_is_the_cartwright_ratio_in_nights_with_sleep_apnea() -> None:
    d = decide("How many subjects have positional OSA?", NAMES, Context())
    assert d.args["filters"] == [{"field": "supine_ratio", "op": ">=", "value": 2.0},
                                 {"field": "ahi_per_h", "op": ">=", "value": 5.0}]


def test_the_supine_ratio_of_nights_without_events_in_either_position_is_one_and_unknown_without_position() -> None:
    import math

    import pandas as pd
    from sleeplm.encoder.signals.night import supine_ratio

    r = supine_ratio(pd.Series([10.3, 0.0, 4.0, float("nan")]), pd.Series([3.7, 0.0, 0.0, 2.0]))
    assert abs(r[0] - 10.3 / 3.7) < 1e-12 and r[1] == 1.0 and math.isinf(r[2]) and math.isnan(r[3])


def _stage_of_epoch(edf_dir: Path, night: str) -> dict[int, str]:
    out = {}
    root = ET.parse(edf_dir / f"{night}-nsrr.xml").getroot()
    for ev in root.iter("ScoredEvent"):
        c, start, dur = ev.findtext("EventConcept") or "", float(ev.findtext("Start")), float(ev.findtext("Duration"))
        m = re.match(r"(Wake|Stage [1-4] sleep|REM sleep)\|", c)
        if m:
            st = {"Wake": "W", "REM sleep": "REM"}.get(m.group(1), "NREM")
            out.update(dict.fromkeys(range(int(round(start / 30)), int(round((start + dur) / 30))), st))
    return out


def test_events_in_nrem_are_those_starting_in_n1_n2_or_n3(rem_session, rem_cohort) -> None:
    stages = _stage_of_epoch(rem_cohort / "edf", "sim-0002")
    n = sum(1 for c, s in _events(rem_cohort / "edf", "sim-0002")
            if re.search("arousal", c, re.I) and stages.get(int(s // 30)) == "NREM")
    turn = rem_session.respond("How many arousals in non-REM sleep in sim-0002?")
    assert turn.steps[0].args["measures"][0]["stage"] == "NREM" and f"arousals in NREM: {n}**" in turn.answer


def test_rem_against_nrem_gives_the_measure_in_each() -> None:
    d = decide("Average apnea duration in REM vs NREM in sim-0004", NAMES, Context())
    assert [(m["kind"], m["stage"]) for m in d.args["measures"]] == [("mean_event_duration", "REM"),
                                                                      ("mean_event_duration", "NREM")]


def test_heart_rate_in_nrem_is_declined_saying_it_is_kept_per_stage() -> None:
    d = decide("What is the heart rate in NREM for sim-0002?", NAMES, Context())
    assert d.tool is None and "not pooled over NREM" in d.text


def test_why_after_several_values_shows_the_parts_of_the_first_that_has_them() -> None:
    ctx = Context(recording="sim-0002", last_tool="describe_night",
                  last_args={"recording": "sim-0002", "metrics": ["ahi_per_h", "ahi_rem_per_h", "ahi_nrem_per_h"]})
    d = decide("why?", NAMES, ctx)
    assert d.args["metrics"][:4] == ["ahi_per_h", "oai_per_h", "cai_per_h", "hypopnea_index_per_h"]


def test_and_in_nrem_after_a_value_in_rem_is_the_same_measure_pooled_over_n1_to_n3() -> None:
    ctx = Context(recording="sim-0002", last_tool="query_cohort", last_args={
        "ask": "value", "nights": ["sim-0002"], "measures": [{"kind": "metric", "name": "spo2_min_pct", "stage": "REM"}]})
    d = decide("and in non-REM?", NAMES, ctx)
    assert d.args["measures"] == [{"kind": "metric", "name": "spo2_min_pct", "stage": "NREM"}]
