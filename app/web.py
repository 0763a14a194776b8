"""The web page: chat with a cohort workspace (Gradio Blocks).

``serve(workspace)`` opens the workspace once (:class:`~sleeplm.app.service.SharedCohort`) and
serves a page with

* the chat: each tool call of the agent is a collapsed "🔧 tool" message (arguments, result, time),
  then the answer, then the turn's figures inline; the figures also fill a gallery beside the chat;
* the cohort panel: one row per night with its metrics; clicking a row makes that night "this
  night" for the session (``ChatSession.set_current_night``);
* an upload box for an EDF/BDF recording and its annotation file, ingested into the workspace
  with a progress bar, after which the night appears in the cohort panel;
* a line naming the model that answers and the SleepLM model that built the workspace.

Security: the server binds to 127.0.0.1 unless told otherwise, can require ``user:password``,
accepts only recording/annotation file types up to a size limit, and never executes code or SQL
from a message: a message only ever reaches ``ChatSession.respond``.

Sessions: every browser session keeps its own :class:`WebSession` (its own ``ChatSession`` over its
own cohort view and DuckDB cursor) in a ``gr.State``; sessions never see each other's state.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import os
import queue
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd
from sleeplm.agent.answers import SHORT_RECORDING_H
from sleeplm.encoder.captions.night import MIN_SLEEP_FOR_SEVERITY_MIN
from sleeplm.encoder.vocab import EPOCH_S

from . import chat_view as cv
from .service import SharedCohort
from .uploads import ALLOWED_TYPES, DEFAULT_MAX_UPLOAD_BYTES, UploadError, stage_uploads

log = logging.getLogger(__name__)

LOOPBACK = ("127.0.0.1", "localhost", "::1")
EXAMPLES = [
    "How many nights are in the cohort, and what are their phenotypes?",
    "Show the hypnogram of the night with the highest AHI.",
    "Compare AHI between phenotypes.",
    "Find epochs with obstructive apnea in REM sleep.",
]
CSS = """
#nights-table { font-size: 0.85em; }
.model-line p { font-size: 0.85em; opacity: 0.85; margin: 0; }
"""

SessionFactory = Callable[[Any, Any], Any]  # (cohort view, llm) -> ChatSession


_DONE = object()  # end of a turn's step stream
#: Chat turns the page runs at once (Gradio's queue; further turns wait their turn). A turn that waits for a
#: night being read still holds its place, so with few places a handful of first questions about new nights
#: stall every quick question behind them: 20 sessions on the demo cohort, first round, 2 shared cores
#: (`bench/bench_chat_load.py --concurrency N`): p50 2.3 s with 4 places, 1.3 s with 8, 0.8 s with 16.
CHAT_CONCURRENCY = 16
#: A chat turn shorter than this is drawn once, with its answer (see :meth:`ChatApp.ask`).
PROGRESS_AFTER_S = 0.3
#: Gradio's queue keeps per-event statistics for its monitoring page and, by default, rebuilds a pandas
#: summary of the last 10,000 events after every event: a cost that grows with the server's age. Here it
#: keeps the last 500 and summarises every 100 events (the variables are Gradio's; a value already set in
#: the environment wins).
GRADIO_QUEUE_ANALYTICS = {"GRADIO_ANALYTICS_MAX_EVENTS": "500", "GRADIO_ANALYTICS_CACHE_FREQUENCY": "100"}

def _default_session_factory(cohort: Any, llm: Any) -> Any:
    from sleeplm.agent import ChatSession

    return ChatSession(cohort, llm=llm)


@dataclass
class WebSession:
    """One browser session: its chat session over its own cohort view (own DuckDB cursor)."""

    chat: Any
    view: Any
    generation: int
    current_night: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def close(self) -> None:
        """Close the session's cursor (also done by an ingest, hence tolerant)."""
        with contextlib.suppress(Exception):  # already closed
            self.view.con.close()


@dataclass
class ChatApp:
    """The page's handlers, independent of the Blocks layout (tests call them directly).

    Lock order, everywhere: the shared cohort's read lock, then the session's lock; no handler
    yields while holding either (a generator left unfinished by a closed tab must not hold them).
    """

    shared: SharedCohort
    llm: Any = None
    session_factory: SessionFactory = _default_session_factory
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES
    figure_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="sleeplm-figures-")))
    #: Seconds a turn runs before the page shows its question, pending mark and tool steps (0: at once).
    progress_after_s: float = PROGRESS_AFTER_S

    # ------------------------------------------------------------------ sessions
    def _new_session(self) -> WebSession:
        view = self.shared.view()
        return WebSession(self.session_factory(view, self.llm), view, self.shared.generation)

    def _ensure(self, session: WebSession | None) -> WebSession:
        """Under the read lock: the session, created on first use, rebuilt on the new cohort after an upload."""
        if session is None:
            return self._new_session()
        if session.generation != self.shared.generation:
            fresh = self._new_session()
            if session.current_night:
                try:
                    fresh.chat.set_current_night(session.current_night)
                except Exception as exc:  # noqa: BLE001 - a night that is no longer there
                    log.warning("could not restore this night %s: %s", session.current_night, exc)
            session.close()
            session.chat, session.view, session.generation = fresh.chat, fresh.view, fresh.generation
        return session

    def ensure_session(self, session: WebSession | None) -> WebSession:
        with self.shared.reading():
            return self._ensure(session)

    # ------------------------------------------------------------------ panels
    def model_line(self, session: WebSession) -> str:
        m = self.shared.manifest
        counts = m.counts or {}
        tiny = (" · sleeplm-tiny is a small model trained here on simulated nights, not SleepLM-Base: what it reads "
                "from the signals is an estimate, and each such answer gives its out-of-distribution score"
                if m.model_name == "sleeplm-tiny" else "")
        return (f"Answers by **{getattr(session.chat, 'model_name', 'unknown')}** · workspace built with SleepLM "
                f"**{m.model_name}** (weights sha256 `{m.model_sha256[:12]}`) · "
                f"{counts.get('recordings', '?')} nights, {counts.get('epochs', '?')} epochs{tiny}")

    def _describe(self, name: str) -> str:
        with self.shared.reading():
            return self.shared.describe_night(name)

    def nights_value(self) -> pd.DataFrame:
        with self.shared.reading():
            table = self.shared.nights_table()
        frame = pd.DataFrame(table.rows, columns=list(table.columns))
        frame.insert(1, "notes", [night_notes(r) for r in frame.to_dict("records")])
        return frame

    @staticmethod
    def night_line(session: WebSession | None) -> str:
        night = session.current_night if session else None
        return f"**This night:** {night}" if night else "**This night:** none yet (click a night in the cohort table)"

    def on_load(self, session: WebSession | None) -> tuple[WebSession, str, pd.DataFrame, str]:
        with self.shared.reading():
            session = self._ensure(session)
            line = self.model_line(session)
        return session, line, self.nights_value(), self.night_line(session)

    # ------------------------------------------------------------------ chat
    def ask(self, message: str, history: list[dict[str, Any]] | None, session: WebSession | None
            ) -> Iterator[tuple[Any, Any, Any, Any, Any]]:
        """One chat turn; yields (history, textbox, gallery, session, this-night line): first the textbox cleared
        (everything else unchanged, ``gr.skip()``), then the question, each tool step as it finishes, and the answer
        and its figures (the textbox unchanged).

        The message goes to ``ChatSession.respond`` and nowhere else; the turn runs in a worker thread that
        holds the locks, so this generator never yields while holding one. A turn that ends within
        :attr:`progress_after_s` is shown once, with its answer: every update the page draws costs the
        server a render of the chat and a message to the browser, which under many sessions delays
        everyone's answers more than a fraction of a second of progress display helps anyone.
        """
        history = list(history or [])
        message = (message or "").strip()
        if not message:
            yield history, "", [], session, self.night_line(session)
            return
        # the box is cleared once, now, and left alone after: a question typed while this turn runs stays there
        # (it was erased by the turn's later updates); the chat and figures are not redrawn by this update
        yield gr.skip(), "", gr.skip(), gr.skip(), gr.skip()
        history.append(cv.user_message(message))
        updates: queue.Queue[Any] = queue.Queue()
        box: dict[str, Any] = {"session": session, "turn": None, "failure": None}
        worker = threading.Thread(target=self._turn_worker, args=(message, box, updates), daemon=True)
        steps: list[Any] = []

        def progress() -> tuple[list[dict[str, Any]], Any, list[str], WebSession | None, str]:
            live = [cv.step_message(s, i) for i, s in enumerate(steps)]
            return [*history, *live, cv.pending_message()], gr.skip(), [], box["session"], self.night_line(box["session"])

        shown = self.progress_after_s <= 0  # whether the page shows this turn's progress
        if shown:
            yield progress()
        started = time.monotonic()
        worker.start()

        while True:  # each tool step as it finishes (no lock held here)
            wait_s = None if shown else max(0.0, self.progress_after_s - (time.monotonic() - started))
            try:
                step = updates.get(timeout=wait_s)
            except queue.Empty:  # still running: show the question and the steps so far
                shown = True
                yield progress()
                continue
            if step is _DONE:
                break
            steps.append(step)
            if shown or time.monotonic() - started >= self.progress_after_s:
                shown = True
                yield progress()
        worker.join()
        session, turn, failure = box["session"], box["turn"], box["failure"]
        if turn is None:
            history.append(cv.error_message(failure or "no answer"))
            yield history, gr.skip(), [], session, self.night_line(session)
            return
        figures = cv.publish_figures([Path(p) for p in turn.figures or []], self.figure_dir)
        history += cv.turn_messages(turn, figures)
        yield history, gr.skip(), [str(p) for p in figures], session, self.night_line(session)

    def _turn_worker(self, message: str, box: dict[str, Any], updates: queue.Queue[Any]) -> None:
        """Run one turn under the locks (in a thread), putting each tool step on ``updates``, then _DONE."""
        try:
            with self.shared.reading():
                session = self._ensure(box["session"])
                box["session"] = session
                with session.lock:
                    try:
                        respond = session.chat.respond
                        if "on_step" in inspect.signature(respond).parameters:
                            box["turn"] = respond(message, on_step=updates.put)
                        else:
                            box["turn"] = respond(message)
                    except Exception as exc:
                        log.exception("chat turn failed")
                        box["failure"] = f"the agent failed: {type(exc).__name__}: {exc}"
                    self._sync_night(session)
        except Exception as exc:
            log.exception("chat turn failed")
            box["failure"] = f"the agent failed: {type(exc).__name__}: {exc}"
        finally:
            updates.put(_DONE)

    @staticmethod
    def _sync_night(session: WebSession) -> None:
        """Follow the agent when a turn moved "this night"."""
        night = getattr(getattr(session.chat, "state", None), "recording", None)
        if isinstance(night, str) and night:
            session.current_night = night

    def select_night(self, recording: str, session: WebSession | None) -> tuple[WebSession, str]:
        """Make ``recording`` "this night" for the session (ValueError for an unknown night)."""
        with self.shared.reading():
            session = self._ensure(session)
            if recording:
                with session.lock:
                    session.chat.set_current_night(recording)
                    session.current_night = recording
        return session, self.night_line(session)

    def reset(self, session: WebSession | None) -> tuple[WebSession | None, str, list[str]]:
        """The chat was cleared: the agent forgets the conversation and "this night" too."""
        if session is not None:
            with self.shared.reading(), session.lock:
                reset = getattr(session.chat, "reset", None)
                if reset is not None:
                    reset()
                session.current_night = None
        return session, self.night_line(session), []

    # ------------------------------------------------------------------ upload
    def upload(self, files: list[str] | None, progress: Any = None,
               replace: bool = False) -> tuple[str, pd.DataFrame]:
        """Check, stage and ingest uploaded files; returns (a markdown report, the nights table).

        A night whose name is taken by a different night of the cohort is not ingested: the report
        asks the user to confirm, and only ``replace`` (the page's "replace" box, ticked for one
        ingest) lets an uploaded night replace it. Messages name files, never server folders.
        Chat turns wait while the workspace is written (see :class:`SharedCohort`).
        """
        paths = [Path(f) for f in (files or [])]
        try:
            staged = stage_uploads(paths, self.shared.workspace, self.max_upload_bytes)
        except UploadError as exc:
            return f"⚠️ upload refused: {exc}", self.nights_value()

        def on_file(i: int, n: int, name: str) -> None:
            if progress is not None:
                progress(i / n, desc=f"ingesting {name} ({i + 1} of {n}): reading, captioning, embedding")

        names = [p.stem for p in staged.recordings] if replace else []
        report = self.shared.ingest(staged.recordings, staged.folder, on_file, replace=names)
        lines = []
        if report.ingested:
            verb = "replaced" if replace and set(names) & {Path(n).stem for n in report.ingested} else "ingested"
            lines.append(f"✅ {verb} {', '.join(report.ingested)} ({report.epochs_added} epochs, "
                         f"{report.seconds:.0f} s)")
        if report.skipped:
            lines.append(f"already in the workspace (unchanged): {', '.join(report.skipped)}")
        for name in report.conflicts:
            lines.append(f"⚠️ a different night named **{name}** is already in the workspace "
                         f"({self._describe(name)}); nothing was replaced. Rename the file, or tick "
                         "“replace nights of the same name” and ingest again to replace it.")
        hidden = [str(staged.folder.resolve()), str(staged.folder), str(Path(self.shared.workspace).resolve()),
                  str(self.shared.workspace)]

        def shown(message: str) -> str:
            for prefix in hidden:
                message = message.replace(prefix + "/", "").replace(prefix, "")
            return message

        lines += [f"⚠️ failed: {shown(m)}" for p, m in report.failed if Path(p).stem not in report.conflicts]
        lines += [f"⚠️ not used: {shown(m)}" for _, m in report.unused]
        return "\n\n".join(lines) or "nothing ingested", self.nights_value()


def _selected_recording(evt: gr.SelectData) -> str:
    row = evt.row_value or []
    return str(row[0]) if row and row[0] not in (None, "") else ""


def night_notes(row: dict[str, Any]) -> str:
    """What limits a night's values in the cohort table, by the chat's rules: a recording shorter than a night
    (:data:`~sleeplm.agent.answers.SHORT_RECORDING_H`), under
    :data:`~sleeplm.encoder.captions.night.MIN_SLEEP_FOR_SEVERITY_MIN` of sleep (per-hour indices not graded)."""
    notes = []
    hours = (row.get("n_epochs") or 0) * EPOCH_S / 3600.0
    if 0 < hours < SHORT_RECORDING_H:
        notes.append(f"{hours:.1f} h recording, not a whole night")
    tst = row.get("tst_min")
    if isinstance(tst, (int, float)) and not pd.isna(tst) and tst < MIN_SLEEP_FOR_SEVERITY_MIN:
        notes.append(f"{tst:.1f} min of sleep: per-hour indices not graded")
    return "; ".join(notes)


def build_app(app: ChatApp) -> gr.Blocks:
    """The Blocks page around ``app``'s handlers."""
    with gr.Blocks(title="SleepLM · chat with a sleep cohort") as blocks:
        state = gr.State(None, delete_callback=lambda s: s.close() if isinstance(s, WebSession) else None)
        gr.Markdown("## 🌙 SleepLM — chat with a sleep cohort")
        model_line = gr.Markdown("", elem_classes=["model-line"], elem_id="model-line")
        with gr.Row(equal_height=False):
            with gr.Column(scale=3):
                chatbot = gr.Chatbot(label="Chat", height=600, elem_id="chat", buttons=["copy"],
                                     placeholder="Ask about the cohort, a night, or an epoch.")
                with gr.Row():
                    box = gr.Textbox(placeholder="e.g. Show the hypnogram of this night", show_label=False,
                                     scale=6, elem_id="question", submit_btn=False, lines=1, max_lines=4)
                    ask = gr.Button("Ask", variant="primary", scale=1, elem_id="ask")
                gr.Examples(EXAMPLES, inputs=[box], label="Try")
            with gr.Column(scale=2):
                night_line = gr.Markdown(ChatApp.night_line(None), elem_id="night-line")
                gallery = gr.Gallery(label="Figures of the last answer", columns=1, height="auto", format="png",
                                     elem_id="figures", object_fit="contain")
        with gr.Accordion("Cohort: one row per night (click a row to make it “this night”)", open=True):
            nights = gr.Dataframe(interactive=False, elem_id="nights-table", max_height=420, wrap=False)
        with gr.Accordion("Add a recording (EDF/BDF + annotation file)", open=False):
            files = gr.File(file_count="multiple", file_types=list(ALLOWED_TYPES), type="filepath",
                            label=f"recording and annotations ({', '.join(ALLOWED_TYPES)}; "
                                  f"≤ {human_size(app.max_upload_bytes)} each)", elem_id="upload")
            replace_box = gr.Checkbox(False, label="replace nights of the same name (asked for when an uploaded "
                                      "night has the name of a different night in the cohort)", elem_id="replace")
            ingest_btn = gr.Button("Ingest into the workspace", elem_id="ingest")
            ingest_log = gr.Markdown("", elem_id="ingest-log")

        blocks.load(app.on_load, [state], [state, model_line, nights, night_line], api_visibility="private")
        outputs = [chatbot, box, gallery, state, night_line]
        ask.click(app.ask, [box, chatbot, state], outputs, api_name="ask", concurrency_id="chat")
        box.submit(app.ask, [box, chatbot, state], outputs, api_visibility="private", concurrency_id="chat")
        chatbot.clear(app.reset, [state], [state, night_line, gallery], api_visibility="private")

        def on_select(evt: gr.SelectData, session: WebSession | None) -> tuple[WebSession | None, str]:
            try:
                return app.select_night(_selected_recording(evt), session)
            except (KeyError, ValueError) as exc:  # an unknown night
                return session, f"⚠️ {exc.args[0] if exc.args else exc}"

        nights.select(on_select, [state], [state, night_line], api_visibility="private")

        def on_ingest(
            paths: list[str] | None,
            replace: bool,
            session: WebSession | None,
            progress: gr.Progress = gr.Progress(),  # noqa: B008 - how Gradio injects its progress bar
        ) -> tuple[str, pd.DataFrame, None, bool, WebSession, str]:
            report, table = app.upload(paths, progress, replace=bool(replace))
            session, line, _, _ = app.on_load(session)  # counts changed; the session moves to the new cohort
            return report, table, None, False, session, line  # the replace box is good for one ingest

        ingest_btn.click(on_ingest, [files, replace_box, state],
                         [ingest_log, nights, files, replace_box, state, model_line],
                         concurrency_limit=1, concurrency_id="ingest", api_visibility="private")
    return blocks


def human_size(n: int) -> str:
    """2147483648 → '2 GiB'."""
    for unit, size in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n} B"


def parse_auth(auth: str | None) -> tuple[str, str] | None:
    """``"user:password"`` → (user, password); None stays None."""
    if auth is None:
        return None
    user, sep, password = auth.partition(":")
    if not sep or not user or not password:
        raise ValueError("auth must be 'user:password' with both parts non-empty")
    return user, password


def load_llm_once(llm: Any) -> Any:
    """A back-end spec (``"openai:MODEL"``...) loaded once for all sessions; None stays the agent's default.

    A chat model object is shared by the sessions (its calls are independent); the embedded
    router (spec None / ``"router"`` with ``$SLEEPLM_LLM`` unset) is built per session.
    """
    if llm is None or not isinstance(llm, str):
        return llm
    from sleeplm.agent.backends import load_llm

    return load_llm(llm)


def make_app(workspace: Path, llm: Any = None, max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
             session_factory: SessionFactory | None = None) -> tuple[ChatApp, gr.Blocks]:
    """Open the workspace and build the page (not launched)."""
    llm = load_llm_once(llm)
    shared = SharedCohort(Path(workspace))
    app = ChatApp(shared, llm=llm, max_upload_bytes=max_upload_bytes,
                  session_factory=session_factory or _default_session_factory)
    return app, build_app(app)


def launch(blocks: gr.Blocks, app: ChatApp, host: str = "127.0.0.1", port: int = 7860,
           auth: str | None = None, open_browser: bool = False, concurrency: int = CHAT_CONCURRENCY,
           block: bool = True) -> Any:
    """Queue and launch: ``concurrency`` chat turns at once, one ingest at a time."""
    credentials = parse_auth(auth)
    if host not in LOOPBACK and credentials is None:
        print(f"warning: serving on {host} without --auth-user/--auth-file: anyone who can reach this address can use the page "
              "and add recordings to the workspace", file=sys.stderr)
    for name, value in GRADIO_QUEUE_ANALYTICS.items():  # read when the queue is made
        os.environ.setdefault(name, value)
    blocks.queue(default_concurrency_limit=concurrency, max_size=256)
    return blocks.launch(
        server_name=host, server_port=port, auth=credentials, inbrowser=open_browser,
        max_file_size=app.max_upload_bytes, allowed_paths=[str(app.figure_dir)], show_error=False,
        ssr_mode=False, mcp_server=False, prevent_thread_lock=not block, quiet=not block,
        theme=gr.themes.Soft(), css=CSS,
    )


#: torch threads per operation in the server: turns run side by side, each on one thread.
SERVER_TORCH_THREADS = 1


def serve(workspace: Path, host: str = "127.0.0.1", port: int = 7860, auth: str | None = None,
          llm: str | None = None, max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
          open_browser: bool = False, concurrency: int = CHAT_CONCURRENCY, torch_threads: int | None = SERVER_TORCH_THREADS) -> None:
    """Serve the chat page for ``workspace`` until interrupted (loopback unless ``host`` says otherwise).

    ``torch_threads``: the server process's torch intra-op threads (None leaves torch's default, one per
    core). Chat turns already run side by side (``concurrency``), and the model's work in a turn is many
    small operations (a caption is ~130 decoder steps) whose worker threads spin-wait: on the shared
    2-core machine under load average 10, a first caption turn took 47.6 s with torch's 2 threads and
    4.4 s with 1 (same turn, same run of the machine).
    """
    if torch_threads is not None:
        import torch

        torch.set_num_threads(torch_threads)
    app, blocks = make_app(workspace, llm=llm, max_upload_bytes=max_upload_bytes)
    try:
        launch(blocks, app, host, port, auth, open_browser, concurrency, block=True)
    finally:
        app.shared.close()
