"""The chat loop: any tool-calling langchain-core chat model, the cohort tools, session memory.

One turn: the model proposes tool calls → the tools run → their ToolMessages go back → the
model answers (at most ``max_steps`` rounds of tools). A tool that fails becomes a ToolMessage
with ``status="error"`` and the error text, never an exception out of the loop. A
:class:`ChatSession` keeps the conversation and its :class:`SessionState` (what "this night"
and "that epoch" mean); sessions share nothing but the read-only cohort.
"""

from __future__ import annotations

import copy
import functools
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.tools import BaseTool, StructuredTool
from langchain_core.utils.function_calling import convert_to_openai_tool
from sleeplm.index.queries import Cohort

from . import lookup
from .backends import load_llm, model_label
from .router import SleepRouter
from .state import AgentTurn, SessionState, ToolConfig, ToolStep
from .tools import make_tools

MAX_STEPS = 6
MAX_HISTORY = 80

SYSTEM_PROMPT = """You are the SleepLM assistant for a cohort of overnight polysomnography (PSG) recordings.
Answer only from tool results; never invent numbers. Use the tools: describe_night, caption_epochs, show_epoch,
localize_events, search_epochs, similar_epochs, similar_nights, query_cohort, cohort_stats.
For cohort numbers (values, averages, highest/lowest, counts, lists with filters, group comparisons, trends) call
query_cohort with a typed plan. When a tool declines or cannot answer, say so and why; never present another
tool's result as the answer to the question asked.
Point to the evidence in every answer: recording, epoch index and clock time, written like
"sim-0002 epoch 30 (22:58:00)". Figures the tools make are shown to the user; mention them briefly.
If a tool returns an error, say what went wrong and how to ask instead.
When the user says "this night", "it", "like this one" or "that epoch", use the current night / epoch below
(omit recording / epoch in the tool call to use them).
The cohort has {n_nights} nights, e.g. {examples}."""


def system_prompt(state: SessionState, recordings: Sequence[str]) -> str:
    """The system message: instructions, the cohort's size and the session's current night / epoch."""
    examples = ", ".join(recordings[:5]) + (" …" if len(recordings) > 5 else "")
    return SYSTEM_PROMPT.format(n_nights=len(recordings), examples=examples or "none") + "\n" + state.describe()


@functools.lru_cache(maxsize=128)
def _tool_spec_for(name: str, description: str, args_schema: type) -> dict[str, Any]:
    """The schema of a tool with this name, description and argument model (what conversion reads)."""
    def _unused(**_: Any) -> None:
        return None

    return convert_to_openai_tool(StructuredTool.from_function(
        _unused, name=name, description=description, args_schema=args_schema))


def tool_specs(tools: Sequence[BaseTool]) -> list[dict[str, Any]]:
    """The OpenAI-format schema of each tool, as every back end's ``bind_tools`` accepts it.

    Building a schema from a tool's pydantic model costs tens of milliseconds per tool, and every
    session makes its own tools with the same names, descriptions and argument models; the schema
    depends on nothing else, so it is built once per (name, description, argument model) and copied.
    """
    specs = []
    for t in tools:
        schema = t.args_schema
        if isinstance(t, BaseTool) and isinstance(schema, type):
            specs.append(copy.deepcopy(_tool_spec_for(t.name, t.description, schema)))
        else:  # a tool described by a dict schema: nothing stable to key on
            specs.append(convert_to_openai_tool(t))
    return specs


def _run_tool(tools: dict[str, BaseTool], call: dict[str, Any]) -> tuple[ToolMessage, ToolStep, dict[str, Any] | None]:
    name, args = call["name"], dict(call.get("args") or {})
    call_id = call.get("id") or f"call_{name}_{time.monotonic_ns()}"
    t0 = time.perf_counter()
    tool = tools.get(name)
    try:
        if tool is None:
            raise ValueError(f"unknown tool {name!r}; available: {', '.join(sorted(tools))}")
        msg = tool.invoke({"name": name, "args": args, "id": call_id, "type": "tool_call"})
    except Exception as exc:  # noqa: BLE001 - every tool failure goes back to the model as text
        error = _error_text(exc)
        seconds = time.perf_counter() - t0
        msg = ToolMessage(content=f"Error: {error}", tool_call_id=call_id, name=name, status="error")
        return msg, ToolStep(name, args, f"error: {error}", seconds, error), None
    seconds = time.perf_counter() - t0
    result = msg.artifact if isinstance(msg.artifact, dict) else None
    summary = str(result.get("summary", "")) if result else (msg.text[:200] if msg.text else "")
    return msg, ToolStep(name, args, summary, seconds), result


def _error_text(exc: Exception) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):  # pydantic ValidationError: one line per field
        try:
            details = errors()
        except TypeError:
            details = None
        if isinstance(details, list):
            return "invalid arguments: " + "; ".join(
                f"{'.'.join(map(str, e.get('loc', ())))}: {e.get('msg')}" for e in details)
    text = str(exc)
    if isinstance(exc, KeyError) and text.startswith(("'", '"')):
        text = text[1:-1]
    return text or type(exc).__name__


def run_turn(llm: BaseChatModel, tools: Sequence[BaseTool], history: Sequence[BaseMessage], question: str,
             state: SessionState, system: Callable[[SessionState], str], max_steps: int = MAX_STEPS,
             model_name: str | None = None, on_step: Callable[[ToolStep], None] | None = None
             ) -> tuple[AgentTurn, list[BaseMessage]]:
    """Answer one question; returns the turn and the messages to append to the history.

    Parameters
    ----------
    llm : a chat model that supports ``bind_tools``.
    tools : the tools it may call (see :func:`sleeplm.agent.tools.make_tools`).
    history : the conversation so far (without the system message).
    state : the session state, updated from each result's ``focus``.
    system : renders the system message from the state (called before every model call).
    max_steps : most rounds of tool calls before the loop stops.
    on_step : called with each tool step as soon as it has run (the page streams them).
    """
    bound = llm.bind_tools(tool_specs(tools))
    by_name = {t.name: t for t in tools}
    name = model_name or model_label(llm)
    new: list[BaseMessage] = [HumanMessage(content=question)]
    steps: list[ToolStep] = []
    figures: list[Path] = []
    answer = ""
    for round_ in range(max_steps + 1):
        try:
            ai = bound.invoke([SystemMessage(content=system(state)), *history, *new])
        except Exception as exc:  # noqa: BLE001 - a failing LLM endpoint is an answer, not a crash
            answer = f"The model ({name}) failed: {_error_text(exc)}"
            new.append(AIMessage(content=answer))
            break
        if not isinstance(ai, AIMessage):
            ai = AIMessage(content=str(getattr(ai, "content", ai)))
        if not ai.tool_calls:
            answer = ai.text
            new.append(ai)
            break
        if round_ == max_steps:
            done = "; ".join(s.summary for s in steps[-3:])
            answer = f"I stopped after {max_steps} rounds of tool calls without a final answer. Last results: {done}"
            new.append(AIMessage(content=answer))
            break
        new.append(ai)
        for call in ai.tool_calls:
            msg, step, result = _run_tool(by_name, call)
            new.append(msg)
            steps.append(step)
            if on_step is not None:
                on_step(step)
            if result:
                state.update(result.get("focus"))
                figures += [Path(f) for f in result.get("figures") or [] if Path(f) not in figures]
    return AgentTurn(answer=answer, steps=steps, figures=figures, model_name=name), new


def _trim(history: list[BaseMessage], limit: int) -> list[BaseMessage]:
    """The last ``limit`` messages or so, starting at a question (tool calls keep their results)."""
    if len(history) <= limit:
        return history
    cut = len(history) - limit
    while cut < len(history) and not isinstance(history[cut], HumanMessage):
        cut += 1
    return history[cut:]


class ChatSession:
    """One conversation with a cohort.

    Parameters
    ----------
    cohort : the opened workspace (shared read-only between sessions).
    llm : a tool-calling chat model, a back-end spec (``"openai:MODEL"``, ``"ollama:MODEL"``,
        ``"router"``), or None for ``$SLEEPLM_LLM`` (the embedded router when unset).
    config : tool settings (figure folder, caption length...).
    max_steps : most rounds of tool calls per message.

    Attributes
    ----------
    state : the current night / epoch.
    model_name : which model answers.
    figure_dir : where this session's PNGs are written.
    """

    def __init__(self, cohort: Cohort, llm: BaseChatModel | str | None = None, *,
                 config: ToolConfig | None = None, max_steps: int = MAX_STEPS):
        self.cohort = cohort
        self.state = SessionState()
        chosen = llm if isinstance(llm, BaseChatModel) else load_llm(llm)
        self.llm: BaseChatModel = chosen if chosen is not None else SleepRouter.for_cohort(cohort, self.state)
        self.model_name = model_label(self.llm)
        config = config or ToolConfig()
        self.figure_dir = Path(config.figure_dir) if config.figure_dir else \
            Path(tempfile.mkdtemp(prefix="sleeplm-chat-"))
        self.tools = make_tools(cohort, self.state, config, figure_dir=self.figure_dir)
        self.max_steps = max_steps
        self.history: list[BaseMessage] = []
        self._recordings = cohort.recordings()

    def _system(self, state: SessionState) -> str:
        return system_prompt(state, self._recordings)

    def respond(self, message: str, on_step: Callable[[ToolStep], None] | None = None) -> AgentTurn:
        """Answer a message (tools run as the model asks); the conversation is remembered.

        ``on_step`` is called with each tool step as it finishes (before the answer is composed).
        """
        turn, new = run_turn(self.llm, self.tools, self.history, message, self.state, self._system,
                             self.max_steps, self.model_name, on_step)
        self.history = _trim(self.history + new, MAX_HISTORY)
        return turn

    def set_current_night(self, recording: str) -> str:
        """Make a night "this night" (e.g. picked in the UI); returns its name.

        Raises
        ------
        ValueError
            For an unknown recording.
        """
        name = lookup.resolve_recording(self.cohort, recording)
        self.state.recording, self.state.epoch = name, None
        return name

    def reset(self) -> None:
        """Forget the conversation and the current night / epoch."""
        self.history.clear()
        self.state.recording = self.state.epoch = None


def ask(workspace: str | Path, question: str, llm: BaseChatModel | str | None = None,
        session: ChatSession | None = None, *, config: ToolConfig | None = None) -> AgentTurn:
    """Answer one question about a workspace (``sleeplm ask``).

    Parameters
    ----------
    workspace : the workspace folder (ignored when ``session`` is given).
    question : the question, in words.
    llm : chat model or back-end spec; default ``$SLEEPLM_LLM`` or the embedded router.
    session : an existing session to continue.
    config : tool settings, e.g. ``ToolConfig(figure_dir=...)`` to keep the figures somewhere known.

    Returns
    -------
    AgentTurn
        Answer, tool steps, figure paths (in a temporary folder that is kept), model name.
    """
    if session is not None:
        return session.respond(question)
    cohort = Cohort(workspace)
    try:
        return ChatSession(cohort, llm, config=config).respond(question)
    finally:
        cohort.close()
