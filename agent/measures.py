"""The measures a question names: night metrics (with the stage they are asked in), event counts, per-hour
indices, minutes of a stage, subject attributes — or a decline when the words are ambiguous (a whole-night measure
asked "in REM", heart rate without a stage, a rate per hour that is not stored). Used by
:mod:`sleeplm.agent.planner`."""

from __future__ import annotations

import re

from sleeplm.encoder.vocab import SCORED_STAGES

from .clinical import EVENT_INDEX
from .query import OXYGENATION, STAGE_METRICS, Decline, Measure, Window
from .vocab import METRIC_LABELS, METRIC_WORDS, find_metrics

#: Words that name a sleep stage, and the stage each names.
STAGE_WORD = r"\b(rem|n1|n2|n3|wake|deep sleep|light sleep|slow[- ]wave sleep)\b"
STAGE_TOKEN = {"rem": "REM", "n1": "N1", "n2": "N2", "n3": "N3", "wake": "W", "deep sleep": "N3",
               "slow-wave sleep": "N3", "slow wave sleep": "N3", "light sleep": "N2"}
#: Words asking for a rate per hour (the stored index, not a count).
_PER_HOUR = r"\b(per|an|each|every|a) hour\b|/ ?h(ou)?r?\b|\bhourly\b|\bindex\b"
#: Words asking how long events last (with an event kind: "the longest apnea", "how long are the hypopneas").
_DURATION = (r"\b(durations?|lengths?|longest|shortest|long[- ]lasting)\b|\bmax(imum)? (apn\w*|hypopn\w*|arousal|desat\w*)"
             r"|\bhow long (are|were|is|was|do|did|does)\b(?!.*\b(after|before|until|since|between|first|onset)\b)")
#: Events picked by how long they last ("apneas lasting more than 30 s", "apneas of over 20 seconds").
_BY_DURATION = (r"(\b(lasting|lasted|last|longer|shorter)\b[\w\s]{0,12}?\b(more|less|longer|shorter|over|under|above|"
                r"below|than|at least|at most)\b[\w\s]{0,8}?|\b(longer|shorter) than )\d+(\.\d+)?"
                r"(\s*(s|secs?|seconds?|min(utes?)?)\b)?(\s+or (more|longer|less|shorter))?"
                r"|\b(of|over|above|exceeding|under|below|>|>=|≥|<|<=|≤)\s*(more than |less than |at least |at most )?"
                r"\d+(\.\d+)?\s*(s|secs?|seconds?|min(utes?)?)\b(\s+or (more|longer|less|shorter))?")


def duration_condition(t: str) -> tuple[str, float, str] | None:
    """The condition on event durations a question names ("apneas longer than 30 s" -> ``(">", 30.0, words)``; in
    seconds, minutes converted), or None."""
    m = re.search(_BY_DURATION, t)
    if m is None:
        return None
    words = m.group(0)
    num = re.search(r"\d+(\.\d+)?", words)
    seconds = float(num.group(0)) * (60.0 if re.search(r"\d\s*min", words) else 1.0)
    if re.search(r"\b(at least|or (more|longer))\b|>=|≥", words):
        op = ">="
    elif re.search(r"\b(at most|or (less|shorter))\b|<=|≤", words):
        op = "<="
    elif re.search(r"\b(less|shorter|under|below)\b|<", words):
        op = "<"
    else:
        op = ">"
    return op, seconds, words.strip()
#: Words naming a body position, and the position each means (``query.POSITIONS``).
_POSITION_WORDS = ((r"\bnon[- ]?supine\b|\bnot (on (the|their|his|her) back|supine)\b|\boff (the|their|his|her) back\b",
                    "non_supine"),
                   (r"\b(supine|on (the|their|his|her|its) back|lying on (the )?back)\b", "supine"),
                   (r"\b(lateral|on (the|their|his|her|its|a) sides?|side[- ]lying)\b", "lateral"),
                   (r"\b(on (the|their|his|her|its) )?left side\b|\blying left\b", "left"),
                   (r"\b(on (the|their|his|her|its) )?right side\b|\blying right\b", "right"),
                   (r"\bprone\b|\bon (the|their|his|her|its) (stomach|belly|front)\b", "prone"),
                   (r"\bupright\b|\bsitting( up)?\b", "upright"))


def every_apnea_kind(t: str, events: list[str]) -> list[str]:
    """The events a question names, with "apneas" unqualified read as every kind of apnea (``apnea``), not only the
    obstructive ones the event parser maps the word to."""
    if re.search(r"\bapn(o)?eas?\b", t) and not re.search(r"\b(obstructive|central|mixed) apn", t):
        return ["apnea" if e == "obstructive_apnea" else e for e in events]
    return events


def event_position(t: str) -> str | None:
    """The body position a question restricts its events to ("apneas while supine" -> ``supine``), or None."""
    return next((pos for rx, pos in _POSITION_WORDS if re.search(rx, t)), None)


#: "What position did X sleep in?": the share of sleep in each body position (not the moments it changed).
_POSITION_QUESTION = r"\b(what|which) (body |sleeping |sleep )?positions?\b|\b(sleep(ing)?|body) positions?\b"
POSITION_SHARES = ("supine_pct", "left_pct", "right_pct", "prone_pct", "upright_pct")
#: The stage whose share of sleep a metric is ("what percentage of the night was in N3?" names N3 twice).
_STAGE_SHARE = {"n1_pct": "N1", "n2_pct": "N2", "n3_pct": "N3", "rem_pct": "REM"}


#: A yes/no question about whether events happened ("did X have apneas?", "were there any arousals in X?").
_PRESENCE = r"^(did|does|do|has|have|had|were|was|is|are)\b.*\b(have|has|had|any|there)\b"

#: Words that rank nights by what follows them ("the highest AHI", "the longest REM latency").
_RANKED = r"(highest|lowest|largest|smallest|greatest|most|least|longest|shortest|worst|best|maximum|minimum|max|min)"

def read_measures(t: str, stage: str | None, events: list[str],
                  window: Window | None = None) -> tuple[list[Measure], Decline | None]:
    """The measures a question names (and a decline when one is ambiguous)."""
    out: list[Measure] = []
    if re.search(r"\b(most|least) severe (sleep apn\w*|osa|obstructive sleep apn\w*|apn\w*)\b", t) or re.search(
            r"\bseverity\b.*\b(sleep apn\w*|osa)\b|\b(sleep apn\w*|osa)\b.*\bseverity\b", t):
        return [Measure("metric", "ahi_per_h")], None  # severity of sleep apnea: the AHI
    if re.search(r"\b(proportion|share|percentage|fraction|predominantly|mostly|mainly)\b", t) and \
            re.search(r"\bapn", t) and re.search(r"\b(central|obstructive|mixed)\b", t) and not find_metrics(t):
        # "what proportion of sim-0006's apneas were central?": the count of each kind of apnea, side by side
        return [Measure("event_count", e) for e in ("central_apnea", "obstructive_apnea", "mixed_apnea")], None
    share = re.search(r"\b(percentage|percent|proportion|share|fraction|%)\s+of\s+(the\s+)?(total\s+)?(sleep time|sleep|tst)\b"
                      r".*\b(n1|n2|n3|rem)\b|\b(n1|n2|n3|rem)\b.*\b(percentage|percent|proportion|share|fraction|%)\s+of\s+"
                      r"(the\s+)?(total\s+)?(sleep time|sleep|tst)\b", t)
    if share and not events:  # "what percentage of total sleep time was N3?": the stage's share of sleep, not TST
        return [Measure("metric", f"{(share.group(5) or share.group(6))}_pct")], None
    if re.search(r"\b(oxygenation|oxygen levels?|hypox(a|e)mi\w*|nocturnal hypox\w*)\b", t) and not find_metrics(t) \
            and not events:  # no single measure: the SpO2 nadir first (what "worst" ranks), then T90, ODI and mean SpO2
        return [Measure("metric", c) for c in OXYGENATION], None
    if re.search(r"\bpositional\b", t) and (re.search(r"\b(ahi|osa|apn\w*|sleep apn\w*)\b", t) or
                                           re.fullmatch(r"\s*(and\s+)?(is|was) (it|this|that) positional\s*\??\s*", t)):
        return [Measure("metric", "supine_ahi_per_h"), Measure("metric", "non_supine_ahi_per_h")], None
    if re.search(r"\b(central|obstructive)\s+sleep\s+apn(o)?eas?\b|\b(csa|osa)\b", t) and not find_metrics(t) and \
            re.search(r"^\s*(is|was|are|were|does|did|do|has|had)\b", t) and \
            not re.search(r"\b(normal|mild|moderate|severe|severity)\b", t) and \
            not re.search(r"\b(which|how many|list|nights|recordings|patients|subjects|people|group|phenotypes?)\b", t):
        # "is this central sleep apnea?", "does sim-0002 have OSA?": the AHI with its central and obstructive parts
        return [Measure("metric", c) for c in ("ahi_per_h", "cai_per_h", "oai_per_h")], None
    if re.search(r"\b(normal|mild|moderate|severe)\s+(sleep apn\w*|osa|obstructive sleep apn\w*)\b|\b(osa|sleep apn\w*|"
                 r"obstructive sleep apn\w*)\b.{0,30}\b(mild|moderate|severe)\b", t) and \
            not re.search(r"\b(which|how many|list|nights|recordings|patients|subjects|people|group|phenotypes?)\b", t):
        return [Measure("metric", "ahi_per_h")], None  # "does sim-0002 have moderate sleep apnea?": its AHI and class
    position = event_position(t) if events and not find_metrics(t) else None
    if position and re.search(_PER_HOUR, t):  # "apneas per hour while supine": only the supine AHI is kept
        return [], Decline("an index per hour in one body position is kept for the AHI only (supine and non-supine "
                           "AHI); events in a position are counted, not rated per hour.",
                           ", ".join(e.replace("_", " ") for e in events), "what is the supine AHI of each night?")
    if re.search(r"\b(heart rate|hr|pulse|heart-rate|bpm)\b", t):
        whole = re.search(r"\b(whole|entire|full|all)\s+(the\s+)?(night|recording)\b|\b(wake|wakefulness) included\b|"
                          r"\bincluding (the )?(wake|wakefulness)\b|\bwake (and|or|plus) sleep\b", t)
        if whole and window is None:  # "over the whole night, wake included": sleep and wake pooled, not stored
            return [], Decline("heart rate is stored per sleep stage (W, N1, N2, N3, REM) and over all sleep, not for "
                               "the whole recording with its wake.", "heart rate",
                               "what is the mean heart rate over all sleep in each night?")
        stages = [s for s in SCORED_STAGES if re.search(rf"\b{s.lower()}\b", t)] or ([stage] if stage else [])
        if re.search(r"\bwake\b|\bawake\b", t) and "W" not in stages:
            stages.append("W")
        over_sleep = re.search(r"\b(over|during|in|across|throughout|for)\s+(all\s+|total\s+|the\s+)*(of\s+)?"
                               r"(the\s+)?sleep\b(?!\s+(stage|onset|latency))|\bsleep(ing)?\s+(heart rate|hr|pulse)\b|"
                               r"\bwhile (asleep|sleeping)\b", t)
        if not stages and window is not None and not over_sleep:  # over a part of the night: every epoch of it
            return [Measure("metric", "hr_bpm")], None
        if not stages:  # "mean heart rate over all sleep", "the heart rate of sim-0002": in sleep
            return [Measure("metric", "hr_sleep_bpm")], None
        out += [Measure("metric", f"hr_{s.lower()}_bpm") for s in stages]
        return out, None
    cols = [c for c in find_metrics(t) if not (events and c in ("n_apneas", "n_hypopneas", "n_arousals"))]
    if not cols and not events and re.search(_POSITION_QUESTION, t):  # "what position did X sleep in?"
        cols = list(POSITION_SHARES)
    if events and stage and cols and all(_STAGE_SHARE.get(c) == stage for c in cols) and \
            re.search(r"\b(how many|number of|count|total)\b", t):
        cols = []  # "how many apneas in deep sleep": the stage is where they are counted, not a share asked for
    minutes = re.search(r"\b(minutes|hours|how long|how much time)\b[\w\s-]{0,20}?\b(of|in)\s+(rem|n1|n2|n3|wake|deep sleep|"
                        r"light sleep|slow[- ]wave sleep)\b", t)
    if minutes and cols and all(c in _STAGE_SHARE for c in cols) and not re.search(r"%|percent", t):
        return [Measure("stage_minutes", STAGE_TOKEN[minutes.group(3).replace("-", " ")])], None  # "minutes of deep sleep"
    if stage and cols and all(_STAGE_SHARE.get(c) == stage for c in cols):  # "% of the night in N3": N3's share
        return [Measure("metric", c) for c in cols], None
    if stage == "REM" and "ahi_rem_per_h" in cols:  # "the REM AHI of X": the AHI within REM, as any stage's
        cols = ["ahi_per_h" if c == "ahi_rem_per_h" else c for c in cols]
    pos = event_position(t)
    if stage and pos and cols and set(cols) <= {"ahi_per_h", "ahi_rem_per_h"} and \
            (stage == "REM" or "ahi_rem_per_h" not in cols):  # "the supine REM AHI", "the AHI in N2 while on the side"
        return [Measure("stage_index", "ahi_per_h", stage, pos)], None
    if stage and cols and set(cols) <= {"supine_ahi_per_h", "non_supine_ahi_per_h"}:
        # "the supine REM AHI": the AHI within that stage and that position
        return [Measure("stage_index", "ahi_per_h", stage, c.removesuffix("_ahi_per_h")) for c in cols], None
    if stage and cols and all(c in STAGE_METRICS for c in cols):  # "the lowest SpO2 during REM": over its epochs
        return [Measure("metric", c, stage) for c in cols], None
    if stage and cols:  # "AHI during REM": the index within that stage, never the whole-night value
        whole = [c for c in cols if not c.endswith("_per_h") or c.startswith(("supine", "non_supine", "ahi_rem", "ahi_nrem"))]
        if whole:
            label = METRIC_LABELS.get(whole[0], (whole[0], ""))[0]
            return [], Decline(f"{label} is a whole-night measure here: it is stored for the whole night, and I do "
                               "not compute it within one stage.",
                               f"{label}, stage {stage}", f"what is the AHI during {stage} in each night?")
        return [Measure("stage_index", c, stage) for c in cols], None
    out += [Measure("metric", c) for c in cols]
    m = re.search(r"\b(how much|minutes of|time in|time spent in|amount of)\s+(rem|n1|n2|n3|wake|deep sleep)\b", t) \
        or re.search(r"\b()(rem|n1|n2|n3|wake|deep sleep) (minutes|time)\b", t) \
        or re.search(r"\b(most|least|fewest|more|less)\s+(rem|n1|n2|n3|wake|deep sleep)\b", t) \
        or (re.search(_PRESENCE, t) and not events and re.search(r"\b(any|some)\s+(rem|n1|n2|n3|wake|deep sleep)\b", t)) \
        or (not events and re.search(r"\b(how long|minutes|hours|spen[dt])\b[\w\s-]{0,25}?\b(in|of)\s+(rem|n1|n2|n3|wake|"
                                     r"deep sleep)\b", t) and re.search(r"\b()(rem|n1|n2|n3|wake|deep sleep)\b", t))
    if m and not out:  # "did excerpt2 have any REM?": its minutes answer it (unknown where it was not staged)
        out.append(Measure("stage_minutes", STAGE_TOKEN[m.group(2)]))
    events = every_apnea_kind(t, events)
    by_duration = duration_condition(t)
    if events and not out and by_duration:  # "how many apneas longer than 30 s?": those events, counted (or timed)
        op, seconds, words = by_duration
        rest = t.replace(words, " ")
        kind = "event_count"
        if re.search(_DURATION, rest):
            kind = "longest_event_duration" if re.search(r"\b(longest|max(imum)?)\b", rest) else "mean_event_duration"
        return [Measure(kind, e, stage, position if kind == "event_count" else None, op, seconds) for e in events], None
    other = re.search(r"\b(min(imum)?|median|total|sum of|cumulative)\b (?!(mean|average|avg|typical|longest)\b)(\w+ )?"
                      r"(apn|hypopn|arousal|desat|event|limb|obstructive|central|mixed|duration|length|time)", t) \
        or re.search(r"\b(time|minutes|seconds|hours) (spent )?(in|with) (an? )?(\w+ )?(apn|hypopn|desat)", t)
    if events and not out and other and (re.search(_DURATION, t) or re.search(r"\b(time|minutes|seconds|hours)\b", t)):
        what = {"min": "shortest", "med": "median", "tot": "total", "sum": "total", "cum": "total"}.get(
            other.group(0)[:3], "total")
        return [], Decline(f"the {what} duration of a night's events is not something I give; I give the mean and the "
                           "longest duration of a night's scored events, and their count.",
                           ", ".join(e.replace("_", " ") for e in events), "what is the mean apnea duration of each "
                           "night?")
    if events and not out and re.search(_DURATION, t):  # "the longest apnea", "mean hypopnea duration"
        if re.search(r"\bshortest (?!(mean|average|avg|median|typical)\b)(\w+ )?(apn|hypopn|arousal|desat|event|limb)", t):
            return [], Decline("the shortest event of a night is not something I give: scoring rules set a minimum "
                               "duration (10 s for apneas and hypopneas), so it says little; I give the mean and the "
                               "longest duration of a night's scored events.", ", ".join(e.replace("_", " ")
                                                                                        for e in events),
                               "what is the longest apnea of each night?")
        kind = "longest_event_duration" if re.search(r"\b(longest|max(imum)?|long(est)?[- ]lasting)\b", t) \
            else "mean_event_duration"
        return [Measure(kind, e, stage) for e in events], None
    if events and not out and re.search(_PER_HOUR, t):  # "arousals per hour": the stored index, not a count
        index = [EVENT_INDEX.get(e) for e in events]
        if None in index:
            return [], Decline("a rate per hour of sleep is stored for arousals, hypopneas, obstructive and central "
                               "apneas (AI, OAI, CAI), desaturations (ODI), limb movements, and apneas with hypopneas "
                               "(AHI), not for " + ", ".join(e.replace("_", " ") + "s" for e, i in zip(events, index)
                                                              if i is None) + ".",
                               ", ".join(e.replace("_", " ") for e in events), "what is the AHI of each night?")
        if stage:  # "arousals per hour of REM": the index within that stage
            return [Measure("stage_index", i, stage) for i in dict.fromkeys(index)], None
        return [Measure("metric", i) for i in dict.fromkeys(index)], None
    if events and not out and (position or re.search(r"\b(how many|number of|most|fewest|least|count|total)\b", t)
                               or re.search(_PRESENCE, t)):
        # "did sim-0001 have apneas?": the count answers it (and says when nobody scored them); "... while supine":
        # those starting in that position
        out += [Measure("event_count", e, stage, position) for e in events]
    both = re.search(r"\bage\s+(and|&)\s+(the\s+)?(bmi|body mass)|\b(bmi|body mass( index)?)\s+(and|&)\s+(the\s+)?age\b", t)
    if re.search(r"\b(oldest|youngest|age of|how old)\b|\b(mean|average|avg|median|typical)\s+(\w+\s+)?age\b"
                 r"|\bage (range|spread|sd|standard deviation)\b|\b(its|their|his|her)\s+age\b", t) or both:
        out.insert(0, Measure("attribute", "age"))
    if re.search(r"\b(sex|gender)\b|\b(a )?(m[ae]n|male) or (a )?(wom[ae]n|female)\b|\b(a )?(wom[ae]n|female) or (a )?"
                 r"(m[ae]n|male)\b", t) and not re.search(r"\b(by|per|across|between|each|and) (sex|gender)\b|\bcompar\w*|\bdiffer\w*|"
                                      r"\bversus\b|\bvs\b|\b(sex|gender) (distribution|breakdown|differences?)\b", t):
        out.append(Measure("attribute", "sex"))  # "is sim-0004 a man or a woman?": the subject's sex
    if both:  # "what's its age and BMI?": both attributes
        out.insert(1, Measure("attribute", "bmi"))
    elif not any(m == Measure("attribute", "age") for m in out) and re.search(r"\b(bmi|body mass|heaviest)\b", t) and (not any(m.kind == "metric" for m in out) or re.search(
            r"\b(highest|lowest|largest|smallest|greatest|max\w*|min\w*|mean|average|avg|median|typical)\s+"
            r"(bmi|body mass)|\b(heaviest|lightest)\b|\b(bmi|body mass)( index)? of\b|\b(its|their|his|her)\s+(bmi|body mass)",
            t)):
        out.insert(0, Measure("attribute", "bmi"))
    if any(m.kind == "attribute" for m in out) and any(m.kind != "attribute" for m in out) and re.search(
            rf"\b(with|who has|who had|that has|that had|having|whose)\s+(the\s+)?{_RANKED}\s+"
            r"(?!(bmi|body mass|age)\b)", t):
        # "the age of the subject with the highest AHI": the AHI is ranked, the age is what is shown of that night
        out = [m for m in out if m.kind != "attribute"] + [m for m in out if m.kind == "attribute"]
    named = {STAGE_TOKEN.get(w, w.upper()) for w in re.findall(STAGE_WORD, t)} & set(_STAGE_SHARE.values())
    if not out and len(named) == 1 and re.search(r"\b(differ\w*|compar\w*|between|versus|vs\.?|across|change with age|"
                                                 r"(increase|decrease|change|fall|rise|drop|decline)s? with (age|bmi))\b", t):
        stage = named.pop()  # "a difference in N3 between sites", "does N3 fall with age": N3's share of sleep
        out.append(Measure("metric", next(c for c, s_ in _STAGE_SHARE.items() if s_ == stage)))
    return out, None


_ATTRIBUTE_WORDS = {"age": r"\bage\b|\bold\b|\byoung", "bmi": r"\bbmi\b|\bbody mass\b|\bheav|\blight(est)?\b"}


def ranked_first(t: str, ranking_words: str, measures: list[Measure]) -> list[Measure]:
    """The measures with the one named right after the ranking word (``ranking_words``, a regular expression) first
    ("the highest arousal index, and how old are they?": the index; "the patient with the highest BMI": BMI);
    unchanged when that cannot be told."""
    word = re.search(ranking_words, t)
    if word is None or re.search(r"\b(oldest|youngest|heaviest|lightest)\b", word.group(0)):
        return measures  # "the oldest": the ranking word names its own measure

    def where(m: Measure) -> int:
        rxs = [_ATTRIBUTE_WORDS.get(m.name, r"(?!)")] if m.kind == "attribute" else list(METRIC_WORDS.get(m.name, ()))
        hits = [h.start() for rx in rxs for h in re.finditer(rx, t) if h.start() >= word.start()]
        return min(hits) if hits else len(t) + 1

    first = min(measures, key=where)
    return [first, *[m for m in measures if m is not first]] if where(first) <= len(t) else measures
