"""The web page without a browser: the Blocks build, chat turns, sessions, uploads.

The handler tests use a small stand-in ``ChatSession`` (same contract as ``sleeplm.agent``) so
that they specify the page, not the agent; ``test_real_agent_turn`` runs the real agent.
"""

from __future__ import annotations


import shutil
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import gradio as gr
import pytest
from sleeplm.agent import AgentTurn, ToolStep
from sleeplm.app import chat_view as cv
from sleeplm.app.service import RWLock, SharedCohort
from sleeplm.app.uploads import UploadError, check_uploads, stage_uploads
from sleeplm.app.web import ChatApp, WebSession, build_app, parse_auth
from testdata import MINI_CHECKPOINT

MINI = MINI_CHECKPOINT


# ----------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def cohort_dir(tmp_path_factory) -> Path:
    from sleeplm.encoder.sim import simulate_cohort

    out = tmp_path_factory.mktemp("cohort")
    simulate_cohort(out, n_nights=3, seed=11, duration_h=0.25, progress=False)
    return out


@pytest.fixture(scope="module")
def workspace(cohort_dir: Path, tmp_path_factory) -> Path:
    from sleeplm.index.ingest import ingest

    ws = tmp_path_factory.mktemp("ws")
    files = sorted(cohort_dir.glob("*.edf"))[:2]  # the third night is uploaded by a test
    report = ingest(cohort_dir, ws, model=str(MINI), progress=False, files=files)
    assert len(report.ingested) == 2
    return ws


@dataclass
class State:
    recording: str | None = None
    epoch: int | None = None


@dataclass
class FakeChat:
    """The ChatSession contract: respond / state / set_current_night / model_name."""

    cohort: Any
    llm: Any = None
    model_name: str = "fake-llm"
    state: State = field(default_factory=State)

    def set_current_night(self, recording: str) -> None:
        if recording not in self.cohort.recordings():
            raise ValueError(f"no recording {recording!r}")  # like the agent
        self.state.recording = recording

    def respond(self, message: str) -> AgentTurn:
        t0 = time.perf_counter()
        names = [r[0] for r in self.cohort.con.execute("SELECT name FROM recordings ORDER BY name").fetchall()]
        fig = Path(self.cohort.ws.root).parent / f"fig-{threading.get_ident()}-{time.monotonic_ns()}.png"
        _png(fig)
        steps = [ToolStep("list_nights", {"limit": 5}, f"{len(names)} nights", time.perf_counter() - t0),
                 ToolStep("plot_hypnogram", {"recording": "nope"}, "", 0.01, error="no recording 'nope'")]
        return AgentTurn(f"{len(names)} nights; this night is {self.state.recording}.", steps, [fig], "fake-llm")


def _png(path: Path) -> None:
    from matplotlib.figure import (
        Figure,  # no pyplot: sessions draw from several threads
    )

    fig = Figure(figsize=(2, 1))
    fig.add_subplot().plot([0, 1], [0, 1])
    fig.savefig(path)


@pytest.fixture(scope="module")
def app(workspace: Path, tmp_path_factory) -> ChatApp:
    shared = SharedCohort(workspace)
    yield ChatApp(shared, session_factory=lambda cohort, llm: FakeChat(cohort, llm),
                  figure_dir=tmp_path_factory.mktemp("figures"))
    shared.close()


def _last(gen):
    out = None
    for out in gen:
        pass
    return out


# ----------------------------------------------------------------------------- build
def test_blocks_build_has_chat_panel_upload_and_an_ask_endpoint(app: ChatApp) -> None:
    blocks = build_app(app)
    kinds = {type(b).__name__ for b in blocks.blocks.values()}
    assert {"Chatbot", "Dataframe", "File", "Gallery", "State", "Textbox"} <= kinds
    api_names = {fn.api_name for fn in blocks.fns.values() if getattr(fn, "api_visibility", "public") == "public"}
    assert api_names == {"ask"}  # the only public endpoint is the chat turn
    upload = next(b for b in blocks.blocks.values() if type(b).__name__ == "File")
    assert set(upload.file_types) == {".edf", ".bdf", ".xml", ".csv", ".txt"}


def test_on_load_fills_model_line_and_nights_table(app: ChatApp) -> None:
    _, line, table, night = app.on_load(None)
    assert "fake-llm" in line and "checkpoint" in line and "2 nights" in line
    assert list(table["recording"]) == ["sim-0001", "sim-0002"]
    assert {"phenotype", "ahi_per_h", "sleep_efficiency_pct"} <= set(table.columns)
    assert "none yet" in night


# ----------------------------------------------------------------------------- chat
def test_chat_turn_returns_tool_messages_answer_and_figures(app: ChatApp) -> None:
    steps = list(app.ask("how many nights?", [], None))
    assert steps[0] == (gr.skip(), "", gr.skip(), gr.skip(), gr.skip())  # the box is cleared first, alone
    history, box, gallery, session, _ = steps[-1]
    assert box == gr.skip() and isinstance(session, WebSession)  # and left alone after
    assert history[0] == {"role": "user", "content": "how many nights?"}
    tools = [m for m in history if m.get("metadata")]
    assert [m["metadata"]["title"] for m in tools] == ["🔧 list_nights", "🔧 plot_hypnogram"]
    assert '"limit": 5' in tools[0]["content"] and "2 nights" in tools[0]["content"]
    assert tools[0]["metadata"]["status"] == "done" and tools[0]["metadata"]["duration"] >= 0
    assert tools[1]["metadata"]["log"] == "failed" and "no recording 'nope'" in tools[1]["content"]
    answer = history[3]
    assert answer["content"].startswith("2 nights")
    figure = history[4]["content"]
    assert Path(figure["path"]).is_file() and Path(figure["path"]).parent == app.figure_dir
    assert gallery == [figure["path"]]


def test_tool_steps_stream_before_the_answer(app: ChatApp) -> None:
    release = threading.Event()

    class SlowChat(FakeChat):
        def respond(self, message: str, on_step: Any = None) -> AgentTurn:
            step = ToolStep("query_cohort", {"ask": "count"}, "4 night(s)", 0.01)
            on_step(step)
            assert release.wait(30)  # the answer waits until the page has shown the step
            return AgentTurn("done", [step], [], "fake-llm")

    streaming = ChatApp(app.shared, session_factory=lambda cohort, llm: SlowChat(cohort, llm),
                        figure_dir=app.figure_dir, progress_after_s=0)
    turns = streaming.ask("how many women are there?", [], None)
    next(turns)  # the box cleared
    next(turns)  # the question
    history = next(turns)[0]  # the step, while the turn is still running
    assert history[-2]["metadata"]["title"] == "🔧 query_cohort" and history[-1] == cv.pending_message()
    release.set()
    assert _last(turns)[0][-1]["content"] == "done"


def test_fast_turn_is_drawn_once_with_its_answer(app: ChatApp) -> None:
    patient = replace(app, progress_after_s=30.0)  # FakeChat answers well within 30 s
    updates = list(patient.ask("how many nights?", [], None))
    assert len(updates) == 2 and updates[0][0] == gr.skip()  # the box cleared, then the chat drawn once
    history = updates[1][0]
    assert history[3]["content"].startswith("2 nights") and cv.pending_message() not in history


def test_slow_turn_shows_question_and_pending_mark_while_it_runs(app: ChatApp) -> None:
    release = threading.Event()

    class QuietSlowChat(FakeChat):
        def respond(self, message: str, on_step: Any = None) -> AgentTurn:
            assert release.wait(30)  # no step yet: only the time tells the page to show progress
            return AgentTurn("done", [], [], "fake-llm")

    slow = ChatApp(app.shared, session_factory=lambda cohort, llm: QuietSlowChat(cohort, llm),
                   figure_dir=app.figure_dir, progress_after_s=0.05)
    turns = slow.ask("how many women are there?", [], None)
    next(turns)  # the box cleared
    history = next(turns)[0]  # drawn after 0.05 s although the agent is still working
    assert history[-2] == {"role": "user", "content": "how many women are there?"}
    assert history[-1] == cv.pending_message()
    release.set()
    assert _last(turns)[0][-1]["content"] == "done"


def test_empty_message_does_nothing(app: ChatApp) -> None:
    history, *_ = _last(app.ask("   ", [{"role": "user", "content": "hi"}], None))
    assert history == [{"role": "user", "content": "hi"}]


def test_agent_failure_is_shown_not_raised(app: ChatApp) -> None:
    session = app.ensure_session(None)
    session.chat.respond = lambda message: (_ for _ in ()).throw(RuntimeError("boom"))
    history, *_ = _last(app.ask("hello", [], session))
    assert "the agent failed" in history[-1]["content"] and "boom" in history[-1]["content"]


def test_sessions_are_isolated(app: ChatApp) -> None:
    a, b = app.ensure_session(None), app.ensure_session(None)
    assert a.chat.cohort.con is not b.chat.cohort.con  # one DuckDB cursor per session
    assert a.chat.cohort.model is b.chat.cohort.model  # the model is shared
    app.select_night("sim-0002", a)
    assert a.current_night == "sim-0002" and b.current_night is None and b.chat.state.recording is None
    results: dict[str, Any] = {}

    def run(name: str, session: WebSession) -> None:
        results[name] = [_last(app.ask(f"turn {i}", [], session))[0][3]["content"] for i in range(3)]

    threads = [threading.Thread(target=run, args=(n, s)) for n, s in (("a", a), ("b", b))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert all(r.endswith("this night is sim-0002.") for r in results["a"])
    assert all(r.endswith("this night is None.") for r in results["b"])


def test_clearing_the_chat_resets_the_session(app: ChatApp) -> None:
    session = app.ensure_session(None)
    app.select_night("sim-0001", session)
    session.chat.reset = lambda: setattr(session.chat.state, "recording", None)
    session, night, gallery = app.reset(session)
    assert session.current_night is None and session.chat.state.recording is None
    assert "none yet" in night and gallery == []


def test_unknown_night_is_refused(app: ChatApp) -> None:
    with pytest.raises(ValueError):
        app.select_night("no-such-night", app.ensure_session(None))


# ----------------------------------------------------------------------------- chat view
def test_figure_captions() -> None:
    assert cv.figure_caption(Path("/x/3f2a0b1c9d8e-001-hypnogram-sim_0001.png")) == "hypnogram sim 0001"
    assert cv.figure_message(Path("/x/a.png"))["content"] == {"path": "/x/a.png", "alt_text": "a"}


def test_long_arguments_are_cut() -> None:
    msg = cv.step_message(ToolStep("search", {"q": "x" * 5000}, "ok", 1.234), 0)
    assert len(msg["content"]) < 2300 and msg["metadata"]["duration"] == 1.23


# ----------------------------------------------------------------------------- uploads
def test_upload_refuses_wrong_type_size_and_missing_recording(tmp_path: Path) -> None:
    exe = tmp_path / "run.py"
    exe.write_text("print('hi')")
    edf = tmp_path / "night.edf"
    edf.write_bytes(b"0" * 100)
    xml = tmp_path / "night.xml"
    xml.write_text("<x/>")
    with pytest.raises(UploadError, match="file type .py refused"):
        check_uploads([edf, exe])
    with pytest.raises(UploadError, match="over the upload limit"):
        check_uploads([edf], max_bytes=10)
    with pytest.raises(UploadError, match="no recording"):
        check_uploads([xml])
    with pytest.raises(UploadError, match="no file"):
        check_uploads([])
    check_uploads([edf, xml])


def test_staging_sanitises_names_and_pairs_a_lone_annotation(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.edf").write_bytes(b"0")
    (src / "scoring.xml").write_text("<x/>")
    staged = stage_uploads([src / "a.edf", src / "scoring.xml"], tmp_path / "ws",
                           names=["../../evil night.edf", "scoring.xml"])
    assert staged.folder.parent == tmp_path / "ws" / "uploads"
    assert [p.name for p in staged.recordings] == ["evil_night.edf"]
    assert [p.name for p in staged.annotations] == ["evil_night.xml"]


def test_upload_handler_reports_refusal(app: ChatApp, tmp_path: Path) -> None:
    bad = tmp_path / "notes.docx"
    bad.write_text("x")
    report, table = app.upload([str(bad)])
    assert report.startswith("⚠️ upload refused") and ".docx" in report and len(table) == 2


def test_upload_is_ingested_and_appears_in_the_cohort(workspace: Path, cohort_dir: Path, tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    shutil.copytree(workspace, ws)
    shared = SharedCohort(ws)
    try:
        app = ChatApp(shared, session_factory=lambda cohort, llm: FakeChat(cohort, llm), figure_dir=tmp_path / "f")
        session = app.ensure_session(None)
        app.select_night("sim-0001", session)
        up = tmp_path / "browser-upload"
        up.mkdir()
        shutil.copy(cohort_dir / "sim-0003.edf", up / "new-night.edf")
        shutil.copy(cohort_dir / "sim-0003-nsrr.xml", up / "scored.xml")
        progress: list[tuple[float, str]] = []
        report, table = app.upload([str(up / "new-night.edf"), str(up / "scored.xml")],
                                   progress=lambda frac, desc="": progress.append((frac, desc)))
        assert "ingested new-night.edf" in report, report
        assert progress and progress[0][0] == 0.0 and "new-night.edf" in progress[0][1]
        assert "new-night" in set(table["recording"]) and len(table) == 3
        history, *_ = _last(app.ask("how many nights now?", [], session))  # the old session goes on
        assert history[3]["content"] == "3 nights; this night is sim-0001."
    finally:
        shared.close()


# ----------------------------------------------------------------------------- misc
def test_human_size() -> None:
    from sleeplm.app.web import human_size

    assert human_size(2 * 1024**3) == "2 GiB" and human_size(300 * 1024**2) == "300 MiB" and human_size(12) == "12 B"


def test_parse_auth() -> None:
    assert parse_auth(None) is None
    assert parse_auth("ann:s3cr:et") == ("ann", "s3cr:et")
    for bad in ("nopassword", ":pw", "user:"):
        with pytest.raises(ValueError):
            parse_auth(bad)


def test_rwlock_writer_waits_for_readers() -> None:
    lock, order = RWLock(), []
    with lock.read():
        writer = threading.Thread(target=lambda: (lock.write().__enter__(), order.append("write")))
        writer.start()
        time.sleep(0.05)
        order.append("read done")
    writer.join(5)
    assert order == ["read done", "write"]


# ----------------------------------------------------------------------------- the real agent
def test_real_agent_turn_shows_tool_steps_and_the_hypnogram(workspace: Path, tmp_path: Path) -> None:
    agent = pytest.importorskip("sleeplm.agent")
    if not hasattr(agent, "ChatSession"):
        pytest.skip("sleeplm.agent does not export ChatSession yet")
    shared = SharedCohort(workspace)
    try:
        app = ChatApp(shared, figure_dir=tmp_path)  # the default factory: sleeplm.agent.ChatSession
        session, line, _, _ = app.on_load(None)
        assert line.startswith("Answers by **") and "unknown" not in line
        app.select_night("sim-0002", session)
        history, _, gallery, session, night = _last(app.ask("Show the hypnogram of this night.", [], session))
        tools = [m for m in history if m.get("metadata")]
        assert tools and all(m["metadata"]["title"].startswith("🔧 ") for m in tools)
        assert any("sim-0002" in m["content"] for m in history if isinstance(m["content"], str))
        assert gallery and all(Path(p).suffix == ".png" and Path(p).is_file() for p in gallery)
        assert "sim-0002" in night
    finally:
        shared.close()


def test_server_binds_to_loopback_and_requires_the_password(app: ChatApp) -> None:
    import httpx
    from sleeplm.app.web import launch

    blocks = build_app(app)
    launch(blocks, app, port=_free_port(), auth="ann:pw", block=False)
    try:
        assert blocks.server_name == "127.0.0.1"
        with httpx.Client(base_url=blocks.local_url, timeout=20) as http:
            assert http.get("config").status_code in (401, 403)
            assert http.post("login", data={"username": "ann", "password": "wrong"}).status_code >= 400
            assert http.post("login", data={"username": "ann", "password": "pw"}).status_code == 200
            assert http.get("config").status_code == 200
    finally:
        blocks.close()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_every_example_the_page_offers_is_answered_on_a_fresh_session(sim_workspace: Path, tmp_path: Path) -> None:
    from sleeplm.agent import ToolConfig, ask
    from sleeplm.app.web import EXAMPLES

    for example in EXAMPLES:
        turn = ask(sim_workspace, example, config=ToolConfig(figure_dir=tmp_path))
        assert turn.steps and not any(s.error for s in turn.steps), (example, turn.answer[:300])


def test_the_cohort_table_says_when_a_night_is_short_or_has_little_sleep() -> None:
    from sleeplm.app.web import night_notes

    excerpt = night_notes({"n_epochs": 60, "tst_min": 8.5})  # 30 min recorded, 8.5 min asleep
    assert "0.5 h recording, not a whole night" in excerpt and "8.5 min of sleep: per-hour indices not graded" in excerpt
    assert night_notes({"n_epochs": 960, "tst_min": 400.0}) == ""


def test_the_cohort_table_shows_the_notes_beside_each_nights_name(app: ChatApp) -> None:
    _, _, table, _ = app.on_load(None)
    assert list(table.columns[:2]) == ["recording", "notes"]
    assert all("h recording, not a whole night" in n for n in table["notes"])  # the fixture's nights are short
