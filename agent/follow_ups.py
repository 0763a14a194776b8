"""Follow-up questions read against the previous answer ("which one has more slow wave sleep?", "and the lowest?",
"and in slow wave sleep?", "how does that compare with sim-0001?"): they name only what changes."""

from __future__ import annotations

import dataclasses
import re

from .executor import INDEX_EVENTS
from .intents import Context, parse
from .measures import STAGE_TOKEN, STAGE_WORD
from .query import Measure, Query
from .spelling import correct_spelling
from .vocab import CohortNames, find_metrics
from .wording import canonical_wording

_OTHER_END = re.compile(r"^\s*(?:and|what about|how about)?\s*(?:the\s+)?(?P<end>lowest|highest|smallest|largest|"
                        r"minimum|maximum|least|most|bottom|top)(?:\s+(?:one|night|value))?\s*\??\s*$")


def which_of_those(question: str, names: CohortNames, ctx: Context) -> Query | None:
    """ "Which one has more slow wave sleep?" (or "and a lower nadir?") right after an answer about two or more named
    nights: the highest / lowest of that measure among those nights, not the cohort's."""
    t = question.strip().lower()
    shown = list(ctx.last_args.get("nights") or []) if ctx.last_tool == "query_cohort" else []
    if len(shown) < 2 or parse(correct_spelling(t, names.known()), names).recordings:
        return None
    which = re.search(r"\b(which one|which of (them|the two|these|those|both)|which night)\b|^\s*(and|or)\b", t)
    more_less = re.search(r"\b(?P<more>more|higher|greater|larger|longer|bigger)\b|\b(?P<less>less|lower|fewer|smaller|"
                          r"shorter)\b", t)
    metrics = find_metrics(canonical_wording(t, names))
    if not (which and more_less and len(metrics) == 1):
        return None
    return Query("argmax" if more_less.group("more") else "argmin", [Measure("metric", metrics[0])], nights=shown)


def follow_up_query(question: str, names: CohortNames, ctx: Context) -> Query | None:
    """A follow-up that names only what changes, read against the previous answer: "and the lowest?" after the
    highest of a measure; "how does that compare with sim-0001?" after a night's metrics (both nights' values)."""
    t = question.strip().lower()
    end = _OTHER_END.match(t)
    if end and ctx.last_tool == "query_cohort" and ctx.last_args.get("ask") in ("argmax", "argmin"):
        q = Query.from_args(ctx.last_args)
        low = end.group("end") in ("lowest", "smallest", "minimum", "least", "bottom")
        return dataclasses.replace(q, ask="argmin" if low else "argmax", then=None)
    named = parse(correct_spelling(t, names.known()), names).recordings
    stage = re.fullmatch(rf"\s*(?:and|what about|how about)\s+(?:in|during)\s+(?:the\s+)?{STAGE_WORD}(?:\s+sleep)?\s*\??\s*", t)
    if stage and ctx.last_tool == "describe_night" and ctx.recording and ctx.last_args.get("metrics"):
        # "what is the AHI of sim-0002? || and in slow wave sleep?": the same index within that stage
        indices = [m for m in ctx.last_args["metrics"] if m in INDEX_EVENTS]
        if indices:
            st = STAGE_TOKEN.get(stage.group(1), stage.group(1).upper())
            return Query("value", [Measure("stage_index", m, st) for m in indices], nights=[ctx.recording])
    if re.search(r"\b(compare[sd]?|comparison|versus|vs\.?|against|differ\w*)\b", t) and len(named) == 1 and \
            ctx.last_tool == "describe_night" and ctx.last_args.get("metrics") and ctx.recording and \
            named[0] != ctx.recording and not find_metrics(t):
        return Query("value", [Measure("metric", m) for m in ctx.last_args["metrics"]], nights=[ctx.recording, named[0]])
    return None
