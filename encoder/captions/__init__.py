"""Captions per epoch (five tracks), their parser, night metrics and the caption corpus."""

from sleeplm.encoder.captions.facts import (
    TRACK_SECTIONS,
    TRACKS,
    CaptionFacts,
    EventFact,
    events_in_epochs,
    facts_from_features,
)
from sleeplm.encoder.captions.corpus import CorpusNight, build_caption_corpus
from sleeplm.encoder.captions.epoch import EpochCaption, caption_epoch, epoch_caption_to_dict
from sleeplm.encoder.captions.night import NightMetrics, night_metrics, night_summary, segment_summary, segment_table
from sleeplm.encoder.captions.parse import parse_caption
from sleeplm.encoder.captions.render import render_captions, render_facts, render_night

__all__ = ["CorpusNight", "EpochCaption", "NightMetrics", "TRACKS", "TRACK_SECTIONS", "CaptionFacts", "EventFact",
           "build_caption_corpus", "caption_epoch", "epoch_caption_to_dict", "events_in_epochs",
           "facts_from_features", "night_metrics", "night_summary", "parse_caption", "render_captions",
           "render_facts", "render_night", "segment_summary", "segment_table"]
