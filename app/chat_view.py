"""How an agent turn looks in the chat: Gradio message dicts, tool steps as collapsible messages.

Each tool step becomes an assistant message whose ``metadata.title`` is ``🔧 <tool name>``; Gradio
shows such a message as a collapsed accordion with its duration, and inside it the arguments and
the step's summary (or its error). Then comes the answer (markdown), then one message per figure
(a PNG file, shown inline). Pure functions: no Gradio import, easy to test.
"""

from __future__ import annotations

import json
import re
import shutil
import uuid
from pathlib import Path
from typing import Any, Protocol

Message = dict[str, Any]


class StepLike(Protocol):
    name: str
    args: dict[str, Any]
    summary: str
    seconds: float
    error: str | None


class TurnLike(Protocol):
    answer: str
    steps: list[StepLike]
    figures: list[Path]
    model_name: str


TOOL_ICON = "🔧"
MAX_ARG_CHARS = 2000


def _args_block(args: dict[str, Any]) -> str:
    text = json.dumps(args, indent=2, default=str, ensure_ascii=False)
    if len(text) > MAX_ARG_CHARS:
        text = text[:MAX_ARG_CHARS] + "\n…"
    return f"```json\n{text}\n```"


def step_message(step: StepLike, index: int) -> Message:
    """One tool call as a collapsed "thought" message."""
    body = [f"**arguments**\n{_args_block(dict(step.args or {}))}"]
    if step.error:
        body.append(f"**error:** {step.error}")
    if step.summary:
        body.append(f"**result:** {step.summary}")
    metadata: dict[str, Any] = {
        "title": f"{TOOL_ICON} {step.name}",
        "id": f"step-{index}",
        "duration": round(float(step.seconds or 0.0), 2),
        "status": "done",
    }
    if step.error:
        metadata["log"] = "failed"
    return {"role": "assistant", "content": "\n\n".join(body), "metadata": metadata}


def publish_figures(figures: list[Path], folder: Path) -> list[Path]:
    """Copy the turn's PNGs into ``folder`` (a place the server may serve from) under unique names."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for fig in figures:
        fig = Path(fig)
        if not fig.is_file():
            continue
        dest = folder / f"{uuid.uuid4().hex[:12]}-{fig.name}"
        shutil.copyfile(fig, dest)
        out.append(dest)
    return out


def figure_caption(path: Path) -> str:
    """``3f2a…-001-hypnogram-sim_0001.png`` → ``hypnogram sim 0001``."""
    stem = re.sub(r"^[0-9a-f]{12}-", "", Path(path).stem)
    stem = re.sub(r"^\d+-", "", stem)
    return stem.replace("_", " ").replace("-", " ").strip() or "figure"


def figure_message(path: Path) -> Message:
    caption = figure_caption(path)
    return {"role": "assistant", "content": {"path": str(path), "alt_text": caption}}


def turn_messages(turn: TurnLike, figures: list[Path] | None = None) -> list[Message]:
    """The messages of one agent turn: tool steps, the answer, the figures.

    ``figures`` overrides ``turn.figures`` (e.g. with the copies from :func:`publish_figures`).
    """
    messages = [step_message(step, i) for i, step in enumerate(turn.steps or [])]
    messages.append({"role": "assistant", "content": turn.answer or "(no answer)"})
    messages += [figure_message(Path(p)) for p in (turn.figures if figures is None else figures)]
    return messages


def user_message(text: str) -> Message:
    return {"role": "user", "content": text}


def pending_message() -> Message:
    return {"role": "assistant", "content": "", "metadata": {"title": "⏳ thinking…", "status": "pending"}}


def error_message(text: str) -> Message:
    return {"role": "assistant", "content": f"⚠️ {text}"}
