"""'Is that normal?': one night's measures against the adult reference where an accepted one exists, and a plain
statement where none does (never a verdict invented for a measure without one)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from sleeplm.agent import ChatSession, ToolConfig
from sleeplm.agent.clinical import reference_reading
from sleeplm.agent.intents import Context
from sleeplm.agent.planner import decide
from sleeplm.agent.vocab import CohortNames

NAMES = CohortNames(recordings=["sim-0001", "sim-0002", "sim-0003"])


@pytest.fixture
def session(cohort, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ChatSession:
    monkeypatch.delenv("SLEEPLM_LLM", raising=False)
    return ChatSession(cohort, config=ToolConfig(figure_dir=tmp_path, caption_max_len=4))


def test_an_ahi_is_graded_by_the_aasm_adult_ranges() -> None:
    for ahi, grade in ((1.3, "normal"), (5.0, "mild"), (14.9, "mild"), (15.0, "moderate"), (30.0, "severe")):
        assert reference_reading("ahi_per_h", ahi, tst_min=400.0).endswith(f"is {grade}.")


def test_an_ahi_that_is_a_lower_bound_is_never_called_normal() -> None:
    text = reference_reading("ahi_per_h", 2.0, lower_bound=True, tst_min=400.0)
    assert "lower bound" in text and "is normal" not in text and "could be higher" in text
    assert "at least mild" in reference_reading("ahi_per_h", 7.0, lower_bound=True, tst_min=400.0)


def test_sleep_efficiency_is_judged_against_85_percent() -> None:
    assert "is below the 85 %" in reference_reading("sleep_efficiency_pct", 84.9)
    assert "is at or above the 85 %" in reference_reading("sleep_efficiency_pct", 85.0)


def test_latency_and_waso_are_judged_against_30_minutes() -> None:
    assert "is over the 30 min" in reference_reading("sleep_latency_min", 31.0)
    assert "is at or under the 30 min" in reference_reading("waso_min", 30.0)
    assert "to the end of the recording" in reference_reading("waso_min", 30.0)


def test_a_rem_latency_of_15_minutes_or_less_is_a_sleep_onset_rem_period() -> None:
    assert "is a sleep-onset REM period" in reference_reading("rem_latency_min", 12.0)
    assert "is not a sleep-onset REM period" in reference_reading("rem_latency_min", 90.0)


def test_a_measure_without_an_accepted_range_gets_no_verdict() -> None:
    text = reference_reading("odi_per_h", 49.6, recording="sim-0004")
    assert text.startswith("There is no accepted normal range for ODI") and "sim-0004" in text
    assert "normal." not in text and "abnormal" not in text


def test_a_child_is_not_judged_by_adult_ranges() -> None:
    assert "I do not judge it" in reference_reading("ahi_per_h", 3.0, age=9, tst_min=400.0)


def test_a_missing_value_is_not_judged() -> None:
    assert "not available" in reference_reading("sleep_efficiency_pct", math.nan)


def test_is_that_normal_after_a_night_s_value_judges_that_value() -> None:
    ctx = Context(recording="sim-0002", last_tool="describe_night",
                  last_args={"recording": "sim-0002", "metrics": ["ahi_per_h"]})
    d = decide("is that normal?", NAMES, ctx)
    assert d.tool == "describe_night" and d.args == {"recording": "sim-0002", "metrics": ["ahi_per_h"], "plot": False,
                                                     "reference": True}


def test_is_that_normal_after_the_lowest_of_the_cohort_judges_that_night() -> None:
    ctx = Context(recording="sim-0003", last_tool="query_cohort",
                  last_args={"ask": "argmin", "measures": [{"kind": "metric", "name": "sleep_efficiency_pct"}]})
    d = decide("is that normal?", NAMES, ctx)
    assert d.args["recording"] == "sim-0003" and d.args["metrics"] == ["sleep_efficiency_pct"] and d.args["reference"]


def test_is_that_normal_after_a_count_of_nights_is_declined() -> None:
    ctx = Context(last_tool="cohort_stats", last_args={"question": "count_nights"})
    d = decide("is that normal?", NAMES, ctx)
    assert d.tool is None and "not one night's measure" in d.text


def test_asking_whether_a_named_night_s_value_is_normal_asks_for_the_reference() -> None:
    d = decide("Is the sleep efficiency of sim-0003 normal?", NAMES, Context())
    assert d.tool == "describe_night" and d.args["metrics"] == ["sleep_efficiency_pct"] and d.args["reference"]


def test_is_that_normal_judges_the_night_s_own_sleep_efficiency(session, cohort) -> None:
    from sleeplm.encoder.io.psg import load_psg

    path = cohort.con.execute("SELECT path FROM recordings WHERE name = 'sim-0002'").fetchone()[0]
    stages = load_psg(path).annotations.stages  # the night's own hypnogram
    efficiency = 100.0 * sum(s in ("N1", "N2", "N3", "REM") for s in stages) / len(stages)
    session.respond("what is the sleep efficiency of sim-0002?")
    turn = session.respond("is that normal?")
    side = "at or above" if efficiency >= 85 else "below"
    assert f"A sleep efficiency of {efficiency:.1f} % is {side} the 85 %" in turn.answer, turn.answer
    assert "physician's judgement" in turn.answer


def test_waso_says_it_runs_to_the_end_of_the_recording(session, cohort) -> None:
    from sleeplm.encoder.io.psg import load_psg

    path = cohort.con.execute("SELECT path FROM recordings WHERE name = 'sim-0002'").fetchone()[0]
    stages = load_psg(path).annotations.stages
    onset = next(i for i, s in enumerate(stages) if s in ("N1", "N2", "N3", "REM"))
    waso_min = sum(s == "W" for s in stages[onset:]) * 0.5  # every wake epoch after sleep onset, to the end
    turn = session.respond("what is the WASO of sim-0002?")
    assert f"**WASO (min): {waso_min:.1f}**" in turn.answer, turn.answer
    assert "to the end of the recording" in turn.answer


def test_a_positional_ahi_needs_the_supine_ahi_at_least_twice_the_non_supine() -> None:
    from sleeplm.agent.clinical import positional_reading

    assert "**No**" in positional_reading(40.8, 20.8) and "1.96 ×" in positional_reading(40.8, 20.8)
    assert "**Yes**" in positional_reading(41.6, 20.8)
    assert "**Yes**" in positional_reading(3.0, 0.0) and positional_reading(None, 2.0) is None


def test_is_that_severe_after_a_rem_ahi_grades_the_whole_night_ahi_with_rem_against_nrem() -> None:
    ctx = Context(recording="sim-0002", last_tool="query_cohort", last_args={
        "ask": "value", "measures": [{"kind": "stage_index", "name": "ahi_per_h", "stage": "REM"}],
        "nights": ["sim-0002"]})
    d = decide("is that severe?", NAMES, ctx)
    assert d.args["metrics"] == ["ahi_per_h", "ahi_rem_per_h", "ahi_nrem_per_h"] and d.args["reference"]


def test_a_direct_question_whether_a_value_is_low_or_prolonged_asks_for_the_reference() -> None:
    for q, col in (("Is the N3 percentage of sim-0003 low?", "n3_pct"),
                   ("Does sim-0003 have prolonged sleep onset latency consistent with insomnia?", "sleep_latency_min"),
                   ("Is the OSA in sim-0002 severe?", "ahi_per_h")):
        d = decide(q, NAMES, Context())
        assert d.tool == "describe_night" and d.args["metrics"] == [col] and d.args.get("reference"), (q, d)


def test_is_the_ahi_positional_gives_the_supine_and_non_supine_ahi() -> None:
    d = decide("Is sim-0002's AHI positional?", NAMES, Context())
    assert d.args["metrics"] == ["supine_ahi_per_h", "non_supine_ahi_per_h"]


def test_waking_up_for_good_is_the_epoch_after_the_last_one_scored_sleep(session, cohort) -> None:
    from sleeplm.encoder.io.psg import load_psg

    path = cohort.con.execute("SELECT path FROM recordings WHERE name = 'sim-0002'").fetchone()[0]
    stages = load_psg(path).annotations.stages  # the night's own hypnogram
    last = max(i for i, s in enumerate(stages) if s in ("N1", "N2", "N3", "REM"))
    turn = session.respond("What time did sim-0002 wake up for good?")
    assert f"The last epoch scored sleep is epoch {last} (" in turn.answer, turn.answer
    if last + 1 < len(stages):
        assert f"the final awakening begins with epoch {last + 1} (" in turn.answer
    else:
        assert "the recording ends in sleep" in turn.answer
