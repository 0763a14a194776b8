"""Upper bounds of per-track retrieval, measured from the captions alone (eval/retrieval_bound.py)."""

from __future__ import annotations

import numpy as np
import pytest

from sleeplm.eval.retrieval_bound import (caption_values, oracle_ranks, tolerance_twins, track_bound,
                                          twin_recall_at_k, visible_texts)

CARDIAC = ("Electrocardiogram: estimated beat rate of {hr:.1f} bpm, and ultra-short HRV (RMSSD) of 45.97 ms. "
           "Heart Rate: minimum value of 63.98, maximum value of 76.10, and mean of {hr:.2f}. "
           "Blood Oxygen Saturation: minimum value of 96.86, and mean of 97.28.")
SOMATIC = ("Chin EMG Activity: median frequency of 23.00 Hz, burst intensity ratio of 1.26, burst modulation rate of "
           "2.46 Hz, and relative tone of 295.9%. The patient maintains the {pos} position for this period.")
BRAIN_EOG = ("{side} EOG Movement: slow eye movement relative power of 54.29%, REM saccadic relative power of 38.29%, "
             "and rapid eye movement count of 8. ")
BRAIN_EEG = ("Central EEG Activity ({lead}): delta relative power of 74.84%, theta relative power of 6.31%, alpha "
             "relative power of 10.52%, sigma relative power of 5.24%, beta relative power of 3.09%, spindle count "
             "of 0, and slow wave count of 0. ")


def test_caption_values_reads_every_stated_number():
    names, values, cats = caption_values([CARDIAC.format(hr=69.56)], "cardiac")
    assert len(names) == 7 and sorted(values[0]) == sorted([69.6, 45.97, 63.98, 76.10, 69.56, 96.86, 97.28])
    assert cats[0] == ""


def test_captions_within_the_fact_tolerance_are_twins_and_others_are_not():
    texts = [CARDIAC.format(hr=70.0), CARDIAC.format(hr=73.0), CARDIAC.format(hr=85.0)]  # +4.3 %, +21 %
    _, values, cats = caption_values(texts, "cardiac")
    assert list(tolerance_twins(values, cats)) == [2, 2, 1]


def test_a_different_body_position_is_never_a_twin():
    texts = [SOMATIC.format(pos="supine"), SOMATIC.format(pos="left")]
    _, values, cats = caption_values(texts, "somatic")
    assert list(tolerance_twins(values, cats)) == [1, 1]


def test_twin_recall_is_k_over_the_twins_capped_at_one():
    assert twin_recall_at_k(np.array([1, 20]), 10) == pytest.approx((1.0 + 0.5) / 2)


def test_noise_free_oracle_ranks_every_caption_first_and_merges_identical_ones():
    texts = [CARDIAC.format(hr=hr) for hr in (60.0, 65.0, 70.0, 70.0)]
    _, values, cats = caption_values(texts, "cardiac")
    ranks = oracle_ranks(values, cats, 0.0, np.random.default_rng(0))
    assert list(ranks) == [1, 1, 1, 1]


def test_noisier_reading_of_the_numbers_never_helps_on_average():
    texts = [CARDIAC.format(hr=hr) for hr in np.linspace(55, 95, 200)]
    row = track_bound(texts, "cardiac", seed=0, noise_sds=(0.0, 0.5, 2.0))
    assert row["distinct captions"] == 200
    assert row["oracle σ=0 R@1"] == 1.0 >= row["oracle σ=0.5 R@10"] >= row["oracle σ=2 R@10"]


def test_visible_text_is_what_the_text_towers_context_keeps():
    from sleeplm.encoder.model import load_model

    tok = load_model("sleeplm-tiny").tokenizer
    brain = (BRAIN_EOG.format(side="Left") + BRAIN_EOG.format(side="Right") + BRAIN_EEG.format(lead="C3-A2")
             + BRAIN_EEG.format(lead="C4-A1"))
    assert len(tok.encode(brain)) > tok.context_length
    (seen,) = visible_texts(tok, [brain])
    assert "(c3-a2)" in seen and "c4-a1" not in seen
