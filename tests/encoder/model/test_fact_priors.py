"""Measured priors of the fact reader (encoder/model/fact_priors.py): the captions' band powers measured on the
model input, read as normal scores, corrected by a residual that starts at zero."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import norm
from sleeplm.encoder.model.config import BiosignalsConfig
from sleeplm.encoder.model.fact_priors import (
    BandPrior,
    band_relative_powers,
    normal_scores,
)
from sleeplm.encoder.model.facts import (
    QUANTILE_LEVELS,
    FactModel,
    FactReader,
    FactSpace,
    load_fact_reader,
    save_fact_reader,
)
from sleeplm.encoder.signals.eeg import EEG_BANDS_HZ, EEG_TOTAL_HZ, eeg_band_powers
from sleeplm.encoder.signals.eog import (
    EOG_REM_HZ,
    EOG_SEM_HZ,
    EOG_TOTAL_HZ,
    eog_band_powers,
)
from sleeplm.encoder.train.fact_priors import band_prior_specs, with_priors
from sleeplm.encoder.train.recipe import RecipeError

FS = 64.0


def _signals(n: int = 6, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (np.cumsum(rng.standard_normal((n, 10, 1920)), -1) * 0.05 + rng.standard_normal((n, 10, 1920)))


def test_band_powers_match_the_caption_features_on_the_same_signal() -> None:
    x = _signals()
    priors = tuple(BandPrior(f"brain:eeg_c3.{b}_rel_pct", 6, 4.0, lo, hi, *EEG_TOTAL_HZ) for b, (lo, hi) in
                   EEG_BANDS_HZ.items())
    priors += (BandPrior("brain:eog_l.sem_rel_pct", 4, 10.0, *EOG_SEM_HZ, EOG_TOTAL_HZ[0], 30.0),
               BandPrior("brain:eog_l.rem_rel_pct", 4, 10.0, *EOG_REM_HZ, EOG_TOTAL_HZ[0], 30.0))
    got = band_relative_powers(torch.from_numpy(x).float(), priors, FS).numpy()
    eeg = eeg_band_powers(x[:, 6], FS)
    sem, rem = eog_band_powers(x[:, 4], FS)
    assert got == pytest.approx(np.column_stack([*eeg.values(), sem, rem]), abs=1e-3)


def test_a_flat_channel_has_no_measurement() -> None:
    x = _signals(2)
    x[:, 6] = 3.0
    got = band_relative_powers(torch.from_numpy(x).float(), (BandPrior("v", 6, 4.0, 4.0, 8.0, 0.5, 30.0),), FS)
    assert torch.isnan(got).all()


def test_normal_scores_are_the_value_spaces_own() -> None:
    rng = np.random.default_rng(1)
    q = np.sort(rng.normal(50, 10, (len(QUANTILE_LEVELS), 3)), 0)
    v = rng.normal(50, 15, (40, 3))
    v[0, 1] = np.nan
    got = normal_scores(torch.from_numpy(v).float(), torch.from_numpy(q).float(),
                        torch.tensor(QUANTILE_LEVELS, dtype=torch.float32)).numpy()
    want = FactSpace(["a", "b", "c"], q, np.ones(3)).to_normal(v)
    assert np.isnan(got[0, 1]) and got == pytest.approx(want, abs=1e-3, nan_ok=True)


NAMES = ["brain:eog_l.sem_rel_pct", "brain:eog_l.rem_rel_pct", "brain:eog_l.rem_count", "brain:eeg_c3.theta_rel_pct",
         "brain:eeg_c3.spindle_count", "cardiac:hr.mean_bpm"]


def test_priors_cover_the_brain_relative_powers_with_the_caption_bands() -> None:
    specs = band_prior_specs(NAMES)
    assert [s.value for s in specs] == ["brain:eog_l.sem_rel_pct", "brain:eog_l.rem_rel_pct",
                                        "brain:eeg_c3.theta_rel_pct"]
    theta = specs[2]
    assert (theta.channel, theta.lo_hz, theta.hi_hz, theta.total_lo_hz, theta.total_hi_hz) == (6, 4.0, 8.0, 0.5, 30.0)
    assert specs[0].seg_s == 10.0 and (specs[0].lo_hz, specs[0].hi_hz) == EOG_SEM_HZ


def test_a_brain_relative_power_without_a_caption_band_is_refused() -> None:
    with pytest.raises(RecipeError, match="no band"):
        band_prior_specs(["brain:eeg_c3.gamma_rel_pct"])


def _reader() -> tuple[FactReader, FactSpace]:
    cfg = BiosignalsConfig(transformer_width=16, transformer_layers=1, transformer_heads=2)
    torch.manual_seed(0)
    reader = FactReader(cfg, 8, len(NAMES), hidden=16).eval()
    q = np.repeat(np.linspace(0.0, 100.0, len(QUANTILE_LEVELS))[:, None], len(NAMES), 1)
    return reader, FactSpace(NAMES, q, np.ones(len(NAMES)))


def test_an_untrained_residual_reads_the_measurement_and_leaves_the_other_values() -> None:
    old, space = _reader()
    new = with_priors(old, NAMES, space.quantiles)
    x = torch.from_numpy(_signals(3)).float()
    with torch.no_grad():
        before, after = old(x)[0].numpy(), new(x)[0].numpy()
        measured = band_relative_powers(x, new.priors, FS).numpy()
    cols = new.prior_index.numpy()
    other = np.setdiff1d(np.arange(len(NAMES)), cols)
    assert after[:, other] == pytest.approx(before[:, other], abs=1e-6)
    assert space.to_physical(after)[:, cols] == pytest.approx(measured, abs=0.05)


def test_an_absent_channel_keeps_the_heads_reading() -> None:
    old, space = _reader()
    new = with_priors(old, NAMES, space.quantiles)
    x = torch.from_numpy(_signals(2)).float()
    x[:, 4] = 0.0  # EOG_L absent
    with torch.no_grad():
        before, after = old(x)[0].numpy(), new(x)[0].numpy()
    eog = [NAMES.index("brain:eog_l.sem_rel_pct"), NAMES.index("brain:eog_l.rem_rel_pct")]
    assert after[:, eog] == pytest.approx(before[:, eog], abs=1e-6)


def test_priors_survive_a_save_and_load(tmp_path) -> None:
    old, space = _reader()
    new = with_priors(old, NAMES, space.quantiles, ("brain_band_powers", "cardiac_beats"))
    save_fact_reader(new, space, tmp_path / "r.facts.safetensors", {})
    loaded = load_fact_reader(tmp_path / "r.facts.safetensors")[0]
    x = torch.from_numpy(_signals(2)).float()
    hr = {"hr_mean_bpm": np.array([60.0, 70.0])}
    assert loaded.priors == new.priors
    with torch.no_grad():
        assert loaded(x, hr)[0].numpy() == pytest.approx(new(x, hr)[0].numpy(), abs=1e-6)


def test_a_measured_prior_reads_the_callers_measurement() -> None:
    from sleeplm.encoder.model.fact_priors import MeasuredPrior

    old, space = _reader()
    new = with_priors(old, NAMES, space.quantiles, ("brain_band_powers", "cardiac_beats"))
    assert MeasuredPrior("cardiac:hr.mean_bpm", "hr_mean_bpm") in new.priors
    x = torch.from_numpy(_signals(2)).float()
    with torch.no_grad():
        z = new(x, {"hr_mean_bpm": np.array([40.0, 75.5])})[0].numpy()
    assert space.to_physical(z)[:, NAMES.index("cardiac:hr.mean_bpm")] == pytest.approx([40.0, 75.5], abs=0.05)


def test_a_reader_that_needs_a_measurement_says_so_when_it_is_not_given() -> None:
    old, space = _reader()
    new = with_priors(old, NAMES, space.quantiles, ("cardiac_beats",))
    with pytest.raises(ValueError, match="hr_mean_bpm"):
        new(torch.from_numpy(_signals(1)).float())


def test_priors_stored_without_a_kind_are_band_priors() -> None:
    from sleeplm.encoder.model.fact_priors import prior_from_json

    d = {"value": "v", "channel": 6, "seg_s": 4.0, "lo_hz": 4.0, "hi_hz": 8.0, "total_lo_hz": 0.5, "total_hi_hz": 30.0}
    assert prior_from_json(d) == BandPrior(**d)


def test_a_prior_without_its_residual_is_the_measurement_alone() -> None:
    old, space = _reader()
    new = with_priors(old, NAMES, space.quantiles, ("cardiac_beats",))
    torch.nn.init.normal_(new.prior_residual.net[-1].bias, std=1.0)  # a residual that moves the value
    x, hr = torch.from_numpy(_signals(2)).float(), {"hr_mean_bpm": np.array([55.0, 72.0])}
    col = NAMES.index("cardiac:hr.mean_bpm")
    with torch.no_grad():
        moved = space.to_physical(new(x, hr)[0].numpy())[:, col]
        new.prior_use_residual.zero_()
        kept = space.to_physical(new(x, hr)[0].numpy())[:, col]
    assert kept == pytest.approx([55.0, 72.0], abs=0.05) and moved != pytest.approx(kept, abs=0.05)


def test_a_value_beyond_the_training_range_keeps_its_size_both_ways() -> None:
    q = np.repeat(np.linspace(45.0, 80.0, len(QUANTILE_LEVELS))[:, None], 1, 1)  # heart rates seen in training
    space = FactSpace(["cardiac:hr.mean_bpm"], q, np.ones(1))
    v = np.array([[30.0], [60.0], [95.0]])
    z = space.to_normal(v)
    assert z[0, 0] < z[1, 0] < z[2, 0] and z[2, 0] > norm.ppf(QUANTILE_LEVELS[-1])
    assert space.to_physical(z) == pytest.approx(v, abs=1e-6)
    zt = normal_scores(torch.tensor(v, dtype=torch.float32), torch.tensor(q, dtype=torch.float32),
                       torch.tensor(QUANTILE_LEVELS, dtype=torch.float32)).numpy()
    assert zt == pytest.approx(z, abs=1e-3)


def test_a_count_piled_at_zero_is_not_stretched_below_it() -> None:
    q = np.concatenate([np.zeros(120), np.linspace(1, 6, len(QUANTILE_LEVELS) - 120)])[:, None]
    space = FactSpace(["brain:eeg_c3.spindle_count"], q, np.ones(1))
    assert space.to_physical(np.array([[-3.5]]))[0, 0] == 0.0


def test_a_value_only_the_heads_read_stops_at_the_training_range() -> None:
    q = np.repeat(np.linspace(90.0, 99.0, len(QUANTILE_LEVELS))[:, None], 2, 1)
    space = FactSpace(["cardiac:spo2.mean_pct", "cardiac:hr.mean_bpm"], q, np.ones(2))
    z = np.array([[4.0, 4.0]])
    got = space.to_physical(z, extrapolate=np.array([False, True]))[0]
    assert got[0] == pytest.approx(99.0) and got[1] > 99.0


def test_a_prior_value_read_by_the_head_where_nothing_was_measured_stops_at_the_training_range() -> None:
    old, space = _reader()
    new = with_priors(old, NAMES, space.quantiles, ("cardiac_beats",))
    col = NAMES.index("cardiac:hr.mean_bpm")
    with torch.no_grad():
        new.values[-1].bias[col] = -40.0  # a head pushed far off its range, as on a strange recording
        z = new(torch.from_numpy(_signals(2)).float(), {"hr_mean_bpm": np.array([np.nan, 70.0])})[0].numpy()
    hr = FactModel(new, space, {}).values(z, "cardiac")["hr.mean_bpm"]
    assert hr[0] == pytest.approx(space.quantiles[0, col], abs=1e-3) and hr[1] == pytest.approx(70.0, abs=0.05)
