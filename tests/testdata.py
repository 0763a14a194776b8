"""Paths of the test fixtures: one home for each (imported by conftest and the test modules)."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
#: ../shared/data beside the repository (real recordings, the SleepLM-Base manifest); may be absent.
SHARED_DATA = REPO.parent / "shared" / "data"
TEST_DATA = Path(__file__).resolve().parent / "data"
#: The parity fixture: a small random SleepLM model and the official code's outputs on it.
PARITY_MINI = TEST_DATA / "parity-mini"
MINI_CHECKPOINT = PARITY_MINI / "checkpoint.pt"
#: The official SleepLM-Base state-dict manifest (names, shapes, dtypes).
BASE_MANIFEST = TEST_DATA / "sleeplm-base-state-dict-manifest.json"
