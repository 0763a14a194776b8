"""Nights picked by how many events of a type were scored ("more than 20 arousals", "3 or more central apneas"):
the counts come from the annotation XML, read here with ElementTree, not from the workspace."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from sleeplm.agent import ChatSession, ToolConfig
from sleeplm.index.queries import Cohort

NIGHTS = ("sim-0001", "sim-0002", "sim-0003")


@pytest.fixture()
def session(cohort: Cohort, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ChatSession:
    monkeypatch.delenv("SLEEPLM_LLM", raising=False)
    return ChatSession(cohort, config=ToolConfig(figure_dir=tmp_path, caption_max_len=4))


def xml_count(cohort_dir: Path, night: str, word: str) -> int:
    root = ET.parse(cohort_dir / f"{night}-nsrr.xml").getroot()
    return sum(bool(re.search(word, ev.findtext("EventConcept") or "", re.IGNORECASE)) for ev in root.iter("ScoredEvent"))


def listed(answer: str) -> set[str]:
    return set(re.findall(r"^\| (sim-\d{4}) \|", answer, re.MULTILINE))


def test_nights_with_more_than_n_hypopneas_are_those_the_annotations_say(session, sim_cohort_dir) -> None:
    counts = {n: xml_count(sim_cohort_dir, n, "hypopnea") for n in NIGHTS}
    threshold = sorted(counts.values())[1]  # a threshold that splits the cohort
    turn = session.respond(f"which nights have more than {threshold} hypopneas?")
    assert turn.steps[0].name == "query_cohort"
    assert listed(turn.answer) == {n for n, c in counts.items() if c > threshold}


def test_a_count_of_nights_with_at_most_n_arousals_shows_each_night_s_count(session, sim_cohort_dir) -> None:
    counts = {n: xml_count(sim_cohort_dir, n, r"arousal") for n in NIGHTS}
    threshold = max(counts.values())
    turn = session.respond(f"how many nights have no more than {threshold} arousals?")
    assert f"**{len(NIGHTS)} night(s)**" in turn.answer
    for n, c in counts.items():
        assert re.search(rf"^\| {n} \|.*\| {c} \|", turn.answer, re.MULTILINE)


def test_an_event_count_condition_restricts_an_average(session, cohort, sim_cohort_dir) -> None:
    counts = {n: xml_count(sim_cohort_dir, n, "hypopnea") for n in NIGHTS}
    threshold = min(counts.values())
    kept = [n for n, c in counts.items() if c >= threshold + 1]
    turn = session.respond(f"what is the mean AHI of nights with {threshold + 1} or more hypopneas?")
    assert f"over {len(kept)} night(s)" in turn.answer and all(n in turn.answer for n in kept)


def test_nights_that_had_central_apneas_are_those_with_at_least_one_in_the_annotations(session, sim_cohort_dir) -> None:
    counts = {n: xml_count(sim_cohort_dir, n, "central apnea") for n in NIGHTS}
    turn = session.respond("which nights had central apneas?")
    assert turn.steps[0].name == "query_cohort"
    assert listed(turn.answer) == {n for n, c in counts.items() if c >= 1}


def test_nights_with_no_central_apneas_are_those_with_none_in_the_annotations(session, sim_cohort_dir) -> None:
    counts = {n: xml_count(sim_cohort_dir, n, "central apnea") for n in NIGHTS}
    turn = session.respond("which nights had no central apneas?")
    assert listed(turn.answer) == {n for n, c in counts.items() if c == 0}


def test_nights_that_had_an_event_in_one_stage_are_not_answered_with_the_whole_night(session) -> None:
    turn = session.respond("which nights had central apneas in REM?")
    assert [f["field"] for f in turn.steps[0].args["filters"]] == ["event_count:central_apnea@REM"]


def test_did_a_night_have_hypopneas_is_answered_with_its_count(session, sim_cohort_dir) -> None:
    count = xml_count(sim_cohort_dir, "sim-0002", "hypopnea")
    turn = session.respond("did sim-0002 have any hypopneas?")
    assert turn.steps[0].name == "query_cohort"
    assert re.search(rf"hypopneas: {count}\b", turn.answer)


_STAGE_OF_CONCEPT = {"0": "W", "1": "N1", "2": "N2", "3": "N3", "4": "N3", "5": "REM"}


def xml_count_in_stage(cohort_dir: Path, night: str, word: str, stage: str) -> int:
    """Events whose concept matches ``word`` that start in a 30-s epoch the annotation's own hypnogram scores
    ``stage``."""
    root = ET.parse(cohort_dir / f"{night}-nsrr.xml").getroot()
    epochs: dict[int, str] = {}
    for ev in root.iter("ScoredEvent"):
        if (ev.findtext("EventType") or "").startswith("Stages"):
            start, dur = float(ev.findtext("Start")), float(ev.findtext("Duration"))
            code = (ev.findtext("EventConcept") or "").rsplit("|", 1)[-1]
            for e in range(int(start // 30), round((start + dur) / 30)):
                epochs[e] = _STAGE_OF_CONCEPT.get(code, "?")
    return sum(bool(re.search(word, ev.findtext("EventConcept") or "", re.IGNORECASE))
               and epochs.get(int(float(ev.findtext("Start")) // 30)) == stage for ev in root.iter("ScoredEvent"))


REM_NIGHTS = ("sim-0001", "sim-0002", "sim-0003", "sim-0004")


def test_nights_that_had_hypopneas_in_rem_are_those_with_one_starting_in_a_rem_epoch(rem_session, rem_cohort) -> None:
    counts = {n: xml_count_in_stage(rem_cohort / "edf", n, "hypopnea", "REM") for n in REM_NIGHTS}
    assert 0 < sum(c >= 1 for c in counts.values()) < len(REM_NIGHTS)  # the condition splits the cohort
    turn = rem_session.respond("which nights had hypopneas in REM?")
    assert turn.steps[0].name == "query_cohort"
    assert listed(turn.answer) == {n for n, c in counts.items() if c >= 1}


def test_a_count_threshold_within_a_stage_counts_only_that_stage_s_events(rem_session, rem_cohort) -> None:
    counts = {n: xml_count_in_stage(rem_cohort / "edf", n, "obstructive apnea", "N2") for n in REM_NIGHTS}
    whole = {n: xml_count(rem_cohort / "edf", n, "obstructive apnea") for n in REM_NIGHTS}
    threshold = 1
    assert {n for n, c in counts.items() if c > threshold} != {n for n, c in whole.items() if c > threshold}
    turn = rem_session.respond(f"how many nights had more than {threshold} obstructive apneas during N2?")
    kept = {n for n, c in counts.items() if c > threshold}
    assert f"**{len(kept)} night(s)**" in turn.answer and listed(turn.answer) == kept


def test_nights_with_no_arousals_in_rem_are_those_without_one_starting_in_rem(rem_session, rem_cohort) -> None:
    counts = {n: xml_count_in_stage(rem_cohort / "edf", n, "arousal", "REM") for n in REM_NIGHTS}
    turn = rem_session.respond("list the nights with no arousals in REM")
    assert listed(turn.answer) == {n for n, c in counts.items() if c == 0}


def test_a_measure_of_nights_picked_by_events_in_a_stage_is_the_whole_night_s(rem_session, rem_cohort) -> None:
    with_rem_hypopneas = [n for n in REM_NIGHTS if xml_count_in_stage(rem_cohort / "edf", n, "hypopnea", "REM")]
    arousals = {n: xml_count(rem_cohort / "edf", n, "arousal") for n in with_rem_hypopneas}
    turn = rem_session.respond("what is the mean number of arousals in nights with hypopneas in REM?")
    assert f"over {len(arousals)} night(s)" in turn.answer
    for n, c in arousals.items():  # each night's whole-night count, not its REM count
        assert re.search(rf"\b{n} {c}\b", turn.answer)


def subjects(cohort_dir: Path) -> dict[str, dict[str, str]]:
    import csv

    with open(cohort_dir / "subjects.csv", newline="") as fh:
        return {row["recording"]: row for row in csv.DictReader(fh)}


def test_nights_that_did_not_have_an_event_in_a_stage_are_those_with_none_there(rem_session, rem_cohort) -> None:
    counts = {n: xml_count_in_stage(rem_cohort / "edf", n, "obstructive apnea", "N2") for n in REM_NIGHTS}
    turn = rem_session.respond("which nights did not have obstructive apneas during N2?")
    assert listed(turn.answer) == {n for n, c in counts.items() if c == 0}


def test_stage_r_and_stage_2_are_read_as_rem_and_n2(rem_session, rem_cohort) -> None:
    rem = {n for n in REM_NIGHTS if xml_count_in_stage(rem_cohort / "edf", n, "hypopnea", "REM")}
    n2 = {n for n in REM_NIGHTS if xml_count_in_stage(rem_cohort / "edf", n, "obstructive apnea", "N2") > 1}
    assert listed(rem_session.respond("which nights had hypopneas during stage R?").answer) == rem
    assert listed(rem_session.respond("which nights had more than 1 obstructive apnea in stage 2 sleep?").answer) == n2


def test_a_phenotype_condition_is_kept_beside_an_event_in_a_stage(rem_session, rem_cohort) -> None:
    osa = {n for n, row in subjects(rem_cohort / "edf").items() if row["phenotype"].startswith("osa")}
    with_rem_hypopneas = {n for n in REM_NIGHTS if xml_count_in_stage(rem_cohort / "edf", n, "hypopnea", "REM")}
    assert osa & with_rem_hypopneas != with_rem_hypopneas  # the phenotype changes the answer
    turn = rem_session.respond("which nights with an osa phenotype had hypopneas in REM?")
    assert listed(turn.answer) == osa & with_rem_hypopneas


def test_a_night_without_the_stage_is_left_out_of_a_condition_on_events_in_it(session) -> None:
    turn = session.respond("list the nights with no arousals in REM")  # the 30-min nights have no REM epoch
    assert "**Unknown for every night**" in turn.answer and "**No night**" not in turn.answer
    assert "is scored REM, so arousals in REM is undefined" in turn.answer and not listed(turn.answer)


def test_those_nights_in_a_follow_up_are_the_nights_listed_before(rem_session, rem_cohort) -> None:
    kept = sorted(n for n in REM_NIGHTS if xml_count_in_stage(rem_cohort / "edf", n, "hypopnea", "REM"))
    ages = [float(subjects(rem_cohort / "edf")[n]["age"]) for n in kept]
    rem_session.respond("which nights had hypopneas in REM?")
    turn = rem_session.respond("what is the mean age of those nights?")
    assert f"over {len(kept)} night(s)" in turn.answer and all(n in turn.answer for n in kept)
    assert re.search(rf"Mean age: {sum(ages) / len(ages):.1f}\b", turn.answer)


def test_the_first_one_after_a_list_of_nights_is_the_first_night_listed(rem_session) -> None:
    first = re.search(r"^\| (sim-\d{4}) \|", rem_session.respond("which nights had hypopneas in REM?").answer, re.MULTILINE)
    turn = rem_session.respond("show me the hypnogram of the first one")
    assert turn.steps[0].name == "describe_night" and turn.steps[0].args["recording"] == first.group(1)


def test_those_nights_with_no_list_before_is_declined_not_answered_for_the_cohort(rem_session) -> None:
    turn = rem_session.respond("what is the mean age of those nights?")
    assert not turn.steps and "which nights" in turn.answer and "Mean age" not in turn.answer


def test_nights_left_out_of_a_stage_condition_are_only_those_the_other_conditions_keep(session, sim_cohort_dir) -> None:
    women = {n for n, row in subjects(sim_cohort_dir).items() if row["sex"] == "F"}
    assert women and women != set(NIGHTS)
    turn = session.respond("which women had arousals in REM?")  # no night of this cohort reaches REM
    left_out = re.search(r"cannot be checked there: ([^(]+) \(", turn.answer)
    assert left_out and set(re.findall(r"sim-\d{4}", left_out.group(1))) == women


def test_which_healthy_nights_keeps_the_phenotype_and_the_stage(rem_session, rem_cohort) -> None:
    healthy = {n for n, row in subjects(rem_cohort / "edf").items() if row["phenotype"].startswith("healthy")}
    with_n2 = {n for n in REM_NIGHTS if xml_count_in_stage(rem_cohort / "edf", n, "arousal", "N2")}
    assert healthy and healthy != set(REM_NIGHTS)
    assert listed(rem_session.respond("which healthy nights had arousals in N2?").answer) == healthy & with_n2


def test_how_many_nights_had_events_in_deep_sleep_counts_those_with_one_in_n3(rem_session, rem_cohort) -> None:
    kept = {n for n in REM_NIGHTS if xml_count_in_stage(rem_cohort / "edf", n, "hypopnea", "N3")}
    turn = rem_session.respond("how many nights had hypopneas in deep sleep?")
    assert f"**{len(kept)} night(s)**" in turn.answer and listed(turn.answer) == kept


def test_exactly_n_events_in_a_stage_keeps_the_nights_with_that_count(rem_session, rem_cohort) -> None:
    counts = {n: xml_count_in_stage(rem_cohort / "edf", n, "arousal", "N3") for n in REM_NIGHTS}
    n = sorted(counts.values())[1]
    kept = {night for night, c in counts.items() if c == n}
    assert kept and len(kept) < len(REM_NIGHTS)
    assert listed(rem_session.respond(f"which nights had exactly {n} arousals in N3?").answer) == kept


def xml_sleep_minutes(cohort_dir: Path, night: str) -> float:
    root = ET.parse(cohort_dir / f"{night}-nsrr.xml").getroot()
    return sum(float(ev.findtext("Duration")) for ev in root.iter("ScoredEvent")
               if (ev.findtext("EventType") or "").startswith("Stages")
               and (ev.findtext("EventConcept") or "").rsplit("|", 1)[-1] in ("1", "2", "3", "4", "5")) / 60.0


def test_is_a_night_s_total_sleep_time_under_a_threshold_is_answered_yes_or_no(session, sim_cohort_dir) -> None:
    tst = xml_sleep_minutes(sim_cohort_dir, "sim-0002")
    yes = session.respond(f"is the total sleep time of sim-0002 under {tst + 1:.0f} minutes?").answer
    no = session.respond(f"is the total sleep time of sim-0002 under {tst - 1:.0f} minutes?").answer
    assert "**Yes**" in yes and "**No**" in no and f"{tst:.1f}" in yes


def xml_stage_minutes(cohort_dir: Path, night: str, code: str) -> float:
    root = ET.parse(cohort_dir / f"{night}-nsrr.xml").getroot()
    return sum(float(ev.findtext("Duration")) for ev in root.iter("ScoredEvent")
               if (ev.findtext("EventType") or "").startswith("Stages")
               and (ev.findtext("EventConcept") or "").rsplit("|", 1)[-1] == code) / 60.0


def test_nights_with_more_than_n_minutes_of_a_stage_are_those_the_hypnograms_give(rem_session, rem_cohort) -> None:
    minutes = {n: xml_stage_minutes(rem_cohort / "edf", n, "5") for n in REM_NIGHTS}
    threshold = sorted(minutes.values())[1]  # splits the cohort
    kept = {n for n, m in minutes.items() if m > threshold}
    assert kept and len(kept) < len(REM_NIGHTS)
    turn = rem_session.respond(f"which nights had more than {threshold:g} minutes of REM?")
    assert listed(turn.answer) == kept


def test_nights_with_no_rem_at_all_are_those_whose_hypnogram_has_no_rem_epoch(session, sim_cohort_dir) -> None:
    without = {n for n in NIGHTS if xml_stage_minutes(sim_cohort_dir, n, "5") == 0}
    with_n2 = {n for n in NIGHTS if xml_stage_minutes(sim_cohort_dir, n, "2") > 0}
    assert listed(session.respond("which nights had no REM at all?").answer) == without
    assert f"**{len(with_n2)} night(s)**" in session.respond("how many nights had N2?").answer


def test_their_in_a_follow_up_means_the_nights_listed_before(rem_session, rem_cohort) -> None:
    kept = sorted(n for n in REM_NIGHTS if xml_count_in_stage(rem_cohort / "edf", n, "hypopnea", "REM"))
    bmis = [float(subjects(rem_cohort / "edf")[n]["bmi"]) for n in kept]
    rem_session.respond("which nights had hypopneas in REM?")
    turn = rem_session.respond("what's their average BMI?")
    assert f"over {len(kept)} night(s)" in turn.answer
    assert re.search(rf"Mean bmi: {sum(bmis) / len(bmis):.1f}\b", turn.answer)


def test_how_many_of_them_counts_within_the_nights_listed_before(rem_session, rem_cohort) -> None:
    kept = {n for n in REM_NIGHTS if xml_count_in_stage(rem_cohort / "edf", n, "hypopnea", "REM")}
    men = {n for n in kept if subjects(rem_cohort / "edf")[n]["sex"] == "M"}
    rem_session.respond("which nights had hypopneas in REM?")
    turn = rem_session.respond("how many of them are men?")
    assert f"**{len(men)} night(s)**" in turn.answer and listed(turn.answer) == men
