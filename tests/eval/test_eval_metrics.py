"""Metric functions of sleeplm.eval on hand-made inputs: perfect, chance and edge cases."""

from __future__ import annotations

import numpy as np
import pytest

from sleeplm.eval import metrics as M

STAGES = ["W", "N1", "N2", "N3", "REM"]


def test_perfect_staging_scores_one() -> None:
    y = ["W", "N2", "N2", "REM", "N3", "N1"]
    s = M.classification_scores(y, y, STAGES)
    assert s["accuracy"] == 1.0 and s["macro_f1"] == 1.0 and s["kappa"] == pytest.approx(1.0)
    assert np.trace(np.array(s["confusion"])) == len(y)
    assert set(s["per_class_f1"]) == set(y)


def test_majority_and_uniform_chance_baselines() -> None:
    y = ["N2"] * 60 + ["W"] * 30 + ["REM"] * 10
    maj = M.majority_scores(y, STAGES)
    assert maj["majority_class"] == "N2" and maj["accuracy"] == 0.6 and maj["kappa"] == 0.0
    ch = M.uniform_chance_scores(y, STAGES, seed=0, draws=50)
    assert ch["accuracy"] == pytest.approx(0.2, abs=0.03)
    assert abs(ch["kappa"]) < 0.05


def test_auroc_perfect_inverted_and_undefined() -> None:
    truth = np.array([0, 0, 1, 1], bool)
    assert M.auroc(truth, np.array([0.1, 0.2, 0.8, 0.9])) == 1.0
    assert M.auroc(truth, np.array([0.9, 0.8, 0.2, 0.1])) == 0.0
    assert M.auroc(np.zeros(4, bool), np.arange(4.0)) is None


def test_retrieval_ranks_with_shared_targets() -> None:
    sim = np.array([[0.9, 0.1, 0.5],
                    [0.2, 0.3, 0.8],
                    [0.7, 0.6, 0.1]])
    correct = np.array([[1, 0, 0], [0, 1, 1], [0, 1, 0]], bool)
    ranks = M.retrieval_ranks(sim, correct)
    assert ranks.tolist() == [1, 1, 2]  # query 1: item 2 (0.8) is correct too
    assert M.recall_at_k(ranks, 1) == pytest.approx(2 / 3)
    with pytest.raises(ValueError):
        M.retrieval_ranks(sim, np.zeros((3, 3), bool))


def test_identity_retrieval_is_perfect_and_random_matches_chance() -> None:
    rng = np.random.default_rng(0)
    n = 200
    x = rng.normal(size=(n, 16))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    eye = np.eye(n, dtype=bool)
    assert M.recall_at_k(M.retrieval_ranks(x @ x.T, eye), 1) == 1.0
    r10 = np.mean([M.recall_at_k(M.retrieval_ranks(rng.normal(size=(n, n)), eye), 10) for _ in range(5)])
    assert M.chance_recall_at_k(np.ones(n), n, 10) == pytest.approx(10 / n)
    assert r10 == pytest.approx(10 / n, abs=0.03)
    assert M.chance_recall_at_k(np.full(4, 10), 10, 1) == 1.0  # every item correct


def test_event_level_scores_by_overlap() -> None:
    truth = [(0.0, 10.0), (100.0, 120.0), (300.0, 310.0)]
    found = [(5.0, 35.0), (110.0, 115.0), (200.0, 230.0)]
    s = M.event_level_scores(found, truth)
    assert s["precision"] == pytest.approx(2 / 3) and s["recall"] == pytest.approx(2 / 3)
    assert s["f1"] == pytest.approx(2 / 3)
    assert M.event_level_scores(truth, truth)["f1"] == 1.0
    assert M.event_level_scores([], truth)["f1"] == 0.0 and M.event_level_scores([], truth)["precision"] is None


REF_SE = ("Sleep stage evaluation reveals Stable Light Sleep (N2) for this epoch. "
          "The Hypopnea event is documented from 4.0 to 22.0 seconds.")
REF_CARDIAC = ("Electrocardiogram: estimated beat rate of 63.3 bpm, and ultra-short HRV (RMSSD) of 35.78 ms. "
               "Heart Rate: minimum value of 58.48, maximum value of 68.46, and mean of 63.28.")


def test_caption_facts_identical_captions_are_all_correct() -> None:
    for text, track in ((REF_SE, "stage_event"), (REF_CARDIAC, "cardiac")):
        s = M.caption_fact_scores([text], [text], track)
        assert s["fact_accuracy"] == 1.0
    assert M.bleu4([REF_CARDIAC], [REF_CARDIAC]) == pytest.approx(100.0)
    assert M.rouge_l([REF_CARDIAC], [REF_CARDIAC]) == pytest.approx(1.0)


def test_caption_facts_within_and_beyond_tolerance() -> None:
    near = REF_SE.replace("4.0 to 22.0", "6.0 to 24.5")  # within ±3 s
    far = REF_SE.replace("4.0 to 22.0", "12.0 to 22.0")
    assert M.caption_fact_scores([near], [REF_SE], "stage_event")["event_time_accuracy"] == 1.0
    assert M.caption_fact_scores([far], [REF_SE], "stage_event")["event_time_accuracy"] == 0.0
    wrong = "Sleep stage evaluation reveals Wake for this epoch. No sleep-disordered breathing events were detected."
    s = M.caption_fact_scores([wrong], [REF_SE], "stage_event")
    assert s["stage_accuracy"] == 0.0 and s["event_type_f1"] == 0.0 and s["fact_accuracy"] == 0.0
    # beat rate 63.3 -> 68.0 is within 10 %; RMSSD 35.78 -> 20 is not; the rest identical
    changed = REF_CARDIAC.replace("63.3 bpm", "68.0 bpm").replace("35.78 ms", "20.00 ms")
    s = M.caption_fact_scores([changed], [REF_CARDIAC], "cardiac")
    assert s["value_accuracy"] == pytest.approx(4 / 5)
    omitted = "Electrocardiogram: estimated beat rate of 63.3 bpm."
    s = M.caption_fact_scores([omitted], [REF_CARDIAC], "cardiac")
    assert s["value_accuracy"] == pytest.approx(1 / 5) and s["value_missing_rate"] == pytest.approx(4 / 5)


def test_same_label_chance() -> None:
    assert M.same_label_chance(["a", "a", "b", "b"]) == pytest.approx(1 / 3)
    assert M.same_label_chance(["a", "b", "c"]) == 0.0
    assert M.same_label_chance(["a"] * 5) == 1.0


def test_staging_scores_on_known_values() -> None:
    m = M.classification_scores(["W", "W", "N2", "REM"], ["W", "N2", "N2", "REM"], STAGES)
    assert m["accuracy"] == 0.75 and m["confusion"][0][2] == 1
    assert 0 < m["kappa"] < 1 and m["macro_f1"] == pytest.approx((2 / 3 + 2 / 3 + 1) / 3)
    e = np.eye(12, dtype=np.float32)
    sim, pairs = e @ e.T, np.eye(12, dtype=bool)
    assert M.recall_at_k(M.retrieval_ranks(sim, pairs), 1) == 1.0  # signal -> text
    assert M.recall_at_k(M.retrieval_ranks(sim.T, pairs.T), 1) == 1.0  # text -> signal


def test_fact_comparison_of_paraphrased_and_numeric_captions() -> None:
    from sleeplm.encoder.captions import parse_caption

    ref = parse_caption("Sleep stage evaluation reveals REM Sleep for this epoch. "
                        "No sleep-disordered breathing events were detected.", "stage_event")
    gen = parse_caption("sleep stage analysis shows rem sleep for this epoch. no events are scored in this epoch.",
                        "stage_event")
    c = M.compare_facts(gen, ref)
    assert c.stage_total == c.stage_correct == 1 and (c.event_tp, c.event_fp, c.event_fn) == (0, 0, 0)
    ref = parse_caption("Heart Rate: minimum value of 56.43, maximum value of 68.79, and mean of 60.91.", "cardiac")
    gen = parse_caption("heart rate: minimum value of 57.0, maximum value of 90.0, and mean of 61.5.", "cardiac")
    assert M.compare_facts(gen, ref).scores()["value_accuracy"] == pytest.approx(2 / 3)


# ----------------------------------------------------------------------------- intervals by resampling recordings
def _staged_nights(seed: int = 0, n: int = 600, nights: int = 6):
    rng = np.random.default_rng(seed)
    y = rng.choice(STAGES, n)
    good = np.where(rng.random(n) < 0.8, y, rng.choice(STAGES, n))
    poor = np.where(rng.random(n) < 0.4, y, rng.choice(STAGES, n))
    return y, good, poor, rng.integers(0, nights, n)


def test_paired_difference_estimate_is_the_whole_sample_difference() -> None:
    y, good, poor, nights = _staged_nights()
    iv = M.bootstrap_intervals(y, {"good": good, "poor": poor}, nights, STAGES, reference="poor", n_boot=500)
    d = iv["differences"]["good − poor"]
    for m in ("accuracy", "macro_f1", "kappa"):
        expected = M.classification_scores(y, good, STAGES)[m] - M.classification_scores(y, poor, STAGES)[m]
        assert d[m]["estimate"] == pytest.approx(expected)
        assert d[m]["interval"][0] <= d[m]["estimate"] <= d[m]["interval"][1]


def test_a_clearly_better_method_has_a_difference_interval_above_zero() -> None:
    y, good, poor, nights = _staged_nights()
    d = M.bootstrap_intervals(y, {"good": good, "poor": poor}, nights, STAGES, reference="poor",
                              n_boot=500)["differences"]["good − poor"]["kappa"]
    assert d["interval"][0] > 0 and d["share_above_zero"] == 1.0


def test_identical_methods_differ_by_exactly_zero() -> None:
    y, good, _, nights = _staged_nights()
    d = M.bootstrap_intervals(y, {"a": good, "b": good.copy()}, nights, STAGES, reference="b",
                              n_boot=200)["differences"]["a − b"]["kappa"]
    assert d["estimate"] == 0.0 and d["interval"] == [0.0, 0.0] and d["share_above_zero"] == 0.0


def test_a_perfect_method_has_intervals_at_one() -> None:
    y, _, _, nights = _staged_nights()
    iv = M.bootstrap_intervals(y, {"perfect": y}, nights, STAGES, reference="perfect", n_boot=200)
    assert iv["methods"]["perfect"]["kappa"] == pytest.approx([1.0, 1.0])
    assert iv["n_units"] == 6 and iv["unit"] == "recording"


def test_unknown_predictions_are_left_out_of_that_methods_scores() -> None:
    y, good, _, nights = _staged_nights()
    partial = good.astype(object)
    partial[nights == 0] = "UNKNOWN"
    iv = M.bootstrap_intervals(y, {"partial": partial}, nights, STAGES, reference="partial", n_boot=300)
    kept = nights != 0
    whole = M.classification_scores(y[kept], good[kept], STAGES)["kappa"]
    lo, hi = iv["methods"]["partial"]["kappa"]
    assert lo <= whole <= hi and lo > 0.5


def test_intervals_need_two_recordings() -> None:
    y, good, _, _ = _staged_nights()
    with pytest.raises(ValueError, match="at least two"):
        M.bootstrap_intervals(y, {"a": good}, np.zeros(len(y)), STAGES, reference="a")
