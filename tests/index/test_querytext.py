"""Queries rewritten in the captions' style, without event times."""

from __future__ import annotations

from sleeplm.encoder.captions.render import event_gist
from sleeplm.index.querytext import caption_style, parse_query


def test_event_gist_drops_times_and_nadir_but_keeps_events() -> None:
    text = ("Sleep stage evaluation reveals REM Sleep for this epoch. The Hypopnea event is documented from 0.0 to "
            "5.6 seconds. The Oxygen Desaturation event lasts from 14.2 to 30.0 seconds, with a nadir of 88.0%.")
    assert event_gist(text) == ("Sleep stage evaluation reveals REM Sleep for this epoch. The Hypopnea event. "
                                "The Oxygen Desaturation event.")


def test_event_gist_handles_the_tokenizers_digit_spacing() -> None:
    assert event_gist("a arousal event occurs from 0 . 0 to 1 5 . 2 seconds .") == "a arousal event ."


def test_query_names_stage_and_events() -> None:
    terms = parse_query("obstructive apnea during REM with desaturation")
    assert terms.stages == ["REM"] and terms.events == ["obstructive_apnea", "oxygen_desaturation"]


def test_caption_style_query() -> None:
    assert caption_style("hypopnea in N2") == ("Sleep stage evaluation reveals Stable Light Sleep (N2) for this epoch. "
                                               "The Hypopnea event.")
    assert caption_style("apnea") == "The Obstructive Apnea event."
    assert caption_style("spindles please") == "spindles please"
