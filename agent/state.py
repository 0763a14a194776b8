"""What a chat session remembers and what one turn returns.

:class:`SessionState` is what "this night" and "that epoch" refer to; tools read it for
defaults and the loop updates it from each tool result's ``focus``. :class:`AgentTurn` is the
contract with the CLI (``sleeplm ask``) and the Gradio page.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class SessionState:
    """The current night and epoch of one conversation.

    Attributes
    ----------
    recording : the night "this night" / "it" / "like this one" refer to.
    epoch : the epoch "that epoch" refers to (an index in ``recording``).
    """

    recording: str | None = None
    epoch: int | None = None

    def update(self, focus: dict[str, Any] | None) -> None:
        """Move to a tool result's focus (``{"recording": ..., "epoch_index": ...}``)."""
        if not focus or not focus.get("recording"):
            return
        if focus["recording"] != self.recording:
            self.epoch = None
        self.recording = str(focus["recording"])
        if focus.get("epoch_index") is not None:
            self.epoch = int(focus["epoch_index"])

    def describe(self) -> str:
        """Lines for a language model's system prompt (the router reads the state itself)."""
        lines = [f"Current night: {self.recording or 'none'}"]
        if self.recording and self.epoch is not None:
            lines.append(f"Current epoch: {self.epoch}")
        return "\n".join(lines)


@dataclass
class ToolConfig:
    """How the tools behave for a session.

    Attributes
    ----------
    figure_dir : where PNGs are written (a per-session temporary folder by default).
    caption_max_len : token limit of the model's captions.
    max_range_epochs : most epochs one "caption a time range" call covers.
    search_k : default number of epochs a search returns.
    """

    figure_dir: Path | None = None
    caption_max_len: int = 256
    max_range_epochs: int = 10
    search_k: int = 5


@dataclass
class ToolStep:
    """One tool call of a turn."""

    name: str
    args: dict[str, Any]
    summary: str
    seconds: float
    error: str | None = None


@dataclass
class AgentTurn:
    """The answer to one message.

    Attributes
    ----------
    answer : markdown text.
    steps : the tool calls made, in order.
    figures : PNG files the answer refers to.
    model_name : which model answered ("sleeplm-router" when no LLM is configured).
    """

    answer: str
    steps: list[ToolStep] = field(default_factory=list)
    figures: list[Path] = field(default_factory=list)
    model_name: str = ""


def turn_to_dict(turn: AgentTurn) -> dict[str, Any]:
    """A JSON-ready dict of a turn (``sleeplm ask --json``)."""
    return {
        "answer": turn.answer,
        "model": turn.model_name,
        "steps": [{"name": s.name, "args": s.args, "summary": s.summary, "seconds": round(s.seconds, 3),
                   "error": s.error} for s in turn.steps],
        "figures": [str(p) for p in turn.figures],
    }
