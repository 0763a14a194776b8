"""Never worse with more channels: zero-shot staging with every channel vs the central EEG alone.

Tolerance: with every channel, Cohen's kappa may be at most 0.05 below the central-EEG-only kappa on
the same epochs (simulated), and on the real Nox file at least 3 of its 4 epochs keep their stage.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sleeplm.encoder.vocab import CHANNEL_INDEX, SCORED_STAGES
from sleeplm.eval.metrics import classification_scores
from sleeplm.eval.staging import load_prompts, predict_stages
from sleeplm.index.models import resolve_model

EEG = [CHANNEL_INDEX["EEG_C3"], CHANNEL_INDEX["EEG_C4"]]


def _eeg_only(x: np.ndarray) -> np.ndarray:
    """The same epochs as preprocessing writes a recording with only its central EEG (zeros, POS -1)."""
    y = np.zeros_like(x)
    y[:, EEG] = x[:, EEG]
    y[:, CHANNEL_INDEX["POS"]] = -1.0
    return y


@pytest.mark.slow
def test_every_channel_stages_no_worse_than_eeg_alone_on_randomized_simulated_nights() -> None:
    from sleeplm.encoder.io.channels import map_channels
    from sleeplm.encoder.io.records import Recording
    from sleeplm.encoder.signals.preprocess import make_epochs
    from sleeplm.encoder.sim import SITES, draw_subject, randomized_file_signals, simulate_night

    model, prompts = resolve_model("sleeplm-tiny").load(), load_prompts()
    truth, full, eeg = [], [], []
    for i in range(3):
        rng = np.random.default_rng([9090, i])
        night = simulate_night(draw_subject(i, rng, site=SITES[i % len(SITES)]), rng, 1.5)
        rec = Recording(Path(f"{night.stem}.edf"), night.start_time, night.duration_s,
                        randomized_file_signals(night, rng))
        ep = make_epochs(map_channels(rec), night.annotations(), brain_scale=model.brain_scale)
        keep = np.isin(np.asarray(ep.stages, object), SCORED_STAGES)
        x = ep.x[keep].astype(np.float32)
        truth += list(np.asarray(ep.stages, object)[keep])
        full += list(predict_stages(model, model.encode_signal(x), prompts))
        eeg += list(predict_stages(model, model.encode_signal(_eeg_only(x)), prompts))
    labels = list(SCORED_STAGES)
    k_full = classification_scores(np.asarray(truth, object), np.asarray(full, object), labels)["kappa"]
    k_eeg = classification_scores(np.asarray(truth, object), np.asarray(eeg, object), labels)["kappa"]
    assert k_full >= k_eeg - 0.05


@pytest.mark.xfail(strict=True, reason="measured: 0 of 4 epochs keep their stage (every channel: W W W W; "
                                       "central EEG alone: N2 N2 N1 N2, v10); see README, Results")
def test_the_real_nox_file_stages_the_same_with_and_without_its_non_eeg_channels(shared_data: Path) -> None:
    from sleeplm.encoder.io.psg import load_psg
    from sleeplm.encoder.signals.preprocess import make_epochs

    model, prompts = resolve_model("sleeplm-tiny").load(), load_prompts()
    psg = load_psg(shared_data / "real" / "nox-a1-2min" / "subject1.edf")
    x = make_epochs(psg.mapped, psg.annotations, brain_scale=model.brain_scale).x.astype(np.float32)
    full = predict_stages(model, model.encode_signal(x), prompts)
    eeg = predict_stages(model, model.encode_signal(_eeg_only(x)), prompts)
    assert (full == eeg).sum() >= 3
