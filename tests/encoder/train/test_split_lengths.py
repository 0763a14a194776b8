"""Training nights of mixed length (``SplitSpec.duration_h_max``): preprocessing scales each recording over its whole
length, so a model meant for 30-min excerpts and whole nights alike trains on both."""

from __future__ import annotations

import numpy as np
import pytest
from sleeplm.encoder.train.data import SplitSpec, build_split, night_duration_h, spec_differences


def test_without_a_maximum_every_night_has_the_split_s_length() -> None:
    spec = SplitSpec(n_nights=4, seed=1, duration_h=1.5)
    assert [night_duration_h(spec, i) for i in range(4)] == [1.5] * 4


def test_with_a_maximum_the_lengths_spread_over_the_range_in_whole_epochs() -> None:
    spec = SplitSpec(n_nights=16, seed=1, duration_h=1.5, duration_h_max=7.5)
    hours = np.array([night_duration_h(spec, i) for i in range(16)])
    assert hours.min() >= 1.5 and hours.max() <= 7.5
    assert np.allclose(hours * 120, np.round(hours * 120))  # whole 30-s epochs
    # evenly spread: every sixth of the range holds at least two of the 16 nights
    assert np.bincount(np.minimum(((hours - 1.5) / 1.0).astype(int), 5), minlength=6).min() >= 2


def test_a_maximum_below_the_minimum_is_refused() -> None:
    with pytest.raises(ValueError, match="duration_h_max"):
        SplitSpec(n_nights=2, seed=1, duration_h=6.0, duration_h_max=1.5)


def test_a_split_built_before_the_setting_existed_matches_a_spec_without_it() -> None:
    info = {"n_nights": 1, "seed": 77, "duration_h": 0.25, "n_paraphrases": 0, "n_randomized": 1,
            "brain_scale": "sd", "wake_artifacts": False}
    assert spec_differences(info, SplitSpec(1, 77, 0.25, 0, 1)) == {}
    assert "duration_h_max" in spec_differences(info, SplitSpec(1, 77, 0.25, 0, 1, duration_h_max=0.5))


def test_a_built_split_s_nights_have_their_drawn_lengths(tmp_path) -> None:
    import pandas as pd

    spec = SplitSpec(n_nights=2, seed=5, duration_h=0.25, n_paraphrases=0, duration_h_max=0.5)
    build_split(tmp_path / "train", spec, workers=1, progress=False)
    epochs = pd.read_parquet(tmp_path / "train" / "epochs.parquet")
    per_night = epochs.groupby("night_id").size().sort_index().to_numpy()
    assert list(per_night) == [round(night_duration_h(spec, i) * 120) for i in range(2)]
