"""Captions: facts <-> text for the five tracks, their parser, night summaries and the caption corpus.

Rule: captions/ turns numbers into words and back; it reads no file and runs no model.
"""

from sleeplm.encoder.captions.facts import (
    TRACK_SECTIONS,
    TRACKS,
    CaptionFacts,
    EventFact,
    events_in_epochs,
    facts_from_features,
)
from sleeplm.encoder.captions.corpus import CorpusNight, build_caption_corpus
from sleeplm.encoder.captions.night import night_summary, segment_summary
from sleeplm.encoder.captions.parse import parse_caption
from sleeplm.encoder.captions.render import render_captions, render_facts, render_night

__all__ = ["CorpusNight", "TRACKS", "TRACK_SECTIONS", "CaptionFacts", "EventFact",
           "build_caption_corpus", "events_in_epochs",
           "facts_from_features", "night_summary", "parse_caption", "render_captions",
           "render_facts", "render_night", "segment_summary"]
