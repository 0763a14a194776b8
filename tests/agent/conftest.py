"""Fixtures of the agent tests: a simulated cohort of whole nights with REM, built once per session."""

from __future__ import annotations

from pathlib import Path

import pytest
from sleeplm.index.queries import Cohort
from testdata import MINI_CHECKPOINT


@pytest.fixture(scope="session")
def rem_cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four simulated 3-h nights (seed 7: every night reaches REM) ingested with the parity-mini model;
    returns the cohort folder (``edf/`` with subjects.csv and truth files, ``ws/`` the workspace)."""
    from sleeplm.encoder.sim import simulate_cohort
    from sleeplm.index.ingest import ingest

    root = tmp_path_factory.mktemp("rem-cohort")
    simulate_cohort(root / "edf", n_nights=4, seed=7, duration_h=3.0, progress=False)
    ingest(root / "edf", root / "ws", model=str(MINI_CHECKPOINT), progress=False)
    return root


@pytest.fixture(scope="module")
def cohort(sim_workspace: Path):
    """The shared 3-night simulated workspace (no REM), opened read-only for one test module."""
    c = Cohort(sim_workspace)
    yield c
    c.close()


@pytest.fixture()
def rem_session(rem_cohort: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A rule-based chat session on :func:`rem_cohort`'s workspace (no LLM back end)."""
    from sleeplm.agent import ChatSession, ToolConfig

    monkeypatch.delenv("SLEEPLM_LLM", raising=False)
    c = Cohort(rem_cohort / "ws")
    yield ChatSession(c, config=ToolConfig(figure_dir=tmp_path, caption_max_len=4))
    c.close()
