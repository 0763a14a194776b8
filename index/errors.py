"""The one error type of a workspace that cannot be used as it is (every message says what to do)."""

from __future__ import annotations


class WorkspaceError(RuntimeError):
    """A workspace that is missing, busy, read-only, damaged, or built by another model/version."""


def repair_hint(root: object) -> str:
    """The command that rebuilds the FAISS files and the manifest from DuckDB."""
    return f"run `sleeplm check -w {root} --repair` to rebuild them from cohort.duckdb"
