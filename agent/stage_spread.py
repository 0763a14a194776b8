"""Scored events spread over the sleep stages ("in which stage do the central apneas of sim-0006 occur most?",
"arousals by stage in sim-0001"): each stage's count and, where the event has an index, its events per hour of that
stage, side by side, so that where they concentrate is read from the numbers (a count alone favours the longest stage);
and apnea kinds set against each other ("mostly central or obstructive?"): each kind's count."""

from __future__ import annotations

import re

from sleeplm.encoder.vocab import SCORED_STAGES

from .clinical import EVENT_INDEX
from .intents import Context, parse
from .query import Decline, Measure, Query
from .spelling import correct_spelling
from .vocab import CohortNames

#: Asking how events fall across the stages, not their total.
BY_STAGE = (r"\b(which|what) (sleep )?stages?\b|\bby (sleep )?stages?\b|\bacross (the )?(sleep )?stages\b|"
            r"\b(per|each|every) (sleep )?stage\b|\bstage (distribution|breakdown)\b|"
            r"\b(distributed|spread|split) (across|over|among|between|by) (the )?(sleep )?stages\b")
_EVENT_WORDS = (r"\b((?:obstructive|central|mixed)\s+)?(apn(?:o)?eas?|hypopn(?:o)?eas?|arousals?|desaturations?|"
                r"limb movements?)\b")
_THIS_NIGHT = r"\b(it|this|that|the same) (night|recording|one)\b|\bits\b|\bthis night\b"


#: The most nights whose events are listed stage by stage when no night is named.
MAX_NIGHTS_LISTED = 12


def events_by_stage(question: str, names: CohortNames, ctx: Context, decide_fn) -> Query | Decline | None:
    """The per-stage counts (and indices) of the events a question names in named nights, the night in focus or every
    night (a decline past :data:`MAX_NIGHTS_LISTED` nights), when it asks how they fall across the stages; None for
    any other question. ``decide_fn`` reads the events the way the
    planner reads "how many X in Y" (the planner's ``decide``), so the event names stay one reading."""
    t = correct_spelling(question.strip().lower(), names.known())
    if not re.search(BY_STAGE, t) or re.search(r"\b(rem|n1|n2|n3|wake|deep sleep|light sleep)\b", t):
        return None  # a stage named: "apneas in REM" is that stage's count, read as before
    if re.search(r"\b(longest|shortest|first|last|how long|duration|when|what time)\b", t) or (
            re.search(r"\b(which|what) (sleep )?stages?\b", t) and not re.search(
                r"\b(most|more|mostly|majority|concentrat\w*|predominant\w*|cluster\w*|frequent\w*|common\w*)\b", t)):
        return None  # "the longest hypopnea, and in what stage did it happen?": one event's stage, not the spread
    words = re.search(_EVENT_WORDS, t)
    if not words:
        return None
    nights = parse(t, names).recordings or ([ctx.recording] if ctx.recording and re.search(_THIS_NIGHT, t) else [])
    # no night named ("in which stage do central apneas occur most across the cohort?"): every night, one row each
    if not nights and len(names.recordings) > MAX_NIGHTS_LISTED:
        return Decline(f"events by stage are listed night by night, and this cohort has {len(names.recordings)} nights; "
                       "I do not pool them across nights.", f"{words.group(0)} by stage",
                       f"how many {words.group(0)} in REM across all nights?")
    where = " and ".join(nights) if nights else "each night"
    base = decide_fn(f"how many {words.group(0)} in {where}", names, Context())
    if base.tool != "query_cohort":
        return None
    q = Query.from_args(base.args)
    events = [m.name for m in q.measures if m.kind == "event_count" and m.stage is None]
    if not events or len(events) != len(q.measures):
        return None
    measures = [Measure("event_count", e, s) for e in events for s in SCORED_STAGES]
    measures += [Measure("stage_index", EVENT_INDEX[e], s) for e in events if e in EVENT_INDEX
                 for s in SCORED_STAGES if s != "W"]
    return Query("value", measures, nights=list(dict.fromkeys(nights)))


#: Apnea kinds set against each other ("mostly central or obstructive?", "obstructive versus central apneas").
_KIND_AGAINST_KIND = (r"\b(central|obstructive|mixed)\b.{0,30}\b(or|versus|vs\.?|than|against|and)\b.{0,15}"
                      r"\b(central|obstructive|mixed)\b")


def apnea_kinds(question: str, names: CohortNames, ctx: Context) -> Query | None:
    """"Is the apnea in sim-0006 mostly central or obstructive?": its obstructive, central and mixed apnea counts
    side by side (not the pooled apnea count), for the named nights or the night in focus; None for other questions."""
    t = correct_spelling(question.strip().lower(), names.known())
    if not re.search(_KIND_AGAINST_KIND, t) or not re.search(r"\bapn(o)?eas?\b|\bosa\b|\bsleep apn", t) or \
            re.search(r"\b(how many nights|which nights|list|index|ahi|per hour)\b", t):
        return None
    nights = parse(t, names).recordings or ([ctx.recording] if ctx.recording and re.search(_THIS_NIGHT, t) else [])
    if not nights:
        return None
    return Query("value", [Measure("event_count", e) for e in ("obstructive_apnea", "central_apnea", "mixed_apnea")],
                 nights=list(dict.fromkeys(nights)))
