"""Adding a caller-measured prior (the chin EMG's relative tone) to a reader that already has measured priors: nothing
is retrained, every other value reads exactly as before, and the tone is the caller's measurement when the night's
reference is given, the head's reading when it is not."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sleeplm.encoder.model.config import BiosignalsConfig
from sleeplm.encoder.model.fact_priors import MeasuredPrior
from sleeplm.encoder.model.facts import (
    QUANTILE_LEVELS,
    FactModel,
    FactReader,
    FactSpace,
)
from sleeplm.encoder.pipeline import fact_measurements, night_emg_reference, read_facts
from sleeplm.encoder.train.fact_priors import (
    extended_priors,
    night_references,
    with_priors,
)
from sleeplm.encoder.train.recipe import RecipeError
from sleeplm.encoder.vocab import SLEEPLM_CHANNELS

NAMES = ["brain:eeg_c3.theta_rel_pct", "brain:eeg_c3.spindle_count", "cardiac:hr.mean_bpm",
         "somatic:emg.tone_rel_pct", "somatic:emg.burst_ratio"]
EMG = SLEEPLM_CHANNELS.index("EMG_CHIN")
TONE = NAMES.index("somatic:emg.tone_rel_pct")


def _reader_with_priors() -> tuple[FactReader, FactSpace]:
    cfg = BiosignalsConfig(transformer_width=16, transformer_layers=1, transformer_heads=2)
    torch.manual_seed(0)
    q = np.repeat(np.linspace(0.0, 300.0, len(QUANTILE_LEVELS))[:, None], len(NAMES), 1)
    old = with_priors(FactReader(cfg, 8, len(NAMES), hidden=16).eval(), NAMES, q,
                      ("brain_band_powers", "cardiac_beats"))
    torch.nn.init.normal_(old.prior_residual.net[-1].weight, std=0.5)  # a trained residual, not zero
    return old, FactSpace(NAMES, q, np.ones(len(NAMES)))


def _night(amplitudes: np.ndarray, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((len(amplitudes), 10, 1920)).astype(np.float32)
    x[:, EMG] *= amplitudes[:, None]
    return x


def test_the_extension_keeps_every_tensor_of_the_reader() -> None:
    old, space = _reader_with_priors()
    new = extended_priors(old, NAMES, space.quantiles, ("emg_tone",))
    assert new.priors == old.priors + (MeasuredPrior("somatic:emg.tone_rel_pct", "emg_tone_rel_pct"),)
    was, now = old.state_dict(), new.state_dict()
    for k, v in was.items():
        cut = now[k][:, : v.shape[1]] if k == "prior_quantiles" else now[k][: len(v)] if v.ndim else now[k]
        assert torch.equal(cut, v), k
    assert not new.prior_use_residual[-1] and not new.prior_residual.net[-1].weight[-1].any()


def test_every_other_value_reads_as_before_and_the_tone_is_measured() -> None:
    old, space = _reader_with_priors()
    new = extended_priors(old, NAMES, space.quantiles, ("emg_tone",))
    amplitudes = np.array([1.0, 0.5, 2.0, 1.0, 1.2])
    x = _night(amplitudes)
    before = read_facts(FactModel(old, space, {}), x)[0]
    after = read_facts(FactModel(new, space, {}), x, night_emg_reference(x))[0]
    other = [i for i in range(len(NAMES)) if i != TONE]
    assert after[:, other] == pytest.approx(before[:, other], abs=1e-6)
    rms = np.sqrt((x[:, EMG].astype(np.float64) ** 2).mean(1))
    assert space.to_physical(after)[:, TONE] == pytest.approx(100 * rms / np.median(rms), rel=0.01)


def test_without_the_nights_reference_the_heads_tone_stands() -> None:
    old, space = _reader_with_priors()
    new = extended_priors(old, NAMES, space.quantiles, ("emg_tone",))
    x = _night(np.array([1.0, 0.5, 2.0]))
    assert np.isnan(fact_measurements(new, x)["emg_tone_rel_pct"]).all()
    assert read_facts(FactModel(new, space, {}), x)[0] == pytest.approx(
        read_facts(FactModel(old, space, {}), x)[0], abs=1e-6)


def test_a_prior_that_needs_a_trained_residual_is_not_added_to_a_reader_with_priors() -> None:
    old, space = _reader_with_priors()
    bare = FactReader(old.tower.cfg, 8, len(NAMES), hidden=16).eval()
    reader = with_priors(bare, NAMES, space.quantiles, ("cardiac_beats",))
    with pytest.raises(RecipeError, match="residual"):
        extended_priors(reader, NAMES, space.quantiles, ("brain_band_powers",))
    with pytest.raises(RecipeError, match="already has"):
        extended_priors(old, NAMES, space.quantiles, ("cardiac_beats",))


def test_each_recording_of_a_split_gets_its_own_reference() -> None:
    a, b = _night(np.array([1.0, 1.0, 3.0])), _night(np.array([2.0, 2.0, 2.0]), seed=1)
    refs = night_references(np.array(["a"] * 3 + ["b"] * 3), np.concatenate([a, b]))
    assert refs[:3] == pytest.approx(night_emg_reference(a)) and refs[3:] == pytest.approx(night_emg_reference(b))
    assert refs[3] == pytest.approx(2.0, rel=0.01) and refs[0] == pytest.approx(1.0, rel=0.01)
