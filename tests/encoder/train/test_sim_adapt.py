"""Stage anchoring on simulated training nights (encoder/train/sim_adapt.py): the epochs and texts it trains on."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sleeplm.encoder.captions.render import event_gist
from sleeplm.encoder.train.adapt import load_adapt_recipe
from sleeplm.encoder.train.data import SplitSpec, build_split
from sleeplm.encoder.train.recipe import RecipeError
from sleeplm.encoder.train.sim_adapt import _split_dir, split_epochs
from sleeplm.encoder.vocab import SCORED_STAGES


@pytest.fixture(scope="module")
def split(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("sim-adapt")
    build_split(root / "train", SplitSpec(n_nights=1, seed=77, duration_h=0.25, n_paraphrases=0, n_randomized=1),
                workers=1, progress=False)
    return root


def test_split_epochs_are_the_scored_epochs_of_every_rendition_with_their_own_stage_event_text(split) -> None:
    x, stages, mask, texts = split_epochs(split / "train")
    ep = pd.read_parquet(split / "train" / "epochs.parquet")
    scored = ep[ep["stage"].isin(SCORED_STAGES)]
    cap = pd.read_parquet(split / "train" / "captions.parquet")
    canon = cap[(cap["track"] == "stage_event") & (cap["variant"] == 0)].set_index("idx")["caption"]
    assert len(x) == len(scored) and list(stages) == list(scored["stage"])
    assert list(texts) == [event_gist(canon[int(r)]) for r in scored["caption_row"]]
    assert x.dtype == np.float32 and mask.shape == (len(x), 10)


def test_a_split_built_with_other_settings_than_the_recipe_is_refused(split, tmp_path) -> None:
    raw = json.loads(load_adapt_recipe("tiny-stage-anchor-sim").source.read_text())
    raw["data"] = {"n_nights": 1, "seed": 78, "duration_h": 0.25, "n_paraphrases": 0, "n_randomized": 1}
    path = tmp_path / "r.json"
    path.write_text(json.dumps(raw))
    with pytest.raises(RecipeError, match="other settings"):
        _split_dir(load_adapt_recipe(path), split, progress=False)


def test_a_robust_scale_split_rescales_eeg_and_eog_only() -> None:
    from sleeplm.encoder.train.data import process_night
    from sleeplm.encoder.vocab import CHANNEL_INDEX

    x_sd, meta, _ = process_night(77, 0, 0.25, 0, 0, "sd")
    x_mad, meta_mad, _ = process_night(77, 0, 0.25, 0, 0, "mad")
    assert meta.equals(meta_mad)
    brain = [CHANNEL_INDEX[c] for c in ("EEG_C3", "EEG_C4", "EOG_L", "EOG_R")]
    other = [i for i in range(x_sd.shape[1]) if i not in brain]
    assert np.array_equal(x_sd[:, other], x_mad[:, other])
    for c in brain:  # centred and divided by 1.4826 x MAD: the median absolute value is 1 / 1.4826
        v = x_mad[:, c].astype(np.float64).ravel()
        assert abs(np.median(np.abs(v - np.median(v))) - 1 / 1.4826) < 0.05
        assert not np.allclose(v, x_sd[:, c].astype(np.float64).ravel(), atol=1e-2)


def test_a_split_built_before_the_brain_scale_setting_reads_as_sd() -> None:
    from sleeplm.encoder.train.data import spec_differences

    old_info = {"n_nights": 1, "seed": 77, "duration_h": 0.25, "n_paraphrases": 0, "n_randomized": 1}
    assert spec_differences(old_info, SplitSpec(1, 77, 0.25, 0, 1)) == {}
    assert spec_differences(old_info, SplitSpec(1, 77, 0.25, 0, 1, brain_scale="mad")) == {"brain_scale": ("sd", "mad")}


def test_an_unknown_brain_scale_is_refused() -> None:
    with pytest.raises(ValueError, match="brain_scale"):
        SplitSpec(1, 77, brain_scale="iqr")


def test_weights_adapted_on_a_robust_scale_split_say_they_read_recordings_that_way(tmp_path) -> None:
    import hashlib

    from sleeplm.encoder.model.api import load_model
    from sleeplm.encoder.model.factory import bundled_weights
    from sleeplm.encoder.train.sim_adapt import run

    from sleeplm.encoder.model.checkpoint import save_checkpoint

    tiny = load_model(bundled_weights("sleeplm-tiny"))  # re-saved as an "sd" model: the start of v6 was one (v4)
    start = tmp_path / "start-sd.safetensors"
    save_checkpoint(tiny.model, start, {**tiny.config.to_dict(), "input_brain_scale": "sd"})
    raw = json.loads(load_adapt_recipe("tiny-stage-anchor-mad").source.read_text())
    raw["start_from"] = {"weights": str(start), "sha256": hashlib.sha256(start.read_bytes()).hexdigest()}
    raw["data"] = {"n_nights": 1, "seed": 77, "duration_h": 0.25, "n_paraphrases": 0, "n_randomized": 0,
                   "brain_scale": "mad"}
    raw["adapt"].update(steps=2, batch_size=4, warmup_steps=1)
    path = tmp_path / "r.json"
    path.write_text(json.dumps(raw))
    assert load_model(start).brain_scale == "sd"
    out = run(path, tmp_path / "data", tmp_path / "w.safetensors", progress=False)
    assert load_model(out).brain_scale == "mad"
    assert json.loads((tmp_path / "w.card.json").read_text())["data"]["brain_scale"] == "mad"
