"""Nothing a question names is dropped: the numbers and sleep stages of a question that its plan does not use.

A plan that leaves out a number of the question ("apneas longer than 30 seconds", "AHI greater than 15 but less than
30", "the AHI of night 4") or a stage ("the AHI in REM" answered for the whole night) answers another question; the
planner declines it instead (:func:`sleeplm.agent.planner.decide`), naming what it could not apply.
"""

from __future__ import annotations

import json
import re
from typing import Any

from .intents import Plan, name_key
from .measures import STAGE_TOKEN, STAGE_WORD, event_position
from .query import event_count_of
from .vocab import CohortNames, without_metric_phrases

#: Tokens whose digits are part of a name, not a quantity: stages (N2, stage 3, S4), channel and signal labels
#: (C4, M1, SpO2, T90, ODI4), ordinals (2nd).
_NAME_DIGITS = re.compile(r"\b(stage\s*[1-4]|[a-z]{1,4}\d{1,2}|\d+(st|nd|rd|th))\b")
_NUMBER_IN_TEXT = re.compile(r"(?<![\w.])\d+(?:\.\d+)?(?![\w.])")


#: A recording name or subject id as a plan passes it ("sim-0004", "S0004"): its digits are not a quantity.
_NAME = re.compile(r"[a-z]+[-_]?\d+")


def _leaves(value: Any) -> list[Any]:
    """The scalar values of a plan's arguments (dicts and lists walked)."""
    if isinstance(value, dict):
        return [x for v in value.values() for x in _leaves(v)]
    if isinstance(value, (list, tuple)):
        return [x for v in value for x in _leaves(v)]
    return [value]


def _plan_numbers(args: dict[str, Any], known: set[str]) -> list[float]:
    """Every number a plan's arguments hold: numbers, and the digits of clock times and descriptions; not the
    digits of a name (a recording, a subject, a column such as hr_n2_bpm, a stage such as N2, an event count's
    field such as ``event_count:apnea@N2``)."""
    out: list[float] = []
    for v in _leaves(args):
        if isinstance(v, bool):
            continue
        if isinstance(v, (int, float)):
            out.append(float(v))
        elif isinstance(v, str) and v.lower() not in known and not _NAME.fullmatch(v.lower()) and \
                not re.fullmatch(r"[A-Za-z_]+\d*[A-Za-z_]*\d*[A-Za-z_]*", v) and event_count_of(v) is None:
            out += [float(x) for x in re.findall(r"\d+(?:\.\d+)?", v)]
    return out


def _same_quantity(q: float, v: float) -> bool:
    """Whether the question's number ``q`` is the plan's ``v``, allowing the unit changes the plans make
    (hours <-> minutes, a 12-hour clock, a percentage as a fraction, a time into the night as its epoch)."""
    return any(abs(a - b) <= 1e-6 * max(1.0, abs(b)) for a, b in
               ((q, v), (q * 60, v), (q / 60, v), (q + 12, v), (q - 12, v), (q / 100, v), (q * 2, v), (q * 120, v),
                (q / 30, v)))


def _unaccounted_numbers(question: str, names: CohortNames, plan: Plan) -> list[str]:
    """The numbers of a question that no argument of its plan holds, each with the words around it."""
    t = f" {question.lower()} "
    passed = [v for v in _leaves(plan.args) if isinstance(v, str) and _NAME.fullmatch(v.lower())]  # names a tool checks
    for name in sorted([*names.known(), *passed], key=len, reverse=True):
        t = re.sub(rf"(?<![\w-]){re.escape(name.lower())}(?![\w-])", " ", t)
    keys = {k for r in names.recordings if (k := name_key(r))}  # "sim 4", "sim4": a name written another way
    t = re.sub(r"\b([a-z]+)[\s_-]?0*(\d+)\b", lambda m: " " if f"{m.group(1)}{int(m.group(2))}" in keys else m.group(0), t)
    t = _NAME_DIGITS.sub(" ", without_metric_phrases(t))  # "awakenings longer than 1 minute": a measure's name
    known = {n.lower() for n in names.known()}
    used = _plan_numbers(plan.args, known)
    out = []
    for m in _NUMBER_IN_TEXT.finditer(t):
        if not any(_same_quantity(float(m.group(0)), v) for v in used):
            words = t[max(0, m.start() - 30):m.end() + 25].split()
            out.append(" ".join(words[-8:]) if len(words) > 8 else " ".join(words))
    return out


#: "NREM" and its spellings (as :data:`sleeplm.agent.rem_question.NREM`).
_NREM = r"\bnrem\b|\bnon[- ]?rem\b"
#: Stages a tool always works with, whatever its arguments (REM-related OSA sets REM against NREM).
_TOOL_STAGES: dict[str, set[str]] = {"rem_related_nights": {"REM", "NREM"}}


def _unaccounted_stages(question: str, names: CohortNames, plan: Plan) -> list[str]:
    """Sleep stages the question names ("in REM", "during deep sleep") that its plan does not restrict to."""
    t = question.strip().lower()  # as written: a spelling correction can make a stage of a word ("awake" -> "wake")
    t = without_metric_phrases(t)
    nrem = {"NREM"} if re.search(_NREM, t) else set()  # "non-REM" names NREM, not REM
    t = re.sub(_NREM, " ", t)
    named = {STAGE_TOKEN.get(w.replace("-", " "), w.upper()) for w in re.findall(STAGE_WORD, t)} | nrem
    if not named:
        return []
    text = json.dumps(plan.args).lower()
    held = {st for st in named if re.search(rf'"{st.lower()}"|_{st.lower()}_|"{st.lower()}_|\b{st.lower()}\b', text)}
    held |= {STAGE_TOKEN.get(w.replace("-", " "), w.upper()) for w in re.findall(STAGE_WORD, text)}
    held |= _TOOL_STAGES.get(plan.tool or "", set())
    return sorted(named - held)



#: The stored words that carry each body position in a plan's arguments.
_POSITION_HELD = {"supine": ("supine",), "non_supine": ("non_supine", "non-supine"), "lateral": ("lateral",),
                  "left": ("left",), "right": ("right",), "prone": ("prone",), "upright": ("upright",)}
#: Events a question asks to leave out of a measure ("the AHI if you leave out the central apneas").
_LEFT_OUT = re.compile(r"\b(leav(?:e|ing) out|exclud\w*|not counting|minus|except(?: for)?|apart from|other than|ignoring|"
                       r"without)\s+(?:the\s+|any\s+)?(?P<kind>(?:central|obstructive|mixed)\s+apn\w*|apn\w*|hypopn\w*|"
                       r"arousals?|desat\w*)")


def _unaccounted_position(question: str, plan: Plan) -> list[str]:
    """A body position the question names ("the supine REM AHI") that its plan does not carry."""
    pos = event_position(question.strip().lower())
    if pos is None:
        return []
    text = json.dumps(plan.args).lower()
    return [] if any(w in text for w in _POSITION_HELD[pos]) else [f"the body position ({pos.replace('_', '-')})"]


def _unaccounted_left_out(question: str, plan: Plan) -> list[str]:
    """Events the question leaves out of a measure ("the AHI without the central apneas") that its plan keeps in."""
    m = _LEFT_OUT.search(question.strip().lower())
    if m is None:
        return []
    kind = m.group("kind")
    stem = re.sub(r"\s+", "_", re.sub(r"(apn|hypopn|arousal|desat)\w*", r"\1", kind))
    return [] if stem in json.dumps(plan.args).lower() else [f"\"{m.group(0)}\""]


def unaccounted(question: str, names: CohortNames, plan: Plan) -> list[str]:
    """What of the question its plan leaves out, in words (the numbers with the words around them, the stages, a body
    position, events to be left out); [] when the plan uses everything."""
    return [f"\"…{n}…\"" for n in _unaccounted_numbers(question, names, plan)] + \
        [f"the stage {s}" for s in _unaccounted_stages(question, names, plan)] + \
        _unaccounted_position(question, plan) + _unaccounted_left_out(question, plan)
