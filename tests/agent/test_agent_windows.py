"""Time-of-night windows: how a question's window is read, and how it is placed on a night's epochs.

Placement is checked on small hand-made nights (no workspace): the expected epochs follow from the night's
start time and epoch grid written in each test.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from sleeplm.agent.intents import Context
from sleeplm.agent.planner import plan
from sleeplm.agent.query import Decline, Measure, Query, Window
from sleeplm.agent.vocab import CohortNames
from sleeplm.agent.windows import find_window, place

NAMES = CohortNames(recordings=["sim-0001", "sim-0002"], subjects={"S0001": ["sim-0001"]},
                    phenotypes=["osa_severe"], sites=["shhs"])


@pytest.mark.parametrize("text, window", [
    ("ahi in the first half of the night", Window("half", which="first")),
    ("arousal index during the latter half", Window("half", which="second")),
    ("heart rate in the last 2 hours", Window("last_hours", hours=2.0)),
    ("tst in the first 90 minutes", Window("first_hours", hours=1.5)),
    ("ahi in the first two hours after sleep onset", Window("after_sleep_onset", hours=2.0)),
    ("ahi in the first hour of sleep", Window("after_sleep_onset", hours=1.0)),
    ("how many apneas after 3 am", Window("clock", start_clock="03:00")),
    ("arousals between 01:00 and 03:00", Window("clock", start_clock="01:00", end_clock="03:00")),
    ("arousals between 1 and 3 am", Window("clock", start_clock="01:00", end_clock="03:00")),
    ("hypopneas from 11 pm to 1 am", Window("clock", start_clock="23:00", end_clock="01:00")),
    ("hypopneas before midnight", Window("clock", end_clock="00:00")),
    ("sleep efficiency excluding the first 30 minutes", Window("after_first_hours", hours=0.5)),
    ("ahi after the first hour", Window("after_first_hours", hours=1.0)),
    ("arousals before the last 2 hours", Window("before_last_hours", hours=2.0)),
    ("ahi without the last hour", Window("before_last_hours", hours=1.0)),
])
def test_time_of_night_phrases_become_windows(text: str, window: Window) -> None:
    assert find_window(text) == window


@pytest.mark.parametrize("text", ["nights with an ahi between 5 and 15", "top 2 nights by ahi",
                                  "show epoch 10 of sim-0001", "what is the ahi of sim-0001?"])
def test_numbers_that_are_not_times_make_no_window(text: str) -> None:
    assert find_window(text) is None


def test_two_halves_at_once_are_declined_not_merged() -> None:
    assert isinstance(find_window("is the ahi higher in the second half than in the first half?"), Decline)


def test_windowed_count_of_apneas_counts_every_kind_of_apnea_in_the_named_night() -> None:
    q = plan("how many apneas after 3 am in sim-0002", NAMES, Context())
    assert q == Query("value", [Measure("event_count", "apnea")], nights=["sim-0002"],
                      window=Window("clock", start_clock="03:00"))


def test_heart_rate_without_a_stage_is_every_epoch_of_the_window() -> None:
    q = plan("what is the heart rate in the last 2 hours of sim-0001?", NAMES, Context())
    assert isinstance(q, Query) and q.measures == [Measure("metric", "hr_bpm")] and q.window.kind == "last_hours"


def test_a_window_on_a_question_that_cannot_take_one_is_declined() -> None:
    assert isinstance(plan("describe sim-0001 in the first half of the night", NAMES, Context()), Decline)
    assert isinstance(plan("how many nights have an AHI above 15 in the first half?", NAMES, Context()), Decline)


def test_window_survives_the_llm_tool_arguments() -> None:
    q = Query("aggregate", [Measure("metric", "ahi_per_h")], window=Window("half", which="second"))
    assert Query.from_args(q.to_args()) == q


def _night(start: datetime | None, n: int, stages: list[str] | None = None) -> pd.DataFrame:
    return pd.DataFrame({"epoch_index": np.arange(n), "onset_s": 30.0 * np.arange(n),
                         "clock_time": [start + timedelta(seconds=30 * k) if start else None for k in range(n)],
                         "stage": stages or ["N2"] * n})


def test_three_am_is_the_next_morning_of_a_night_that_starts_in_the_evening() -> None:
    night = _night(datetime(2024, 1, 2, 22, 0), 6 * 120)  # 22:00 to 04:00
    sp = place(Window("clock", start_clock="03:00"), "r", night)
    assert np.flatnonzero(sp.mask).tolist() == list(range(5 * 120, 6 * 120)) and sp.note == ""


def test_a_clock_window_past_the_end_of_the_recording_is_not_placed_and_says_why() -> None:
    sp = place(Window("clock", start_clock="03:00"), "r", _night(datetime(2024, 1, 2, 22, 0), 2 * 120))
    assert sp.mask is None and "runs from 22:00 to 00:00" in sp.why and "falls outside" in sp.why


def test_a_clock_window_that_runs_past_the_end_is_clipped_and_says_so() -> None:
    sp = place(Window("clock", start_clock="23:00", end_clock="01:00"), "r",
               _night(datetime(2024, 1, 2, 22, 0), 2 * 120))
    assert np.flatnonzero(sp.mask).tolist() == list(range(120, 240)) and "ends at 00:00" in sp.note


def test_a_night_without_start_time_has_no_clock_window() -> None:
    sp = place(Window("clock", end_clock="01:00"), "r", _night(None, 100))
    assert sp.mask is None and "no start time" in sp.why


def test_halves_split_an_odd_night_with_the_middle_epoch_in_the_first_half() -> None:
    night = _night(datetime(2024, 1, 2, 22, 0), 7)
    assert place(Window("half", which="first"), "r", night).mask.tolist() == [True] * 4 + [False] * 3


def test_hours_after_sleep_onset_start_at_the_first_sleep_epoch() -> None:
    night = _night(datetime(2024, 1, 2, 22, 0), 400, ["W"] * 100 + ["N2"] * 300)
    sp = place(Window("after_sleep_onset", hours=1.0), "r", night)
    assert np.flatnonzero(sp.mask).tolist() == list(range(100, 220))


def test_leaving_out_the_first_minutes_keeps_the_rest_of_the_night_not_those_minutes() -> None:
    night = _night(datetime(2024, 1, 2, 22, 0), 240)
    sp = place(Window("after_first_hours", hours=0.5), "r", night)
    assert np.flatnonzero(sp.mask).tolist() == list(range(60, 240))
    sp = place(Window("before_last_hours", hours=1.0), "r", night)
    assert np.flatnonzero(sp.mask).tolist() == list(range(0, 120))


def test_leaving_out_more_than_the_recording_leaves_no_value_and_says_why() -> None:
    sp = place(Window("after_first_hours", hours=3.0), "r", _night(datetime(2024, 1, 2, 22, 0), 240))
    assert sp.mask is None and "nothing is left" in sp.why


def test_leaving_out_hours_counted_from_sleep_onset_is_declined() -> None:
    assert isinstance(find_window("ahi excluding the first hour after sleep onset"), Decline)
