"""Captions say "not scored" for a kind nobody scored, "automatic" for an algorithm's, and name the real lead."""

from __future__ import annotations

from sleeplm.encoder.captions import parse_caption, render_captions
from sleeplm.encoder.captions.facts import EventFact

UNSCORED = {"stages": "manual", "respiratory": "not scored", "desaturation": "not scored", "arousal": "manual",
            "limb_movement": "not scored"}


def test_an_epoch_of_an_unscored_night_never_says_no_events() -> None:
    text = render_captions({}, [], "N2", "stage_event", scoring=UNSCORED)
    assert "No sleep-disordered breathing events" not in text
    assert "Respiratory events, oxygen desaturations and limb movements were not scored" in text
    assert "No arousals are scored in this epoch." in text


def test_a_fully_scored_night_keeps_the_canonical_caption() -> None:
    assert render_captions({}, [], "N2", "stage_event") == (
        "Sleep stage evaluation reveals Stable Light Sleep (N2) for this epoch. "
        "No sleep-disordered breathing events were detected.")


def test_automatic_events_and_stages_say_so() -> None:
    auto = dict.fromkeys(UNSCORED, "automatic")
    text = render_captions({}, [EventFact("hypopnea", 3.0, 18.0)], "N3", "stage_event", scoring=auto,
                           stage_confidence=0.83)
    assert "automatic staging, confidence 0.83" in text
    assert "Respiratory events, oxygen desaturations, arousals and limb movements are from automatic scoring" in text
    assert parse_caption(text, "stage_event").events[0].type == "hypopnea"


def test_the_brain_caption_names_the_lead_actually_recorded() -> None:
    row = {"eeg_c3_delta_rel_pct": 40.0}
    text = render_captions(row, [], "N2", "brain", leads={"EEG_C3": "C3-A1"})
    assert "Central EEG Activity (C3-A1 in place of C3-A2): delta relative power" in text
    assert parse_caption(text, "brain").sections["eeg_c3"].values["delta_rel_pct"] == 40.0


def test_an_aasm_lead_keeps_the_usual_title() -> None:
    text = render_captions({"eeg_c3_delta_rel_pct": 40.0}, [], "N2", "brain", leads={"EEG_C3": "C3-M2"})
    assert "Central EEG Activity (C3-A2): delta" in text
