"""``sleeplm demo``: simulate + ingest once, reuse the cache, fail clearly without a model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sleeplm.app import demo as demo_mod
from sleeplm.app.demo import DemoError, prepare_demo
from sleeplm.index.workspace import Workspace, check_workspace
from testdata import MINI_CHECKPOINT

MINI = str(MINI_CHECKPOINT)


def test_demo_is_built_once_then_reused(tmp_path: Path) -> None:
    said: list[str] = []
    ws = prepare_demo(tmp_path, nights=2, hours=0.2, seed=3, model=MINI, say=said.append)
    assert check_workspace(Workspace(ws)) == []
    manifest = json.loads((ws / "manifest.json").read_text())
    assert manifest["counts"]["recordings"] == 2
    assert any("simulating 2 nights" in s for s in said)

    said.clear()
    assert prepare_demo(tmp_path, nights=2, hours=0.2, seed=3, model=MINI, say=said.append) == ws
    assert said == [f"using the cached demo cohort in {tmp_path}"]

    said.clear()  # another recipe: rebuilt, not mixed with the old nights
    prepare_demo(tmp_path, nights=1, hours=0.2, seed=3, model=MINI, say=said.append)
    assert json.loads((ws / "manifest.json").read_text())["counts"]["recordings"] == 1


def test_missing_bundled_model_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sleeplm.index import models

    def missing(spec=None, config=None):
        raise FileNotFoundError("no bundled weights for 'sleeplm-tiny'")

    monkeypatch.setattr(models, "resolve_model", missing)
    with pytest.raises(DemoError, match="bundled model 'sleeplm-tiny' is not installed"):
        prepare_demo(tmp_path)
    assert not (tmp_path / "cohort").exists()  # nothing simulated for nothing


def test_demo_defaults_fit_a_small_machine() -> None:
    assert demo_mod.DEMO_NIGHTS == 12 and demo_mod.DEMO_HOURS <= 2.0
    assert demo_mod.DEFAULT_CACHE == Path("~/.cache/sleeplm/demo")
