"""Questions that ask why: "why did sim-0001 have 300 apneas?", "why is its sleep efficiency so low?".

The recording holds what was scored and measured, not causes, and a question's premise may be false (the night
had no apneas). Such a question is answered as the factual question it rests on ("how many apneas did sim-0001
have?"), under a first line that says so and repeats the number the question stated, so a false premise shows
beside the night's own value. For a low or high sleep efficiency the parts it is made of are given too (sleep
latency and WASO: the wake time in bed).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_STAGE = r"(?:rem|n1|n2|n3|wake|deep sleep|light sleep|slow[- ]wave sleep)"
_WHY_HAVE = re.compile(r"^\s*why\s+(?:did|does|do|has|had|would)\s+(?P<who>.+?)\s+(?:have|has|had|get|got|show|spend)\s+"
                       r"(?:(?P<n>\d+(?:\.\d+)?)\s+|(?:so many|so much|so few|so little|such|a lot of|lots of|"
                       r"too many|too much|many|much)\s+)?(?P<what>.+?)\s*\??\s*$")
_WHY_IS = re.compile(r"^\s*why\s+(?:is|was|are|were)\s+(?P<what>.+?)\s+(?:so\s+|that\s+|this\s+|very\s+|too\s+)?"
                     r"(?P<adj>low|high|short|long|poor|bad|good|elevated|reduced|increased|decreased|large|small)"
                     r"\s*\??\s*$")
_SEVERITY_APNEA = re.compile(r"(?:an?\s+)?(?:(?P<grade>mild|moderate|severe)(?:[- ]to[- ](?:moderate|severe))?\s+)?"
                             r"(?:obstructive\s+|central\s+)?(?:sleep\s+)?(?:apn(?:o)?ea|osa|csa)(?:\s+syndrome)?")
_EFFICIENCY = re.compile(r"\b(sleep )?efficiency\b|\bse\b")


@dataclass(frozen=True)
class Premise:
    """A "why" question read as the factual question it rests on."""

    factual: str  # the question to answer instead
    stated: str | None = None  # the number the question stated ("300"), if any
    what: str = ""  # what it is about ("apneas")


def read_why(question: str) -> Premise | None:
    """The factual question behind a "why" question, or None when ``question`` does not ask why in a form read here.

    Examples
    --------
    >>> read_why("Why did sim-0001 have 300 apneas?").factual
    'how many apneas did sim-0001 have?'
    >>> read_why("why is its sleep efficiency so low?").factual
    'what are the sleep efficiency, sleep latency and WASO of it?'
    """
    t = question.strip().lower()
    m = _WHY_HAVE.match(t)
    if m:
        what = m.group("what")
        apnea = _SEVERITY_APNEA.fullmatch(what)
        if apnea:  # "why does sim-0001 have severe OSA?": its AHI and AASM grade, beside the grade the question states
            return Premise(f"what is the AHI of {m.group('who')}?", apnea.group("grade"), "sleep apnea (by AHI)")
        how = "how much" if re.fullmatch(rf"{_STAGE}( sleep)?", what) else "how many"
        return Premise(f"{how} {what} did {m.group('who')} have?", m.group("n"), what)
    m = _WHY_IS.match(t)
    if m:
        what = m.group("what")
        if _EFFICIENCY.search(what):
            whose = re.sub(r"\b(the |its |their |his |her )?(sleep )?efficiency\b|\bse\b", "", what).strip()
            whose = re.sub(r"^(of|for|in)\s+", "", re.sub(r"'s$", "", whose)).strip() or "it"
            return Premise(f"what are the sleep efficiency, sleep latency and WASO of {whose}?", None, "sleep efficiency")
        return Premise(f"what is {what}?", None, what)
    return None


def why_preface(question: str) -> str:
    """The first line of the answer to a "why" question ("" for any other question)."""
    p = read_why(question)
    if p is None:
        return ""
    line = "**A recording holds what was scored and measured, not why; here is what it holds.**"
    if p.stated:
        line += f" The question says {p.stated} {p.what}; the night's own value is below."
    if p.what == "sleep efficiency":
        line += (" Sleep efficiency is the total sleep time over the time in bed: the wake before sleep onset (sleep "
                 "latency) and after it (WASO) make up what is lost.")
    return line


#: A bare "why?" after a value ("why?", "why is that?", "what could cause it?").
BARE_WHY = re.compile(r"^\s*(?:and\s+|but\s+|so\s+)?(?:why|why is that|why so|how come|what (?:could|might|would) "
                      r"(?:cause|explain) (?:it|that|this)|what causes (?:it|that|this)|what explains (?:it|that|this))"
                      r"\s*\??\s*$", re.IGNORECASE)
#: The measures a value is made of, or commonly goes with, shown when "why?" follows it.
WHY_PARTS: dict[str, tuple[str, ...]] = {
    "sleep_efficiency_pct": ("sleep_efficiency_pct", "sleep_latency_min", "waso_min", "n_awakenings",
                             "arousal_index_per_h", "ahi_per_h", "limb_movement_index_per_h"),
    "waso_min": ("waso_min", "n_awakenings", "n_awakenings_1min", "arousal_index_per_h", "ahi_per_h",
                 "limb_movement_index_per_h"),
    "ahi_per_h": ("ahi_per_h", "oai_per_h", "cai_per_h", "hypopnea_index_per_h", "ahi_rem_per_h", "ahi_nrem_per_h",
                  "supine_ahi_per_h", "non_supine_ahi_per_h", "supine_pct"),
    "arousal_index_per_h": ("arousal_index_per_h", "ahi_per_h", "limb_movement_index_per_h", "odi_per_h",
                            "n_awakenings", "n1_pct"),
    "spo2_min_pct": ("spo2_min_pct", "t90_min", "odi_per_h", "ahi_per_h", "cai_per_h", "ahi_rem_per_h"),
}
for _col in ("tst_min",):
    WHY_PARTS[_col] = WHY_PARTS["sleep_efficiency_pct"]
for _col in ("t90_min", "odi_per_h", "spo2_mean_pct"):
    WHY_PARTS[_col] = WHY_PARTS["spo2_min_pct"]


def why_parts(question: str, last_metrics: list[str]) -> list[str] | None:
    """For a bare "why?" after a night's value of ``last_metrics``: the measures to show (the value first, then what it
    is made of or goes with, for the first of them that has parts listed); [] when none has; None when ``question`` is
    not a bare "why?"."""
    if not BARE_WHY.match(question):
        return None
    first = next((c for c in last_metrics if c in WHY_PARTS), None)  # "is that severe?" gave the AHI first
    return list(WHY_PARTS[first]) if first else []


def why_after_preface(question: str) -> str:
    """The first line of the answer to a bare "why?" ("" for any other question)."""
    if not BARE_WHY.match(question):
        return ""
    return ("**A recording holds what was scored and measured, not why.** Below: the value with the measures it is "
            "made of or commonly goes with in this night, for you to weigh; none of them is shown to be the cause.")
