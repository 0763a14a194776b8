"""Where events are, when the cohort's weights have a fact reader with an event head: the chat reads them to the
second from the head and says what the head was tested on; a type the head does not read is localized by similarity
as before. The head here is a stand-in that reads exactly the night's annotated events (from the workspace's events
table), so the expected answer is the annotation."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from sleeplm.agent import answers
from sleeplm.agent.state import SessionState, ToolConfig
from sleeplm.agent.tools import make_tools
from sleeplm.encoder.model.facts import READABLE_EVENTS
from sleeplm.index.queries import Cohort

NIGHT = "sim-0002"


def _annotated(cohort: Cohort, types: tuple[str, ...]) -> list[tuple[str, float, float]]:
    rows = cohort.con.execute(
        "SELECT e.type, e.onset_s, e.duration_s FROM events e JOIN recordings USING (recording_id) WHERE name = ? "
        "ORDER BY e.onset_s", [NIGHT]).fetchall()
    return [(t, float(a), float(d)) for t, a, d in rows if t in types]


def _perfect_head(cohort: Cohort, read_as: dict[str, str] | None = None) -> SimpleNamespace:
    """An event head that reads the night's annotated events exactly, per 1-s patch (each type as ``read_as`` says,
    else as itself)."""
    onset = np.array([r[0] for r in cohort.con.execute(
        "SELECT e.onset_s FROM epochs e JOIN recordings USING (recording_id) WHERE name = ? ORDER BY e.epoch_index",
        [NIGHT]).fetchall()], np.float64)
    probs = np.full((len(onset), 30, len(READABLE_EVENTS)), 0.02)
    centres = onset[:, None] + np.arange(30)[None, :] + 0.5
    for t, a, d in _annotated(cohort, READABLE_EVENTS):
        probs[:, :, READABLE_EVENTS.index((read_as or {}).get(t, t))][(centres >= a) & (centres < a + d)] = 0.98
    return SimpleNamespace(reader=SimpleNamespace(event_types=READABLE_EVENTS), patch_s=1.0,
                           event_probabilities=lambda x: probs[: len(x)])


@pytest.fixture
def tools(cohort: Cohort, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    head = _perfect_head(cohort)
    monkeypatch.setattr(Cohort, "fact_model", property(lambda self: head))
    ts = make_tools(cohort, SessionState(), ToolConfig(caption_max_len=4), figure_dir=tmp_path)
    return {t.name: t for t in ts}


def _run(tools: dict[str, Any], **args: Any) -> dict[str, Any]:
    return tools["localize_events"].invoke({"name": "localize_events", "args": args, "id": "t",
                                            "type": "tool_call"}).artifact


def test_events_the_head_reads_are_listed_to_the_second_in_time_order(tools, cohort) -> None:
    r = _run(tools, recording=NIGHT, description="hypopnea")
    want = [(a, a + d) for _, a, d in _annotated(cohort, ("hypopnea",)) if d >= 10.0]
    assert r["method"] == "event head" and want
    got = [(iv["start_s"], iv["end_s"]) for iv in r["intervals"]]
    assert len(got) == len(want) and all(abs(g[0] - w[0]) <= 1 and abs(g[1] - w[1]) <= 1 for g, w in zip(got, want))
    assert all(iv["event_type"] == "hypopnea" and iv["matches_annotation"] for iv in r["intervals"])
    assert Path(r["figures"][0]).read_bytes()[:4] == b"\x89PNG"


def test_the_answer_names_the_event_head_and_what_it_was_tested_on(tools) -> None:
    text = answers.localize_events(_run(tools, recording=NIGHT, description="hypopnea"))
    assert "event head" in text and "simulated nights only" in text and "cosine" not in text


def test_a_type_the_head_does_not_read_is_found_by_similarity(tools) -> None:
    r = _run(tools, recording=NIGHT, description="oxygen desaturation")
    assert r["method"] == "calibrated" and "event_type" not in (r["intervals"] or [{}])[0]


def test_an_event_read_as_the_wrong_kind_says_what_was_annotated_there(cohort, tmp_path, monkeypatch) -> None:
    obstructive = _annotated(cohort, ("obstructive_apnea",))
    assert obstructive and not _annotated(cohort, ("central_apnea",))
    head = _perfect_head(cohort, read_as={"obstructive_apnea": "central_apnea"})
    monkeypatch.setattr(Cohort, "fact_model", property(lambda self: head))
    tool = {t.name: t for t in make_tools(cohort, SessionState(), ToolConfig(), figure_dir=tmp_path)}
    r = _run(tool, recording=NIGHT, description="central apnea")
    assert {iv["annotated_other_type"] for iv in r["intervals"]} == {"obstructive_apnea"}
    assert "annotated there as obstructive apnea, not central apnea" in answers.localize_events(r)


def test_without_the_recording_file_the_similarity_answers_and_says_why(tools, monkeypatch) -> None:
    from sleeplm.agent.context import ToolContext

    def gone(self, n):
        raise ValueError(f"the signals of {n.recording} are not available: /moved/{n.recording}.edf is missing")

    monkeypatch.setattr(ToolContext, "signals", gone)
    r = _run(tools, recording=NIGHT, description="hypopnea")
    assert r["method"] == "calibrated" and "is missing" in r["event_head_unavailable"]
    assert "event head, which reads these events to the second, could not be used" in answers.localize_events(r)


def test_a_reading_of_another_length_than_the_workspaces_night_falls_back_and_says_why(cohort, tmp_path,
                                                                                       monkeypatch) -> None:
    head = _perfect_head(cohort)
    short = SimpleNamespace(reader=head.reader, patch_s=1.0, event_probabilities=lambda x: head.event_probabilities(x)[:-1])
    monkeypatch.setattr(Cohort, "fact_model", property(lambda self: short))
    tool = {t.name: t for t in make_tools(cohort, SessionState(), ToolConfig(), figure_dir=tmp_path)}
    r = _run(tool, recording=NIGHT, description="hypopnea")
    assert r["method"] == "calibrated" and "epochs read, the workspace holds" in r["event_head_unavailable"]


def _without(channels: tuple[str, ...], epochs: slice = slice(None)):
    """ToolContext.signals with ``channels`` absent in ``epochs`` of every night (as a recording without them)."""
    import dataclasses

    from sleeplm.agent.context import ToolContext
    from sleeplm.encoder.vocab import SLEEPLM_CHANNELS

    original = ToolContext.signals

    def signals(self, n):
        ep = original(self, n)
        mask = ep.channel_mask.copy()
        mask[epochs, [SLEEPLM_CHANNELS.index(c) for c in channels]] = False
        return dataclasses.replace(ep, channel_mask=mask)

    return signals


def test_apneas_in_a_night_without_airflow_or_belts_cannot_be_read_not_none_found(tools, monkeypatch) -> None:
    from sleeplm.agent.context import ToolContext

    monkeypatch.setattr(ToolContext, "signals", _without(("AF", "ABD", "THX")))
    r = _run(tools, recording=NIGHT, description="hypopnea")
    assert r["intervals"] == [] and "cannot be located" in r["cannot_read"]
    assert "airflow" in answers.localize_events(r) and "not the same as finding none" in answers.localize_events(r)


def test_epochs_without_the_inputs_are_not_read_and_are_counted(tools, cohort, monkeypatch) -> None:
    from sleeplm.agent.context import ToolContext

    first = _annotated(cohort, ("hypopnea",))[0]
    cut = int(first[1] // 30) + 1  # the first hypopnea's epoch and every one before it lose airflow and belts
    monkeypatch.setattr(ToolContext, "signals", _without(("AF", "ABD", "THX"), slice(0, cut)))
    r = _run(tools, recording=NIGHT, description="hypopnea")
    assert r["unreadable_epochs"] == cut and all(iv["start_s"] >= cut * 30.0 for iv in r["intervals"])
    assert f"{cut} epoch(s) of this night have no airflow" in answers.localize_events(r)
