"""What scoring a value rests on, and who did it: the kinds of annotation (:data:`SCORING_KINDS`) a measure needs,
the nights where nobody scored them (the value is unknown, not zero), and the nights where a program did (the
answer says so). Used by :mod:`sleeplm.agent.executor` and :mod:`sleeplm.agent.windows`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sleeplm.encoder.vocab import SCORING_KINDS

from .query import DURATION_KINDS, Measure
from .vocab import EVENT_GROUPS, METRIC_SCORING_KIND

if TYPE_CHECKING:
    from .executor import Frames


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
