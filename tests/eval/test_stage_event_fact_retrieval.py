"""Stage/event captions scored in the fact reader's space: a caption's stage under the epoch's stage probabilities plus
its readable events' timeline under the event head's per-patch probabilities. Captions are rendered from stated
facts; the expected matches are the facts each epoch was given."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from sleeplm.encoder.captions.facts import CaptionFacts, EventFact
from sleeplm.encoder.captions.parse import event_timelines
from sleeplm.encoder.captions.render import render_facts
from sleeplm.encoder.model.facts import stage_event_scores
from sleeplm.encoder.vocab import SCORED_STAGES
from sleeplm.eval.tasks.retrieval import stage_event_fact_retrieval

TYPES = ("hypopnea", "arousal")
READER = SimpleNamespace(reader=SimpleNamespace(event_types=TYPES), patch_s=1.0)


def _caption(stage: str, events=()) -> str:
    return render_facts(CaptionFacts("stage_event", stage=stage, events=[EventFact(*e) for e in events]))


def _reading(captions: list[str], sure: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Stage log-probabilities and event probabilities of epochs that show exactly what their captions state."""
    from sleeplm.encoder.captions.parse import parse_caption

    stage = np.full((len(captions), len(SCORED_STAGES)), np.log((1 - sure) / (len(SCORED_STAGES) - 1)))
    for i, c in enumerate(captions):
        stage[i, SCORED_STAGES.index(parse_caption(c, "stage_event").stage)] = np.log(sure)
    y = event_timelines(captions, TYPES, 30, 1.0)
    return stage, np.where(y > 0, sure, 1 - sure)


def test_an_epoch_prefers_the_caption_with_its_events_at_their_times() -> None:
    texts = [_caption("N2", [("hypopnea", 5.0, 15.0)]), _caption("N2", [("hypopnea", 18.0, 28.0)]), _caption("N2")]
    stage, probs = _reading(texts[:1])
    s = stage_event_scores(stage, np.array([2, 2, 2]), probs, event_timelines(texts, TYPES, 30, 1.0), 0.3)
    assert s[0, 0] > s[0, 2] > s[0, 1]  # its own; then no event (10 patches wrong); then the wrong times (20 wrong)


def test_the_stage_decides_between_captions_with_the_same_events() -> None:
    texts = [_caption("REM", [("arousal", 3.0, 8.0)]), _caption("N2", [("arousal", 3.0, 8.0)])]
    stage, probs = _reading(texts[:1])
    s = stage_event_scores(stage, np.array([4, 2]), probs, event_timelines(texts, TYPES, 30, 1.0), 0.3)
    assert s[0, 0] > s[0, 1]


def test_events_the_reader_cannot_see_do_not_count() -> None:
    texts = [_caption("N2", [("arousal", 3.0, 8.0)]), _caption("N2", [("arousal", 3.0, 8.0), ("limb_movement", 10.0, 14.0)])]
    stage, probs = _reading(texts[:1])
    s = stage_event_scores(stage, np.array([2, 2]), probs, event_timelines(texts, TYPES, 30, 1.0), 0.3)
    assert s[0, 0] == pytest.approx(s[0, 1])


def test_a_reader_that_sees_what_each_caption_states_retrieves_every_caption_both_ways() -> None:
    texts = [_caption(st, [("hypopnea", a, a + 10.0)]) for st in ("N1", "N2", "REM") for a in (0.0, 9.0, 18.0)]
    texts += [_caption("W"), _caption("W"), _caption("N3")]
    stage, probs = _reading(texts)
    for d in stage_event_fact_retrieval(READER, stage, probs, texts):
        assert d.row()["R@1"] == 1.0, d.direction


def test_a_caption_that_states_no_stage_does_not_outrank_the_epochs_own() -> None:
    texts = [_caption("N2", [("arousal", 3.0, 8.0)]), _caption("UNKNOWN", [("arousal", 3.0, 8.0)])]
    stage, probs = _reading(texts[:1], sure=0.9)
    s = stage_event_scores(stage, np.array([2, -1]), probs, event_timelines(texts, TYPES, 30, 1.0), 0.3)
    assert s[0, 0] > s[0, 1]
