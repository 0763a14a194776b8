"""How long a night's scored events last: the mean and the longest, per night and across nights, read from the
events the annotation file lists (expected values come from the XML, not from the workspace)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from sleeplm.agent import ChatSession, ToolConfig
from sleeplm.index.queries import Cohort


@pytest.fixture()
def session(cohort: Cohort, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ChatSession:
    monkeypatch.delenv("SLEEPLM_LLM", raising=False)
    return ChatSession(cohort, config=ToolConfig(figure_dir=tmp_path, caption_max_len=4))


def xml_durations(cohort_dir: Path, night: str, word: str) -> list[float]:
    """Durations (s) of the scored events whose concept names ``word`` in the night's NSRR XML."""
    root = ET.parse(cohort_dir / f"{night}-nsrr.xml").getroot()
    return [float(ev.findtext("Duration")) for ev in root.iter("ScoredEvent")
            if re.search(word, ev.findtext("EventConcept") or "", re.I)]


def test_the_longest_hypopnea_of_a_night_is_the_longest_in_its_annotations(session, sim_cohort_dir) -> None:
    longest = max(xml_durations(sim_cohort_dir, "sim-0002", "hypopnea"))
    turn = session.respond("what is the longest hypopnea in sim-0002?")
    assert turn.steps[0].name == "query_cohort"
    assert "longest hypopnea (s)" in turn.answer and f"{longest:g}" in turn.answer


def test_the_mean_hypopnea_duration_of_a_night_is_the_mean_of_its_annotated_hypopneas(session, sim_cohort_dir) -> None:
    d = xml_durations(sim_cohort_dir, "sim-0002", "hypopnea")
    turn = session.respond("how long are the hypopneas in sim-0002?")
    assert "mean hypopnea duration (s)" in turn.answer and f"{sum(d) / len(d):.1f}" in turn.answer


def test_apnea_duration_is_not_read_as_apnea_desaturation(session) -> None:
    turn = session.respond("what is the mean apnea duration of sim-0002?")
    assert "mean apnea (obstructive, central or mixed) duration (s)" in turn.answer
    assert "desaturation" not in turn.answer.lower()


def test_which_night_has_the_longest_hypopnea_names_the_night_the_annotations_name(session, sim_cohort_dir) -> None:
    longest = {n: max(xml_durations(sim_cohort_dir, n, "hypopnea") or [0]) for n in ("sim-0001", "sim-0002", "sim-0003")}
    turn = session.respond("which night has the longest hypopnea?")
    assert f"**{max(longest, key=longest.get)}**" in turn.answer


def test_a_night_without_such_events_has_no_duration_not_zero(session, sim_cohort_dir) -> None:
    nights = [n for n in ("sim-0001", "sim-0002", "sim-0003") if not xml_durations(sim_cohort_dir, n, "central apnea")]
    if not nights:
        pytest.skip("every night of the shared cohort has a central apnea")
    turn = session.respond(f"what is the longest central apnea in {nights[0]}?")
    assert "no duration to give" in turn.answer and "| 0 |" not in turn.answer


@pytest.mark.parametrize("question, reason", [
    ("how many apneas lasting more than 30 s are in sim-0002 in the first half of the night?",
     "picked by duration over whole nights"),
    ("what is the shortest apnea in sim-0002?", "the shortest event of a night is not something I give"),
    ("what is the longest apnea in the first half of the night in sim-0002?", "given for whole nights"),
    ("what was the minimum hypopnea duration in sim-0002?", "the shortest duration of a night's events"),
    ("what is the median apnea duration in sim-0002?", "the median duration of a night's events"),
    ("total time spent in apnea in sim-0002?", "the total duration of a night's events"),
])
def test_duration_questions_it_cannot_answer_are_declined_saying_why(session, question, reason) -> None:
    turn = session.respond(question)
    assert reason in turn.answer


def test_when_the_longest_hypopnea_occurred_is_its_epoch_in_the_annotations(session, sim_cohort_dir) -> None:
    root = ET.parse(sim_cohort_dir / "sim-0002-nsrr.xml").getroot()
    hyp = [(float(ev.findtext("Duration")), float(ev.findtext("Start"))) for ev in root.iter("ScoredEvent")
           if re.search("hypopnea", ev.findtext("EventConcept") or "", re.I)]
    duration, start = max(hyp, key=lambda x: (x[0], -x[1]))
    turn = session.respond("When did the longest hypopnea in sim-0002 occur?")
    assert turn.steps[0].name == "query_cohort"
    assert f"longest hypopnea (s): {duration:.1f}**" in turn.answer
    assert re.search(rf"\(at \d\d:\d\d:\d\d, epoch {int(start // 30)}, in ", turn.answer)
