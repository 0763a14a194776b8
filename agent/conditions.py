"""The conditions on nights a cohort question names, read as filters: subject attributes (sex, phenotype, site, age,
BMI), thresholds on a night's metrics, counts of scored events (in a stage, too) and minutes of a stage, and missing
channels. Used by :mod:`sleeplm.agent.planner`; each filter is executed by :mod:`sleeplm.agent.executor`."""

from __future__ import annotations

import re
from typing import Any

from .intents import Plan, parse
from .measures import STAGE_TOKEN
from .query import STAGE_MINUTES_FIELD, Filter, event_count_field
from .spelling import correct_spelling
from .vocab import (
    CHANNEL_WORDS,
    CohortNames,
    blank_numbered_metric_phrases,
    find_metrics,
    without_metric_phrases,
)

#: A stage a phrase restricts to ("during REM", "in deep sleep"); group 2 is the stage's word.
STAGE_IN = r"\b(during|in|within|while in)\s+(rem|n1|n2|n3|wake|deep sleep|light sleep|slow[- ]wave sleep)\b"
#: Words that compare the sexes ("women vs men", "by sex").
COMPARE_SEX = r"\b(women|females?)\b.*\b(men|males?)\b|\b(men|males?)\b.*\b(women|females?)\b|\bsex(es)?\b|\bgender"

_NUM = r"(\d+(?:\.\d+)?)"
#: Small counts written as words ("exactly one arousal").
_NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
                 "ten": 10}
_WHO = r"\b(subjects?|patients?|people|those|men|women|participants?)"
#: Words for the people of a group ("the healthy subjects", "the insomnia patient").
_PEOPLE = r"(patients?|subjects?|people|group|controls?|participants?|cases?|ones|nights|recordings)"
#: Words that exclude what follows ("not from site shhs", "excluding the insomnia subject", "non-healthy").
NOT = r"(?:not|excluding|exclude|except(?: for)?|other than|besides|apart from|non[- ]?)"
ABOVE = r"(above|over|greater than|more than|higher than|longer than|exceed(?:s|ed|ing)?|>|>=|≥|at least|of at least|no less than|not less than)"
BELOW = r"(below|under|less than|fewer than|lower than|shorter than|<|<=|≤|at most|of at most|no more than|not more than)"


#: A unit between a threshold's value and the measure it is on ("more than 60 minutes of WASO").
_UNIT_OF = r"(?:(?:minutes?|mins?|hours?|hrs?|h|%|percent)\s+(?:of\s+)?)?"

#: Event words a count threshold names ("more than 20 arousals"), and the event type (or group) each means.
_EVENT_WORDS = (r"(?:obstructive|central|mixed) apn(?:o)?eas?|apn(?:o)?eas?|hypopn(?:o)?eas?|arousals?|"
                r"(?:oxygen )?desaturations?|desats?|limb movements?")
#: What after an event word narrows its count to part of a night (a stage, a time window).
_NARROWED = r"\s*(in|during|after|before|between|from|while|within)\b"
_EVENT_TYPE = {r"obstructive": "obstructive_apnea", r"central": "central_apnea", r"mixed": "mixed_apnea",
               r"apn": "apnea", r"hypopn": "hypopnea", r"arousal": "arousal", r"(oxygen )?desat": "oxygen_desaturation",
               r"limb": "limb_movement"}


def night_filters(t: str, p: Any, names: CohortNames, compare_by: str | None) -> list[Filter]:
    """The conditions on nights the question ``t`` (lower case) names, as filters; ``p`` is its parse
    (:func:`sleeplm.agent.intents.parse`), ``compare_by`` a grouping whose values are not a condition."""
    out: list[Filter] = []
    if compare_by != "sex" and not re.search(COMPARE_SEX, t):
        sexes = [s for s, rx in (("F", r"\b(women|woman|females?|female subjects)\b"),
                                 ("M", r"(?<![a-z])(men|man|males?)\b")) if re.search(rx, t)]
        if sexes:
            out.append(Filter("sex", "in", sexes))
    phenos = [ph for ph in p.phenotypes
              if not (ph.replace("_", " ") in " ".join(e.replace("_", " ") for e in p.events)
                      and not re.search(rf"{ph.replace('_', '.')}\s+(patients|subjects|phenotype|group)", t))]
    if re.search(r"\b(osa|obstructive sleep apn\w*)( patients| subjects| group| nights| cases| phenotypes?)\b", t) or \
            re.search(r"\b(have|has|had|with)\s+(an?\s+)?(osa|obstructive sleep apn\w*)\b", t) and \
            re.search(r"\b(how many|which|list|who|what (share|proportion|percentage|fraction))\b", t) or \
            re.search(rf"{_PEOPLE}\s+(?:who\s+|that\s+)?(?:have|has|had|with)\s+(?:an?\s+)?(?:osa|obstructive sleep "
                      r"apn\w*)\b", t):
        if not any(ph.startswith("osa") for ph in phenos):  # "the OSA patients": every OSA label, unless one is named
            phenos += [ph for ph in names.phenotypes if ph.startswith("osa") and ph not in phenos]
    for w in dict.fromkeys(ph.split("_")[0] for ph in names.phenotypes):  # "the healthy subjects": each healthy_*
        if w not in ("osa", "rem", "n1", "n2", "n3", "wake") and not any(ph.split("_")[0] == w for ph in phenos) and \
                re.search(rf"\b(non[- ]?)?{re.escape(w)}( \w+)? {_PEOPLE}\b", t):
            phenos += [ph for ph in names.phenotypes if ph.split("_")[0] == w]
    if compare_by == "phenotype":  # "insomnia and healthy subjects": only the groups named, when two or more are
        first_words = {ph.split("_")[0]: [q for q in names.phenotypes if q.split("_")[0] == ph.split("_")[0]]
                       for ph in names.phenotypes if ph.split("_")[0] not in ("rem", "n1", "n2", "n3", "wake")}
        named = list(dict.fromkeys([*phenos, *(q for w, qs in first_words.items()
                                               if re.search(rf"\b{re.escape(w)}\b", t) for q in qs)]))
        if len(named) >= 2:
            out.append(Filter("phenotype", "in", named))
    if phenos and compare_by != "phenotype":
        out.append(Filter("phenotype", "in", phenos))
    if p.sites and compare_by != "site":
        out.append(Filter("site", "in", p.sites))
    out = [_negated(t, f) for f in out]
    ages = [] if compare_by == "age" else age_thresholds(t)
    if len({v for _, v in ages}) == len(ages):  # "over 40 and under 60": both; "over 60 vs under 60" is a cut, not a filter
        out += [Filter("age", op, v) for op, v in dict.fromkeys(ages)]
    for rx, rng in ((r"\bobes(e|ity)\b", (30.0, None)), (r"\boverweight\b", (25.0, 30.0)),
                    (r"\bnormal[- ]weight\b", (18.5, 25.0)), (r"\bunderweight\b", (None, 18.5))):
        if re.search(rx, t) and compare_by != "bmi":  # WHO classes of BMI (kg/m²)
            out += [Filter("bmi", ">=", rng[0])] if rng[0] is not None else []
            out += [Filter("bmi", "<", rng[1])] if rng[1] is not None else []
    bmi = re.search(rf"\b(?:bmi|body mass index)\s*(?:is |was |of )?(?P<op>{ABOVE}|{BELOW})\s*(?P<num>{_NUM})", t)
    if bmi and compare_by != "bmi":  # "a BMI over 30": the subjects table's attribute
        sym = bmi.group("op")
        above = re.fullmatch(ABOVE, sym) is not None
        out.append(Filter("bmi", _threshold_op(sym, ">" if above else "<"), float(bmi.group("num"))))
    named = t
    for col in [c for c in find_metrics(named) if c != compare_by]:  # a measure the groups are cut on is no condition
        t = blank_numbered_metric_phrases(named, keep=col)  # "awakenings of at least 1 minute": not "awakenings >= 1"
        words = "|".join(p_ for p_ in _metric_phrases(col))
        rng = re.search(rf"\b(?:{words})\s*(?:is |was |of )?between\s+(?P<lo>{_NUM})\s+and\s+(?P<hi>{_NUM})", t)
        if rng:  # "an AHI between 5 and 15": both ends included
            out += [Filter(col, ">=", float(rng.group("lo"))), Filter(col, "<=", float(rng.group("hi")))]
            continue
        two = re.search(rf"\b(?:{words})\s*(?:is |was |of )?(?P<op1>{ABOVE}|{BELOW})\s*(?P<n1>{_NUM})\s*(?:%|h(?:ours?)?|"
                        rf"min(?:utes?)?|events?(?:/h| per hour)?)?\s*,?\s*(?:but|and|yet)\s+(?:(?:is|was|still)\s+)?"
                        rf"(?P<op2>{ABOVE}|{BELOW})\s*(?P<n2>{_NUM})", t)
        if two:  # "an AHI greater than 15 but less than 30": both conditions
            for op_key, num_key in (("op1", "n1"), ("op2", "n2")):
                sym = two.group(op_key)
                num = float(two.group(num_key))
                if col.endswith("_min") and re.match(r"\s*(hours?|hrs?|h)\b", t[two.end(num_key):]):
                    num *= 60.0
                out.append(Filter(col, _threshold_op(sym, ">" if re.fullmatch(ABOVE, sym) else "<"), num))
            continue
        avg = re.search(rf"\b(?:{words})\s*(?:is |was |of )?(?P<op>{ABOVE}|{BELOW})\s*(the )?(cohort'?s? )?"
                        r"(?P<stat>average|mean|median)\b", t)
        if avg:  # "an arousal index above the cohort average": the cohort's own mean as the threshold
            above = re.fullmatch(ABOVE, avg.group("op")) is not None
            out.append(Filter(col, ">" if above else "<", "median" if avg.group("stat") == "median" else "mean"))
            continue
        for rx, op in ((rf"\b(?:{words})\s*(?:is |was |of )?(?P<op>{ABOVE})\s*(?P<num>{_NUM})", ">"),
                       (rf"\b(?:{words})\s*(?:is |was |of )?(?P<op>{BELOW})\s*(?P<num>{_NUM})", "<"),
                       (rf"\b(?:{words})\s*(?:is |was |of )?(?P<num>{_NUM})\s*(?P<op>or (?:more|above|higher|greater))", ">="),
                       (rf"\b(?:{words})\s*(?:is |was |of )?(?P<num>{_NUM})\s*(?P<op>or (?:less|fewer|below|lower))", "<="),
                       # the value first: "more than 20% REM", "less than 80 % of sleep in N2"
                       (rf"(?P<op>{ABOVE})\s*(?P<num>{_NUM})\s*{_UNIT_OF}(?:{words})\b", ">"),
                       (rf"(?P<op>{BELOW})\s*(?P<num>{_NUM})\s*{_UNIT_OF}(?:{words})\b", "<")):
            m = re.search(rx, t)
            if m:
                sym = m.group("op")
                real = _threshold_op(sym, op)
                num = float(m.group("num"))
                if col.endswith("_min") and re.match(r"\s*(hours?|hrs?|h)\b", t[m.end("num"):]):
                    num *= 60.0  # "a total sleep time under 6 hours": the column is in minutes
                if Filter(col, real, num) not in out:
                    out.append(Filter(col, real, num))
        if col in ("n_awakenings", "n_awakenings_1min") and not any(f.field == col for f in out) and \
                re.search(rf"\b(?:have|had|has|having|with|showed?)\s+(?:any\s+)?(?:{words})", t):
            out.append(Filter(col, ">=", 1.0))  # "nights with awakenings longer than a minute": at least one
    t = blank_numbered_metric_phrases(named)
    for m in re.finditer(rf"(?P<op>{ABOVE}|{BELOW})\s*(?P<num>{_NUM})\s+(?:scored\s+)?(?P<ev>{_EVENT_WORDS})\b"
                         rf"|(?P<num2>{_NUM})\s+(?:or|and)\s+(?P<op2>more|fewer|less)\s+(?:scored\s+)?(?P<ev2>{_EVENT_WORDS})\b"
                         rf"|\bexactly\s+(?P<num3>{_NUM}|{'|'.join(_NUMBER_WORDS)})\s+(?:scored\s+)?(?P<ev3>{_EVENT_WORDS})\b",
                         t):  # "more than 20 arousals", "5 or more central apneas": a night's count of scored events
        ev = _EVENT_TYPE[next(k for k in _EVENT_TYPE if re.match(k, m.group("ev") or m.group("ev2") or m.group("ev3")))]
        stage = _stage_after(t, m.end())  # "more than 3 hypopneas in REM": those that start in REM
        if m.group("op"):
            sym = m.group("op")
            real = _threshold_op(sym, ">" if re.fullmatch(ABOVE, sym) else "<")
        elif m.group("op2"):
            real = ">=" if m.group("op2") == "more" else "<="
        else:  # "exactly one arousal in REM"
            real = "=="
        num = m.group("num") or m.group("num2") or m.group("num3")
        flt = Filter(event_count_field(ev, stage), real, float(_NUMBER_WORDS.get(num, num)))
        if flt not in out:
            out.append(flt)
    for m in re.finditer(rf"(?P<op>{ABOVE}|{BELOW})\s*(?P<num>{_NUM})\s*(?P<unit>minutes?|mins?|hours?|hrs?|h)\s+(?:of|in)\s+"
                         r"(?P<stage>rem|n1|n2|n3|wake|deep sleep|light sleep|slow[- ]wave sleep)\b", t):
        sym = m.group("op")  # "more than 10 minutes of N3": a night's minutes in the stage
        real = _threshold_op(sym, ">" if re.fullmatch(ABOVE, sym) else "<")
        num = float(m.group("num")) * (60.0 if m.group("unit").startswith("h") else 1.0)
        flt = Filter(STAGE_MINUTES_FIELD + STAGE_TOKEN[m.group("stage").replace("-", " ")], real, num)
        if flt not in out:
            out.append(flt)
    for m in re.finditer(r"\b(?:(?P<neg>no|without|never reached|did not reach|didn't reach)|(?:had|have|has|having|"
                         r"reached|reach|entered|enter))\s+(?:any\s+)?(?P<stage>rem|n1|n2|n3|deep sleep|slow[- ]wave sleep)"
                         r"(?=(?:\s+sleep)?(?:\s+at all)?\s*(?:[?.,;]|$|\s+and\b|\s+or\b))", t):
        # "how many nights had N3?", "nights with no REM at all": a night's minutes in the stage, above 0 or 0
        flt = Filter(STAGE_MINUTES_FIELD + STAGE_TOKEN[m.group("stage").replace("-", " ")],
                     "==" if m.group("neg") else ">", 0.0)
        if flt not in out:
            out.append(flt)
    for m in re.finditer(rf"\b(?P<neg>no|without|zero|not any)\s+(?:any\s+)?(?:scored\s+)?(?:(?P<pre>rem|n1|n2|n3)\s+)?"
                         rf"(?P<ev>{_EVENT_WORDS})\b(?!\s*scor)"
                         rf"|\b(?:had|have|has|having|with|showed|show)\s+(?:any\s+|some\s+|at least one\s+|one or more\s+)?"
                         rf"(?:scored\s+)?(?:(?P<pre2>rem|n1|n2|n3)\s+)?(?P<ev2>{_EVENT_WORDS})\b(?!\s*scor)", t):
        # "nights with apneas", "with no arousals", "had central apneas in REM", "had REM arousals"
        pre = m.group("pre") or m.group("pre2")
        stage = STAGE_TOKEN[pre] if pre else _stage_after(t, m.end())
        if not stage and re.match(_NARROWED, t[m.end():]):
            continue  # "after 2 am", "between 1 and 3": a count within a time window is not this filter
        ev = _EVENT_TYPE[next(k for k in _EVENT_TYPE if re.match(k, m.group("ev") or m.group("ev2")))]
        # "which nights did not have central apneas": the verb's negation before "have" negates the condition
        neg = m.group("neg") or re.search(r"(\bnot|\bnever|n't)\s*$", t[:m.start()])
        flt = Filter(event_count_field(ev, stage), "<" if neg else ">=", 1.0)
        if flt not in out and not any(f.field == flt.field for f in out):
            out.append(flt)
    channel = _missing_channel(t)
    if channel:  # "nights missing the airflow channel", "which nights lack ECG"
        out.append(Filter("missing_channels", "==", channel))
    elif re.search(r"\b(no|without|none of the|not) (any )?missing channels?\b|\bno channels? (is |are )?missing\b|"
                 r"\ball (the |their |of the )?channels\b|\bevery channel\b|\bcomplete (set of )?channels\b", t):
        out.append(Filter("missing_channels", "==", "none"))  # every channel recorded
    elif re.search(r"\bmissing (a )?channels?\b|\bchannels? (is |are )?missing\b|\bwithout (an? )?[a-z]+ channel", t):
        out.append(Filter("missing_channels", "==", ""))
    return out


def _missing_channel(t: str) -> str | None:
    """The model channel a question says is missing ("missing the airflow channel", "without ECG", "the AF channel is
    absent"), as its code (:data:`~sleeplm.agent.vocab.CHANNEL_WORDS`), or None."""
    for code, words in CHANNEL_WORDS.items():
        if re.search(rf"\b(?:missing|lack(?:s|ed|ing)?|without|no|absent)\s+(?:an?\s+|the\s+|any\s+|its\s+|their\s+)?"
                     rf"(?:{words})(?!\s*(?:chang|shift|-?based))(?:\s+(?:channel|signal|lead|sensor|recording))?\b", t) or \
                re.search(rf"\b(?:{words})\s+(?:channel\s+|signal\s+|lead\s+|sensor\s+)?(?:is\s+|was\s+|are\s+|were\s+)?"
                          rf"(?:missing|absent|not recorded|unavailable)\b", t):
            return code
    return None


def _stage_after(t: str, at: int) -> str | None:
    """The stage a phrase right after position ``at`` restricts to ("… in REM", "… during deep sleep"), or None."""
    m = re.match(rf"\s*{STAGE_IN}", t[at:])
    return STAGE_TOKEN[m.group(2).replace("-", " ")] if m else None


def _negated(t: str, flt: Filter) -> Filter:
    """A subject filter as the question means it: "not from site shhs", "excluding the insomnia subject" and
    "non-healthy subjects" exclude the values named (op ``not in``)."""
    if flt.op != "in" or flt.field not in ("sex", "phenotype", "site"):
        return flt
    words = {"F": ["women", "woman", "females?"], "M": ["men", "man", "males?"]}
    alts = [w for v in flt.value for w in (words.get(v) if flt.field == "sex" else
                                           [re.escape(v.lower().replace("_", " ")), re.escape(v.lower().split("_")[0])])]
    if re.search(rf"\b{NOT}\s*(?:(?:from|at|in|the|site|sites|group|phenotype|subjects?|patients?)\s+){{0,3}}"
                 rf"(?:{'|'.join(alts)})\b", t):
        return Filter(flt.field, "not in", flt.value)
    return flt


#: Phrases that put an age threshold on the subjects, each with the comparison it means.
_AGE_THRESHOLDS = ((rf"\b(aged |age )?{_NUM}\s*(years? )?(and|or) older", ">="),
                   (rf"\b(aged |age )?{_NUM}\s*(years? )?(and|or) younger", "<="),
                   (rf"(?:\b(?:aged|age)\s+|{_WHO}\s+(?:who are |are )?(?:aged )?){_NUM}\s*(\+|(years? )?(and|or) (over|above))", ">="),
                   (rf"(?:\b(?:aged|age)\s+|{_WHO}\s+(?:who are |are )?(?:aged )?){_NUM}\s*(years? )?(and|or) (under|below)", "<="),
                   (rf"\b{_NUM}\s*years? (and|or) (over|above)", ">="), (rf"\b{_NUM}\s*years? (and|or) (under|below)", "<="),
                   (rf"\b(older than|aged over|age over|over the age of|age above|aged above)\s+{_NUM}", ">"),
                   (rf"\b(younger than|aged under|age under|age below|under the age of)\s+{_NUM}", "<"),
                   (rf"\b(over|above)\s+{_NUM}\s*(years|y\b|yo\b)", ">"), (rf"\bunder\s+{_NUM}\s*(years|y\b)", "<"),
                   (rf"{_WHO}\s+(?:who are |are |aged )?(over|above|older than)\s+{_NUM}\b(?!\s*%)", ">"),
                   (rf"{_WHO}\s+(?:who are |are |aged )?(under|below|younger than)\s+{_NUM}\b(?!\s*%)", "<"),
                   # the second side of a pair, the people said once: "subjects over 60 and under 60"
                   (rf"\b(?:and|or|vs\.?|versus|compared (?:with|to)|against)\s+(?:how many\s+)?(?:those\s+)?(?:are\s+)?"
                    rf"(under|below|younger than)\s+{_NUM}\b(?!\s*%)", "<"),
                   (rf"\b(?:and|or|vs\.?|versus|compared (?:with|to)|against)\s+(?:how many\s+)?(?:those\s+)?(?:are\s+)?"
                    rf"(over|above|older than)\s+{_NUM}\b(?!\s*%)", ">"))


def age_thresholds(t: str) -> list[tuple[str, float]]:
    """The age thresholds a question puts on its subjects, in the order written ("subjects over 60 and under 60" ->
    ``[(">", 60), ("<", 60)]``)."""
    found: list[tuple[int, int, str, float]] = []
    for i, (rx, op) in enumerate(_AGE_THRESHOLDS):
        for m in re.finditer(rx, t):
            second = i >= len(_AGE_THRESHOLDS) - 2  # "... and under 60": an age only after an age said before it
            num = next(g for g in m.groups() if g and re.fullmatch(_NUM, g))
            echo = re.match(r"(those|ones)\b", m.group(0)) and re.search(  # "an ODI above 10 versus those below 10"
                rf"(?:{ABOVE}|{BELOW})\s*{re.escape(num)}\b", t[:m.start()])
            if not echo and not any(a < m.end() and m.start() < b for a, b, _, _ in found) and \
                    (not second or any(b <= m.start() for _, b, _, _ in found)):
                found.append((m.start(), m.end(), op, float(next(g for g in m.groups() if g and re.fullmatch(_NUM, g)))))
    return [(op, v) for _, _, op, v in sorted(found)]


#: Words that set a group against its complement ("over 60 vs younger", "obese vs the others").
_VERSUS_REST = (r"\b(vs\.?|versus|compared (with|to)|against|and|or|than)\s+(the\s+)?(younger|older|rest|others?|"
                r"everyone else|remaining|non[- ]?obese|not obese|lean)\b")


def threshold_cut(t: str) -> tuple[str, float] | None:
    """Two groups cut at one value of age or BMI that a comparison names ("subjects over 60 vs under 60", "65 and
    older vs younger", "obese vs non-obese", "BMI above 30 vs below 30"): the attribute and the value; None
    otherwise (a single condition, or two different values)."""
    ages = age_thresholds(t)
    if len(ages) == 2 and ages[0][1] == ages[1][1] and (ages[0][0] in (">", ">=")) != (ages[1][0] in (">", ">=")):
        return "age", ages[0][1]
    if len(ages) == 1 and re.search(_VERSUS_REST, t) and re.search(r"\b(younger|older|rest|others?|everyone else|"
                                                                   r"remaining)\b", t):
        return "age", ages[0][1]
    if re.search(r"\bobes(e|ity)\b", t) and (re.search(r"\bnon[- ]?obese\b|\bnot obese\b", t)
                                             or re.search(_VERSUS_REST, t)):
        return "bmi", 30.0  # WHO: obese = BMI of 30 kg/m² or more
    bmis = [float(m.group("num")) for m in re.finditer(rf"\b(?:(?:bmi|body mass index)\s*(?:is |was |of )?|and |or |vs\.? |"
                                                     rf"versus )(?:{ABOVE}|{BELOW})\s*(?P<num>{_NUM})", t)]
    if len(bmis) == 2 and bmis[0] == bmis[1] and re.search(r"\b(bmi|body mass)\b", t):
        return "bmi", bmis[0]
    for col in find_metrics(t):  # "nights with an AHI above 15 vs the rest", "AHI above 15 and below 15"
        words = "|".join(_metric_phrases(col))
        m = re.search(rf"\b(?:{words})\s*(?:is |was |of )?(?:{ABOVE}|{BELOW})\s*(?P<num>{_NUM})", t)
        if m is None:
            continue
        rest = t[m.end():]
        other = re.match(rf"\s*\S*\s*(?:and|or|vs\.?|versus|compared (?:with|to)|against)\s+(?:those\s+|the ones\s+|nights\s+)?"
                         rf"(?:with\s+)?(?:an?\s+)?(?:(?:{words})\s*)?(?:{ABOVE}|{BELOW})\s*(?P<num>{_NUM})", rest)
        if re.match(rf"\s*\S*\s*{_VERSUS_REST}", rest) or (other and float(other.group("num")) == float(m.group("num"))):
            return col, float(m.group("num"))
    return None


def _threshold_op(words: str, strict: str) -> str:
    """The comparison a threshold's words mean: ">=" for "at least", "<=" for "at most", else ``strict``."""
    if words in (">=", "≥", "at least", "of at least", "no less than", "not less than"):
        return ">="
    if words in ("<=", "≤", "at most", "of at most", "no more than", "not more than"):
        return "<="
    return strict


def _metric_phrases(col: str) -> list[str]:
    from .vocab import METRIC_WORDS

    return [w.replace(r"\b", "") for w in METRIC_WORDS.get(col, ())] or [col]


def pooled_phenotypes(t: str, filters: list[Filter]) -> dict[str, list[str]] | None:
    """ "OSA patients vs the healthy subjects": the phenotype groups a comparison names by a family word ("osa",
    "healthy") pooled into one group each (``{"osa_*": ["osa_moderate", "osa_severe"], ...}``); a family whose
    members the question names one by one ("moderate OSA") is not pooled. None when nothing is pooled."""
    named = next((list(f.value) for f in filters if f.field == "phenotype" and f.op == "in"), [])
    families: dict[str, list[str]] = {}
    for ph in named:
        families.setdefault(ph.split("_")[0], []).append(ph)

    def as_family(w: str, members: list[str]) -> bool:
        word = r"\b(osa|obstructive sleep apn\w*)\b" if w == "osa" else rf"\b{re.escape(w)}\b"
        one_by_one = any(re.search(rf"\b{re.escape(m.replace('_', ' '))}\b|\b{re.escape(m)}\b|"
                                   rf"\b{re.escape(' '.join(reversed(m.split('_'))))}\b", t) for m in members)
        return len(members) >= 2 and bool(re.search(word, t)) and not one_by_one

    pooled = {(f"{w}_*" if as_family(w, ms) else m): (ms if as_family(w, ms) else [m])
              for w, ms in families.items() for m in (ms[:1] if as_family(w, ms) else ms)}
    return pooled if len(pooled) >= 2 and any(len(v) > 1 for v in pooled.values()) else None


#: Subject attributes a cohort_stats call takes as arguments of its own (the others go in ``nights_where``).
_STATS_OWN = {"sex": ("sex",), "phenotype": ("phenotype",), "site": ("site",), "age": ("age_min", "age_max")}


def with_night_conditions(question: str, names: CohortNames, routed: Plan) -> Plan:
    """A cohort_stats plan with every condition on nights the question names: those its own arguments do not
    carry (BMI, "an AHI above 15", missing channels, an attribute the rule did not pass) go in ``nights_where``,
    so that no condition is dropped and the table answers the question asked."""
    t = correct_spelling(question.strip().lower(), names.known())
    args = dict(routed.args)
    by = args.get("by")
    extra = []
    for f in night_filters(t, parse(t, names), names, by if by in ("sex", "phenotype", "site") else None):
        own = _STATS_OWN.get(f.field, ())
        if f.op == "not in":  # "excluding women": the rule's own argument named them to include
            for a in own:
                args.pop(a, None)
        elif own and (by == f.field or any(args.get(a) is not None for a in own)):
            continue  # carried by the call's own arguments or its grouping
        if (f.field.startswith("spo2") and args.get("spo2_max_pct") is not None) or \
                (f.field.startswith("hr_") and (args.get("hr_min_bpm") is not None or args.get("hr_max_bpm") is not None)):
            continue  # "epochs with an SpO2 below 85": the epoch filter, not the night's nadir
        extra.append({"field": f.field, "op": f.op, "value": f.value})
    if extra:
        args["nights_where"] = [*(args.get("nights_where") or []), *extra]
        if args.get("stages"):  # "epochs of N2 in nights with more than 20% REM": REM is the condition's, not a stage asked
            stages = parse(without_metric_phrases(t), names).stages
            args.pop("stages")
            if stages:
                args["stages"] = stages
    return Plan(routed.tool, args, routed.text)
