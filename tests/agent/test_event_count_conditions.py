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
    return sum(bool(re.search(word, ev.findtext("EventConcept") or "", re.I)) for ev in root.iter("ScoredEvent"))


def listed(answer: str) -> set[str]:
    return set(re.findall(r"^\| (sim-\d{4}) \|", answer, re.M))


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
        assert re.search(rf"^\| {n} \|.*\| {c} \|", turn.answer, re.M)


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
    assert not turn.steps or "event_count:central_apnea" not in str(turn.steps[0].args)


def test_did_a_night_have_hypopneas_is_answered_with_its_count(session, sim_cohort_dir) -> None:
    count = xml_count(sim_cohort_dir, "sim-0002", "hypopnea")
    turn = session.respond("did sim-0002 have any hypopneas?")
    assert turn.steps[0].name == "query_cohort"
    assert re.search(rf"hypopneas: {count}\b", turn.answer)
