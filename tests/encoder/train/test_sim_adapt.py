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
