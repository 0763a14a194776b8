"""The embedded default "model": a deterministic router that is a langchain-core chat model.

It needs no LLM and no network. Given a conversation whose last message is a question, it
answers with an :class:`~langchain_core.messages.AIMessage` carrying one tool call (chosen by
:func:`sleeplm.agent.planner.decide`: a typed ``query_cohort`` plan, a decline, or a night / epoch tool); once the last messages are the tools' ToolMessages, it
composes the final answer from them (:mod:`sleeplm.agent.answers`). The current night / epoch
come from the session's :class:`~sleeplm.agent.state.SessionState`, which the router holds (a
structure, not prompt text), else from the focus of the conversation's latest tool result.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import ConfigDict, Field

from .answer_format import hours_where_asked
from .answers import compose
from .intents import Context
from .planner import decide
from .premises import why_after_preface, why_preface
from .state import SessionState
from .vocab import CohortNames
from .wording import method_note, rk_stage_note

ROUTER_NAME = "sleeplm-router"


def _tool_result(msg: ToolMessage) -> dict[str, Any] | None:
    if isinstance(msg.artifact, dict):
        return msg.artifact
    try:
        value = json.loads(msg.content if isinstance(msg.content, str) else msg.text)
    except (TypeError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def context_from(messages: Sequence[BaseMessage], state: SessionState | None = None) -> Context:
    """Current night / epoch and the last tool call of a conversation.

    The current night / epoch is the session's :class:`SessionState` when one is given (the structure
    the loop keeps, never text parsed back out of a prompt); without one, the focus of the latest tool
    result in the conversation.
    """
    ctx = Context()
    hits_seen = False
    previous_turn = True  # "those nights", "their": only the nights of the turn just before, never an older list
    for msg in reversed(messages[:-1]):
        if isinstance(msg, HumanMessage):
            previous_turn = False
        if isinstance(msg, AIMessage) and msg.tool_calls and ctx.last_tool is None:
            call = msg.tool_calls[-1]
            ctx.last_tool, ctx.last_args = call["name"], dict(call.get("args") or {})
        if isinstance(msg, ToolMessage) and not hits_seen:
            result = _tool_result(msg) or {}
            hits = result.get("hits")
            kind = result.get("kind")
            nights = result.get("recordings") if kind in ("count", "list") else [
                r.get("recording") for r in result.get("rows") or [] if isinstance(r, dict)] \
                if kind == "rank" else [p.get("recording") for p in result.get("per_night") or [] if isinstance(p, dict)] \
                if kind == "aggregate" and result.get("filters") else None
            if isinstance(hits, list) and hits:  # the latest list of results, for "show the second one"
                hits_seen = True
                ctx.last_hits = [(h.get("recording"), h.get("epoch_index")) for h in hits
                                 if isinstance(h, dict) and h.get("recording")]
            elif msg.name == "query_cohort" and not previous_turn and isinstance(nights, list) and nights:
                ctx.earlier_nights = True
            elif msg.name == "query_cohort" and previous_turn and isinstance(nights, list) and nights:  # "those nights"
                hits_seen = True
                ctx.last_nights = [str(r) for r in nights if r]
                ctx.last_hits = [(r, None) for r in ctx.last_nights]
        if state is None and isinstance(msg, ToolMessage) and ctx.recording is None:
            result = _tool_result(msg)
            focus = (result or {}).get("focus") or {}
            if focus.get("recording"):
                ctx.recording, ctx.epoch = focus["recording"], focus.get("epoch_index")
    if state is not None:
        ctx.recording = state.recording
        ctx.epoch = state.epoch if state.recording else None
    return ctx


class SleepRouter(BaseChatModel):
    """Deterministic tool-calling chat model for cohort questions.

    Parameters
    ----------
    names : the cohort's recording names, subjects, phenotypes and sites (see
        :meth:`CohortNames.from_cohort`); recordings not listed are still passed on to tools,
        which say when a name is unknown.
    state : the session's state (current night / epoch), read directly; without it the router
        follows the focus of the conversation's latest tool result.
    """

    names: CohortNames = Field(default_factory=CohortNames)
    state: SessionState | None = None
    model_name: str = ROUTER_NAME

    model_config = ConfigDict(arbitrary_types_allowed=True)

    @classmethod
    def for_cohort(cls, cohort: Any, state: SessionState | None = None) -> SleepRouter:
        """A router that knows a cohort's names (and reads the session's ``state``)."""
        return cls(names=CohortNames.from_cohort(cohort), state=state)

    @property
    def _llm_type(self) -> str:
        return ROUTER_NAME

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": self.model_name}

    def bind_tools(self, tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool], *,
                   tool_choice: str | None = None, **kwargs: Any) -> Runnable[Any, AIMessage]:
        """Bind tools (any form langchain accepts); only their names matter to the router."""
        return self.bind(tools=[convert_to_openai_tool(t) for t in tools], **kwargs)

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        available = {t["function"]["name"] for t in kwargs.get("tools") or []}
        return ChatResult(generations=[ChatGeneration(message=self.reply(messages, available))])

    def reply(self, messages: Sequence[BaseMessage], available: set[str]) -> AIMessage:
        """The next message: a tool call for a new question, an answer after tool results."""
        if not messages:
            return AIMessage(content="Ask me about the cohort.")
        if isinstance(messages[-1], ToolMessage):
            return AIMessage(content=self._answer(messages))
        question = next((m for m in reversed(messages) if isinstance(m, HumanMessage)), None)
        if question is None:
            return AIMessage(content="Ask me about the cohort.")
        plan = decide(question.text, self.names, context_from(messages, self.state))
        if plan.tool is None:
            return AIMessage(content=plan.text or "")
        if available and plan.tool not in available:
            return AIMessage(content=f"That needs the `{plan.tool}` tool, which is not available here.")
        args = {k: v for k, v in plan.args.items() if v is not None}
        return AIMessage(content="", tool_calls=[{"name": plan.tool, "args": args, "id": f"call_{len(messages)}",
                                                 "type": "tool_call"}])

    def _answer(self, messages: Sequence[BaseMessage]) -> str:
        results: list[ToolMessage] = []
        for msg in reversed(messages):
            if not isinstance(msg, ToolMessage):
                break
            results.insert(0, msg)
        parts = []
        for msg in results:
            name = msg.name or "tool"
            if msg.status == "error":
                parts.append(compose(name, None, msg.text))
            else:
                result = _tool_result(msg)
                parts.append(compose(name, result) if result is not None else msg.text)
        question = next((m for m in reversed(messages) if isinstance(m, HumanMessage)), None)
        asked = question.text if question is not None else ""
        preface = "\n\n".join(x for x in (rk_stage_note(asked), method_note(asked), why_preface(asked),
                                           why_after_preface(asked)) if x)
        return hours_where_asked(asked, (preface + "\n\n" if preface else "") + "\n\n---\n\n".join(parts))
