"""Which model inputs each caption track describes, and when a model caption is withheld."""

from __future__ import annotations

from sleeplm.encoder.vocab import SLEEPLM_CHANNELS, TRACK_INPUTS, TRACKS, absent_track_inputs, withheld_caption_reason


def test_every_track_names_its_inputs_among_the_model_channels() -> None:
    assert set(TRACK_INPUTS) == set(TRACKS)
    assert all(set(chs) <= set(SLEEPLM_CHANNELS) and chs for chs in TRACK_INPUTS.values())


def test_a_track_with_none_of_its_inputs_is_withheld_and_names_them() -> None:
    why = withheld_caption_reason("respiratory", ["EEG_C3", "ECG"])
    assert why is not None and "ABD, THX, AF" in why


def test_a_track_with_one_of_its_inputs_is_captioned() -> None:
    assert withheld_caption_reason("brain", ["EEG_C3"]) is None
    assert absent_track_inputs("brain", ["EEG_C3"]) == ("EOG_L", "EOG_R", "EEG_C4")


def test_the_stage_and_event_track_is_never_withheld() -> None:
    assert withheld_caption_reason("stage_event", ["EEG_C3"]) is None
