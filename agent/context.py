"""What the tools of one session share: the cohort, the session state, figure paths, signals.

A :class:`ToolContext` is made per session by :func:`sleeplm.agent.tools.make_tools`; its
signal cache holds the preprocessed epochs of the last night opened (one night, so memory
stays bounded on 8-h recordings).
"""

from __future__ import annotations

import json
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sleeplm.encoder.io.psg import load_psg
from sleeplm.encoder.io.records import Epochs
from sleeplm.encoder.signals.preprocess import make_epochs
from sleeplm.index.queries import Cohort

from . import lookup
from .lookup import Night
from .state import SessionState, ToolConfig

#: Lists longer than this are cut in what a language model reads (the artifact keeps them whole).
LLM_LIST_LIMIT = 25


@dataclass
class ToolContext:
    """The cohort and session a set of tools works on."""

    cohort: Cohort
    state: SessionState
    config: ToolConfig = field(default_factory=ToolConfig)
    figure_dir: Path | None = None
    _signals: dict[str, Epochs] = field(default_factory=dict)
    _n_figures: int = 0

    def __post_init__(self) -> None:
        if self.figure_dir is None:
            self.figure_dir = Path(self.config.figure_dir) if self.config.figure_dir else \
                Path(tempfile.mkdtemp(prefix="sleeplm-figures-"))
        self.figure_dir.mkdir(parents=True, exist_ok=True)

    # ---------------------------------------------------------------- references
    def night(self, recording: str | None) -> Night:
        """The named night, or the session's current one.

        Raises
        ------
        ValueError
            When no night is named and none is current, or the name is unknown.
        """
        name = recording or self.state.recording
        if not name:
            raise ValueError("no night chosen: name a recording (e.g. "
                             f"{', '.join(self.cohort.recordings()[:3])}) or a subject id")
        return lookup.night(self.cohort, name)

    def epoch_index(self, n: Night, epoch: int | None, clock_time: str | None) -> int:
        """An epoch from its index, a clock time, or the session's current epoch."""
        if epoch is not None:
            if not 0 <= epoch < n.n_epochs:
                raise ValueError(f"{n.recording} has no epoch {epoch}: its epochs are 0–{n.n_epochs - 1}")
            return int(epoch)
        if clock_time:
            return lookup.epoch_at_clock(self.cohort, n, clock_time)
        if self.state.epoch is not None and self.state.recording == n.recording:
            return self.state.epoch
        raise ValueError(f"which epoch of {n.recording}? give an epoch number (0–{n.n_epochs - 1}) or a clock time")

    # ---------------------------------------------------------------- files
    def figure_path(self, kind: str, *parts: Any) -> Path:
        """A fresh PNG path in the session's figure folder."""
        self._n_figures += 1
        stem = "-".join([kind, *(re.sub(r"[^A-Za-z0-9_.]+", "_", str(p)) for p in parts)])
        assert self.figure_dir is not None
        return self.figure_dir / f"{self._n_figures:03d}-{stem}.png"

    def signals(self, n: Night) -> Epochs:
        """Model-ready epochs of a night, read from its recording file (cached for one night).

        Raises
        ------
        ValueError
            When the recording file is no longer where it was ingested from.
        """
        if n.recording not in self._signals:
            path = Path(n.path)
            if not path.is_file():
                raise ValueError(f"the signals of {n.recording} are not available: {path} is missing "
                                 "(the workspace keeps captions and metrics, not the raw signals)")
            psg = load_psg(path)
            self._signals.clear()
            self._signals[n.recording] = make_epochs(psg.mapped, psg.annotations)
        return self._signals[n.recording]


def compact(value: Any, limit: int = LLM_LIST_LIMIT) -> Any:
    """A result with long lists cut (and a note of how many items were left out)."""
    if isinstance(value, dict):
        return {k: compact(v, limit) for k, v in value.items()}
    if isinstance(value, list):
        if len(value) > limit:
            return [compact(v, limit) for v in value[:limit]] + [f"… {len(value) - limit} more"]
        return [compact(v, limit) for v in value]
    return value


def to_content(result: dict[str, Any]) -> str:
    """The JSON text a language model reads for a tool result."""
    return json.dumps(compact(lookup.jsonable(result)), ensure_ascii=False, default=str)
