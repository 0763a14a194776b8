"""A search for a sleep stage whose hits are mostly not scored that stage (the model reads a real night poorly)
says so, with how many epochs are scored that stage and how to list them; "epochs scored REM" lists them by the
scored stage. Expected counts come from the annotation XML, read here with ElementTree."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from sleeplm.agent import ChatSession, ToolConfig
from sleeplm.agent.cohort_tools import search_epochs
from sleeplm.agent.context import ToolContext
from sleeplm.agent.intents import Context, route
from sleeplm.agent.state import SessionState
from sleeplm.agent.vocab import CohortNames
from sleeplm.index.queries import Cohort

NIGHTS = ("sim-0001", "sim-0002", "sim-0003", "sim-0004")


def xml_epochs_scored(cohort_dir: Path, stage_code: str) -> int:
    n = 0
    for night in NIGHTS:
        for ev in ET.parse(cohort_dir / f"{night}-nsrr.xml").getroot().iter("ScoredEvent"):
            if (ev.findtext("EventType") or "").startswith("Stages") and \
                    (ev.findtext("EventConcept") or "").rsplit("|", 1)[-1] == stage_code:
                n += round(float(ev.findtext("Duration")) / 30)
    return n


@pytest.fixture()
def rem_open(rem_cohort: Path):
    c = Cohort(rem_cohort / "ws")
    yield c
    c.close()


def _wake_hits(cohort: Cohort, monkeypatch: pytest.MonkeyPatch) -> None:
    """The model's text search stands in for one that reads every night poorly: it returns wake epochs."""
    search = cohort.search_text

    def only_wake(text, k=10, filters=None, **kw):
        hits = search(text, k=500, filters=filters, **kw)
        return [h for h in hits if h.stage == "W"][:k]

    monkeypatch.setattr(cohort, "search_text", only_wake)


def test_a_stage_search_whose_hits_miss_the_stage_says_so_with_the_scored_count(rem_open, rem_cohort, tmp_path,
                                                                                 monkeypatch) -> None:
    _wake_hits(rem_open, monkeypatch)
    r = search_epochs(ToolContext(rem_open, SessionState(), ToolConfig(figure_dir=tmp_path)), "REM sleep", k=5)
    assert [h["stage"] for h in r["hits"]] == ["W"] * 5
    assert r["stage_missed"] == {"stages": ["REM"], "n_scored": xml_epochs_scored(rem_cohort / "edf", "5")}


def test_the_answer_to_a_missed_stage_search_names_the_miss_and_how_to_list_the_scored_epochs(rem_open, tmp_path,
                                                                                               monkeypatch) -> None:
    monkeypatch.delenv("SLEEPLM_LLM", raising=False)
    _wake_hits(rem_open, monkeypatch)
    turn = ChatSession(rem_open, config=ToolConfig(figure_dir=tmp_path)).respond("find epochs like REM sleep")
    assert "The model's text search misses REM here" in turn.answer
    assert "*find epochs scored REM*" in turn.answer


def test_a_stage_search_whose_hits_are_that_stage_adds_no_miss_line(rem_open, tmp_path, monkeypatch) -> None:
    search = rem_open.search_text
    monkeypatch.setattr(rem_open, "search_text", lambda text, k=10, filters=None, **kw: [
        h for h in search(text, k=500, filters=filters, **kw) if h.stage == "REM"][:k])
    r = search_epochs(ToolContext(rem_open, SessionState(), ToolConfig(figure_dir=tmp_path)), "REM sleep", k=5)
    assert r["stage_missed"] is None


def test_epochs_scored_as_a_stage_are_searched_with_that_stage_as_a_filter() -> None:
    plan = route("find epochs scored REM", CohortNames(recordings=list(NIGHTS)), Context())
    assert plan.tool == "search_epochs" and plan.args["stages"] == ["REM"] and plan.args["description"] == "REM"
    plan = route("find epochs like REM sleep", CohortNames(recordings=list(NIGHTS)), Context())
    assert "stages" not in plan.args  # the model's own search, checked against the scored stages
