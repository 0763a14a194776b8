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
