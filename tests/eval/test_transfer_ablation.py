"""The transfer ablation scores a held-out split's clean epochs once each, and writes one row per variant."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from sleeplm.encoder.train.data import SplitSpec, build_split
from sleeplm.encoder.vocab import SCORED_STAGES
from sleeplm.eval.transfer_ablation import simulated_staging, write_ablation

pytest.importorskip("sleeplm.encoder.sim")


def test_simulated_staging_scores_every_clean_scored_epoch_once(tmp_path):
    from sleeplm.encoder.model import load_model

    split = build_split(tmp_path / "val", SplitSpec(n_nights=1, seed=5, duration_h=0.5, n_paraphrases=0,
                                                    n_randomized=1), progress=False)
    epochs = pd.read_parquet(split / "epochs.parquet")
    clean = epochs[epochs["rendition"] == 0]
    want = int(np.isin(clean["stage"], SCORED_STAGES).sum())
    scores = simulated_staging(load_model("sleeplm-tiny"), split)
    assert len(epochs) == 2 * len(clean) and scores["n"] == want > 0
    assert sum(map(sum, scores["confusion"])) == want


def test_ablation_table_has_one_row_per_variant(tmp_path):
    rows = [{"label": name, "real_accuracy": 0.5, "real_macro_f1": 0.3, "real_kappa": k, "sim_accuracy": 0.8,
             "sim_macro_f1": 0.7, "sim_kappa": 0.6, "real_baselines": {"YASA": {"accuracy": 0.7, "macro_f1": 0.5,
                                                                                "kappa": 0.55}},
             "R@10 cardiac signal→text": 0.1, "R@10 cardiac text→signal": 0.2}
            for name, k in (("v4", 0.211), ("B", 0.215))]
    md = write_ablation(rows, tmp_path).read_text()
    assert "| v4 | 0.500 / 0.300 / 0.211 |" in md and "| B | 0.500 / 0.300 / 0.215 |" in md
    assert "YASA 0.700 / 0.500 / 0.550" in md and "0.100 / 0.200" in md
    assert [r["label"] for r in json.loads((tmp_path / "ablation.json").read_text())] == ["v4", "B"]
