"""A night's events from the event head's per-patch probabilities: runs joined across contiguous epochs, broken by a
gap between epochs, and kept only when as long as the scoring rules' shortest event of the type."""

from __future__ import annotations

import numpy as np
from sleeplm.encoder.model.facts import night_events_from_probs

TYPES = ("hypopnea", "arousal")


def _probs(n_epochs: int, marks: list[tuple[int, int, int, int]]) -> np.ndarray:
    """(epoch, first patch, end patch, type index) marked at probability 0.9, the rest 0.05."""
    p = np.full((n_epochs, 30, len(TYPES)), 0.05)
    for e, a, b, k in marks:
        p[e, a:b, k] = 0.9
    return p


def test_an_event_across_two_contiguous_epochs_is_one_event_in_recording_time() -> None:
    p = _probs(3, [(1, 25, 30, 0), (2, 0, 8, 0)])
    assert night_events_from_probs(p, np.array([600.0, 630.0, 660.0]), TYPES, 1.0) == [("hypopnea", 655.0, 668.0)]


def test_a_gap_between_epochs_ends_an_event() -> None:
    p = _probs(2, [(0, 22, 30, 0), (1, 0, 8, 0)])  # 8 s + 8 s, 30 s apart
    assert night_events_from_probs(p, np.array([0.0, 60.0]), TYPES, 1.0) == []


def test_runs_shorter_than_the_types_shortest_scorable_event_are_not_events() -> None:
    p = _probs(1, [(0, 2, 4, 1), (0, 10, 14, 1), (0, 15, 24, 0)])  # 2-s arousal, 4-s arousal, 9-s hypopnea
    assert night_events_from_probs(p, np.array([0.0]), TYPES, 1.0) == [("arousal", 10.0, 14.0)]


def test_an_event_type_is_readable_only_where_the_epoch_has_its_inputs() -> None:
    from sleeplm.encoder.model.facts import event_inputs_present
    from sleeplm.encoder.vocab import SLEEPLM_CHANNELS

    mask = np.zeros((2, len(SLEEPLM_CHANNELS)), bool)
    mask[0] = True
    mask[1, SLEEPLM_CHANNELS.index("EEG_C3")] = True  # an EEG-only epoch
    got = event_inputs_present(("central_apnea", "arousal", "oxygen_desaturation"), mask)
    assert got.tolist() == [[True, True, False], [False, True, False]]
