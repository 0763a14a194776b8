"""What scoring a value rests on, and who did it: the kinds of annotation (:data:`SCORING_KINDS`) a measure needs,
the nights where nobody scored them (the value is unknown, not zero), and the nights where a program did (the
answer says so). Used by :mod:`sleeplm.agent.executor` and :mod:`sleeplm.agent.windows`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sleeplm.encoder.vocab import SCORING_KINDS

from .query import DURATION_KINDS, Measure
from .vocab import EVENT_GROUPS, METRIC_SCORING_KIND

if TYPE_CHECKING:
    from .measure_values import Frames


def needed_kinds(m: Measure) -> list[str]:
    """The kinds of scoring (:data:`SCORING_KINDS`) a measure's value rests on: night metrics, minutes and indices
    per stage rest on the stages too (an index is per hour of scored sleep)."""
    if m.kind in ("event_count", *DURATION_KINDS):
        return [k for k, types in SCORING_KINDS.items()
                if types and set(EVENT_GROUPS.get(m.name, (m.name,))) & set(types)] + (["stages"] if m.stage else [])
    if m.kind in ("metric", "stage_index"):
        return ["stages"] + ([METRIC_SCORING_KIND[m.name]] if m.name in METRIC_SCORING_KIND else [])
    if m.kind == "stage_minutes":
        return ["stages"]
    return []


def scorings(fr: Frames, nights: list[str]) -> dict[str, dict[str, dict[str, str]]]:
    if "scoring" not in fr.nights.columns:
        return {}
    return {n: fr.nights.loc[n, "scoring"] or {} for n in nights if n in fr.nights.index}


def unscored_kinds(fr: Frames, m: Measure, nights: list[str]) -> list[str]:
    """The kinds of scoring this measure needs that nobody did in every one of these nights."""
    sc = scorings(fr, nights)
    return [k for k in needed_kinds(m) if sc and all(s.get(k, {}).get("state") == "not scored" for s in sc.values())]


def hypopneas_lower_bound(scoring: dict[str, Any]) -> bool:
    """Whether a night's hypopneas (and so its AHI) can only be a lower bound: its respiratory events were scored but
    its arousals were not, so hypopneas marked by an arousal alone could not be counted."""
    return (scoring.get("arousal") or {}).get("state") == "not scored" and \
        (scoring.get("respiratory") or {}).get("state") in ("manual", "automatic")


#: Night metrics that count hypopneas.
_HYPOPNEA_METRICS = ("ahi_per_h", "hypopnea_index_per_h", "n_hypopneas", "supine_ahi_per_h", "non_supine_ahi_per_h")


def lower_bound_note(fr: Frames, measures: list[Measure], nights: list[str]) -> str | None:
    """A sentence naming the nights whose hypopnea-based values are lower bounds (None when none is)."""
    if not any(m.name in ("hypopnea", "any") if m.kind in ("event_count", *DURATION_KINDS) else
               m.name in _HYPOPNEA_METRICS for m in measures):
        return None
    low = sorted(n for n, s in scorings(fr, nights).items() if hypopneas_lower_bound(s))
    if not low:
        return None
    shown = ", ".join(low[:8]) + (" …" if len(low) > 8 else "")
    return (f"A lower bound for {shown}: arousals were not scored there, so a hypopnea marked by an arousal alone "
            "(AASM: a ≥ 30 % drop in flow with a ≥ 3 % desaturation *or* an arousal) could not be counted; only "
            "hypopneas with a desaturation are.")


def provenance_note(fr: Frames, measures: list[Measure], nights: list[str]) -> str | None:
    """What the answer's values rest on that a reader must know: automatic scoring, lower bounds (None: nothing)."""
    notes = [n for n in (automatic_note(fr, measures, nights), lower_bound_note(fr, measures, nights)) if n]
    return "\n\n".join(notes) or None


def automatic_note(fr: Frames, measures: list[Measure], nights: list[str]) -> str | None:
    """A sentence naming the nights whose values rest on automatic scoring (None when a person scored all)."""
    kinds = {k for m in measures for k in needed_kinds(m)}
    auto = sorted({n for n, s in scorings(fr, nights).items() if any(s.get(k, {}).get("state") == "automatic"
                                                                       for k in kinds)})
    if not auto:
        return None
    shown = ", ".join(auto[:8]) + (" …" if len(auto) > 8 else "")
    return (f"Scored automatically, not by a person (see the night's description for the rule set): "
            f"{shown}.")
