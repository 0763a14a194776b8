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


def test_demo_defaults_are_whole_nights_across_the_phenotypes() -> None:
    from sleeplm.encoder.sim import PHENOTYPES

    assert 12 <= demo_mod.DEMO_NIGHTS <= 16 and 6.0 <= demo_mod.DEMO_HOURS <= 9.0
    assert demo_mod.DEMO_NIGHTS >= len(PHENOTYPES)  # the rotation reaches every phenotype
    assert demo_mod.DEFAULT_CACHE == Path("~/.cache/sleeplm/demo")


def test_demo_cohort_has_rem_every_night_and_odi_below_ahi() -> None:
    """The demo's own nights (labels only: the same draws simulate_cohort makes before any signal)."""
    import numpy as np

    from sleeplm.encoder.sim import draw_subject, night_rngs
    from sleeplm.encoder.sim.events import RESPIRATORY_TYPES
    from sleeplm.encoder.sim.night import simulate_night_labels
    from sleeplm.encoder.vocab import SLEEP_STAGES

    ratios, rem_min, sleep_h = [], [], {}
    for i, rng in enumerate(night_rngs(demo_mod.DEMO_SEED, demo_mod.DEMO_NIGHTS)):
        sub = draw_subject(i, rng)
        lab = simulate_night_labels(sub, rng, demo_mod.DEMO_HOURS)
        rem_min.append(np.sum(lab.stages == "REM") / 2)
        sleep_h[sub.phenotype] = np.sum(np.isin(lab.stages, SLEEP_STAGES)) / 120
        n_resp = sum(e.type in RESPIRATORY_TYPES for e in lab.events)
        n_desat = sum(e.type == "oxygen_desaturation" for e in lab.events)
        if n_resp >= 20:
            ratios.append(n_desat / n_resp)
    assert min(rem_min) >= 20  # REM in every night, at least 20 min
    assert ratios and all(0.1 < r < 1.0 for r in ratios)  # not every event desaturates
    assert sleep_h["insomnia"] >= 3.0  # insomnia nights still sleep
