"""The chat loop with a scripted tool-calling chat model (never the network), and the back ends."""

from __future__ import annotations

import sys
from typing import Any

import pytest
from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.tools import tool
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import Field
from sleeplm.agent.backends import BackendError, load_llm, model_label, parse_spec
from sleeplm.agent.loop import run_turn
from sleeplm.agent.state import SessionState, turn_to_dict


class ScriptedChatModel(BaseChatModel):
    """Replies with the scripted messages in order and records what it was shown."""

    script: list[AIMessage]
    seen: list[list[BaseMessage]] = Field(default_factory=list)
    bound_tools: list[str] = Field(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
        self.bound_tools = [convert_to_openai_tool(t)["function"]["name"] for t in tools]
        return self

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        self.seen.append(list(messages))
        return ChatResult(generations=[ChatGeneration(message=self.script[len(self.seen) - 1])])


def call(name: str, args: dict[str, Any], i: int = 0) -> AIMessage:
    return AIMessage(content="", tool_calls=[{"name": name, "args": args, "id": f"c{i}", "type": "tool_call"}])


@tool(response_format="content_and_artifact")
def night_length(recording: str) -> tuple[str, dict[str, Any]]:
    """Length of a night in epochs."""
    if recording != "n1":
        raise ValueError(f"no recording {recording!r}")
    result = {"recording": "n1", "n_epochs": 960, "summary": "n1: 960 epochs", "focus": {"recording": "n1"},
              "figures": []}
    return "n1 has 960 epochs", result


def system(state: SessionState) -> str:
    return f"test\n{state.describe()}"


def test_tool_calls_run_and_their_results_go_back_to_the_model() -> None:
    llm = ScriptedChatModel(script=[call("night_length", {"recording": "n1"}), AIMessage("n1 has 960 epochs.")])
    state = SessionState()
    turn, new = run_turn(llm, [night_length], [], "how long is n1?", state, system)
    assert turn.answer == "n1 has 960 epochs." and llm.bound_tools == ["night_length"]
    assert [(s.name, s.args, s.summary, s.error) for s in turn.steps] == [
        ("night_length", {"recording": "n1"}, "n1: 960 epochs", None)]
    tool_msg = llm.seen[1][-1]
    assert isinstance(tool_msg, ToolMessage) and tool_msg.content == "n1 has 960 epochs"
    assert state.recording == "n1"  # the result's focus moved the session
    assert "Current night: n1" in llm.seen[1][0].text  # and the next system prompt says so
    assert [type(m).__name__ for m in new] == ["HumanMessage", "AIMessage", "ToolMessage", "AIMessage"]


def test_tool_errors_become_tool_messages_not_crashes() -> None:
    llm = ScriptedChatModel(script=[call("night_length", {"recording": "zz"}), call("nope", {}, 1),
                                    call("night_length", {}, 2), AIMessage("sorry")])
    turn, _ = run_turn(llm, [night_length], [], "how long is zz?", SessionState(), system)
    assert turn.answer == "sorry"
    errors = [s.error for s in turn.steps]
    assert "no recording 'zz'" in errors[0]
    assert "unknown tool 'nope'" in errors[1]
    assert "recording" in errors[2] and "invalid arguments" in errors[2]
    sent = [m for m in llm.seen[-1] if isinstance(m, ToolMessage)]
    assert all(m.status == "error" for m in sent) and "no recording 'zz'" in sent[0].text


def test_the_loop_stops_after_max_steps() -> None:
    llm = ScriptedChatModel(script=[call("night_length", {"recording": "n1"}, i) for i in range(5)])
    turn, new = run_turn(llm, [night_length], [], "loop", SessionState(), system, max_steps=2)
    assert len(turn.steps) == 2 and "stopped after 2 rounds" in turn.answer
    assert not getattr(new[-1], "tool_calls", None)  # the history never ends on unanswered tool calls


def test_a_failing_model_is_an_answer() -> None:
    class Broken(ScriptedChatModel):
        def _generate(self, *a: Any, **k: Any) -> ChatResult:
            raise ConnectionError("endpoint unreachable")

    turn, _ = run_turn(Broken(script=[]), [night_length], [], "hi", SessionState(), system)
    assert "endpoint unreachable" in turn.answer and turn.steps == []


def test_turn_to_dict_is_json_ready() -> None:
    import json

    llm = ScriptedChatModel(script=[call("night_length", {"recording": "n1"}), AIMessage("ok")])
    turn, _ = run_turn(llm, [night_length], [], "q", SessionState(), system)
    d = json.loads(json.dumps(turn_to_dict(turn)))
    assert d["answer"] == "ok" and d["model"] == "scripted" and d["steps"][0]["name"] == "night_length"


def test_backend_specs() -> None:
    assert parse_spec("openai:qwen2.5-7b") == ("openai", "qwen2.5-7b")
    assert parse_spec("router") == ("router", "")
    with pytest.raises(BackendError, match="unknown LLM back end"):
        parse_spec("claude:x")
    with pytest.raises(BackendError, match="names no model"):
        parse_spec("ollama:")


def test_router_is_the_default_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SLEEPLM_LLM", raising=False)
    assert load_llm() is None


def test_missing_llm_package_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLEEPLM_LLM", "ollama:llama3.1")
    monkeypatch.setitem(sys.modules, "langchain_ollama", None)  # import fails as if not installed
    with pytest.raises(BackendError, match=r"langchain-ollama.*sleeplm\[llm\]"):
        load_llm()
    monkeypatch.setitem(sys.modules, "langchain_openai", None)
    with pytest.raises(BackendError, match="langchain-openai"):
        load_llm("openai:gpt-4o-mini", base_url="http://localhost:8000/v1")


def test_model_label_names_the_model() -> None:
    assert model_label(ScriptedChatModel(script=[])) == "scripted"
