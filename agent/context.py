"""What the tools of one session share: the cohort, the session state, figure paths, signals.

A :class:`ToolContext` is made per session by :func:`sleeplm.agent.tools.make_tools`. Nights'
preprocessed epochs, generated captions and rendered figures are kept in a :class:`~sleeplm.index.caption_cache.ChatCache`:
the one the cohort carries as ``chat_cache`` (the web page's :class:`~sleeplm.app.service.SharedCohort`
puts one there, shared by every session), else a private one of one night (memory stays bounded on
8-h recordings).
"""

from __future__ import annotations

import json
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sleeplm.encoder.io.psg import load_psg
from sleeplm.encoder.io.records import Epochs
from sleeplm.encoder.signals.preprocess import make_epochs
from sleeplm.index.caption_cache import ChatCache, OnceLRU
from sleeplm.index.caption_store import CaptionKey
from sleeplm.index.queries import Cohort

from . import lookup
from .lookup import Night
from .state import SessionState, ToolConfig

#: Lists longer than this are cut in what a language model reads (the artifact keeps them whole).
LLM_LIST_LIMIT = 25


def read_night_epochs(path: str, brain_scale: str = "sd") -> Epochs:
    """A recording file read, mapped and preprocessed into model-ready epochs (what ingest embedded, with the
    model's EEG/EOG input scale)."""
    psg = load_psg(Path(path))
    return make_epochs(psg.mapped, psg.annotations, brain_scale=brain_scale)


@dataclass
class ToolContext:
    """The cohort and session a set of tools works on."""

    cohort: Cohort
    state: SessionState
    config: ToolConfig = field(default_factory=ToolConfig)
    figure_dir: Path | None = None
    cache: ChatCache | None = None
    _n_figures: int = 0

    def __post_init__(self) -> None:
        if self.cache is None:
            shared = getattr(self.cohort, "chat_cache", None)
            self.cache = shared if isinstance(shared, ChatCache) else ChatCache(signal_nights=1)
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
            if epoch == -1 and n.n_epochs:  # "the last epoch"
                return n.n_epochs - 1
            if not 0 <= epoch < n.n_epochs:
                raise ValueError(f"{n.recording} has no epoch {epoch}: its epochs are 0–{n.n_epochs - 1}")
            return int(epoch)
        if clock_time:
            return lookup.epoch_at_clock(self.cohort, n, clock_time)
        if self.state.epoch is not None and self.state.recording == n.recording:
            return self.state.epoch
        raise ValueError(f"which epoch of {n.recording}? give an epoch number (0–{n.n_epochs - 1}) or a clock time")

    # ---------------------------------------------------------------- files
    @property
    def figure_cache(self) -> OnceLRU:
        """Rendered figures shared like :attr:`cache` (pass as ``cache=`` to :mod:`sleeplm.agent.plots`)."""
        assert self.cache is not None
        return self.cache.figures

    def figure_path(self, kind: str, *parts: Any) -> Path:
        """A fresh PNG path in the session's figure folder."""
        self._n_figures += 1
        stem = "-".join([kind, *(re.sub(r"[^A-Za-z0-9_.]+", "_", str(p)) for p in parts)])
        assert self.figure_dir is not None
        return self.figure_dir / f"{self._n_figures:03d}-{stem}.png"

    def signals(self, n: Night) -> Epochs:
        """Model-ready epochs of a night, read from its recording file (kept in :attr:`cache`).

        Concurrent sessions asking for the same night wait for one read; a file changed on disk
        (size or modification time) is read again.

        Raises
        ------
        ValueError
            When the recording file is no longer where it was ingested from.
        """
        key = self._signals_key(n)
        path, scale = key[1], key[4]
        assert self.cache is not None
        workers = self.cache.workers

        def read() -> Epochs:
            if workers is not None:  # in another process: this one's other turns keep the GIL
                return workers.submit(read_night_epochs, path, scale).result()
            return read_night_epochs(path, scale)

        return self.cache.signals.get(key, read)

    def _signals_key(self, n: Night) -> tuple[str, str, int, int, str]:
        """(recording, path, size, mtime, brain scale): what a night's model input depends on; a ValueError when
        the recording file is no longer where it was ingested from."""
        path = Path(n.path)
        try:
            st = path.stat()
        except OSError:
            st = None
        if st is None or not path.is_file():
            raise ValueError(f"the signals of {n.recording} are not available: {path} is missing "
                             "(the workspace keeps captions and metrics, not the raw signals)")
        return (n.recording, str(path), st.st_size, st.st_mtime_ns, self.cohort.brain_scale)

    def event_probabilities(self, n: Night) -> np.ndarray | None:
        """The cohort's fact reader's event-head probabilities ``[N, T, K]`` for every epoch of a night (kept in
        :attr:`cache`, by the night's file as :meth:`signals` keeps it, and by the reader); None when the cohort's
        weights have no reader with an event head."""
        fm = getattr(self.cohort, "fact_model", None)
        if fm is None or not fm.reader.event_types:
            return None
        assert self.cache is not None
        key = (self._signals_key(n), self.cohort.manifest.model_sha256, id(fm))  # one reader object per cohort
        return self.cache.event_probs.get(key, lambda: fm.event_probabilities(self.signals(n).x))

    def model_captions(self, n: Night, first: int, last: int, tracks: list[str],
                       max_len: int) -> dict[str, list[str]]:
        """The model's caption per track for epochs ``first..last`` of a night (kept in :attr:`cache`).

        Only the (epoch, track) pairs nobody has generated yet are decoded, in one batch; pairs
        another session is generating are waited for. Captions are also kept in the workspace
        (:class:`~sleeplm.index.caption_store.CaptionStore`, keyed by the weights and the recording file's
        sha256), so another server or a later ``sleeplm ask`` reads them instead of decoding again.

        Raises
        ------
        ValueError
            When captions must be generated and the night's recording file is missing.
        """
        sha = self.cohort.manifest.model_sha256
        key = ChatCache.caption_key
        wanted = [key(sha, n.recording, i, t, max_len) for i in range(first, last + 1) for t in tracks]

        store = getattr(self.cohort, "caption_store", None) if n.sha256 else None

        def stored_key(k: tuple) -> CaptionKey:  # the workspace's key: the file's content, not its name
            return (sha, n.sha256, k[2], k[3], k[4])

        def generate(missing: list) -> dict:
            out = {}
            if store is not None:
                saved = store.get_many([stored_key(k) for k in missing])
                out = {k: saved[stored_key(k)] for k in missing if stored_key(k) in saved}
            todo = [k for k in missing if k not in out]
            if todo:
                epochs = sorted({k[2] for k in todo})
                names = [t for t in tracks if any(k[3] == t for k in todo)]
                x = self.signals(n).x[epochs]
                rows = self.cohort.model.caption_batch(x, names, max_len=max_len, min_len=min(16, max_len))
                new = {key(sha, n.recording, i, t, max_len): row[t] for i, row in zip(epochs, rows) for t in names}
                if store is not None:
                    store.put_many({stored_key(k): text for k, text in new.items()})
                out.update(new)
            return out

        assert self.cache is not None
        got = self.cache.captions.get_many(wanted, generate)
        return {t: [got[key(sha, n.recording, i, t, max_len)] for i in range(first, last + 1)] for t in tracks}


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
