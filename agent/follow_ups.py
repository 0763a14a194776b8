"""Follow-up questions read against the previous answer ("which one has more slow wave sleep?", "and the lowest?",
"and in slow wave sleep?", "how does that compare with sim-0001?"): they name only what changes. Also the same
comparison with the nights named in the question itself ("which has more central apneas, sim-0002 or sim-0006?")."""

from __future__ import annotations

import dataclasses
import re

from .intents import Context, parse
from .measure_values import INDEX_EVENTS
from .measures import STAGE_TOKEN, STAGE_WORD, every_apnea_kind, read_measures
from .premises import BARE_WHY, why_parts
from .query import DURATION_KINDS, STAGE_METRICS, Decline, Measure, Query
from .spelling import correct_spelling
from .vocab import BETTER_DIRECTION, METRIC_LABELS, CohortNames, find_metrics
from .wording import canonical_wording

_OTHER_END = re.compile(r"^\s*(?:and|what about|how about)?\s*(?:the\s+)?(?P<end>lowest|highest|smallest|largest|"
                        r"minimum|maximum|least|most|bottom|top)(?:\s+(?:one|night|value))?(?:\s+(?:in|of|across|among)\s+"
                        r"(?:the\s+)?(?:cohort|all(?:\s+the)?\s+nights|nights|all|everyone))?\s*\??\s*$")


_MORE_LESS = (r"\b(?P<more>more|higher|greater|larger|longer|bigger|slower|later)\b|\b(?P<less>less|lower|fewer|smaller|"
              r"shorter|faster|quicker|sooner|earlier)\b|\b(?P<better>better)\b|\b(?P<worse>worse|poorer)\b")
#: Comparisons that are not "which of these is higher" ("more than twice the AHI", "more than 20 arousals").
_NOT_WHICH = r"(?<![\w.])\d|\b(twice|double|triple|half|times|than (the )?(cohort|average|mean|median|others|rest))\b"


def _compared_measure(t: str, names: CohortNames) -> Measure | None:
    """The one measure a "which has more ..." question compares: a night metric ("a higher AHI"), minutes of a
    stage ("more N3"), or a count of scored events ("more central apneas", "more arousals in REM"); None when
    the question names none or more than one."""
    t = canonical_wording(t, names)
    metrics = find_metrics(t)
    if len(metrics) == 1:
        return Measure("metric", metrics[0])
    if metrics:
        return None
    p = parse(t, names)
    stage = p.stages[0] if len(p.stages) == 1 else None
    events = every_apnea_kind(t, p.events)
    measures, decline = read_measures(t, stage, events)
    if decline is not None or len(measures) > 1:
        return None
    if measures:
        return measures[0]
    return Measure("event_count", events[0], stage) if len(events) == 1 else None


def which_of_those(question: str, names: CohortNames, ctx: Context) -> Query | None:
    """ "Which one has more slow wave sleep?" (or "and a lower nadir?", "which one has more central apneas?") right
    after an answer about two or more named nights: the highest / lowest of that measure among those nights, not
    the cohort's."""
    t = question.strip().lower()
    shown = list(ctx.last_args.get("nights") or []) if ctx.last_tool == "query_cohort" else []
    if len(shown) < 2 or parse(correct_spelling(t, names.known()), names).recordings:
        return None
    which = re.search(r"\b(which one|which of (them|the two|these|those|both)|which night)\b|^\s*(and|or)\b", t)
    more_less = re.search(_MORE_LESS, t)
    measure = _compared_measure(t, names) if which and more_less and not re.search(_NOT_WHICH, t) else None
    ask = _direction(more_less, measure) if measure is not None else None
    return Query(ask, [measure], nights=shown) if ask else None


def _direction(word: re.Match[str], measure: Measure) -> str | None:
    """argmax / argmin for the comparative word: "more", "lower"; "worse" / "better" by the measure's clinical
    direction (more events are worse); "faster" and "slower" of a latency; None when it has no direction."""
    w = word.group(0)
    if w in ("faster", "quicker", "sooner", "slower", "later") and not measure.name.endswith("latency_min"):
        return None  # "fell asleep faster" is a latency; "a faster heart rate" is read as "higher" by no one here
    if word.group("better") or word.group("worse"):
        better = -1 if measure.kind in ("event_count", *DURATION_KINDS) else BETTER_DIRECTION.get(measure.name)
        if better is None:
            return None
        return "argmax" if (better > 0) == bool(word.group("better")) else "argmin"
    return "argmax" if word.group("more") else "argmin"


def which_of_named(question: str, names: CohortNames) -> Query | None:
    """ "Which has more central apneas, sim-0002 or sim-0006?", "does sim-0004 have a lower nadir than sim-0002?":
    the highest / lowest of that measure among the nights the question names (never a comparison of groups,
    which the phenotype word in "central apneas" once turned it into)."""
    t = correct_spelling(question.strip().lower(), names.known())
    named = parse(t, names).recordings
    if len(named) < 2 or re.search(_NOT_WHICH, _without_names(t, named)):
        return None
    which = re.search(r"\b(which|who|what (night|recording))\b|^\s*(does|did|do|has|had|is|was)\b", t)
    more_less = re.search(_MORE_LESS, t)
    if not (which and more_less):
        return None
    measure = _compared_measure(_without_names(t, named), names)
    ask = _direction(more_less, measure) if measure is not None else None
    return Query(ask, [measure], nights=named) if ask else None


def _without_names(t: str, recordings: list[str]) -> str:
    """The question with the night names taken out (their digits are not numbers of the question)."""
    for r in recordings:
        t = re.sub(rf"\b{re.escape(r.lower())}\b", " ", t)
    return t


def follow_up_query(question: str, names: CohortNames, ctx: Context) -> Query | Decline | None:
    """A follow-up that names only what changes, read against the previous answer: "and the lowest?" after the
    highest of a measure; "and in REM?" / "how about supine?" after a measure (the same in that stage or
    position, or a decline saying it is not kept that way); "how does that compare with sim-0001?" after a night's
    metrics (both nights' values)."""
    t = question.strip().lower()
    end = _OTHER_END.match(t)
    ask = ("argmin" if end.group("end") in ("lowest", "smallest", "minimum", "least", "bottom") else "argmax") \
        if end else None
    if ask and ctx.last_tool == "query_cohort" and ctx.last_args.get("ask") in ("argmax", "argmin"):
        return dataclasses.replace(Query.from_args(ctx.last_args), ask=ask, then=None)
    if ask and ctx.last_tool == "describe_night" and len(ctx.last_args.get("metrics") or []) == 1:
        # "the nadir of sim-0004? || and the lowest in the cohort?": that measure ranked over every night
        return Query(ask, [Measure("metric", ctx.last_args["metrics"][0])])
    last = _previous_night_metrics(ctx)
    parts = why_parts(t, last[1]) if last else (None if not BARE_WHY.match(t) else [])
    if parts is not None:  # "why?" after a night's value: what it is made of, beside it
        if not parts:
            return Decline("a recording holds what was scored and measured, not causes; I can show the parts of a "
                           "night's sleep efficiency, WASO, AHI, arousal index or oxygen values, not of this answer.",
                           "why", "what are the sleep efficiency, sleep latency and WASO of sim-0001?")
        return Query("value", [Measure("metric", c) for c in parts], nights=[last[0]])
    worst = re.fullmatch(r"\s*(?:and\s+)?(?:show me\s+|which is\s+|what is\s+|who is\s+)?the\s+(?P<w>worst|best)"
                         r"(?:\s+(?:one|night|recording|subject|patient))?\s*\??\s*", t)
    if worst and ctx.last_tool == "query_cohort" and (ctx.last_args.get("measures") or []):
        # "AHI in men vs women || show me the worst one": the night with the worst value of that measure
        q = Query.from_args(ctx.last_args)
        m = q.measures[0]
        better = -1 if m.kind in ("event_count", *DURATION_KINDS) else BETTER_DIRECTION.get(m.name)
        if better is None:
            return Decline(f"\"{worst.group('w')}\" has no clinical direction for {_label(m)}.", _label(m),
                           f"which night has the highest {_label(m)}?")
        ask = "argmax" if (better > 0) == (worst.group("w") == "best") else "argmin"
        return Query(ask, [m], filters=q.filters, nights=q.nights)
    named = parse(correct_spelling(t, names.known()), names).recordings
    nrem = re.fullmatch(r"\s*(?:and|what about|how about)\s+(?:(?:in|during)\s+)?(?:the\s+)?(?:nrem|non[- ]?rem)"
                        r"(?:\s+sleep)?\s*\??\s*", t)
    if nrem and (ctx.last_tool == "describe_night" and ctx.recording or ctx.last_tool == "query_cohort"):
        return _previous_in(ctx, lambda m: _in_stage(m, "NREM"))  # "the AHI in REM? || and in NREM?": pooled N1-N3
    stage = re.fullmatch(rf"\s*(?:and|what about|how about)\s+(?:(?:in|during)\s+)?(?:the\s+)?{STAGE_WORD}(?:\s+sleep)?"
                         r"\s*\??\s*", t)
    if stage and (ctx.last_tool == "describe_night" and ctx.recording or ctx.last_tool == "query_cohort"):
        # "the AHI of sim-0002? || and in slow wave sleep?", "heart rate in N3? || and in REM?": the same in that stage
        return _previous_in(ctx, lambda m: _in_stage(m, STAGE_TOKEN.get(stage.group(1), stage.group(1).upper())))
    position = re.fullmatch(r"\s*(?:and|what about|how about)\s+(?:(?:in|while|when|during)\s+)?(?:the\s+|lying\s+)?"
                            r"(?P<non>non[- ]?)?supine(?:\s+(?:position|sleep|sleeping))?\s*\??\s*", t)
    if position and (ctx.last_tool == "describe_night" and ctx.recording or ctx.last_tool == "query_cohort"):
        # "what's the AHI of sim-0002? || how about in the supine position?": the supine AHI
        return _previous_in(ctx, lambda m: _in_position(m, bool(position.group("non"))))
    if re.search(r"\b(compare[sd]?|comparison|versus|vs\.?|against|differ\w*)\b", t) and len(named) == 1 and \
            ctx.last_tool == "describe_night" and ctx.last_args.get("metrics") and ctx.recording and \
            named[0] != ctx.recording and not find_metrics(t):
        return Query("value", [Measure("metric", m) for m in ctx.last_args["metrics"]], nights=[ctx.recording, named[0]])
    return None


def _previous_night_metrics(ctx: Context) -> tuple[str, list[str]] | None:
    """The night and the night metrics of the previous answer (a night's values, or the night a ranking picked)."""
    if ctx.last_tool == "describe_night" and ctx.recording:
        return ctx.recording, list(ctx.last_args.get("metrics") or [])
    if ctx.last_tool == "query_cohort" and ctx.recording and ctx.last_args.get("ask") in ("argmax", "argmin", "value"):
        ms = [m for m in ctx.last_args.get("measures") or [] if m.get("kind") == "metric" and not m.get("stage")]
        return ctx.recording, [m["name"] for m in ms]
    return None


#: Heart-rate metrics kept per stage (and over all sleep).
_HR_STAGE = re.compile(r"hr_(w|n1|n2|n3|rem|sleep)_bpm")
#: The position indices of an index kept by position.
_BY_POSITION = {"ahi_per_h": ("supine_ahi_per_h", "non_supine_ahi_per_h"),
                "supine_ahi_per_h": ("supine_ahi_per_h", "non_supine_ahi_per_h"),
                "non_supine_ahi_per_h": ("supine_ahi_per_h", "non_supine_ahi_per_h")}


def _in_stage(m: Measure, stage: str) -> Measure | Decline:
    """``m`` within ``stage`` (heart rate of that stage, an index or an event count within it), or why not."""
    if m.kind == "metric" and _HR_STAGE.fullmatch(m.name):
        if stage == "NREM":
            return Decline("heart rate is kept per stage (N1, N2, N3, REM) and over all sleep, not pooled over NREM.",
                           f"{_label(m)}, NREM", "what is the heart rate in N2 in each night?")
        return Measure("metric", f"hr_{stage.lower()}_bpm")
    if (m.kind == "metric" and m.name in INDEX_EVENTS or m.kind == "stage_index") and stage == "W":
        return Decline("an index is events per hour of sleep; within wake it has no meaning.",
                       f"{_label(m)}, stage W", "what is the AHI during REM of each night?")
    if m.kind == "metric" and m.name == "ahi_rem_per_h" and stage == "NREM":
        return Measure("metric", "ahi_nrem_per_h")  # "the REM AHI? || and in NREM?": the stored NREM AHI
    if m.kind == "metric" and m.name in INDEX_EVENTS:
        return Measure("stage_index", m.name, stage)
    if m.kind in ("stage_index", "event_count", *DURATION_KINDS) or m.kind == "metric" and m.name in STAGE_METRICS:
        return dataclasses.replace(m, stage=stage)
    return Decline(f"{_label(m)} is a whole-night measure here: I do not compute it within one stage.",
                   f"{_label(m)}, stage {stage}", f"what is the AHI during {stage} in each night?")


def _in_position(m: Measure, non_supine: bool) -> Measure | Decline:
    """``m`` in the supine (or non-supine) position, or why not: only the AHI is kept by position."""
    pair = _BY_POSITION.get(m.name) if m.kind == "metric" else None
    if pair:
        return Measure("metric", pair[1] if non_supine else pair[0])
    if m.kind == "stage_index" and m.name in _BY_POSITION:  # "the AHI in REM? || what about supine?": both at once
        return dataclasses.replace(m, position="non_supine" if non_supine else "supine")
    return Decline(f"{_label(m)} is not kept by body position: per night the workspace keeps the supine and non-supine "
                   "AHI and the share of sleep in each position.", f"{_label(m)}, {'non-' if non_supine else ''}supine",
                   "what is the supine AHI of each night?")


def _label(m: Measure) -> str:
    if m.kind in ("metric", "stage_index"):
        return METRIC_LABELS.get(m.name, (m.name, ""))[0]
    return m.name.replace("_", " ") + ("s" if m.kind == "event_count" else "")


def _previous_in(ctx: Context, change) -> Query | Decline | None:
    """The previous question's measures, each changed by ``change`` (a measure -> the changed measure or a
    decline), over the same nights; the first decline when one cannot be changed; None when there was no measure."""
    if ctx.last_tool == "describe_night":
        q = Query("value", [Measure("metric", c) for c in ctx.last_args.get("metrics") or []], nights=[ctx.recording])
    else:
        q = Query.from_args(ctx.last_args)
    if not q.measures:
        return None
    changed = [change(m) for m in q.measures]
    declined = next((c for c in changed if isinstance(c, Decline)), None)
    if declined is not None:
        return declined
    return dataclasses.replace(q, measures=list(dict.fromkeys(changed)), then=None)


#: "Is that normal?" (or high, low, OK ...) about the value just given.
_IS_NORMAL = (r"\s*(?:and\s+|so\s+|but\s+)?(?:is|was|are|were)\s+(?:that|this|it|these|those|they|the values?|that value|"
              r"(?:the\s+|her\s+|his\s+|their\s+)?(?:oxygenation|oxygen(?: saturation)?|saturation|spo2|sleep))\s+"
              r"(?:\w+\s+)?(?:normal|abnormal|ok|okay|alright|fine|healthy|high|low|too high|too low|bad|good|concerning|"
              r"worrying|a problem|severe|mild|moderate|significant|prolonged|elevated|within normal (?:limits|range)|"
              r"in the normal range|within the normal range)\s*\??\s*")
#: Words asking whether a value is normal ("is the sleep efficiency of sim-0003 normal?", "is the N3 percentage of
#: sim-0004 low?", "does sim-0003 have a prolonged sleep latency?").
NORMAL_WORDS = (r"\b(normal|abnormal|within normal limits|reference range|normal range)\b|^(is|was|are|were|does|did|"
                r"has|had)\b.*\b(low|high|prolonged|elevated|reduced|short|long|severe|mild|moderate|too \w+)\b")
#: The oximetry measures a night keeps.
_OXIMETRY_METRICS = ("spo2_mean_pct", "spo2_min_pct", "t90_min", "odi_per_h")
#: The metrics judged when the previous answer was a whole night's description (those with an adult reference).
_JUDGED_BY_DEFAULT = ("ahi_per_h", "sleep_efficiency_pct", "sleep_latency_min", "waso_min", "rem_latency_min")


def is_that_normal(question: str, ctx: Context) -> dict | Decline | None:
    """ "Is that normal?" right after a night's values: the ``describe_night`` arguments that give the same values
    judged against the adult reference (:func:`clinical.reference_reading`); a decline when the previous answer was
    not one night's night metrics; None when the question is not this."""
    if not re.fullmatch(_IS_NORMAL, question.strip().lower()):
        return None
    metrics: list[str] | None = None
    if ctx.recording and re.search(r"\b(oxygenation|oxygen|saturation|spo2)\b", question.lower()):
        metrics = list(_OXIMETRY_METRICS)  # "is the oxygenation abnormal?": every oximetry measure kept
    elif ctx.last_tool == "describe_night" and ctx.recording:
        metrics = list(ctx.last_args.get("metrics") or _JUDGED_BY_DEFAULT)
    elif ctx.last_tool == "query_cohort" and ctx.recording:
        q = Query.from_args(ctx.last_args)
        one = q.ask in ("argmax", "argmin") or (q.ask == "value" and q.nights == [ctx.recording])
        if one and q.measures and all(m.kind == "metric" for m in q.measures):
            metrics = [m.name for m in q.measures]
        elif one and q.measures and all(m.kind == "stage_index" and m.name == "ahi_per_h" for m in q.measures):
            # "the AHI in REM? || is that severe?": severity is graded on the whole-night AHI; REM against NREM beside it
            metrics = ["ahi_per_h", "ahi_rem_per_h", "ahi_nrem_per_h"]
    if not metrics:
        return Decline("I judge one night's measures against adult reference ranges (AHI, sleep efficiency, sleep "
                       "latency, WASO, REM latency), and the answer before was not one night's measure.",
                       "is that normal?", "is the sleep efficiency of " + (ctx.recording or "sim-0001") + " normal?")
    return {"recording": ctx.recording, "metrics": metrics, "plot": False, "reference": True}


def restated(question: str, names: CohortNames, ctx: Context) -> str | None:
    """A short follow-up about the previous answer's value or events, written out in full against that answer's
    night ("when did it happen?" after a nadir; "in which stage are most of them?", "and the longest one?", "how
    many were in REM?" after a night's events), or None."""
    t = re.sub(r"[?.!]+$", "", question.strip().lower()).strip()
    rec = ctx.recording
    if not rec or parse(t, names).recordings:
        return None
    metrics = ctx.last_args.get("metrics") or [] if ctx.last_tool == "describe_night" else []
    if "spo2_min_pct" in metrics and re.fullmatch(r"(and\s+)?((when|what time|at what time)\b.*\b(it|that|this)\b.*|"
                                                  r"(in\s+)?(what|which) (sleep )?stage((\s+(was|is|did))?\s+(it|that|this)"
                                                  r"\b.*)?|where was (it|that))", t):
        return f"when was the lowest SpO2 in {rec}, and in which stage?"
    event = _previous_event(ctx, names)
    if event is None:
        return None
    kind = event.replace("_", " ")
    plural = {"apnea": "apneas"}.get(event, f"{kind}s")
    if re.search(r"\b(which|what) (sleep )?stage", t) and re.search(r"\b(most|them|those|they|these)\b", t):
        return f"in which stage do the {plural} of {rec} occur most?"
    if re.fullmatch(r"(and\s+)?(what about\s+|how about\s+)?(what is\s+|what was\s+)?the longest( one)?", t):
        return f"what is the longest {kind} in {rec} and when did it happen?"
    m = re.fullmatch(rf"(and\s+)?how many (of (them|those|these)\s+)?(were|was|are|occurred|happened)?\s*{STAGE_IN_WORDS}", t)
    if m:
        return f"how many {plural} did {rec} have in {m.group('stage')}?"
    return None


#: "in REM", "during N2": where "how many were ..." asks.
STAGE_IN_WORDS = r"(in|during)\s+(the\s+)?(?P<stage>rem|n1|n2|n3|wake|deep sleep|light sleep)"


def _previous_event(ctx: Context, names: CohortNames) -> str | None:
    """The one kind of scored event the previous answer was about (a localization, or a count of one night's)."""
    if ctx.last_tool == "localize_events":
        p = parse(str(ctx.last_args.get("description") or "").lower(), names)
        events = every_apnea_kind(p.text, p.events)
        return events[0] if len(events) == 1 else None
    if ctx.last_tool == "query_cohort":
        ms = [m for m in Query.from_args(ctx.last_args).measures if m.kind in ("event_count", *DURATION_KINDS)]
        return ms[0].name if ms and len({m.name for m in ms}) == 1 else None  # one kind, maybe stage by stage
    return None
