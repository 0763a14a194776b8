"""Read a researcher's question into a typed plan (:mod:`sleeplm.agent.query`), or an honest decline.

:func:`plan` returns a :class:`Query` for cohort-data questions (values, aggregates, rankings, arg-max /
arg-min, counts and lists with filters, group comparisons, trends, and multi-step "the night with the
highest AHI → its hypnogram"), a :class:`Decline` when the question asks for something the workspace does
not hold (an unrecorded attribute such as medication, an unscored event kind, another language), or None
when the question is for the night / epoch / search tools (:mod:`sleeplm.agent.intents` routes those).
Misspellings of the words it knows are corrected first ("higest" → "highest").
"""

from __future__ import annotations

import dataclasses
import re

from .accounting import unaccounted
from .clinical import ahi_severity, worst_or_best
from .conditions import (
    ABOVE,
    BELOW,
    NOT,
    STAGE_IN,
    night_filters,
    pooled_phenotypes,
    with_night_conditions,
)
from .declines import declined_outright, understood
from .executor import filter_text
from .follow_ups import (
    NORMAL_WORDS,
    follow_up_query,
    is_that_normal,
    restated,
    which_of_named,
    which_of_those,
)
from .grouping import VERSUS_COHORT, groups_asked
from .intents import FEATURE_FILTERS, Context, Plan, parse, route
from .measure_values import INDEX_EVENTS
from .measures import (
    STAGE_TOKEN,
    STAGE_WORD,
    every_apnea_kind,
    ranked_first,
    read_measures,
)
from .premises import read_why
from .query import (
    DURATION_KINDS,
    STAGE_MINUTES_FIELD,
    Decline,
    Filter,
    Measure,
    Query,
    Window,
    event_count_field,
    event_count_of,
)
from .recording_info import recording_info_plan
from .rem_question import NREM, rem_related_plan
from .spelling import correct_spelling
from .stage_spread import apnea_kinds, events_by_stage
from .vocab import (
    KEY_METRICS,
    METRIC_LABELS,
    SCORING_OF_NIGHT,
    SCORING_QUESTION,
    CohortNames,
    find_metrics,
    without_metric_phrases,
)
from .windows import find_window
from .wording import canonical_wording, no_such_stage

_ARGMAX = r"\b(highest|most|max(imum)?|largest|greatest|worst|longest|oldest|heaviest|biggest|top)\b"
_ARGMIN = r"\b(lowest|least|fewest|min(imum)?|smallest|shortest|youngest|lightest|deepest)\b"
_AGGREGATE = {"median": r"\bmedian\b", "sum": r"\b(total|in total|altogether|overall number|sum)\b",
              "sd": r"\b(standard deviation|std|sd)\b",
              "range": r"\bthe range of\b|\brange (of|in)\b|\bmin(imum)? (and|to) max(imum)?\b"
                       r"|\b(age|ahi|bmi|odi|tst|waso) range\b",
              "mean": r"\b(average|mean|typical|avg)\b"}
_THEN = {"hypnogram": r"\bhypnogram", "similar_nights": r"\b(nights?|ones?) (like|similar to) (it|that|this)",
         "describe": r"\b(describe|tell me about|summar\w*|show me) (it|that night|this night|the night)\b"}


#: A stage written before what it restricts ("the REM AHI", "REM hypopneas", "N2 arousals").
_STAGE_BEFORE = r"\b()(rem|n1|n2|n3)\s+(ahi|odi|apn\w*|hypopn\w*|arousals?|desat\w*|(?:obstructive|central|mixed) apn\w*)\b"


#: "Arousals per hour of REM": the stage a rate is per hour of.
_PER_HOUR_OF = r"\b(per hour of|an hour of|/ ?h of)\s+(rem|n1|n2|n3)\b"


def _fields(m: Measure) -> tuple[str, ...]:
    """The filter fields that hold measure ``m``'s own value ("nights with an AHI above 15" filters on the AHI it
    shows; "a REM AHI above 20" on the stored REM AHI, the AHI within REM)."""
    stored = ("ahi_rem_per_h",) if (m.kind, m.name, m.stage) == ("stage_index", "ahi_per_h", "REM") else ()
    return (m.name, event_count_field(m.name, m.stage), STAGE_MINUTES_FIELD + m.name, *stored)


def _stage_of(text: str) -> str | None:
    m = re.search(STAGE_IN, text) or re.search(_STAGE_BEFORE, text) or re.search(_PER_HOUR_OF, text)
    return STAGE_TOKEN[m.group(2).replace("-", " ")] if m and m.group(2).replace("-", " ") in STAGE_TOKEN \
        else (STAGE_TOKEN.get(m.group(2)) if m else None)


#: "older patients have less ...", "do younger subjects sleep more ...": a trend against age.
_OLDER_HAVE = (r"\b(older|younger|elderly|the old|the young)( \w+)? (patients|subjects|people|adults|men|women|ones)\b.*"
               r"\b(less|more|lower|higher|longer|shorter|fewer|worse|better)\b")
#: Words that make a question about the cohort, not about "this night".
_ABOUT_COHORT = (r"\b(nights|recordings|patients|subjects|people|cohort|participants|which (night|subject|patient|"
                 r"recording)|older|younger|men|women|everyone|anyone|any night)\b")
def _ask(t: str, group_by: str | None) -> str | None:
    if re.search(r"\b(trend|correlat\w*|relationship|associated|increase[sd]? with|decrease[sd]? with|"
                 r"change[sd]? with|rise[sd]? with|with age)\b", t):
        return "trend"
    if group_by:
        return "compare"
    if re.search(r"\b(rank|sort|order)\w*\b|\btop \d+\b", t):
        return "rank"
    if re.search(_ARGMAX, t) and not re.search(r"\bat most\b", t):
        return "argmax"
    if re.search(_ARGMIN, t) and not re.search(r"\bat least\b", t):
        return "argmin"
    if any(re.search(rx, t) for rx in _AGGREGATE.values()) or re.search(
            r"\bacross (all )?(the )?(whole |entire )?(cohort|nights|recordings|subjects)|\bin (all|every) (the )?"
            r"(nights|recordings)|\b(in|of|for) (the|this|all the|the whole|the entire) cohort\b", t):
        return "aggregate"
    return None


def plan(question: str, names: CohortNames, ctx: Context) -> Query | Decline | None:
    """The plan for a question, a decline, or None for the tool router (see the module docstring).

    A time window ("in the first half of the night", "after 3 am") restricts every measure of the plan; a
    question with a window that is not a cohort-data question is declined, never answered for the whole
    night.
    """
    t = correct_spelling(question.strip().lower(), names.known())
    window = find_window(t)
    if isinstance(window, Decline):
        return window
    decision = _plan(question, names, ctx, window)
    if window is None or isinstance(decision, Decline):
        return decision
    if decision is None and window.kind == "clock" and re.search(r"\b(caption\w*|show|plot|display|what happens|"
                                                                   r"what is happening)\b", t):
        return None  # "caption the epochs from 01:00 to 01:02": a range of epochs, for the epoch tools
    if isinstance(decision, Query) and decision.ask not in ("count", "list"):
        decision.window = window
        return decision
    return Decline(f"I understood a time window ({window.text()}), but this kind of question cannot be restricted "
                   "to part of the night (time windows work with values, averages, rankings, comparisons and "
                   "event counts).", window.text(),
                   f"how many arousals are there {window.text().replace('of the recording', 'of the night')}?")


def _plan(question: str, names: CohortNames, ctx: Context, window: Window | None) -> Query | Decline | None:
    t = correct_spelling(question.strip().lower(), names.known())
    outright = declined_outright(question, names)
    if outright is not None:
        return outright
    if re.search(SCORING_QUESTION, t) and (not parse(t, names).recordings or re.search(SCORING_OF_NIGHT, t)):
        return None  # who scored the nights: the scoring table (tool router), not a measure
    if re.search(r"\b(summar\w*|overview|describe|tell me about)\b", t) and not find_metrics(t):
        return None  # a description (of a night, or of the cohort's nights): the tool router
    latency = {"rem_latency_min", "sleep_latency_min"} & set(find_metrics(t))  # "when did X first enter REM?"
    longest = re.search(r"\b(when|what time)\b.*\blongest\b|\blongest\b.*\b(when|what time)\b", t)  # its time is given
    if re.search(r"\bepochs?\b|\b(at|around)\s+\d{1,2}[:h]\d{2}\b", t) or not latency and not longest and re.search(r"\b(find|search|look for|examples?|similar|like this|like it|"
                                                 r"where|when|show epoch|caption|stage distribution|"
                                                 r"sleep architecture)\b", t):
        return None
    nrem = bool(re.search(NREM, t)) and "ahi_nrem_per_h" not in find_metrics(t)
    if nrem:  # "apneas in NREM", "the SpO2 nadir in NREM": pooled over N1, N2 and N3
        if re.search(r"\b(heart rate|hr|pulse|bpm)\b", t):
            return Decline("heart rate is kept per stage (N1, N2, N3, REM) and over all sleep, not pooled over NREM.",
                           understood(t, names), "what is the heart rate in N2 in each night?")
        rem_too = re.search(r"\brem\b", re.sub(NREM, " ", t))
        t = re.sub(NREM, "nrem", t)
        if rem_too:  # "the mean apnea duration in REM vs NREM": the measure in each, side by side
            p0 = parse(t, names)
            pair = [read_measures(t, st, every_apnea_kind(t, p0.events), window) for st in ("REM", "NREM")]
            if all(d is None and ms for ms, d in pair):
                return Query("value" if p0.recordings else "rank", [m for ms, _ in pair for m in ms],
                             nights=p0.recordings)
            return next((d for _, d in pair if d is not None), None) or Decline(
                "I understood REM set against NREM but not the measure to compare.", understood(t, names),
                "what is the AHI in REM and in NREM of each night?")
    named = {STAGE_TOKEN.get(w, w.upper()) for w in re.findall(STAGE_WORD, t)}
    per_stage = [m for m in find_metrics(t) if m in INDEX_EVENTS]
    if len(named) > 1 and re.search(r"\b(than|versus|vs\.?|compared?|differ\w*)\b", t) and (
            re.search(r"\b(heart rate|hr|pulse)\b", t) or len(per_stage) == 1):
        # "heart rate in REM compared with N2", "is the AHI higher in REM than in N2?": each stage's value, side by side
        stages = list(dict.fromkeys(STAGE_TOKEN.get(w, w.upper()) for w in re.findall(STAGE_WORD, t)))
        p0 = parse(t, names)
        measures = [Measure("stage_index", per_stage[0], st) for st in stages] if per_stage else \
            [Measure("metric", f"hr_{st.lower()}_bpm") for st in stages]
        return Query("value" if p0.recordings else "rank", measures, nights=p0.recordings or None)
    if len(named) > 1 and re.search(r"\b(than|versus|vs\.?|compared?|differ\w*)\b", t):
        return Decline(f"comparing stages ({', '.join(sorted(named))}) within the nights is not something I can do yet; "
                       "I can give a measure within one stage at a time.", understood(t, names),
                       f"what is the AHI during {sorted(named)[0]} in each night?")
    p = parse(t, names)
    excluded = [r for r in p.recordings  # "AHI above 15, excluding sim-0004": every night but that one
                if re.search(rf"\b{NOT}\s*(?:the\s+)?(?:night\s+|recording\s+)?{re.escape(r.lower())}\b", t)]
    p.recordings = [r for r in p.recordings if r not in excluded]
    stage = "NREM" if nrem else _stage_of(t)
    measures, decline = read_measures(t, stage, p.events, window)
    if decline:
        return decline
    grouping = groups_asked(t, p, names, measures, ctx)
    if isinstance(grouping, Decline):
        return grouping
    group_by, cut = grouping
    if cut is not None and group_by not in ("age", "bmi"):  # "REM % in nights with AHI above 15 vs the rest"
        measures = [m for m in measures if m.name != group_by]
    t_ask = without_metric_phrases(t)
    if measures and measures[0].kind == "longest_event_duration":  # "the average longest apnea": "longest" is the measure
        t_ask = re.sub(r"\b(longest|max(imum)?)\b(?=\s+(\w+\s+)?(apn|hypopn|arousal|desat|event|limb|obstructive|"
                       r"central|mixed|oxygen))", "", t_ask)
    ask = _ask(t_ask, group_by)
    if ask == "aggregate" and measures and not any(re.search(rx, without_metric_phrases(t)) for rx in _AGGREGATE.values()):
        # "the lowest SpO2 nadir in the cohort": the ranking word sits inside the metric phrase
        ask = "argmin" if re.search(_ARGMIN, t) else "argmax" if re.search(_ARGMAX, t) else ask
    nth = re.search(r"\b(second|third|fourth|fifth|2nd|3rd|4th|5th)[- ](highest|lowest|most|least|largest|smallest|"
                    r"longest|shortest|oldest|youngest)\b", t)
    if ask is None and measures and re.search(r"\bwhich (night|recording|subject|patient|one)\b", t):
        # "which night has the lowest SpO2 nadir?": the ranking word sits inside a metric phrase
        ask = "argmin" if re.search(_ARGMIN, t) else "argmax" if re.search(_ARGMAX, t) else None
    if ask is None and measures and re.search(_OLDER_HAVE, t):
        ask, group_by = "trend", None  # "do older patients have less deep sleep?": against age (the default)
    if ask == "trend" and re.search(r"\b(bmi|body mass)\b", t) and measures and measures[0].name != "bmi":
        group_by = "bmi"  # "is there a correlation between BMI and AHI?": against BMI, not age
    elif ask == "trend" and len([m for m in measures if m.kind != "attribute"]) >= 2 and \
            not re.search(r"\b(age|older|younger)\b", t):
        pair = [m for m in measures if m.kind != "attribute"]
        if len(pair) > 2 or not all(m.kind == "metric" and not m.stage for m in pair):
            labels = [METRIC_LABELS.get(m.name, (m.name, ""))[0] for m in pair]
            return Decline(f"a correlation is computed between two stored night measures; not among "
                           f"{' and '.join(labels)}.", ", ".join(labels), f"is {labels[0]} correlated with {labels[1]}?")
        # "is there a correlation between AHI and arousal index?": the second against the first, over the nights
        measures, group_by = [pair[1]], pair[0].name
    t_cond = t  # "is the sleep efficiency of sim-0002 below 85%?": the night's name sits between measure and threshold
    for r in p.recordings:
        t_cond = re.sub(rf"\s+(?:of|for|in)\s+{re.escape(r.lower())}(?=\s+{ABOVE}|\s+{BELOW})", "", t_cond)
    filters = night_filters(t_cond, p, names, group_by)
    if Measure("attribute", "sex") in measures:  # "is sim-0004 a man or a woman?": asked, not a condition
        filters = [f for f in filters if f.field != "sex"]
    filters = ahi_severity(t, filters)
    staged = {of for f in filters if (of := event_count_of(f.field)) and of[1]}
    if staged and stage and len(re.findall(STAGE_IN, t)) == 1:
        # the one stage phrase says where a condition's events are counted ("the mean AHI of nights with apneas in
        # REM"), so the measure asked is the whole night's; a count of those same events keeps the stage
        plain, decline = read_measures(re.sub(STAGE_IN, " ", t, count=1), None, p.events, window)
        if decline is None and plain:
            measures = [dataclasses.replace(m, stage=m.stage or next(st for ev, st in staged if ev == m.name))
                        if m.kind == "event_count" and any(ev == m.name for ev, _ in staged) else m for m in plain]
    if excluded:
        filters.append(Filter("recording", "not in", excluded))
    if group_by == "site" and len(p.sites) >= 2:
        filters.append(Filter("site", "in", list(p.sites)))
    either = re.search(r"\d\s*%?\s*,?\s+or\s+(?!more|less|above|below|higher|lower|greater|fewer|older|younger|over|"
                       r"under|equal)(an?\s+|the\s+|its\s+)?[a-z]", t)
    if either and len([f for f in filters if f.op not in ("in", "not in", "==")]) >= 2:
        return Decline("conditions joined by \"or\" are not something I combine: I keep the nights that meet every "
                       "condition, and that would answer another question.", understood(t, names),
                       "which nights have an AHI above 15?")
    for f in filters:
        if f.field.endswith("_pct") and isinstance(f.value, float) and 0 < f.value <= 1 and \
                not re.search(rf"{f.value:g}\s*%", t):
            label = METRIC_LABELS.get(f.field, (f.field, ""))[0]
            return Decline(f"{label} is in percent, and {f.value:g} % is not what a night measure of this kind is "
                           f"usually asked at; did you mean {f.value * 100:g} %?", understood(t, names),
                           f"which nights have a {label} above {f.value * 100:g}%?")
    if len(measures) > 1:  # "the mean sleep efficiency of nights with AHI above 15": the AHI is the condition
        measures = [m for m in measures if not any(f.field in _fields(m) for f in filters)] or measures
    if ask == "aggregate" and any(f.value in ("mean", "median") for f in filters):
        ask = None  # "above the cohort average" is the filter's threshold, not the question's statistic
    ask, decline = worst_or_best(t, ask, measures)
    if decline:
        return decline
    if ask in ("argmax", "argmin") and len(measures) > 1 and measures[0].kind == "attribute":
        # "which subject has the highest arousal index, and how old are they?": ranked by what follows the ranking word
        measures = ranked_first(t, _ARGMAX if ask == "argmax" else _ARGMIN, measures)
    nights = list(p.recordings)
    if not measures and re.search(r"\b(compared?|comparison|versus|vs\.?|differ\w*|against)\b", t):
        pair = nights[:4] if len(nights) >= 2 else [ctx.recording, *nights] if (
            len(nights) == 1 and ctx.recording and ctx.recording != nights[0]
            and re.search(r"\b(it|this night|this one|this recording|that night)\b", t)) else []
        if pair:  # "how does it compare with sim-0004?": the two nights' key metrics side by side
            return Query("value", [Measure("metric", c) for c in KEY_METRICS], nights=pair)
    if not nights and p.this_night and ask not in ("argmax", "argmin", "rank", "compare", "trend"):
        if not ctx.recording:
            return None  # "this night" with none chosen: the night tools say so
        nights = [ctx.recording]
    counting = re.search(r"\b(proportion|percentage|fraction|share|percent) of (the )?(cohort|nights|recordings|"
                         r"subjects|patients|people)\b", t) or re.search(
                         r"\bhow many of (them|those|these|the (subjects|patients|people|participants|nights))\b|"
                         r"\bhow many( \w+)? (nights|recordings|excerpts|subjects|patients|people|studies|women|men|"
                         r"females?|males?)\b|\bnumber of (nights|subjects|patients)\b", t)
    listing = re.search(r"\b(which|list|what|show( me)?|are there( any)?|any) (the )?(\w+ )?(nights|recordings|excerpts|subjects|"
                        r"patients|women|men|females|males|people)\b|\bwho\b|^(the |all )?(nights|recordings|subjects|patients) (with|without|where|having)\b", t)
    if counting and measures and all(m.kind == "event_count" for m in measures) and \
            any(f.field == "phenotype" for f in filters) and not re.search(r"\b(apn\w*eas|hypopn\w*eas|arousals|events)\b", t):
        measures = []  # "how many nights have mild OSA?": the event word is the phenotype's, not a count asked for
    if counting and measures and all(any(f.field in _fields(m) for f in filters)
                                     for m in measures):
        measures = []  # "how many nights have an AHI above 15": the metric is the filter, not the answer
    their = re.search(r"\b(their|the|and|with) (phenotypes?|sex(es)?|sites?|age bands?)\b", t)
    if counting and not measures and their and not group_by:  # "how many nights, and what are their phenotypes?"
        group_by = {"p": "phenotype", "s": "site" if their.group(2).startswith("si") else "sex",
                    "a": "age_band"}[their.group(2)[0]]
    if counting and not measures:
        if not filters and not group_by:
            unread = re.search(r"\d", t) or re.search(r"\b(nights?|recordings?|subjects?|patients|people|women|men)\b\s+((have|had|has)"
                               r"(?! (we|you|i|they|been)\b)|with|without|showed?|that|where|in which)\b|"
                               r"\bno \w+ at all\b", t)
            if unread:  # "how many nights had no N3 at all?": not the number of nights in the cohort
                return Decline("I understood a count of nights, but not the condition it is asked under; I count "
                               "nights by subject attributes (sex, phenotype, site, age) and by thresholds on a "
                               "night measure (\"an AHI above 15\", \"more than 20% REM\").",
                               "a count of nights", "how many nights have an N3 percentage below 5?")
            return None  # "how many nights (per phenotype)?": the cohort_stats tool
        return Query("count", filters=filters, group_by=group_by, cut=cut)
    if not measures:
        if listing and filters:
            return Query("list", filters=filters)
        if ask in ("aggregate", "argmax", "argmin", "rank", "trend") and not p.recordings and not listing:
            word = {"aggregate": "an average", "argmax": "the highest value", "argmin": "the lowest value",
                    "rank": "a ranking", "trend": "a trend"}[ask]
            return Decline(f"I understood that you want {word}, but not of which measure.",
                           understood(t, names) or word,
                           "what is the average AHI across the cohort?")
        return None
    then = next((k for k, rx in _THEN.items() if re.search(rx, t)), None)
    if ask is None and not nights and re.search(r"\b(each|every|per) (night|recording|subject)\b|\bby night\b", t):
        ask = "rank"  # one value per night
    if ask in ("argmax", "argmin") and not nights and measures[0].kind in DURATION_KINDS and \
            re.search(r"\b(each|every|per) (night|recording|subject)\b|\bby night\b", t):
        ask = "rank"  # "the longest apnea of each night": "longest" is the measure, not a ranking word
    if ask is None:
        if listing and filters:
            shown = [m for m in measures if not any(f.field in _fields(m) for f in filters)
                     and not (m.kind == "attribute" and m.name in ("sex", "phenotype", "site"))]  # in every list
            # "which subjects are obese, and what are their AHIs?": those nights, each with its value
            return Query("rank", shown, filters=filters) if shown else Query("list", filters=filters)
        if nights:  # "was sim-0006's AHI above 15?": its value, and whether it meets the threshold asked
            graded = re.search(r"\b(normal|mild|moderate|severe)\b", t)  # a severity class: the AHI with its grade
            return Query("value", measures, nights=nights, versus_cohort=bool(re.search(VERSUS_COHORT, t)),
                         filters=[] if graded else [f for f in filters if any(f.field in _fields(m) for m in measures)])
        if measures and measures[0].kind in ("event_count", "stage_minutes") and not nights:
            # "... || how many hypopneas?" in a conversation about one night: that night, as a metric would be
            focused = ctx.recording and (p.this_night or not filters and not re.search(_ABOUT_COHORT, t) and not
                                         re.search(r"\b(each|every|per|all|any) (night|recording)s?\b", t))
            return Query("value", measures, nights=[ctx.recording]) if focused else \
                Query("rank", measures, filters=filters)
        if re.search(_ABOUT_COHORT, t):  # a question about the cohort that no plan above reads
            return Decline("I understood the measure but not what to do with it across the cohort (a list, a "
                           "count, a ranking, a comparison?).", understood(t, names),
                           f"which nights have the highest {METRIC_LABELS.get(measures[0].name, (measures[0].name, ''))[0]}?")
        if ctx.recording and not filters:
            return Query("value", measures, nights=[ctx.recording])
        return Query("aggregate", measures, filters=filters)
    stat = next((k for k, rx in _AGGREGATE.items() if re.search(rx, without_metric_phrases(t))), "mean")
    if ask == "aggregate" and measures[0].kind == "event_count" and stat == "mean" and \
            re.search(r"\b(total|how many|number of)\b", t) and \
            not re.search(_AGGREGATE["mean"] + r"|\bper (night|recording|subject)\b", t):
        stat = "sum"
    k = next((int(m.group(1)) for m in [re.search(r"\btop (\d+)\b", t)] if m), None)
    descending = not re.search(r"\b(ascending|lowest first|increasing)\b", t)
    if nth and measures:  # "the second highest AHI": the ranking down to it
        ask, k = "rank", {"second": 2, "2nd": 2, "third": 3, "3rd": 3, "fourth": 4, "4th": 4, "fifth": 5, "5th": 5}[nth.group(1)]
        descending = nth.group(2) in ("highest", "most", "largest", "longest", "oldest")
    if ask in ("argmax", "argmin", "aggregate", "rank") and nights:  # "the mean heart rate in REM of sim-0005"
        return Query("value", measures, nights=nights, versus_cohort=bool(re.search(VERSUS_COHORT, t)))
    return Query(ask, measures, nights=nights if ask == "value" else [], filters=filters, group_by=group_by,
                 stat=stat, k=k, descending=descending, then=then if ask in ("argmax", "argmin") else None,
                 pooled=pooled_phenotypes(t, filters) if ask == "compare" and group_by == "phenotype" else None,
                 cut=cut)


#: Words that point back at the nights of the previous answer ("the mean age of those nights", "how many of them").
_THOSE = (r"\b(those|these|the same) (nights|recordings|subjects|patients|people|ones|excerpts)\b|\b(of|for|among) them\b"
          r"|\b(of|among|from) (those|these)\b")
#: "How many nights, and what are their phenotypes?": "their" groups the answer, it does not point back.
_THEIR_GROUPS = r"\b(their|the|and|with) (phenotypes?|sex(es)?|sites?|age bands?)\b"


def decide(question: str, names: CohortNames, ctx: Context) -> Plan:
    """The router's next move for a question: a ``query_cohort`` call with the typed plan, a decline as
    the answer, or (for night / epoch / search questions) the tool call :func:`intents.route` chooses.
    A night's measures asked "normal?" come judged against the adult reference."""
    full = restated(question, names, ctx)  # "when did it happen?", "and the longest one?": the question in full
    if full is not None:
        return decide(full, names, ctx)
    judged = is_that_normal(question, ctx)  # "is that normal?" after a night's values
    if isinstance(judged, Decline):
        return Plan(text=judged.text())
    if judged is not None:
        return Plan("describe_night", judged)
    decision = _decide(question, names, ctx)
    if decision.tool == "describe_night" and decision.args.get("metrics") and re.search(NORMAL_WORDS, question.lower()):
        decision = Plan(decision.tool, {**decision.args, "reference": True}, decision.text)
    return decision


def _decide(question: str, names: CohortNames, ctx: Context) -> Plan:
    premise = read_why(question)  # "why did sim-0001 have 300 apneas?": the count, with the stated number beside it
    question = canonical_wording(premise.factual if premise else question, names)
    info = recording_info_plan(question, names, ctx)  # "which channels does sim-0005 have?", "when did it start?"
    if info is not None:
        return info
    bad_stage = no_such_stage(question)
    if bad_stage:  # "apneas in N5": answering over the whole night would drop the stage
        return Plan(text=Decline(f"there is no sleep stage \"{bad_stage}\": AASM scoring has W, N1, N2, N3 and REM "
                                 "(Rechtschaffen & Kales stages 3 and 4 are N3).", f"stage {bad_stage}",
                                 "how many apneas in N3 in each night?").text())
    rem = rem_related_plan(question, names, ctx)  # REM against NREM AHI with the rule applied (encoder.captions.night)
    if rem is not None:
        return _accounted(question, names, rem) if rem.tool else rem
    spread = events_by_stage(question, names, ctx, decide) or apnea_kinds(question, names, ctx)
    if isinstance(spread, Decline):
        return Plan(text=spread.text())
    if spread is not None:
        return _accounted(question, names, Plan("query_cohort", spread.to_args()))
    if re.search(r"\b(where|when|which epochs|what epochs|what times?)\b", question.lower()):
        routed = route(question, names, ctx)  # "where does SpO2 drop below 85 %": epochs, not the night's nadir
        if routed.tool == "search_epochs" and any(k in routed.args for k in FEATURE_FILTERS):
            return _accounted(question, names, routed)
    decision = which_of_those(question, names, ctx) or which_of_named(question, names) or plan(question, names, ctx)
    if isinstance(decision, Decline) or decision is None:
        follow = follow_up_query(question, names, ctx)
        if isinstance(follow, Decline):
            return Plan(text=follow.text())
        if follow is not None:
            return _routed(question, names, follow)
    if isinstance(decision, Decline):
        return Plan(text=decision.text())
    if isinstance(decision, Query) and not decision.nights and not ctx.last_nights and ctx.earlier_nights and \
            re.search(r"\b(their|them)\b", question.lower()) and not re.search(_THEIR_GROUPS, question.lower()):
        return Plan(text=Decline("\"their\" would refer to nights listed before the question just before, which gave no "
                                 "list of nights; I do not reach further back. Name the nights or ask for the list again.",
                                 "a question about earlier nights", "which nights have an AHI above 15?").text())
    if isinstance(decision, Query) and not decision.nights and not decision.filters and ctx.last_nights and \
            re.search(r"\b(their|them)\b", question.lower()) and not re.search(_THEIR_GROUPS, question.lower()):
        # "what's their average BMI?" right after a list of nights: those nights
        decision.filters = [Filter("recording", "in", list(ctx.last_nights))]
    elif isinstance(decision, Query) and not decision.nights and re.search(_THOSE, question.lower()):
        if not ctx.last_nights:  # "the mean age of those nights" with no nights listed before: never the whole cohort
            return Plan(text=Decline("I do not know which nights \"those\" are: no list of nights came before in this "
                                     "conversation.", "a question about earlier nights",
                                     "which nights have an AHI above 15?").text())
        decision.filters = [*decision.filters, Filter("recording", "in", list(ctx.last_nights))]
    if isinstance(decision, Query):
        routed = _routed(question, names, decision)
        if premise is not None and routed.tool == "describe_night":  # "why is its efficiency so poor?": is it poor?
            routed.args["reference"] = True
        return routed
    routed = route(question, names, ctx)
    if routed.tool in ("similar_nights", "similar_epochs"):
        t = correct_spelling(question.strip().lower(), names.known())
        conds = night_filters(t, parse(t, names), names, None)
        if conds:
            return Plan(text=Decline(
                f"similar nights and epochs are searched among the whole cohort; I cannot restrict them to "
                f"{' and '.join(filter_text(f) for f in conds)}, and leaving that out would answer another question.",
                understood(t, names), "find nights like sim-0001").text())
    if routed.tool == "cohort_stats" and routed.args.get("question") != "scoring":
        routed = with_night_conditions(question, names, routed)
    return _accounted(question, names, routed)


def _routed(question: str, names: CohortNames, q: Query) -> Plan:
    """The tool call for a query: a night's metrics by ``describe_night`` (its answer carries the night's context),
    anything else by ``query_cohort``."""
    if q.ask == "value" and len(q.nights) == 1 and q.window is None and not q.filters and not q.versus_cohort and \
            all(m.kind == "metric" and not m.stage for m in q.measures):
        return _accounted(question, names, Plan("describe_night", {
            "recording": q.nights[0], "metrics": [m.name for m in q.measures], "plot": False}))
    return _accounted(question, names, Plan("query_cohort", q.to_args()))


def _accounted(question: str, names: CohortNames, plan: Plan) -> Plan:
    """The plan, or a decline when the question names a number or a sleep stage that the plan does not use
    (:func:`accounting.unaccounted`): answering without it would answer another question ("apneas longer than 30 s"
    counted every apnea; "the AHI in REM" gave the whole night's)."""
    if plan.tool is None:
        return plan
    parts = unaccounted(question, names, plan)
    if not parts:
        return plan
    return Plan(text=Decline(
        f"I understood most of the question but not how to apply {', '.join(parts)}: the tool I would use "
        f"(`{plan.tool}`) has no place for it, and answering without it would answer another question.",
        understood(correct_spelling(question.strip().lower(), names.known()), names),
        "which nights have an AHI above 15?").text())
