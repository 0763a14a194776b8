"""Clinical readings of a question's words: AASM sleep-apnea severity by AHI, the direction in which a measure
is better ("worst", "best"), and the stored per-hour index of each scored event kind (used by
:mod:`sleeplm.agent.planner`)."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from sleeplm.encoder.captions.night import ahi_severity as ahi_grade

from .query import DURATION_KINDS, Decline, Filter, Measure
from .vocab import AHI_SEVERITY, BETTER_DIRECTION, METRIC_LABELS

#: Position-based indices and the position shares (% of TST) whose sleep time they are per hour of.
POSITION_INDEX_SHARES: dict[str, tuple[str, ...]] = {
    "supine_ahi_per_h": ("supine_pct",), "non_supine_ahi_per_h": ("left_pct", "right_pct", "prone_pct", "upright_pct")}
#: Minutes of sleep in a position under which an index per hour of it is too noisy to rely on (as for a stage).
MIN_POSITION_FOR_INDEX_MIN = 30.0


def position_minutes(metrics: Mapping[str, Any], column: str) -> float | None:
    """Minutes of sleep in the position a whole-night position index (``supine_ahi_per_h``) is per hour of, from a
    night's stored shares and TST; None for any other column or when they are missing."""
    shares = POSITION_INDEX_SHARES.get(column)
    tst = metrics.get("tst_min")
    vals = [metrics.get(c) for c in shares or ()]
    ok = [float(v) for v in vals if isinstance(v, (int, float)) and math.isfinite(float(v))]
    if not shares or not ok or not isinstance(tst, (int, float)) or not math.isfinite(float(tst)):
        return None
    return sum(ok) / 100.0 * float(tst)


def position_caution(label: str, minutes: float | None) -> str | None:
    """ "supine AHI rests on only 11.5 min ..." when a position index comes from little sleep in that position."""
    if minutes is None or minutes >= MIN_POSITION_FOR_INDEX_MIN:
        return None
    return (f"{label.split(' (')[0]} rests on only {minutes:.1f} min of sleep in that position, under the "
            f"{MIN_POSITION_FOR_INDEX_MIN:g} min an index needs to be relied on (a single event there is "
            f"{60.0 / max(minutes, 0.5):.1f}/h)")

def positional_reading(supine_ahi: float | None, non_supine_ahi: float | None, ahi: float | None = None) -> str | None:
    """Whether a night's AHI is positional by the usual rule (Cartwright 1984: supine AHI at least twice the
    non-supine AHI, in a night with sleep apnea: AHI of 5/h or more); None unless both indices are known."""
    if not all(isinstance(v, (int, float)) and math.isfinite(float(v)) for v in (supine_ahi, non_supine_ahi)):
        return None
    sup, non = float(supine_ahi), float(non_supine_ahi)
    if non == 0:
        ratio_text = "the non-supine AHI is 0" + (" and so is the supine one" if sup == 0 else "")
        meets = sup > 0
    else:
        ratio_text = f"the supine AHI is {sup / non:.2f} × the non-supine AHI"
        meets = sup >= 2 * non
    if isinstance(ahi, (int, float)) and math.isfinite(float(ahi)) and float(ahi) < 5:
        return (f"Positional sleep apnea? **No**: the whole-night AHI is {float(ahi):.1f}/h, under the 5/h of sleep "
                f"apnea, so there is none to call positional ({ratio_text}).")
    return (f"Positional by the usual rule (supine AHI at least twice the non-supine AHI, Cartwright 1984)? "
            f"**{'Yes' if meets else 'No'}**: {ratio_text}.")


def central_reading(ahi: float | None, cai: float | None, asked: bool = False) -> str | None:
    """A line when central apneas make up most of a night's AHI (ICSD-3 central sleep apnea: more than half of the
    apneas and hypopneas central, a central apnea index of at least 5/h), so that an AHI is not read as obstructive
    sleep apnea by default; with ``asked`` ("is it central sleep apnea?") a line either way. None otherwise or when
    either index is unknown."""
    if not all(isinstance(v, (int, float)) and math.isfinite(float(v)) for v in (ahi, cai)) or float(ahi) <= 0:
        return None
    share = float(cai) / float(ahi)
    if share <= 0.5 or float(cai) < 5:
        if not asked:
            return None
        return (f"**Not mostly central:** central apneas are {100 * share:.0f} % of the AHI's events (central apnea "
                f"index {float(cai):.1f} of {float(ahi):.1f} events/h); the usual rule for central sleep apnea asks for "
                "more than half of the events central and a central index of at least 5/h.")
    return (f"**Mostly central:** central apneas are {100 * share:.0f} % of the AHI's events (central apnea index "
            f"{float(cai):.1f} of {float(ahi):.1f} events/h). By the usual rule (more than half of the events central, "
            "a central index of at least 5/h) this reads as central, not obstructive, sleep apnea; the diagnosis is "
            "a physician's.")


#: Scored event kind -> its per-hour index among the night metrics.
EVENT_INDEX = {"apnea": "apnea_index_per_h", "arousal": "arousal_index_per_h", "hypopnea": "hypopnea_index_per_h", "obstructive_apnea": "oai_per_h",
               "central_apnea": "cai_per_h", "oxygen_desaturation": "odi_per_h",
               "limb_movement": "limb_movement_index_per_h"}

_SEVERITY = (r"\b(mild|moderate|severe)(?:[- ](?:to|or)[- ](moderate|severe))?\s+(?:osa|obstructive sleep apn\w*|"
             r"sleep apn\w*|apn\w*)\b")
_BY_AHI = r"\b(by|according to|based on|per|using|defined by)( the| their)? (ahi|apn\w*[- ]hypopn\w* index)\b|\bahi[- ](defined|based)\b"


def ahi_severity(t: str, filters: list[Filter]) -> list[Filter]:
    """ "severe OSA by AHI" (or "severe sleep apnea" where no phenotype carries the words): the AASM AHI range
    (mild 5–15, moderate 15–30, severe ≥ 30 events/h) instead of a phenotype label; "a normal AHI": below 5."""
    kept = [f for f in filters if f.field not in ("phenotype", "ahi_per_h")]
    if re.search(r"\bnormal ahi\b|\bahi (is |was )?(in the )?normal\b|\b(without|no) (osa|sleep apn\w*)\b", t):
        return [*kept, Filter("ahi_per_h", "<", AHI_SEVERITY["mild"][0])]  # AASM: below 5 events/h
    sev = re.search(_SEVERITY, t)
    if re.search(r"\b(most|least) severe\b", t):
        return filters  # "the most severe sleep apnea": a ranking by AHI, not a range
    if not sev or not (re.search(_BY_AHI, t) or not any(f.field == "phenotype" for f in filters)):
        return filters  # "severe OSA patients" in a cohort with that phenotype label: the label
    lo = AHI_SEVERITY[sev.group(1)][0]
    hi = AHI_SEVERITY[sev.group(2) or sev.group(1)][1]
    return [*kept, Filter("ahi_per_h", ">=", lo), *([Filter("ahi_per_h", "<", hi)] if hi is not None else [])]


def worst_or_best(t: str, ask: str | None, measures: list[Measure]) -> tuple[str | None, Decline | None]:
    """ "worst" / "best" turned into the highest or the lowest value by the measure's clinical direction
    (:data:`BETTER_DIRECTION`: the worst sleep efficiency is the lowest, the worst AHI the highest)."""
    m = re.search(r"\b(worst|poorest|best)\b", t)
    if not m or not measures or ask not in (None, "argmax", "argmin", "aggregate"):
        return ask, None
    first = measures[0]
    direction = -1 if first.kind in ("event_count", *DURATION_KINDS) else BETTER_DIRECTION.get(first.name)
    if direction is None:
        label = METRIC_LABELS.get(first.name, (first.name.replace("_", " "), ""))[0]
        return ask, Decline(f"\"{m.group(1)}\" has no clinical direction for {label}: neither a higher nor a lower "
                            "value is better by itself.", label, f"which night has the highest {label}?")
    return ("argmax" if (direction > 0) == (m.group(1) == "best") else "argmin"), None


#: What a reference range describes, said once beside every judgement.
REFERENCE_NOTE = ("Reference ranges describe adults in general; whether a value is normal for this patient (age, "
                  "symptoms, a first night in a laboratory) is a physician's judgement.")


def reference_reading(column: str, value: float | None, *, lower_bound: bool = False, age: float | None = None,
                      tst_min: float | None = None, recording: str = "this night") -> str:
    """One night's value of ``column`` against the adult reference where an accepted one exists ("is that normal?"),
    or why there is none to apply.

    Parameters
    ----------
    column : a night metric (``ahi_per_h``, ``sleep_efficiency_pct`` ...).
    value : its value; None or NaN when not available (then nothing is judged).
    lower_bound : the value is a lower bound (an AHI with arousals unscored), so only "at least" can be said.
    age : the subject's age in years; under 18 the adult ranges are not applied.
    tst_min : total sleep time, which grades an AHI only from enough sleep (``ahi_severity``).
    recording : the night's name, for the question suggested where no reference applies.
    """
    label = METRIC_LABELS.get(column, (column.replace("_", " "), ""))[0]
    if value is None or not math.isfinite(float(value)):
        return f"{label[0].upper() + label[1:]} is not available for this night, so it cannot be judged against a reference."
    v = float(value)
    if age is not None and math.isfinite(float(age)) and float(age) < 18:
        return (f"The reference ranges I apply are for adults and this subject is {float(age):g} y: children are judged "
                "by other criteria (an AHI above 1/h is already abnormal in a child), so I do not judge it.")
    if column == "ahi_per_h":
        grade = ahi_grade(v, tst_min)
        if grade.startswith("not graded"):
            return f"The AHI is {grade}."
        if lower_bound and v < 30:
            grade = "unknown: it could be higher" if grade == "normal" else f"at least {grade}"
            return (f"Against the AASM adult ranges (< 5 normal, 5–15 mild, 15–30 moderate, ≥ 30 severe sleep apnea) this "
                    f"AHI of {v:.1f}/h is a lower bound (arousals were not scored), so the severity is {grade}.")
        return (f"Against the AASM adult ranges (< 5 normal, 5–15 mild, 15–30 moderate, ≥ 30 severe sleep apnea) an "
                f"AHI of {v:.1f}/h is {grade}.")
    if column == "sleep_efficiency_pct":
        side = "at or above" if v >= 85 else "below"
        return (f"A sleep efficiency of {v:.1f} % is {side} the 85 % usually taken as the lower limit of normal in adults "
                "(it falls with age, and a first night in a laboratory lowers it).")
    if column in ("sleep_latency_min", "waso_min"):
        what = "sleep-onset" if column == "sleep_latency_min" else "sleep-maintenance"
        side = "at or under" if v <= 30 else "over"
        extra = " WASO here runs from sleep onset to the end of the recording." if column == "waso_min" else ""
        return (f"{label[0].upper() + label[1:]} of {v:.1f} min is {side} the 30 min usually taken as the limit of "
                f"normal (longer is the quantitative criterion of {what} insomnia in research use, Lichstein et al. "
                f"2003).{extra}")
    if column in ("ahi_rem_per_h", "ahi_nrem_per_h"):  # read together, as REM-related OSA, beside the answer
        return ""
    if column == "rem_latency_min":
        if v <= 15:
            return (f"A REM latency of {v:.1f} min from sleep onset is a sleep-onset REM period (≤ 15 min, ICSD-3): a "
                    "finding read with the clinical picture (narcolepsy, but also sleep deprivation, depression, "
                    "withdrawal of REM-suppressing drugs, sleep apnea).")
        return (f"A REM latency of {v:.1f} min from sleep onset is not a sleep-onset REM period (≤ 15 min, ICSD-3); REM "
                "latency has no single upper limit (typically about 70–120 min in adults, longer with "
                "REM-suppressing drugs or a disturbed night).")
    return no_reference([label], recording)


#: How the statement that no reference applies begins (answers gather several into one).
NO_REFERENCE = "There is no accepted normal range"


def no_reference(labels: list[str], recording: str = "this night") -> str:
    """That no accepted adult range applies to these measures, and what can be given instead."""
    named = ", ".join(labels[:-1]) + (" or " if len(labels) > 1 else "") + labels[-1]
    return (f"{NO_REFERENCE} for {named} that I can apply: it depends on age, and the criteria differ between "
            f"guidelines and laboratories. Its place among this cohort's nights is what I can give (\"how does the "
            f"{labels[0]} of {recording} compare with the cohort?\").")
