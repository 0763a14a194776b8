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
    assert np.nanmax(np.abs(got)) <= norm.ppf(QUANTILE_LEVELS[-1]) + 1e-4  # clamped at the end levels


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
    new = with_priors(old, NAMES, space.quantiles)
    save_fact_reader(new, space, tmp_path / "r.facts.safetensors", {})
    loaded = load_fact_reader(tmp_path / "r.facts.safetensors")[0]
    x = torch.from_numpy(_signals(2)).float()
    assert loaded.priors == new.priors
    with torch.no_grad():
        assert loaded(x)[0].numpy() == pytest.approx(new(x)[0].numpy(), abs=1e-6)
