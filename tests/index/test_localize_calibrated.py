"""Localization in a severe night: each epoch is scored against "no events", not only against its night."""

from __future__ import annotations

import numpy as np
from sleeplm.index.localize import calibrated_probability, localize_scores


def _severe_night(n: int = 240) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[tuple[str, float, float]]]:
    """Every other pair of epochs holds an apnea: event epochs look more like the event text than like
    the no-event caption, the others the opposite (by a small margin, with noise)."""
    rng = np.random.default_rng(1)
    onset = 30.0 * np.arange(n)
    is_event = (np.arange(n) // 2) % 2 == 0
    reference = 0.30 + 0.01 * rng.standard_normal(n)
    scores = reference + np.where(is_event, 0.02, -0.02) + 0.005 * rng.standard_normal(n)
    events = [("obstructive_apnea", float(onset[i]) + 5.0, 20.0) for i in np.flatnonzero(is_event)]
    return onset, scores, reference, events


def test_calibrated_localization_finds_recurring_events_that_do_not_stand_out() -> None:
    onset, scores, reference, events = _severe_night()
    outlier = localize_scores("n", "obstructive apnea", onset, scores, events, z_threshold=2.0)
    calibrated = localize_scores("n", "obstructive apnea", onset, scores, events, reference_scores=reference)
    assert calibrated.method == "calibrated" and calibrated.probability is not None
    assert calibrated.epoch_recall > 0.9 and calibrated.epoch_precision > 0.9
    assert (outlier.epoch_recall or 0.0) < 0.2  # half the night is events: nothing stands out


def test_probability_is_one_half_where_the_event_and_reference_texts_tie() -> None:
    p = calibrated_probability(np.array([0.3, 0.31, 0.29]), np.array([0.3, 0.3, 0.3]))
    assert p[0] == 0.5 and p[1] > 0.5 > p[2]
