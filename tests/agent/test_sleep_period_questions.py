"""Awakenings, stage shifts, T90, NREM AHI and REM-related OSA asked in words: the expected answers are read here
from each night's NSRR XML (stages and events) and its EDF SpO2 channel, not from the workspace."""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pyedflib
import pytest
from sleeplm.agent import ChatSession, ToolConfig
from sleeplm.index.queries import Cohort

_STAGE_OF = {"0": "W", "1": "N1", "2": "N2", "3": "N3", "4": "N3", "5": "REM"}
_RESP = re.compile(r"apnea|hypopnea", re.IGNORECASE)


@pytest.fixture(scope="module")
def rem_ws(rem_cohort: Path):
    c = Cohort(rem_cohort / "ws")
    yield c
    c.close()


@pytest.fixture()
def session(rem_ws: Cohort, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ChatSession:
    monkeypatch.delenv("SLEEPLM_LLM", raising=False)
    return ChatSession(rem_ws, config=ToolConfig(figure_dir=tmp_path, caption_max_len=4))


def xml_night(edf_dir: Path, night: str) -> tuple[list[str], list[tuple[str, float]]]:
    """(stage per 30-s epoch, [(event concept, onset s)]) from the night's NSRR XML."""
    stages: dict[int, str] = {}
    events = []
    for ev in ET.parse(edf_dir / f"{night}-nsrr.xml").getroot().iter("ScoredEvent"):
        concept, start = ev.findtext("EventConcept") or "", float(ev.findtext("Start") or 0)
        if (ev.findtext("EventType") or "").startswith("Stages"):
            for k in range(int(round(float(ev.findtext("Duration") or 30) / 30))):
                stages[int(round(start / 30)) + k] = _STAGE_OF[concept.split("|")[1]]
        else:
            events.append((concept, start))
    return [stages[k] for k in range(max(stages) + 1)], events


def sleep_period(stages: list[str]) -> list[str]:
    idx = [i for i, s in enumerate(stages) if s != "W"]
    return stages[idx[0]: idx[-1] + 1]


def nights(edf_dir: Path) -> list[str]:
    return sorted(p.name[: -len("-nsrr.xml")] for p in edf_dir.glob("*-nsrr.xml"))


def bold_number(answer: str, label: str) -> float:
    m = re.search(rf"\*\*{re.escape(label)}[^*]*: ([\d.]+)\*\*", answer)
    assert m, answer
    return float(m.group(1))


def test_awakenings_are_the_wake_bouts_the_hypnogram_shows_after_sleep_onset(session, rem_cohort) -> None:
    edf = rem_cohort / "edf"
    night = nights(edf)[0]
    period = sleep_period(xml_night(edf, night)[0])
    expected = sum(1 for a, b in zip(period, period[1:]) if b == "W" and a != "W")
    turn = session.respond(f"how many times did {night} wake up?")
    assert bold_number(turn.answer, "awakenings") == expected


def test_stage_shifts_are_the_changes_of_stage_in_the_sleep_period(session, rem_cohort) -> None:
    edf = rem_cohort / "edf"
    night = nights(edf)[1]
    period = sleep_period(xml_night(edf, night)[0])
    expected = sum(1 for a, b in zip(period, period[1:]) if a != b)
    turn = session.respond(f"how many stage shifts did {night} have?")
    assert bold_number(turn.answer, "stage shifts") == expected


def test_nrem_ahi_counts_events_in_nrem_per_hour_of_nrem(session, rem_cohort) -> None:
    edf = rem_cohort / "edf"
    night = nights(edf)[0]
    stages, events = xml_night(edf, night)
    nrem = [s in ("N1", "N2", "N3") for s in stages]
    n = sum(1 for concept, t in events if _RESP.search(concept) and int(t // 30) < len(nrem) and nrem[int(t // 30)])
    turn = session.respond(f"what is {night}'s NREM AHI?")
    assert bold_number(turn.answer, "NREM AHI") == pytest.approx(n / (sum(nrem) / 120), abs=0.05)


def test_t90_is_the_sleep_time_the_edf_spo2_spends_below_90(session, rem_cohort) -> None:
    edf = rem_cohort / "edf"
    expected = {}
    for night in nights(edf):
        stages, _ = xml_night(edf, night)
        with pyedflib.EdfReader(str(edf / f"{night}.edf")) as f:
            k = [i for i, lab in enumerate(f.getSignalLabels()) if "spo2" in lab.lower() or "sao2" in lab.lower()][0]
            x, fs = f.readSignal(k), f.getSampleFrequency(k)
        per = int(round(30 * fs))
        below = [np.mean(x[i * per:(i + 1) * per] < 90) * 30 for i, s in enumerate(stages) if s != "W"]
        expected[night] = sum(below) / 60
    worst = max(expected, key=expected.get)
    turn = session.respond(f"time below 90% saturation for {worst}")
    assert bold_number(turn.answer, "T90") == pytest.approx(expected[worst], abs=0.15)
    assert expected[worst] > 0  # the test would prove little on a night that never dips below 90


def test_desaturating_below_a_level_is_answered_from_the_spo2_nadir(session, rem_ws) -> None:
    night = rem_ws.recordings()[0]
    nadir = rem_ws.night_metrics_of(rem_ws.recording_id(night))[0]["spo2_min_pct"]
    level = int(nadir) + 1  # just above the nadir: yes
    turn = session.respond(f"did {night} desaturate below {level}%?")
    assert "**Yes**" in turn.answer and "SpO2 nadir" in turn.answer


def test_rem_related_osa_gives_rem_and_nrem_ahi_and_the_rule(session, rem_cohort) -> None:
    night = nights(rem_cohort / "edf")[0]
    turn = session.respond(f"does {night} have REM-related OSA?")
    assert turn.steps[0].name == "describe_night"
    assert "REM AHI" in turn.answer and "NREM AHI" in turn.answer
    assert re.search(r"REM-related|no REM sleep|below 5", turn.answer)


def _table_rows(answer: str) -> dict[str, list[str]]:
    return {cells[0]: cells[1:] for line in answer.splitlines() if line.startswith("| sim")
            for cells in [[c.strip() for c in line.strip("|").split("|")]]}


def test_rem_related_osa_for_the_whole_cohort_applies_the_rule_to_every_night(session, rem_cohort) -> None:
    edf = rem_cohort / "edf"
    turn = session.respond("which nights have REM-related OSA?")
    assert [s.name for s in turn.steps] == ["rem_related_nights"]
    rows = _table_rows(turn.answer)
    assert sorted(rows) == nights(edf)
    for night in nights(edf):
        stages, events = xml_night(edf, night)
        in_stage = [stages[int(t // 30)] for concept, t in events if _RESP.search(concept) and int(t // 30) < len(stages)]
        rem_h, nrem_h = stages.count("REM") / 120, sum(s in ("N1", "N2", "N3") for s in stages) / 120
        rem_ahi = in_stage.count("REM") / rem_h if rem_h else None
        nrem_ahi = sum(s in ("N1", "N2", "N3") for s in in_stage) / nrem_h
        ahi = sum(s != "W" for s in in_stage) / (rem_h + nrem_h)
        ahi_cell, rem_cell, nrem_cell, rem_min, _, usual, _, _ = rows[night]
        assert float(nrem_cell) == pytest.approx(nrem_ahi, abs=0.05) and float(ahi_cell) == pytest.approx(ahi, abs=0.05)
        assert float(rem_min) == pytest.approx(rem_h * 60, abs=0.05)
        if rem_ahi is None:
            assert (rem_cell, usual) == ("n/a", "unknown")
            continue
        assert float(rem_cell) == pytest.approx(rem_ahi, abs=0.05)
        assert usual == ("yes" if ahi >= 5 and rem_ahi >= 2 * nrem_ahi else "no")


def test_rem_related_osa_of_a_group_picked_by_subject_is_declined_not_given_for_every_night(session) -> None:
    turn = session.respond("which women have REM-related OSA?")
    assert not turn.steps and "not yet to a group" in turn.answer


def test_a_time_of_an_hour_or_more_is_also_given_in_hours(session, rem_ws) -> None:
    night = rem_ws.recordings()[0]
    tst = rem_ws.night_metrics_of(rem_ws.recording_id(night))[0]["tst_min"]
    turn = session.respond(f"what was {night}'s total sleep time in hours?")
    total = math.floor(tst + 0.5)  # rounded half up, as answers round
    assert tst >= 60 and f"({total // 60} h {total % 60:02d} min)" in turn.answer


def test_lower_in_older_patients_is_a_trend_with_age(session) -> None:
    turn = session.respond("is sleep efficiency lower in older patients?")
    assert turn.steps[0].name == "query_cohort" and "against age" in turn.answer and "Spearman" in turn.answer


def _wake_bouts(period: list[str]) -> list[int]:
    bouts, run = [], 0
    for s in period + ["N2"]:
        if s == "W":
            run += 1
        elif run:
            bouts.append(run)
            run = 0
    return bouts


@pytest.mark.parametrize("question", ["what is the awakening index of {night}?",
                                      "how many times per hour did {night} wake up?"])
def test_the_awakening_index_is_awakenings_per_hour_of_sleep(session, rem_cohort, question) -> None:
    edf = rem_cohort / "edf"
    night = nights(edf)[0]
    stages = xml_night(edf, night)[0]
    expected = len(_wake_bouts(sleep_period(stages))) / (sum(s != "W" for s in stages) / 120)
    turn = session.respond(question.format(night=night))
    assert bold_number(turn.answer, "awakening index") == pytest.approx(expected, abs=0.05)


def test_awakenings_longer_than_a_minute_are_wake_bouts_of_two_epochs_or_more(session, rem_cohort) -> None:
    edf = rem_cohort / "edf"
    bouts = {n: _wake_bouts(sleep_period(xml_night(edf, n)[0])) for n in nights(edf)}
    night = max(bouts, key=lambda n: sum(b < 2 for b in bouts[n]))  # the night with the most 30-s awakenings
    turn = session.respond(f"how many awakenings longer than 1 minute did {night} have?")
    assert bold_number(turn.answer, "awakenings of at least 1 min") == sum(b >= 2 for b in bouts[night])
    assert min(bouts[night]) == 1  # the test would prove little on a night whose awakenings all last a minute


def test_awakenings_by_another_duration_are_declined_not_read_as_a_threshold(session, rem_ws) -> None:
    turn = session.respond(f"how many awakenings longer than 5 minutes did {rem_ws.recordings()[0]} have?")
    assert not turn.steps and "other durations are not kept" in turn.answer


def test_long_awakenings_and_other_lengths_are_declined_not_answered_with_every_awakening(session, rem_ws) -> None:
    night = rem_ws.recordings()[0]
    for q in (f"how many long awakenings did {night} have?",
              f"how many awakenings of 2 minutes or more did {night} have?"):
        turn = session.respond(q)
        assert not turn.steps and "other durations are not kept" in turn.answer, q


def test_ct90_is_the_share_of_sleep_the_edf_spo2_spends_below_90(session, rem_cohort) -> None:
    edf = rem_cohort / "edf"
    night = nights(edf)[0]
    stages, _ = xml_night(edf, night)
    with pyedflib.EdfReader(str(edf / f"{night}.edf")) as f:
        k = [i for i, lab in enumerate(f.getSignalLabels()) if "spo2" in lab.lower() or "sao2" in lab.lower()][0]
        x, fs = f.readSignal(k), f.getSampleFrequency(k)
    per = int(round(30 * fs))
    below = [np.mean(x[i * per:(i + 1) * per] < 90) for i, s in enumerate(stages) if s != "W"]
    turn = session.respond(f"what percentage of sleep time was below 90% for {night}?")
    assert bold_number(turn.answer, "CT90") == pytest.approx(100 * np.mean(below), abs=0.3)


def test_how_fragmented_gives_the_measures_of_fragmentation_from_the_hypnogram(session, rem_cohort) -> None:
    edf = rem_cohort / "edf"
    night = nights(edf)[1]
    stages = xml_night(edf, night)[0]
    period = sleep_period(stages)
    sleep_h = sum(s != "W" for s in stages) / 120
    turn = session.respond(f"how fragmented was sleep in {night}?")
    assert bold_number(turn.answer, "awakenings of at least 1 min") == sum(b >= 2 for b in _wake_bouts(period))
    assert bold_number(turn.answer, "stage shift index") == pytest.approx(
        sum(a != b for a, b in zip(period, period[1:])) / sleep_h, abs=0.05)
    assert "WASO" in turn.answer and "arousal index" in turn.answer


def test_the_most_fragmented_night_is_declined_naming_the_measures_kept(session) -> None:
    turn = session.respond("which night is the most fragmented?")
    assert not turn.steps and "not one stored value" in turn.answer and "stage shift index" in turn.answer


def test_two_measures_of_each_night_are_both_given(session, rem_cohort) -> None:
    edf = rem_cohort / "edf"
    turn = session.respond("what are the awakening index and the stage shift index of each night?")
    lines = {ln.split(". ", 1)[1].split(" — ")[0]: ln for ln in turn.answer.splitlines() if re.match(r"\d+\. sim", ln)}
    assert sorted(lines) == nights(edf)
    for night, line in lines.items():
        stages = xml_night(edf, night)[0]
        period = sleep_period(stages)
        shifts = sum(a != b for a, b in zip(period, period[1:])) / (sum(s != "W" for s in stages) / 120)
        shown = float(re.search(r"stage shift index[^:]*: ([\d.]+)", line).group(1))
        assert shown == pytest.approx(shifts, abs=0.05)


def test_nights_with_more_than_n_long_awakenings_are_those_the_hypnograms_show(session, rem_cohort) -> None:
    edf = rem_cohort / "edf"
    counts = {n: sum(b >= 2 for b in _wake_bouts(sleep_period(xml_night(edf, n)[0]))) for n in nights(edf)}
    cut = sorted(counts.values())[len(counts) // 2]
    turn = session.respond(f"which nights have more than {cut} awakenings of at least 1 minute?")
    shown = set(re.findall(r"^\| (sim-\d+) \|", turn.answer, flags=re.MULTILINE))
    assert shown == {n for n, c in counts.items() if c > cut} and shown


def test_a_rem_index_from_little_rem_carries_a_caution(session, rem_cohort) -> None:
    edf = rem_cohort / "edf"
    rem_min = {n: xml_night(edf, n)[0].count("REM") / 2 for n in nights(edf)}
    night = min((n for n in rem_min if rem_min[n] > 0), key=rem_min.get)
    turn = session.respond(f"what is {night}'s REM AHI?")
    assert ("Caution" in turn.answer) == (rem_min[night] < 30)
    if rem_min[night] < 30:
        assert f"{rem_min[night]:.1f} min of REM" in turn.answer


def test_their_after_a_declined_question_does_not_reach_back_to_an_older_list(session) -> None:
    first = session.respond("which nights have an AHI above 5?")
    assert first.steps and first.steps[0].name == "query_cohort"
    session.respond("what is their blood type?")  # not stored: declined
    turn = session.respond("what is their average T90?")
    assert not turn.steps and "ask for the list again" in turn.answer


def test_a_stage_named_alone_in_a_trend_with_age_is_its_share_of_sleep(session) -> None:
    turn = session.respond("is N3 lower in older patients?")
    assert turn.steps[0].name == "query_cohort" and "N3 (% of TST) against age" in turn.answer


def test_minutes_in_a_stage_of_an_hour_or_more_are_also_given_in_hours(session, rem_cohort) -> None:
    edf = rem_cohort / "edf"
    night = nights(edf)[0]
    n2_min = xml_night(edf, night)[0].count("N2") / 2
    turn = session.respond(f"how long was {night} in N2?")
    total = math.floor(n2_min + 0.5)  # rounded half up, as answers round
    assert n2_min >= 60 and f"({total // 60} h {total % 60:02d} min)" in turn.answer


def test_a_name_in_the_cohorts_pattern_that_no_night_has_is_refused_not_dropped(session, rem_ws) -> None:
    turn = session.respond("how many awakenings did sim99 have?")  # "sim99" as sim-0099 would be written run together
    assert "no recording or subject named 'sim99'" in turn.answer and "Mean" not in turn.answer


def test_an_index_within_a_stage_of_unscored_events_is_unknown_not_zero(rem_cohort, tmp_path) -> None:
    import shutil

    from sleeplm.agent import ask
    from sleeplm.index.ingest import ingest
    from testdata import MINI_CHECKPOINT

    edf = rem_cohort / "edf"
    night = nights(edf)[0]
    cohort = tmp_path / "cohort"
    cohort.mkdir()
    shutil.copy(edf / f"{night}.edf", cohort / "night.edf")  # a hypnogram only: no event was scored
    stages = xml_night(edf, night)[0]
    (cohort / "night.txt").write_text("\n".join("R" if s == "REM" else s for s in stages) + "\n")
    ingest(cohort, tmp_path / "ws", model=str(MINI_CHECKPOINT), progress=False, score="never")
    turn = ask(tmp_path / "ws", "what is the AHI during N2 in each night?", config=ToolConfig(figure_dir=tmp_path))
    assert "N2" in stages and "not scored" in turn.answer and "— 0.0" not in turn.answer
