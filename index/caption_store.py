"""Generated captions kept in the workspace, so a caption the model wrote once is a lookup afterwards.

The chat's in-memory :class:`~sleeplm.index.caption_cache.ChatCache` lasts as long as one server; this store
lasts as long as the workspace: another server, ``sleeplm ask`` and the next session read what an earlier one
generated. A caption is keyed by everything its text depends on (greedy decoding is deterministic):

* the weights (``model_sha256``);
* the recording's content (``recording_sha256``, the file digest stored at ingest: a night re-ingested from a
  changed file gets new captions, never the old file's);
* the epoch index, the track and ``max_len``.

It is a SQLite file beside the DuckDB database (``generated_captions.sqlite``), not a table in it: the page and
``ask`` hold the database read-only, and SQLite lets several processes add rows to one file safely. Writing is
best effort: a read-only workspace, a full disk or a damaged file costs only the saving (the caption is still
answered, and logged once), never the answer.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterable, Mapping
from contextlib import closing
from pathlib import Path

log = logging.getLogger(__name__)

#: The file name inside a workspace folder.
STORE_NAME = "generated_captions.sqlite"
#: (model_sha256, recording_sha256, epoch_index, track, max_len)
CaptionKey = tuple[str, str, int, str, int]

_SCHEMA = """CREATE TABLE IF NOT EXISTS generated_captions (
    model_sha256 TEXT NOT NULL, recording_sha256 TEXT NOT NULL, epoch_index INTEGER NOT NULL,
    track TEXT NOT NULL, max_len INTEGER NOT NULL, text TEXT NOT NULL,
    PRIMARY KEY (model_sha256, recording_sha256, epoch_index, track, max_len))"""


class CaptionStore:
    """Generated captions of one workspace (see the module docstring).

    Parameters
    ----------
    path : the SQLite file (created on the first write).
    timeout_s : how long a write waits for another process's write to finish.
    """

    def __init__(self, path: Path, timeout_s: float = 5.0):
        self.path = Path(path)
        self.timeout_s = timeout_s
        self._warned = False

    @classmethod
    def in_workspace(cls, root: Path) -> CaptionStore:
        return cls(Path(root) / STORE_NAME)

    def _connect(self, write: bool) -> sqlite3.Connection:
        if write:
            con = sqlite3.connect(self.path, timeout=self.timeout_s)
            con.execute(_SCHEMA)
            return con
        return sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True, timeout=self.timeout_s)

    def _warn(self, action: str, exc: Exception) -> None:
        if not self._warned:
            self._warned = True
            log.warning("generated captions are not %s %s (%s: %s); answers go on without it",
                        action, self.path, type(exc).__name__, exc)

    def get_many(self, keys: Iterable[CaptionKey]) -> dict[CaptionKey, str]:
        """The stored captions among ``keys`` (those never stored are absent; an unreadable store gives {})."""
        keys = list(dict.fromkeys(keys))
        if not keys or not self.path.is_file():
            return {}
        found: dict[CaptionKey, str] = {}
        try:
            with closing(self._connect(write=False)) as con:
                for key in keys:
                    row = con.execute(
                        "SELECT text FROM generated_captions WHERE model_sha256 = ? AND recording_sha256 = ? "
                        "AND epoch_index = ? AND track = ? AND max_len = ?", key).fetchone()
                    if row is not None:
                        found[key] = row[0]
        except sqlite3.Error as exc:
            self._warn("read from", exc)
            return {}
        return found

    def put_many(self, captions: Mapping[CaptionKey, str]) -> bool:
        """Keep ``captions`` (a key already stored keeps its text). True when they were saved."""
        if not captions:
            return True
        try:
            with closing(self._connect(write=True)) as con, con:
                con.executemany("INSERT OR IGNORE INTO generated_captions VALUES (?, ?, ?, ?, ?, ?)",
                                [(*key, text) for key, text in captions.items()])
        except (sqlite3.Error, OSError) as exc:
            self._warn("saved in", exc)
            return False
        return True

    def count(self) -> int:
        """How many captions are stored (0 when there is no store yet)."""
        if not self.path.is_file():
            return 0
        with closing(self._connect(write=False)) as con:
            return int(con.execute("SELECT count(*) FROM generated_captions").fetchone()[0])
