"""The apnea index (AASM AI: obstructive, central and mixed apneas per hour of sleep) is answered, not declined.
Expected values come from the annotation XML (apneas starting in an epoch its own hypnogram scores as sleep, over
the minutes of sleep it scores), read here with ElementTree."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

NIGHTS = ("sim-0001", "sim-0002", "sim-0003", "sim-0004")
_SLEEP_CODES = {"1", "2", "3", "4", "5"}
_APNEA = re.compile(r"^(obstructive|central|mixed) apnea", re.IGNORECASE)


def xml_apnea_index(cohort_dir: Path, night: str, stage_codes: set[str] = _SLEEP_CODES) -> float:
    root = ET.parse(cohort_dir / f"{night}-nsrr.xml").getroot()
    epochs: dict[int, str] = {}
    for ev in root.iter("ScoredEvent"):
        if (ev.findtext("EventType") or "").startswith("Stages"):
            start, dur = float(ev.findtext("Start")), float(ev.findtext("Duration"))
            for e in range(int(start // 30), round((start + dur) / 30)):
                epochs[e] = (ev.findtext("EventConcept") or "").rsplit("|", 1)[-1]
    n = sum(bool(_APNEA.search(ev.findtext("EventConcept") or ""))
            and epochs.get(int(float(ev.findtext("Start")) // 30)) in stage_codes for ev in root.iter("ScoredEvent"))
    hours = sum(code in stage_codes for code in epochs.values()) * 30 / 3600
    return n / hours


def _number(answer: str) -> float:
    return float(re.search(r"\*\*[^*]*?(\d+\.\d)\*\*", answer).group(1))


def test_the_apnea_index_of_a_night_is_its_apneas_per_hour_of_sleep(rem_session, rem_cohort) -> None:
    truth = {n: xml_apnea_index(rem_cohort / "edf", n) for n in NIGHTS}
    night = max(truth, key=truth.get)
    turn = rem_session.respond(f"what is the apnea index of {night}?")
    assert "can't answer" not in turn.answer
    assert _number(turn.answer) == pytest.approx(truth[night], abs=0.051)


def test_the_night_with_the_highest_apnea_index_is_the_one_the_annotations_give(rem_session, rem_cohort) -> None:
    truth = {n: xml_apnea_index(rem_cohort / "edf", n) for n in NIGHTS}
    turn = rem_session.respond("which night has the highest apnea index?")
    best = max(truth, key=truth.get)
    assert re.search(rf"\*\*{best}\*\*", turn.answer)
    assert _number(turn.answer) == pytest.approx(truth[best], abs=0.051)


def test_the_apnea_index_in_rem_counts_apneas_starting_in_rem_per_hour_of_rem(rem_session, rem_cohort) -> None:
    truth = {n: xml_apnea_index(rem_cohort / "edf", n, {"5"}) for n in NIGHTS}
    night = max(truth, key=truth.get)
    turn = rem_session.respond(f"what is the apnea index in REM of {night}?")
    assert _number(turn.answer) == pytest.approx(truth[night], abs=0.051)


def test_the_obstructive_apnea_index_is_not_read_as_the_apnea_index(rem_session) -> None:
    turn = rem_session.respond("what is the obstructive apnea index of sim-0001?")
    assert "obstructive + mixed apnea index" in turn.answer
    assert "obstructive + central + mixed" not in turn.answer
