"""Turn a researcher's words into a query in the captions' own style (event times left out).

SleepLM's text space was learned from templated captions ("Sleep stage evaluation reveals REM
Sleep (REM) for this epoch. The Obstructive Apnea event is documented from 0.0 to 30.0
seconds."). A free-text query such as "obstructive apnea during REM with desaturation" embeds
closer to the epochs it means when it is rewritten in that style. :func:`parse_query` finds the
stages and event types a query names; :func:`caption_style` renders them with the caption
pipeline's canonical renderer. Queries that name neither are used as written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from sleeplm.encoder.captions import render_captions
from sleeplm.encoder.captions.render import event_gist
from sleeplm.encoder.captions.facts import EventFact

STAGE_WORDS: dict[str, tuple[str, ...]] = {
    "REM": (r"\brem\b", r"\bparadoxical\b", r"\bdream"),
    "N3": (r"\bn3\b", r"\bdeep\b", r"\bslow[- ]wave sleep\b", r"\bsws\b", r"\bstage 3\b"),
    "N2": (r"\bn2\b", r"\bstage 2\b", r"\blight sleep\b"),
    "N1": (r"\bn1\b", r"\bstage 1\b", r"\bdrows"),
    "W": (r"\bwake\b", r"\bawake\b", r"\bwakefulness\b"),
}
EVENT_WORDS: dict[str, tuple[str, ...]] = {
    "obstructive_apnea": (r"obstructive apn", r"\boa\b", r"\bosa\b"),
    "central_apnea": (r"central apn", r"\bcsa\b"),
    "mixed_apnea": (r"mixed apn",),
    "hypopnea": (r"hypopn",),
    "oxygen_desaturation": (r"desat", r"\bspo2 drop", r"oxygen drop", r"hypox"),
    "arousal": (r"arousal",),
    "limb_movement": (r"limb movement", r"leg movement", r"\bplm"),
}


@dataclass
class QueryTerms:
    """Stages and event types a query names."""

    stages: list[str] = field(default_factory=list)
    events: list[str] = field(default_factory=list)


def parse_query(text: str) -> QueryTerms:
    """Find stage and event words (an apnea of unstated type counts as obstructive)."""
    t = text.lower()
    terms = QueryTerms()
    for stage, patterns in STAGE_WORDS.items():
        if any(re.search(p, t) for p in patterns):
            terms.stages.append(stage)
    for kind, patterns in EVENT_WORDS.items():
        if any(re.search(p, t) for p in patterns):
            terms.events.append(kind)
    for kind in ("obstructive_apnea", "central_apnea", "mixed_apnea"):  # "central or mixed apnea": both types
        word = kind.split("_")[0]
        if kind not in terms.events and re.search(rf"\b{word}\b(\s*(,|/|or|and)\s*(\w+))+\s+apn", t):
            terms.events.append(kind)
    if re.search(r"\bapn(o)?ea", t) and not {"obstructive_apnea", "central_apnea", "mixed_apnea"} & set(terms.events):
        terms.events.insert(0, "obstructive_apnea")
    return terms


def caption_style(text: str) -> str:
    """The query rewritten as a canonical stage_event caption, or the text itself."""
    terms = parse_query(text)
    if not terms.stages and not terms.events:
        return text
    stage = terms.stages[0] if terms.stages else "N2"
    events = [EventFact(kind, 0.0, 30.0, None) for kind in terms.events]
    caption = event_gist(render_captions({}, events, stage, "stage_event"))
    if not terms.stages:  # no stage named: keep only the event sentences
        caption = caption.split(". ", 1)[1]
    return caption
