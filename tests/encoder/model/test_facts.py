"""The fact reader's value space (encoder/model/facts.py): what a caption states, normal scores, the scoring rule and
the file it ships in."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sleeplm.encoder.captions.parse import caption_fact_values
from sleeplm.encoder.model.config import BiosignalsConfig
from sleeplm.encoder.model.facts import (
    QUANTILE_LEVELS,
    FactModel,
    FactReader,
    FactSpace,
    fact_model_for,
    fact_scores,
    facts_path,
    load_fact_model,
    save_fact_reader,
)
from sleeplm.encoder.vocab import POSITIONS

SOMATIC = ("Chin EMG Activity: median frequency of 23.50 Hz, burst intensity ratio of 1.30, burst modulation rate of "
           "2.44 Hz, and relative tone of 219.8%. The patient maintains the supine position for this period.")
CARDIAC = ("Electrocardiogram: estimated beat rate of 66.8 bpm, and ultra-short HRV (RMSSD) of 45.03 ms. Heart Rate: "
           "minimum value of 59.82, maximum value of 74.51, and mean of 66.89. Blood Oxygen Saturation: minimum value "
           "of 96.91, and mean of 97.35.")


def _space(names: list[str], rng: np.random.Generator) -> FactSpace:
    pop = rng.normal(size=(5000, len(names))) * 10 + 50
    return FactSpace(names, np.stack([np.quantile(pop[:, j], QUANTILE_LEVELS) for j in range(len(names))], 1),
                     np.ones(len(names)))


def test_a_caption_states_its_numbers_and_its_position() -> None:
    vals, pos = caption_fact_values([SOMATIC, CARDIAC.replace("66.89", "70.00")], "somatic")
    assert vals["somatic:emg.tone_rel_pct"][0] == pytest.approx(219.8)
    assert POSITIONS[pos[0]] == "supine" and pos[1] == -1
    cardiac, _ = caption_fact_values([CARDIAC], "cardiac")
    assert cardiac["cardiac:hr.mean_bpm"][0] == pytest.approx(66.89)
    assert cardiac["cardiac:spo2.min_pct"][0] == pytest.approx(96.91)


def test_normal_scores_invert_to_the_values_and_keep_what_is_unstated() -> None:
    space = _space(["a:x.v", "a:y.v"], np.random.default_rng(0))
    vals = np.array([[50.0, 40.0], [62.0, np.nan]])
    z = space.to_normal(vals)
    assert z[0, 0] == pytest.approx(0.0, abs=0.05) and z[1, 0] == pytest.approx(1.2, abs=0.1)
    assert np.isnan(z[1, 1])
    assert space.to_physical(np.nan_to_num(z))[:, 0] == pytest.approx(vals[:, 0], abs=0.2)


def test_a_value_many_epochs_share_gets_the_middle_of_its_quantiles() -> None:
    pop = np.r_[np.zeros(800), np.arange(1, 201, dtype=float)]  # 80 % zeros, like a count of spindles
    space = FactSpace(["b:n.count"], np.quantile(pop, QUANTILE_LEVELS)[:, None], np.ones(1))
    z = space.to_normal(np.array([[0.0]]))
    assert z[0, 0] == pytest.approx(-0.253, abs=0.01)  # the normal score of the 40th percentile, not of the 0.25th


def test_fact_scores_are_the_gaussian_log_likelihood_of_the_stated_values() -> None:
    rng = np.random.default_rng(1)
    pred, text = rng.normal(size=(4, 3)), rng.normal(size=(5, 3))
    text[2, 1] = np.nan  # a value that text does not state adds nothing
    sd = np.array([0.5, 1.0, 2.0])
    logp = np.log(np.full((4, len(POSITIONS)), 1 / len(POSITIONS)))
    logp[0, 2] = np.log(0.6)
    pos = np.array([-1, -1, 2, -1, -1])
    got = fact_scores(pred, logp, text, pos, sd)
    for i in range(4):
        for t in range(5):
            ok = np.isfinite(text[t])
            want = -0.5 * (((text[t, ok] - pred[i, ok]) / sd[ok]) ** 2).sum() + (logp[i, 2] if t == 2 else 0.0)
            assert got[i, t] == pytest.approx(want)


def test_an_epoch_read_closer_to_a_caption_ranks_it_first() -> None:
    space = _space(["cardiac:ecg.beat_rate_bpm", "cardiac:hr.mean_bpm"], np.random.default_rng(2))
    texts = ["Electrocardiogram: estimated beat rate of 70.0 bpm. Heart Rate: mean of 70.00.",
             "Electrocardiogram: estimated beat rate of 50.0 bpm. Heart Rate: mean of 50.00."]
    stated = caption_fact_values(texts, "cardiac")
    tz = space.stated_normal(stated[0], len(texts))
    model = FactModel(None, space, {})  # type: ignore[arg-type]  # scores() needs no reader
    read = (tz[[1, 0]] + 0.05, np.zeros((2, len(POSITIONS))))
    assert model.scores(read, stated, "cardiac").argmax(1).tolist() == [1, 0]


def test_a_reader_file_loads_as_saved_and_belongs_to_its_weights(tmp_path) -> None:
    cfg = BiosignalsConfig(transformer_layers=1, transformer_width=32, transformer_heads=2, conv_embed_dim=16,
                           decoder_tokens=4)
    torch.manual_seed(0)
    reader = FactReader(cfg, 16, n_values=2, hidden=16).eval()
    space = _space(["a:x.v", "a:y.v"], np.random.default_rng(3))
    weights = tmp_path / "m.safetensors"
    path = save_fact_reader(reader, space, facts_path(weights), {"run": {"started_from": {"sha256": "abc"}}})
    assert path.name == "m.facts.safetensors"
    fm = load_fact_model(path)
    x = np.random.default_rng(4).normal(size=(3, 10, 1920)).astype(np.float32)
    with torch.inference_mode():
        want = reader(torch.from_numpy(x))[0].numpy()
    assert fm.read(x)[0] == pytest.approx(want, abs=1e-5)
    assert fm.space.quantiles == pytest.approx(space.quantiles)
    assert fact_model_for(weights, "abc") is not None and fact_model_for(weights, "other") is None


def test_a_reader_paired_with_other_weights_goes_with_both_and_keeps_its_provenance_and_readings(tmp_path) -> None:
    from sleeplm.encoder.model.facts import pair_fact_reader

    cfg = BiosignalsConfig(transformer_layers=1, transformer_width=32, transformer_heads=2, conv_embed_dim=16,
                           decoder_tokens=4)
    torch.manual_seed(0)
    reader = FactReader(cfg, 16, n_values=2, hidden=16).eval()
    weights = tmp_path / "m.safetensors"
    path = save_fact_reader(reader, _space(["a:x.v", "a:y.v"], np.random.default_rng(3)), facts_path(weights),
                            {"run": {"started_from": {"sha256": "abc"}}})
    x = np.random.default_rng(4).normal(size=(2, 10, 1920)).astype(np.float32)
    before = load_fact_model(path).read(x)[0]
    pair_fact_reader(path, "def", "the reader unchanged, measured beside def")
    fm = fact_model_for(weights, "def")
    assert fm is not None and fact_model_for(weights, "abc") is not None and fact_model_for(weights, "xyz") is None
    assert fm.base_sha256 == "abc" and fm.meta["paired_with"] == [{"sha256": "def", "note": "the reader unchanged, measured beside def"}]
    assert np.array_equal(fm.read(x)[0], before)


def test_fact_retrieval_skips_a_track_whose_captions_state_no_value() -> None:
    from sleeplm.eval.tasks.retrieval import fact_retrieval

    space = _space(["cardiac:hr.mean_bpm"], np.random.default_rng(5))
    model = FactModel(None, space, {})  # type: ignore[arg-type]
    read = (np.zeros((3, 1)), np.zeros((3, len(POSITIONS))))
    assert fact_retrieval(model, read, ["No ECG was recorded."] * 3, "cardiac") == []
    rows = fact_retrieval(model, read, [f"Heart Rate: mean of {v:.2f}." for v in (50, 60, 70)], "cardiac")
    assert [d.direction for d in rows] == ["signal→text", "text→signal"]


def test_the_spectral_stem_gives_welchs_relative_band_power() -> None:
    import scipy.signal as sps
    from sleeplm.encoder.model.facts import welch_bins

    x = np.random.default_rng(6).normal(size=(2, 3, 1920))
    bins = welch_bins(torch.from_numpy(x)).numpy()
    f, p = sps.welch(x, fs=64, nperseg=128, axis=-1)  # 2-s segments: the first grid
    alpha = p[..., (f >= 8) & (f < 12)].sum(-1) / p[..., (f >= 0.5) & (f <= 30)].sum(-1)
    assert bins[..., 16:24].sum(-1) == pytest.approx(alpha, rel=1e-9)  # 0.5-Hz bins 8-12 Hz
    f, p = sps.welch(x, fs=64, nperseg=640, axis=-1)  # 10-s segments: the second grid (after 64 bins and a total)
    sem = p[..., (f >= 0.1) & (f < 1)].sum(-1) / p[..., (f >= 0.1) & (f <= 30)].sum(-1)
    assert bins[..., 65 + 1:65 + 10].sum(-1) == pytest.approx(sem, rel=1e-9)  # 0.1-Hz bins 0.1-1 Hz


def test_a_reader_with_a_spectral_stem_loads_as_saved(tmp_path) -> None:
    cfg = BiosignalsConfig(transformer_layers=1, transformer_width=32, transformer_heads=2, conv_embed_dim=16,
                           decoder_tokens=4)
    torch.manual_seed(0)
    reader = FactReader(cfg, 16, n_values=2, hidden=16, spectral=True, spectral_width=8).eval()
    reader.spec_mean.fill_(0.5)
    path = save_fact_reader(reader, _space(["a:x.v", "a:y.v"], np.random.default_rng(3)),
                            tmp_path / "m.facts.safetensors", {})
    fm = load_fact_model(path)
    assert fm.reader.spectral and float(fm.reader.spec_mean[0]) == 0.5
    x = np.random.default_rng(4).normal(size=(2, 10, 1920)).astype(np.float32)
    with torch.inference_mode():
        want = reader(torch.from_numpy(x))[0].numpy()
    assert fm.read(x)[0] == pytest.approx(want, abs=1e-5)


def test_events_are_runs_of_patches_above_threshold_lasting_long_enough() -> None:
    from sleeplm.encoder.model.facts import events_from_probs

    p = np.zeros((1, 30, 2))
    p[0, 0:3, 0] = 0.9  # 3 s at the start: the end of a longer hypopnea
    p[0, 5:15, 0] = 0.9  # 10 s of hypopnea
    p[0, 20:26, 0] = 0.9  # 6 s inside the epoch: shorter than any hypopnea
    p[0, 16:19, 1] = 0.8  # a 3-s arousal
    p[0, 28:30, 1] = 0.8  # 2 s to the epoch's end
    got = events_from_probs(p, ("hypopnea", "arousal"), 1.0)
    assert got == [[("hypopnea", 0.0, 3.0), ("hypopnea", 5.0, 15.0), ("arousal", 16.0, 19.0), ("arousal", 28.0, 30.0)]]


def test_a_reader_with_an_event_head_loads_as_saved_and_reads_events(tmp_path) -> None:
    cfg = BiosignalsConfig(transformer_layers=1, transformer_width=32, transformer_heads=2, conv_embed_dim=16,
                           decoder_tokens=4, patch_size=64)
    torch.manual_seed(0)
    reader = FactReader(cfg, 16, n_values=2, hidden=16, event_types=("hypopnea", "arousal")).eval()
    path = save_fact_reader(reader, _space(["a:x.v", "a:y.v"], np.random.default_rng(3)),
                            tmp_path / "m.facts.safetensors", {})
    fm = load_fact_model(path)
    assert fm.reader.event_types == ("hypopnea", "arousal")
    x = np.random.default_rng(4).normal(size=(2, 10, 1920)).astype(np.float32)
    with torch.inference_mode():
        want = torch.sigmoid(reader.read_all(torch.from_numpy(x))[2]).numpy()
    from sleeplm.encoder.model.facts import events_from_probs

    assert fm.read_events(x) == events_from_probs(want, ("hypopnea", "arousal"), 1.0)


def test_a_reader_without_an_event_head_reads_no_events() -> None:
    cfg = BiosignalsConfig(transformer_layers=1, transformer_width=32, transformer_heads=2, conv_embed_dim=16,
                           decoder_tokens=4)
    fm = FactModel(FactReader(cfg, 16, n_values=1, hidden=8).eval(), _space(["a:x.v"], np.random.default_rng(0)), {})
    assert fm.read_events(np.zeros((1, 10, 1920), np.float32)) is None
