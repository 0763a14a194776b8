"""Questions that set REM against NREM (REM-related OSA, "is the REM AHI higher than the NREM AHI?"), read into
the plan that answers them with the rule applied (:mod:`sleeplm.agent.rem_related`, :mod:`sleeplm.encoder.captions.night`)."""

from __future__ import annotations

import re

from .conditions import night_filters
from .intents import Context, Plan, parse
from .query import Decline
from .spelling import correct_spelling
from .vocab import CohortNames, find_metrics

#: "NREM" and its spellings ("non-REM"), read before "REM" so that "REM" is not found inside them.
NREM = r"\bnrem\b|\bnon[- ]?rem\b"
#: Apnea said to be worse in REM ("is sleep apnea worse in REM", "REM-predominant OSA"): REM against NREM AHI, not a
#: count of apneas in REM.
_REM_WORSE = (r"\b(apnoea|apnea|osa|ahi|breathing events?)\b.*\b(worse|more severe|predominant|dominant|concentrated)"
              r"\b.*\bin rem\b|\brem[- ](predominant|dominant)\b")


def rem_versus_nrem(question: str) -> bool:
    """REM-related OSA, or the REM AHI set against the NREM AHI ("is the REM AHI higher than the NREM AHI?")."""
    t = question.lower()
    if "rem-related osa" in t or re.search(_REM_WORSE, t):
        return True
    return "ahi_nrem_per_h" in find_metrics(t) and bool(re.search(r"\brem\b", re.sub(NREM, " ", t))) and \
        bool(re.search(r"\bahi\b.*\bahi\b|\b(than|versus|vs\.?|compared?|differ\w*)\b", t))


def rem_related_plan(question: str, names: CohortNames, ctx: Context) -> Plan | None:
    """The plan for a REM-versus-NREM question (:func:`rem_versus_nrem`), None for any other. A returned plan with a
    tool still goes through the planner's accounting of the question's numbers and stages."""
    if not rem_versus_nrem(question):
        return None
    nights = parse(correct_spelling(question.lower(), names.known()), names).recordings
    if not nights and ctx.recording and re.search(r"\b(it|this|that|the (first|second|same) one|(this|that|the) "
                                                    r"(night|recording|patient))\b", question.lower()):
        nights = [ctx.recording]  # "is that REM-related OSA?" about the night in focus
    if len(nights) == 1:
        return Plan("describe_night", {
            "recording": nights[0], "metrics": ["ahi_per_h", "ahi_rem_per_h", "ahi_nrem_per_h"], "plot": False})
    t = correct_spelling(question.lower(), names.known())
    if night_filters(t, parse(t, names), names, None):  # "which women have REM-related OSA?": not all nights
        return Plan(text=Decline("I apply the REM-related OSA rule to every night or to named nights, not yet to a "
                                 "group picked by subject or metric; ask for every night, or name the nights.",
                                 "REM-related OSA", "which nights have REM-related OSA?").text())
    return Plan("rem_related_nights", {"recordings": nights} if nights else {})
