"""Caption rendering: a canonical form (fixed order and wording) and seeded paraphrases.

``seed=None`` gives the canonical caption used for evaluation; an integer seed picks the
stage/event sentence templates, the connectives ("valued at", "measuring", "equal to", "of",
"at"), the joiners and the section order, so a model learns facts rather than one template.
The same facts and seed always give the same text.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from sleeplm.encoder.captions.facts import (
    EVENT_NAMES,
    SCORING_KIND_NAMES,
    SCORING_KINDS,
    SECTION_LEADS,
    STAGE_NAMES,
    TRACK_SECTIONS,
    TRACKS,
    CaptionFacts,
    EventFact,
    PositionFacts,
    SectionFacts,
    canonical_track,
    facts_from_features,
)

STAGE_TEMPLATES: tuple[str, ...] = (
    "Sleep stage evaluation reveals {s} for this epoch.",
    "Sleep stage analysis shows {s} for this epoch.",
    "The patient exhibits {s} features in this segment.",
    "{A} {s} phase is detected in this epoch.",
)
EVENT_TEMPLATES: tuple[str, ...] = (
    "The {e} event is documented from {a} to {b} seconds{x}.",
    "{A} {e} event occurs from {a} to {b} seconds{x}.",
    "The {e} event lasts from {a} to {b} seconds{x}.",
    "The {e} event is identified from {a} to {b} seconds{x}.",
)
NO_EVENT_TEMPLATES: tuple[str, ...] = (
    "No sleep-disordered breathing events were detected.",
    "No clinical events were detected in this epoch.",
    "No events are scored in this epoch.",
)
CONNECTIVES: tuple[str, ...] = ("of", "valued at", "measuring", "equal to", "at")
JOINERS: tuple[str, ...] = (", ", ", along with ", ", and also ", ", together with ",
                            ", including ", ", plus ", ", in addition to ", ", and ")
TREND_NOUNS: tuple[str, ...] = ("phase", "behavior", "interval", "segment")
POSITION_TEMPLATES: tuple[str, ...] = (
    "The patient maintains the {p} position for this period.",
    "The patient stays lying {p} for the full epoch.",
    "The patient remains in the {p} position throughout this epoch.",
)
POSITION_CHANGE_TEMPLATE = "The patient is mostly in the {p} position for this period{c}."
UNKNOWN_POSITION = "The patient's body position is undetermined for this period."
NO_SIGNAL: dict[str, str] = {
    "brain": "No EEG or EOG signal is available for this epoch.",
    "cardiac": "No ECG or oximetry signal is available for this epoch.",
    "respiratory": "No respiratory signal is available for this epoch.",
    "somatic": "No chin EMG or body position signal is available for this epoch.",
}


def _article(word: str) -> str:
    return "An" if word[:1].upper() in "AEIOU" else "A"


def _pick(rng: random.Random | None, options: Sequence[str]) -> str:
    return options[0] if rng is None else rng.choice(options)


def _kinds_text(kinds: Sequence[str]) -> str:
    names = [SCORING_KIND_NAMES[k] for k in kinds]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _stage_event(facts: CaptionFacts, rng: random.Random | None) -> str:
    s = STAGE_NAMES[facts.stage or "UNKNOWN"]
    parts = [_pick(rng, STAGE_TEMPLATES).format(s=s, A=_article(s))]
    if "stages" in facts.automatic and facts.stage not in (None, "UNKNOWN"):
        conf = "" if facts.stage_confidence is None else f", confidence {facts.stage_confidence:.2f}"
        parts.append(f"The stage is from automatic staging{conf}.")
    event_kinds = [k for k in SCORING_KINDS if k != "stages"]
    scored = [k for k in event_kinds if k not in facts.not_scored]
    if not facts.events:
        if not facts.not_scored:
            parts.append(_pick(rng, NO_EVENT_TEMPLATES))
        elif scored:
            parts.append(f"No {_kinds_text(scored)} are scored in this epoch.")
    for ev in facts.events:
        e = EVENT_NAMES[ev.type]
        x = "" if ev.spo2_nadir_pct is None else f", with a nadir of {ev.spo2_nadir_pct:.1f}%"
        parts.append(_pick(rng, EVENT_TEMPLATES).format(
            e=e, A=_article(e), a=f"{ev.start_s:.1f}", b=f"{ev.end_s:.1f}", x=x))
    auto_events = [k for k in facts.automatic if k != "stages"]
    if auto_events:
        parts.append(f"{_kinds_text(auto_events).capitalize()} are from automatic scoring.")
    if facts.not_scored:
        parts.append(f"{_kinds_text(facts.not_scored).capitalize()} were not scored in this recording.")
    return " ".join(parts)


def _title(spec_key: str, title: str, facts: CaptionFacts) -> str:
    """A section title naming the lead actually recorded when it is not the title's AASM derivation."""
    lead = facts.leads.get(spec_key)
    if lead and spec_key in SECTION_LEADS:
        aasm = SECTION_LEADS[spec_key][0]
        return title.replace(f"({aasm})", f"({lead} in place of {aasm})")
    return title


def _section(title: str, spec_fields, sec: SectionFacts, rng: random.Random | None) -> str:
    phrases = []
    for f in spec_fields:
        if f.key not in sec.values:
            continue
        art = "" if rng is None else rng.choice(("", "an " if f.phrase[0] in "aeiouAEIOU" else "a "))
        conn = _pick(rng, CONNECTIVES)
        phrases.append(f"{art}{f.phrase} {conn} {sec.values[f.key]:.{f.decimals}f}{f.unit}")
    for t in sec.trends:
        noun = _pick(rng, TREND_NOUNS)
        art = "an" if t.direction[0] in "aeiou" else "a"
        phrases.append(f"{art} {t.direction} {noun} from {t.start_s:.1f} to {t.end_s:.1f} seconds")
    text = phrases[0]
    for i, p in enumerate(phrases[1:], start=1):
        if rng is None:
            joiner = ", and " if i == len(phrases) - 1 else ", "
        else:
            joiner = rng.choice(JOINERS)
        text += joiner + p
    return f"{title}: {text}."


def _position(pos: PositionFacts, rng: random.Random | None) -> str:
    if pos.position not in ("right", "left", "supine", "prone", "upright"):
        return UNKNOWN_POSITION
    if pos.changes:
        c = "".join(f", moving from {ch.from_position} to {ch.to_position} at {ch.at_s:.1f} seconds"
                    for ch in pos.changes)
        return POSITION_CHANGE_TEMPLATE.format(p=pos.position, c=c)
    return _pick(rng, POSITION_TEMPLATES).format(p=pos.position)


def render_facts(facts: CaptionFacts, seed: int | None = None) -> str:
    """Render :class:`CaptionFacts` as text; ``seed=None`` is the canonical form."""
    rng = None if seed is None else random.Random(seed)
    track = canonical_track(facts.track)
    if track == "stage_event":
        return _stage_event(facts, rng)
    parts = []
    for spec in TRACK_SECTIONS[track]:
        if spec.key in facts.sections:
            parts.append(_section(_title(spec.key, spec.title, facts), spec.fields, facts.sections[spec.key], rng))
    if facts.position is not None:
        parts.append(_position(facts.position, rng))
    if rng is not None:
        rng.shuffle(parts)
    return " ".join(parts) if parts else NO_SIGNAL[track]


def render_captions(features_row: Mapping[str, object], events_in_epoch: Iterable[EventFact] | None,
                    stage: str | None, track: str, seed: int | None = None,
                    scoring: Mapping[str, str] | None = None, leads: Mapping[str, str] | None = None,
                    stage_confidence: float | None = None) -> str:
    """Caption of one track for one epoch.

    Parameters
    ----------
    features_row : one row of ``compute_epoch_features`` (mapping column -> value).
    events_in_epoch : events overlapping the epoch (see :func:`.facts.events_in_epochs`).
    stage : the epoch's stage (W, N1, N2, N3, REM, UNKNOWN).
    track : ``stage_event``, ``brain``, ``cardiac`` (``heart``), ``respiratory`` or
        ``somatic`` (``position_muscle``).
    seed : None for the canonical caption, an int for a paraphrase.
    scoring : kind of annotation -> "manual" / "automatic" / "not scored" (None: all manual); an
        unscored kind is said to be "not scored", never "none".
    leads : SleepLM channel -> the derivation actually recorded (``ChannelSource.lead``); a central
        EEG section names it when it is not the AASM lead ("C3-A1 in place of C3-A2").
    stage_confidence : confidence of an automatic stage.
    """
    return render_facts(facts_from_features(features_row, events_in_epoch, stage, track, scoring, leads,
                                            stage_confidence), seed)


def epoch_seed(seed: int, epoch: int, track: str, variant: int) -> int:
    """A reproducible per-caption seed from the corpus seed and the caption's coordinates."""
    ss = np.random.SeedSequence([seed, epoch, TRACKS.index(canonical_track(track)), variant])
    return int(ss.generate_state(1)[0])


def render_night(features: pd.DataFrame, events_per_epoch: Sequence[Sequence[EventFact]] | None,
                 track: str, seed: int | None = None, variant: int = 1,
                 scoring: Mapping[str, str] | None = None, leads: Mapping[str, str] | None = None,
                 stage_confidence: Sequence[float] | None = None) -> list[str]:
    """Captions of one track for every epoch of a night (canonical when ``seed`` is None).

    ``scoring``, ``leads`` and ``stage_confidence`` (one per epoch) as in :func:`render_captions`.
    """
    rows = features.to_dict("records")
    stages = features["stage"].tolist() if "stage" in features else ["UNKNOWN"] * len(rows)
    evs = events_per_epoch if events_per_epoch is not None else [[] for _ in rows]
    conf = list(stage_confidence) if stage_confidence is not None else [None] * len(rows)
    out = []
    for i, row in enumerate(rows):
        s = None if seed is None else epoch_seed(seed, i, track, variant)
        out.append(render_captions(row, evs[i], stages[i], track, s, scoring, leads,
                                   conf[i] if i < len(conf) else None))
    return out


_EVENT_TIMES = re.compile(r" (?:is documented|occurs|lasts|is identified) from [\d. ]+ to [\d. ]+ seconds"
                          r"(?:, with a nadir of [\d. ]+%)?", re.IGNORECASE)


def event_gist(caption: str) -> str:
    """A stage_event caption without event times and nadirs: what happens, not exactly when.

    "... The Hypopnea event is documented from 0.0 to 5.6 seconds." → "... The Hypopnea event."
    Used as the contrastive text of the tiny model and for caption-style queries, where exact
    times within the epoch are noise.
    """
    return _EVENT_TIMES.sub("", caption)
