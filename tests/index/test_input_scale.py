"""A model states how its EEG/EOG input is scaled (``ReCoCaConfig.input_brain_scale``), and ingest, the chat and
eval cut that model's epochs that way; every model so far says "sd" and is unchanged."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import numpy as np
import pytest

from sleeplm.encoder.io.psg import load_psg
from sleeplm.encoder.model.api import load_model
from sleeplm.encoder.model.checkpoint import save_checkpoint
from sleeplm.encoder.signals.preprocess import make_epochs
from sleeplm.index.ingest import ingest
from sleeplm.index.models import resolve_model
from testdata import MINI_CHECKPOINT


@pytest.fixture(scope="module")
def mad_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    m = load_model(MINI_CHECKPOINT)
    cfg = {**m.config.to_dict(), "input_brain_scale": "mad"}
    out = tmp_path_factory.mktemp("mad-model") / "mini-mad.safetensors"
    save_checkpoint(m.model, out, cfg)
    return out


def test_a_model_states_its_input_scale_and_the_official_layout_means_sd(mad_model: Path) -> None:
    assert load_model(mad_model).brain_scale == "mad" and resolve_model(str(mad_model)).brain_scale == "mad"
    assert load_model(MINI_CHECKPOINT).brain_scale == "sd"
    assert "input_brain_scale" not in load_model(MINI_CHECKPOINT).config.to_dict()  # the official layout


def test_the_bundled_tiny_model_reads_recordings_as_its_training_split_was_cut() -> None:
    import json

    from sleeplm.encoder.train.adapt import load_adapt_recipe

    recipe = load_adapt_recipe("tiny-spectral-summary-wake-artifacts-lr0.001")  # how the bundled v10 was made
    assert recipe.data is not None and recipe.data.brain_scale == "mad"
    # read with the widest 1.5-h stretch's scale, which is the "mad" scale of every 1.5-h training night
    assert resolve_model("sleeplm-tiny").brain_scale == recipe.input_brain_scale == "mad-window"
    assert json.loads(recipe.source.read_text())["data"]["duration_h"] <= 1.5


@pytest.mark.parametrize("workers", [0, 1])
def test_ingest_embeds_epochs_cut_with_the_model_s_input_scale(mad_model: Path, sim_cohort_dir: Path,
                                                               tmp_path: Path, workers: int) -> None:
    cohort = tmp_path / "cohort"
    cohort.mkdir()
    for f in ("sim-0001.edf", "sim-0001-nsrr.xml"):
        shutil.copy(sim_cohort_dir / f, cohort / f)
    ingest(cohort, tmp_path / "ws", model=str(mad_model), progress=False, workers=workers)
    con = duckdb.connect(str(next((tmp_path / "ws").glob("*.duckdb"))), read_only=True)
    try:
        stored = np.stack([np.asarray(v, np.float32) for (v,) in con.execute(
            "SELECT v.vec FROM epoch_vectors v JOIN epochs e USING (epoch_id) ORDER BY e.epoch_index LIMIT 4").fetchall()])
    finally:
        con.close()
    psg = load_psg(cohort / "sim-0001.edf")
    model = load_model(mad_model)
    by_mad = model.encode_signal(make_epochs(psg.mapped, psg.annotations, brain_scale="mad").x[:4])
    by_sd = model.encode_signal(make_epochs(psg.mapped, psg.annotations).x[:4])
    np.testing.assert_allclose(stored, by_mad, atol=1e-5)
    assert float(np.abs(stored - by_sd).max()) > 1e-3
    from sleeplm.agent.context import read_night_epochs
    from sleeplm.index.queries import Cohort

    opened = Cohort(tmp_path / "ws")
    try:
        assert opened.brain_scale == "mad"  # the chat re-reads the night's epochs as ingest cut them
        again = read_night_epochs(str(cohort / "sim-0001.edf"), opened.brain_scale).x[:4]
        np.testing.assert_allclose(model.encode_signal(again), stored, atol=1e-5)
    finally:
        opened.close()


def test_an_ood_reference_is_refused_from_a_split_cut_another_way(mad_model: Path, tmp_path: Path) -> None:
    import hashlib

    from sleeplm.encoder.train.data import SplitSpec, build_split
    from sleeplm.index.ood import build_reference

    split = build_split(tmp_path / "held-out", SplitSpec(1, 1000001, 0.1, 0, 0), progress=False)  # "sd" split
    sha = hashlib.sha256(mad_model.read_bytes()).hexdigest()
    with pytest.raises(ValueError, match=r"held-out.*'sd'.*reads recordings scaled by 'mad'"):
        build_reference(mad_model, sha, split)
