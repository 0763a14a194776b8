"""Localization from an event head's per-patch probabilities: events to the second, compared with the annotations;
with a stage restriction only events starting in allowed epochs count, and so do only allowed epochs."""

from __future__ import annotations

import numpy as np
import pytest
from sleeplm.index.localize import localize_read_events

TYPES = ("hypopnea", "arousal")
ONSET = np.arange(6) * 30.0


def _probs(marks: list[tuple[float, float, str]]) -> np.ndarray:
    p = np.full((len(ONSET), 30, len(TYPES)), 0.02)
    centres = ONSET[:, None] + np.arange(30)[None, :] + 0.5
    for a, b, t in marks:
        p[:, :, TYPES.index(t)][(centres >= a) & (centres < b)] = 0.97
    return p


def test_read_events_match_the_annotated_ones_to_the_second() -> None:
    annotated = [("hypopnea", 40.0, 15.0), ("arousal", 100.0, 5.0)]
    loc = localize_read_events("n", "hypopnea", ONSET, _probs([(40, 55, "hypopnea"), (100, 105, "arousal")]),
                               TYPES, 1.0, annotated, ["hypopnea"])
    assert [(iv.event_type, iv.start_s, iv.end_s, iv.matches_annotation) for iv in loc.intervals] == [
        ("hypopnea", 40.0, 55.0, True)]
    assert loc.method == "event head" and loc.epoch_precision == 1.0 and loc.epoch_recall == 1.0


def test_an_event_running_out_of_the_allowed_epochs_counts_only_where_allowed() -> None:
    allowed = np.array([False, True, False, False, False, False])  # epoch 1 (30-60 s) scored REM, say
    annotated = [("hypopnea", 50.0, 15.0)]  # 50-65 s: starts in epoch 1, runs into epoch 2
    loc = localize_read_events("n", "hypopnea in REM", ONSET, _probs([(50, 65, "hypopnea")]), TYPES, 1.0,
                               annotated, ["hypopnea"], allowed=allowed)
    assert len(loc.intervals) == 1 and loc.epoch_precision == 1.0 and loc.epoch_recall == 1.0


def test_a_type_the_head_does_not_read_is_refused() -> None:
    with pytest.raises(ValueError, match="none of"):
        localize_read_events("n", "desaturation", ONSET, _probs([]), TYPES, 1.0, [], ["oxygen_desaturation"])
