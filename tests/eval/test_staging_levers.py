"""Zero-shot staging's test-time levers (eval/staging.py), on hand-made vectors whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from sleeplm.eval.staging import ABLATION, DEFAULT_OPTIONS, PLAIN, StagingOptions, load_prompts, stage_scores


def _unit(a: np.ndarray) -> np.ndarray:
    return a / np.linalg.norm(a, axis=-1, keepdims=True)


PROTOS = np.eye(3, 8)  # three "stages" along the first three axes


def test_plain_scores_are_cosines_to_the_prototypes() -> None:
    v = _unit(np.array([[1.0, 0.2, 0, 0, 0, 0, 0, 0]]))
    np.testing.assert_allclose(stage_scores(v, PROTOS, PLAIN), v @ PROTOS.T)


def test_night_centring_removes_a_night_wide_offset() -> None:
    # every epoch of night 1 carries the same offset towards stage 0; centring gives back the stage axis
    truth = np.array([0, 1, 2, 1, 2, 0])
    offset = np.array([3.0, 0, 0, 0, 0, 0, 0, 0])
    v = _unit(PROTOS[truth] + offset)
    plain = np.argmax(stage_scores(v, PROTOS, PLAIN), axis=1)
    centred = np.argmax(stage_scores(v, PROTOS, StagingOptions(True, False, 1, 0.1), np.zeros(6)), axis=1)
    assert (plain == 0).all()
    np.testing.assert_array_equal(centred, truth)


def test_smoothing_overrules_a_lone_epoch_within_a_night_only() -> None:
    truth = np.array([0, 0, 1, 0, 0, 2, 2, 2])
    v = _unit(PROTOS[truth] + 0.05)
    nights = np.array([0, 0, 0, 0, 0, 1, 1, 1])
    smoothed = np.argmax(stage_scores(v, PROTOS, StagingOptions(False, False, 3, 0.1), nights), axis=1)
    np.testing.assert_array_equal(smoothed, [0, 0, 0, 0, 0, 2, 2, 2])


def test_levers_within_a_night_need_the_nights() -> None:
    with pytest.raises(ValueError, match="night"):
        stage_scores(_unit(np.ones((2, 8))), PROTOS, StagingOptions(False, False, 3, 0.1))


def test_every_ablation_prompt_file_has_every_scored_stage() -> None:
    for name, (_, path) in ABLATION.items():
        assert set(load_prompts(path)) == {"W", "N1", "N2", "N3", "REM"}, name


def test_default_options_are_one_of_the_measured_rows() -> None:
    assert any(opts is DEFAULT_OPTIONS for opts, _ in ABLATION.values())


def test_the_robust_eeg_scale_is_one_of_the_measured_levers_and_not_the_default() -> None:
    opts, _ = ABLATION["robust EEG/EOG scale (MAD)"]
    assert opts.brain_scale == "mad" and DEFAULT_OPTIONS.brain_scale is None  # the model's own
