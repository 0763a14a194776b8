"""Readings found by session 35's physician-style trial on a fresh whole-night cohort (seed 8282): a ranking by the
wrong measure, a misspelling fix that turned "fall asleep" into total sleep time, a per-stage table for one event's
stage, and a pooled apnea count for "mostly central or obstructive?"."""

from __future__ import annotations

from sleeplm.agent.intents import Context
from sleeplm.agent.planner import decide
from sleeplm.agent.vocab import CohortNames

NAMES = CohortNames(recordings=["sim-0001", "sim-0002", "sim-0003", "sim-0006"])


def _measures(question: str) -> list[tuple[str, str, str | None]]:
    d = decide(question, NAMES, Context())
    return [(m["kind"], m["name"], m["stage"]) for m in d.args["measures"]]


def test_the_highest_of_a_measure_with_the_subject_s_age_is_ranked_by_the_measure_not_the_age() -> None:
    d = decide("Which subject has the highest arousal index, and how old are they?", NAMES, Context())
    assert d.args["ask"] == "argmax" and d.args["measures"][0]["name"] == "arousal_index_per_h"
    assert decide("who is the oldest subject and what is their AHI?", NAMES, Context()).args["measures"][0]["name"] == "age"


def test_how_long_it_took_to_fall_asleep_is_the_sleep_latency() -> None:
    for q in ("How long did it take sim-0003 to fall asleep?", "how long did sim-0003 take to fall asleep"):
        assert decide(q, NAMES, Context()).args["metrics"] == ["sleep_latency_min"]


def test_the_stage_of_the_longest_event_is_not_read_as_the_events_by_stage() -> None:
    assert _measures("How long was the longest hypopnea in sim-0006 and in what stage did it happen?") == [
        ("longest_event_duration", "hypopnea", None)]


def test_mostly_central_or_obstructive_gets_each_apnea_kind_s_count() -> None:
    assert _measures("Is the apnea in sim-0006 mostly central or obstructive?") == [
        ("event_count", "obstructive_apnea", None), ("event_count", "central_apnea", None),
        ("event_count", "mixed_apnea", None)]
