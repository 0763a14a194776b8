"""Chat sessions on a simulated workspace: the router answers realistic questions, with facts and
evidence checked against DuckDB; a fake LLM goes through the same loop; sessions are separate."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from sleeplm.agent import ChatSession, ToolConfig, ask, turn_to_dict
from sleeplm.index import stats
from sleeplm.index.queries import Cohort
from testdata import MINI_CHECKPOINT

MINI = MINI_CHECKPOINT
EVIDENCE = re.compile(r"(sim-\d{4}) epoch (\d+) \((\d\d:\d\d:\d\d)\)")


@pytest.fixture
def session(cohort: Cohort, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ChatSession:
    monkeypatch.delenv("SLEEPLM_LLM", raising=False)
    return ChatSession(cohort, config=ToolConfig(figure_dir=tmp_path, caption_max_len=4))


def clock(cohort: Cohort, recording: str, epoch: int) -> str:
    return cohort.con.execute(
        "SELECT CAST(clock_time AS VARCHAR) FROM epochs JOIN recordings USING (recording_id) "
        "WHERE name = ? AND epoch_index = ?", [recording, epoch]).fetchone()[0][11:19]


def assert_evidence(cohort: Cohort, answer: str, at_least: int = 1) -> None:
    """Every "sim-000N epoch K (HH:MM:SS)" an answer cites is a real epoch at that clock time."""
    refs = EVIDENCE.findall(answer)
    assert len(refs) >= at_least, answer
    for rec, k, hhmmss in refs:
        assert clock(cohort, rec, int(k)) == hhmmss


def metric(cohort: Cohort, recording: str, column: str) -> Any:
    return cohort.con.execute(f"SELECT {column} FROM night_metrics JOIN recordings USING (recording_id) "
                              "WHERE name = ?", [recording]).fetchone()[0]


def test_how_many_nights(session, cohort) -> None:
    turn = session.respond("how many nights are there?")
    n = cohort.con.execute("SELECT count(*) FROM recordings").fetchone()[0]
    assert f"**{n} nights**" in turn.answer and all(r in turn.answer for r in cohort.recordings())
    assert turn.model_name == "sleeplm-router" and turn.steps[0].name == "cohort_stats"


def test_ahi_of_a_night(session, cohort) -> None:
    turn = session.respond("what is the AHI of sim-0002?")
    assert f"AHI (events/h): {metric(cohort, 'sim-0002', 'ahi_per_h'):.1f}" in turn.answer
    assert session.state.recording == "sim-0002"


def test_describe_a_night_with_hypnogram(session, cohort) -> None:
    turn = session.respond("describe sim-0001")
    subject, phenotype = cohort.con.execute(
        "SELECT subject_id, phenotype FROM recordings JOIN subjects USING (subject_id) WHERE name = 'sim-0001'"
    ).fetchone()
    assert "**sim-0001**" in turn.answer and subject in turn.answer and phenotype in turn.answer
    assert len(turn.figures) == 1 and turn.figures[0].is_file()


def test_show_an_epoch_then_follow_up_on_this_night(session, cohort) -> None:
    turn = session.respond("show epoch 10 of sim-0001")
    assert f"**sim-0001 epoch 10** ({clock(cohort, 'sim-0001', 10)}" in turn.answer and turn.figures
    turn = session.respond("what about epoch 12?")
    assert turn.steps[0].args == {"recording": "sim-0001", "epoch": 12}
    assert f"**sim-0001 epoch 12** ({clock(cohort, 'sim-0001', 12)}" in turn.answer
    assert (session.state.recording, session.state.epoch) == ("sim-0001", 12)


def test_caption_an_epoch_of_the_current_night(session, cohort) -> None:
    session.set_current_night("sim-0002")
    turn = session.respond("caption epoch 5")
    ref = cohort.con.execute("SELECT text FROM captions WHERE epoch_id = ? AND track = 'stage_event'",
                             [cohort.epoch_id("sim-0002", 5)]).fetchone()[0]
    assert f"**sim-0002 epoch 5** ({clock(cohort, 'sim-0002', 5)})" in turn.answer
    assert f"reference: {ref}" in turn.answer and "model:" in turn.answer


def test_search_epochs_by_description(session, cohort) -> None:
    turn = session.respond("find epochs like obstructive apnea")
    assert turn.steps[0].name == "search_epochs"
    assert_evidence(cohort, turn.answer, at_least=5)
    assert "Annotation check" in turn.answer


def test_a_search_in_a_stage_nobody_reached_says_so(session) -> None:
    turn = session.respond("find epochs like obstructive apnea in REM")  # the 30-min nights have no REM
    assert turn.steps[0].args["stages"] == ["REM"] and "no epoch of this cohort is scored REM" in turn.answer


def test_find_nights_like_this_one(session, cohort) -> None:
    session.respond("describe sim-0002")
    turn = session.respond("find nights like this one")
    assert turn.steps[0].args["recording"] == "sim-0002"
    tst = f"{metric(cohort, 'sim-0002', 'tst_min'):.1f}"
    assert re.search(rf"\| total sleep time \(min\) \| {re.escape(tst)} \|", turn.answer)


def test_where_are_the_hypopneas(session, cohort) -> None:
    turn = session.respond("where are the hypopneas in sim-0002?")
    n = cohort.con.execute("SELECT count(*) FROM events JOIN recordings USING (recording_id) "
                           "WHERE name = 'sim-0002' AND type = 'hypopnea'").fetchone()[0]
    assert f"Annotated hypopnea in this night ({n})" in turn.answer and turn.figures


def test_events_in_a_stage_the_night_never_reached_are_not_reported_as_none_found(session, cohort) -> None:
    rem = cohort.con.execute("SELECT count(*) FROM epochs JOIN recordings USING (recording_id) "
                             "WHERE name = 'sim-0002' AND stage = 'REM'").fetchone()[0]
    assert rem == 0  # the 30-min nights have no REM
    turn = session.respond("where are the hypopneas during REM in sim-0002?")
    assert turn.steps[0].name == "localize_events"
    assert "has no epoch scored REM" in turn.answer and "nowhere" in turn.answer
    assert "no annotated" not in turn.answer.lower()


def test_compare_ahi_by_phenotype(session, cohort) -> None:
    turn = session.respond("compare AHI by phenotype")
    for row in stats.compare_metric(cohort.con, "ahi_per_h", "phenotype").to_records():
        mean = "n/a" if row["mean"] is None else f"{row['mean']:g}"
        nights = row["nights"] + row["no_value"]  # the chat's count includes the nights without a value
        assert f"| {row['phenotype']} | {nights} | {mean} |" in turn.answer


def test_stage_distribution_by_sex(session, cohort) -> None:
    turn = session.respond("stage distribution by sex")
    for row in stats.stage_distribution(cohort.con, "sex").to_records():
        assert f"| {row['sex']} | {row['w_pct']:g} | {row['n1_pct']:g} | {row['n2_pct']:g} |" in turn.answer


def test_unknown_recording_comes_back_as_a_clear_answer(session) -> None:
    turn = session.respond("describe sim-0099")
    assert "no recording or subject named 'sim-0099'" in turn.answer and "sim-0001" in turn.answer
    assert turn.steps[0].error is not None


def test_sessions_do_not_share_state(cohort, tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("SLEEPLM_LLM", raising=False)
    a = ChatSession(cohort, config=ToolConfig(figure_dir=tmp_path / "a"))
    b = ChatSession(cohort, config=ToolConfig(figure_dir=tmp_path / "b"))
    a.respond("describe sim-0003")
    assert a.state.recording == "sim-0003" and b.state.recording is None and b.history == []
    assert "no night chosen" in b.respond("what is the AHI of this night?").answer


def test_a_fake_llm_goes_through_the_same_loop(cohort, tmp_path) -> None:
    class ToolCallingFake(GenericFakeChatModel):
        def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
            return self

    script = iter([
        AIMessage(content="", tool_calls=[{"name": "describe_night", "args": {"recording": "sim-0002", "plot": False},
                                           "id": "a", "type": "tool_call"}]),
        AIMessage(content="", tool_calls=[{"name": "show_epoch", "args": {"epoch": 30}, "id": "b",
                                           "type": "tool_call"}]),
        AIMessage(content="sim-0002 epoch 30 shows a hypopnea."),
    ])
    s = ChatSession(cohort, ToolCallingFake(messages=script), config=ToolConfig(figure_dir=tmp_path))
    turn = s.respond("tell me about sim-0002 and show epoch 30")
    assert [st.name for st in turn.steps] == ["describe_night", "show_epoch"]
    assert turn.steps[1].summary.startswith(f"sim-0002 epoch 30 ({clock(cohort, 'sim-0002', 30)})")
    assert turn.answer == "sim-0002 epoch 30 shows a hypopnea." and len(turn.figures) == 1
    assert (s.state.recording, s.state.epoch) == ("sim-0002", 30)


def test_ask_answers_one_question_as_json(sim_workspace, monkeypatch, tmp_path) -> None:
    monkeypatch.delenv("SLEEPLM_LLM", raising=False)
    turn = ask(sim_workspace, "how many nights are there?", config=ToolConfig(figure_dir=tmp_path))
    d = json.loads(json.dumps(turn_to_dict(turn)))
    assert "**3 nights**" in d["answer"] and d["model"] == "sleeplm-router"
    assert d["steps"][0]["name"] == "cohort_stats" and d["steps"][0]["error"] is None


def test_the_lowest_spo2_is_placed_in_its_epoch_and_scored_stage(session, cohort) -> None:
    import numpy as np
    from sleeplm.encoder.io.psg import load_psg

    path = cohort.con.execute("SELECT path FROM recordings WHERE name = 'sim-0002'").fetchone()[0]
    psg = load_psg(path)  # the recording's own SpO2 samples and scored stages, not the stored features
    sig, first = psg.mapped.channels["SPO2"], psg.annotations.stage_onset_s
    per = int(round(30 * sig.fs_hz))
    lows = [float(np.min(sig.data[int(round((first + 30 * k) * sig.fs_hz)):][:per])) if s in ("N1", "N2", "N3", "REM")
            else np.inf for k, s in enumerate(psg.annotations.stages)]
    k = int(np.argmin(lows))
    turn = session.respond("when was the lowest SpO2 in sim-0002, and in which stage?")
    assert f"The nadir is in epoch {k} ({clock(cohort, 'sim-0002', k)}), scored {psg.annotations.stages[k]}" \
        in turn.answer, turn.answer
    pos = psg.mapped.channels["POS"]  # the position channel, in SleepLM codes (0 right, 1 left, 2 supine, 3 prone)
    codes = np.round(pos.data[int(round((first + 30 * k) * pos.fs_hz)):][:int(round(30 * pos.fs_hz))]).astype(int)
    name = ("right", "left", "supine", "prone", "upright")[int(np.bincount(codes[codes >= 0]).argmax())]
    assert f"; body position {name}." in turn.answer, turn.answer


def _arousals_by_stage(cohort: Cohort, recording: str) -> tuple[dict[str, int], list[str]]:
    """Arousals per stage of the epoch each starts in, and the scored stages, from the night's own annotation file."""
    from sleeplm.encoder.io.psg import load_psg

    path = cohort.con.execute("SELECT path FROM recordings WHERE name = ?", [recording]).fetchone()[0]
    ann = load_psg(path).annotations
    by_stage: dict[str, int] = {}
    for e in ann.events:
        k = int((e.onset_s - ann.stage_onset_s) // 30)
        if e.type == "arousal" and 0 <= k < len(ann.stages):
            by_stage[ann.stages[k]] = by_stage.get(ann.stages[k], 0) + 1
    return by_stage, list(ann.stages)


def test_events_by_stage_are_counted_in_the_stage_each_starts_in(session, cohort) -> None:
    by_stage, stages = _arousals_by_stage(cohort, "sim-0002")
    turn = session.respond("in which stage do the arousals of sim-0002 occur most?")
    for stage in ("W", "N1", "N2", "N3", "REM"):
        shown = f"{by_stage.get(stage, 0)}**" if stage in stages else "not available** — no epoch of sim-0002"
        assert f"arousals in {stage}: {shown}" in turn.answer, turn.answer


def test_the_time_of_falling_asleep_is_the_first_epoch_scored_sleep(session, cohort) -> None:
    from sleeplm.encoder.io.psg import load_psg

    path = cohort.con.execute("SELECT path FROM recordings WHERE name = 'sim-0002'").fetchone()[0]
    stages = load_psg(path).annotations.stages  # the night's own annotation file
    k = next(i for i, s in enumerate(stages) if s in ("N1", "N2", "N3", "REM"))
    turn = session.respond("What time did sim-0002 fall asleep?")
    assert f"The first epoch scored sleep is epoch {k} ({clock(cohort, 'sim-0002', k)}, {stages[k]})" in turn.answer


def test_which_of_two_named_nights_has_more_arousals_is_read_from_their_annotations(session, cohort) -> None:
    from sleeplm.encoder.io.psg import load_psg

    counts = {}
    for rec in ("sim-0001", "sim-0002"):
        path = cohort.con.execute("SELECT path FROM recordings WHERE name = ?", [rec]).fetchone()[0]
        counts[rec] = sum(e.type == "arousal" for e in load_psg(path).annotations.events)  # the night's own file
    more, other = sorted(counts, key=counts.get, reverse=True)
    turn = session.respond("Which has more arousals, sim-0001 or sim-0002?")
    if counts[more] == counts[other]:
        assert f"Tied with: {other}" in turn.answer, turn.answer
    else:
        assert f"**{more}** has more arousals: **{counts[more]}**" in turn.answer, turn.answer
        assert f"The other: {other} {counts[other]}." in turn.answer, turn.answer


def test_a_night_s_stage_breakdown_gives_each_sleep_stage_s_share_of_total_sleep_time(session, cohort) -> None:
    from sleeplm.encoder.io.psg import load_psg

    path = cohort.con.execute("SELECT path FROM recordings WHERE name = 'sim-0002'").fetchone()[0]
    stages = load_psg(path).annotations.stages  # the night's own hypnogram
    sleep = [s for s in stages if s in ("N1", "N2", "N3", "REM")]
    turn = session.respond("Give me the sleep stage breakdown in percent for sim-0002")
    row = next(line for line in turn.answer.splitlines() if line.startswith("| sim-0002 |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    shares = [float(c) for c in cells[6:10]]  # n1_sleep_pct … rem_sleep_pct
    expected = [100.0 * sleep.count(s) / len(sleep) for s in ("N1", "N2", "N3", "REM")]
    assert all(abs(a - b) <= 0.051 for a, b in zip(shares, expected, strict=True)), (shares, expected)
    assert "% of total sleep time" in turn.answer


def test_apneas_while_supine_are_those_starting_in_an_epoch_spent_supine(session, cohort) -> None:
    import numpy as np
    from sleeplm.encoder.io.psg import load_psg

    path = cohort.con.execute("SELECT path FROM recordings WHERE name = 'sim-0002'").fetchone()[0]
    psg = load_psg(path)  # the night's own annotations and position channel (SleepLM codes: 2 = supine)
    ann, pos = psg.annotations, psg.mapped.channels["POS"]
    per = int(round(30 * pos.fs_hz))

    def supine(k: int) -> bool:
        codes = np.round(pos.data[int(round((ann.stage_onset_s + 30 * k) * pos.fs_hz)):][:per]).astype(int)
        codes = codes[codes >= 0]
        return len(codes) > 0 and int(np.bincount(codes).argmax()) == 2

    n = sum(e.type in ("obstructive_apnea", "central_apnea", "mixed_apnea") and
            supine(int((e.onset_s - ann.stage_onset_s) // 30)) for e in ann.events)
    turn = session.respond("How many apneas did sim-0002 have while supine?")
    assert f"apneas (obstructive, central and mixed) while supine: {n}**" in turn.answer, turn.answer


def test_events_by_stage_name_the_stage_with_the_most(session, cohort) -> None:
    by_stage, _ = _arousals_by_stage(cohort, "sim-0002")
    turn = session.respond("in which stage do the arousals of sim-0002 occur most?")
    top = max(by_stage.values())
    most = " and ".join(s for s in ("W", "N1", "N2", "N3", "REM") if by_stage.get(s) == top)
    assert f"Most arousals start in {most}: {top} of {sum(by_stage.values())}." in turn.answer, turn.answer


def test_a_search_naming_a_position_checks_its_hits_against_the_recorded_position(session, cohort) -> None:
    import numpy as np
    from sleeplm.encoder.io.psg import load_psg

    turn = session.respond("find epochs like obstructive apnea while supine")
    hits = [(rec, int(k)) for rec, k, _ in EVIDENCE.findall(turn.answer.split("Annotation check")[0])]
    supine = known = 0
    for rec, k in hits:  # each hit's position from the recording's own position channel (SleepLM code 2 = supine)
        path = cohort.con.execute("SELECT path FROM recordings WHERE name = ?", [rec]).fetchone()[0]
        psg = load_psg(path)
        pos = psg.mapped.channels.get("POS")
        if pos is None:
            continue
        start = int(round((psg.annotations.stage_onset_s + 30 * k) * pos.fs_hz))
        codes = np.round(pos.data[start:start + int(round(30 * pos.fs_hz))]).astype(int)
        codes = codes[codes >= 0]
        if len(codes):
            known += 1
            supine += int(np.bincount(codes).argmax()) == 2
    assert hits and f"{supine} of {known} with a known position are supine" in turn.answer, turn.answer
