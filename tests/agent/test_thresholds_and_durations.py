"""Cohort questions that earlier rounds declined, answered from the annotation files' own numbers: a threshold on the
REM AHI across nights, two groups cut at one age, events picked by how long they last, the SpO2 nadir within one
stage and "the worst oxygenation" (expected values come from the NSRR XML, the EDF and subjects.csv, never from the
workspace)."""

from __future__ import annotations

import csv
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pyedflib
import pytest

_STAGE = {"Wake|0": "W", "Stage 1 sleep|1": "N1", "Stage 2 sleep|2": "N2", "Stage 3 sleep|3": "N3",
          "Stage 4 sleep|4": "N3", "REM sleep|5": "REM"}
NIGHTS = ("sim-0001", "sim-0002", "sim-0003", "sim-0004")


def _events(edf_dir: Path, night: str) -> list[tuple[str, float, float]]:
    """(concept, start s, duration s) of every scored event of the night's NSRR XML."""
    root = ET.parse(edf_dir / f"{night}-nsrr.xml").getroot()
    return [(ev.findtext("EventConcept") or "", float(ev.findtext("Start")), float(ev.findtext("Duration")))
            for ev in root.iter("ScoredEvent")]


def _epoch_stages(edf_dir: Path, night: str) -> dict[int, str]:
    """30-s epoch index -> its scored stage, from the XML's stage events."""
    out = {}
    for concept, start, dur in _events(edf_dir, night):
        if concept in _STAGE:
            for i in range(int(round(start / 30)), int(round((start + dur) / 30))):
                out[i] = _STAGE[concept]
    return out


def _durations(edf_dir: Path, night: str, word: str) -> list[float]:
    return [d for c, _, d in _events(edf_dir, night) if re.search(word, c, re.I)]


def _rem_ahi(edf_dir: Path, night: str) -> float:
    """Apneas and hypopneas starting in a REM epoch per hour of REM, from the XML alone."""
    stages = _epoch_stages(edf_dir, night)
    n = sum(1 for c, s, _ in _events(edf_dir, night)
            if re.search(r"apnea|hypopnea", c, re.I) and stages.get(int(s // 30)) == "REM")
    rem_h = sum(st == "REM" for st in stages.values()) * 30 / 3600
    return n / rem_h


def _subjects(edf_dir: Path) -> dict[str, dict[str, str]]:
    with open(edf_dir / "subjects.csv") as f:
        return {r["recording"]: r for r in csv.DictReader(f)}


def test_a_threshold_on_the_rem_ahi_lists_the_nights_whose_rem_ahi_exceeds_it(rem_session, rem_cohort) -> None:
    rem = {n: _rem_ahi(rem_cohort / "edf", n) for n in NIGHTS}
    cut = round(float(np.median(list(rem.values()))), 1)  # about half the nights above, half not
    turn = rem_session.respond(f"How many nights have a REM AHI above {cut:g}?")
    expected = sorted(n for n, v in rem.items() if v > cut)
    assert turn.steps[0].args["filters"] == [{"field": "ahi_rem_per_h", "op": ">", "value": cut}]
    assert f"**{len(expected)} night(s)**" in turn.answer and ", ".join(expected) in turn.answer


def test_two_groups_cut_at_one_age_hold_the_subjects_on_each_side(rem_session, rem_cohort) -> None:
    ages = {n: float(r["age"]) for n, r in _subjects(rem_cohort / "edf").items()}
    cut = sorted(ages.values())[len(ages) // 2]
    turn = rem_session.respond(f"Compare the AHI between subjects over {cut:g} and under {cut:g}")
    below = ", ".join(sorted(n for n, a in ages.items() if a < cut))
    above = ", ".join(sorted(n for n, a in ages.items() if a >= cut))
    assert f"age < {cut:g}: {below}" in turn.answer and f"age ≥ {cut:g}: {above}" in turn.answer


def test_apneas_longer_than_a_duration_are_those_the_annotations_time_above_it(rem_session, rem_cohort) -> None:
    night = max(NIGHTS, key=lambda n: len(_durations(rem_cohort / "edf", n, r"\bapnea")))
    d = _durations(rem_cohort / "edf", night, r"\bapnea")
    cut = float(np.median(d))
    turn = rem_session.respond(f"How many apneas longer than {cut:g} seconds in {night}?")
    assert f"lasting more than {cut:g} s: {sum(x > cut for x in d)}**" in turn.answer


def test_at_least_a_duration_includes_events_of_exactly_that_duration(rem_session, rem_cohort) -> None:
    d = _durations(rem_cohort / "edf", "sim-0002", r"hypopnea")
    cut = float(np.median(d))
    turn = rem_session.respond(f"How many hypopneas lasting at least {cut:g} s did sim-0002 have?")
    assert f"lasting at least {cut:g} s: {sum(x >= cut for x in d)}**" in turn.answer


def test_events_shorter_than_a_duration_are_not_read_as_the_shortest_event(rem_session, rem_cohort) -> None:
    d = _durations(rem_cohort / "edf", "sim-0002", r"hypopnea")
    turn = rem_session.respond("How many hypopneas shorter than 15 seconds in sim-0002?")
    assert f"lasting less than 15 s: {sum(x < 15 for x in d)}**" in turn.answer


def _spo2_by_epoch(edf_dir: Path, night: str) -> np.ndarray:
    """Each 30-s epoch's lowest SpO2 (%) read from the EDF's SpO2 channel."""
    with pyedflib.EdfReader(str(edf_dir / f"{night}.edf")) as f:
        i = next(k for k, lab in enumerate(f.getSignalLabels()) if re.search(r"sa?p?o2", lab, re.I))
        x, fs = f.readSignal(i), f.getSampleFrequency(i)
    per = int(round(30 * fs))
    return x[: len(x) // per * per].reshape(-1, per).min(axis=1)


def test_the_spo2_nadir_within_a_stage_is_the_lowest_saturation_of_that_stage_s_epochs(rem_session, rem_cohort) -> None:
    edf = rem_cohort / "edf"
    stages = _epoch_stages(edf, "sim-0002")
    spo2 = _spo2_by_epoch(edf, "sim-0002")
    truth = min(v for i, v in enumerate(spo2) if stages.get(i) == "REM")
    turn = rem_session.respond("What was the lowest SpO2 during REM in sim-0002?")
    assert turn.steps[0].args["measures"][0] == {"kind": "metric", "name": "spo2_min_pct", "stage": "REM"}
    shown = float(re.search(r"SpO2 nadir in REM \(%\): ([\d.]+)", turn.answer).group(1))
    assert abs(shown - truth) <= 0.5


def test_the_worst_oxygenation_names_the_lowest_nadir_and_the_worst_night_on_each_other_measure(rem_session,
                                                                                              rem_cohort) -> None:
    edf = rem_cohort / "edf"
    odi = {}
    for n in NIGHTS:
        stages = _epoch_stages(edf, n)
        tst_h = sum(st != "W" for st in stages.values()) * 30 / 3600
        odi[n] = sum(1 for c, s, _ in _events(edf, n) if re.search("desaturation", c, re.I)
                     and stages.get(int(s // 30), "W") != "W") / tst_h
    turn = rem_session.respond("Which night has the worst oxygenation?")
    assert turn.steps[0].args["ask"] == "argmin" and "Oxygenation has no single measure" in turn.answer
    assert f"ODI (events/h): {max(odi, key=odi.get)}" in turn.answer


@pytest.mark.parametrize("question", ["How many apneas longer than 30 seconds in sim-0002 in the first half of the "
                                      "night?", "What was the lowest SpO2 during REM in sim-0002 after 2 am?"])
def test_a_duration_or_stage_value_within_part_of_a_night_is_declined_with_why(rem_session, question: str) -> None:
    turn = rem_session.respond(question)
    assert "I can't answer" in turn.answer and "not within part of a night" in turn.answer
