"""Which groups a cohort question compares: a grouping it names ("by sex", "which site"), two sites it names, two
groups cut at one age or BMI ("over 60 vs under 60", "obese vs non-obese"), or the phenotypes; or a decline when it
names groups that cannot be formed. Used by :mod:`sleeplm.agent.planner`."""

from __future__ import annotations

import re
from typing import Any

from .conditions import COMPARE_SEX, threshold_cut
from .declines import understood
from .intents import Context
from .query import Decline, Measure
from .vocab import CohortNames, find_groups

#: A named night's value asked against the others ("sleep efficiency of sim-0002 compared with the cohort").
VERSUS_COHORT = (r"\b(compared? (with|to)|relative to|versus|vs\.?|against|than) (the )?(rest of the |whole )?"
                 r"(cohort|others|other nights|other recordings|rest|average|mean|median|group|dataset|"
                 r"all (?:the )?(?:other )?(?:nights|recordings))\b")


def groups_asked(t: str, p: Any, names: CohortNames, measures: list[Measure],
                 ctx: Context) -> tuple[str | None, float | None] | Decline:
    """The grouping a question (lower case ``t``, its parse ``p``) compares its ``measures`` by, and the value a
    numeric attribute is cut at (:attr:`~sleeplm.agent.query.Query.cut`); (None, None) for no groups."""
    groups = [g for g in find_groups(t) if g in ("sex", "phenotype", "site", "age_band")]
    group_by = groups[0] if groups else ("sex" if re.search(COMPARE_SEX, t) and re.search(
        r"\b(than|vs\.?|versus|compared?|differ|difference|between)\b", t) else None)
    which_group = re.search(r"\bwhich (site|phenotype|sex|gender|age band|age group|group|diagnosis|centre|center|"
                            r"clinic)s?\b", t)
    if which_group and not group_by and measures:  # "which site has the highest average AHI?": per group, not per night
        group_by = next(iter(find_groups("by " + which_group.group(1))), None)
    if not group_by and len(p.sites) >= 2 and measures and re.search(r"\b(compare\w*|differ\w*|between|vs\.?|versus)\b", t):
        group_by = "site"  # "compare AHI between shhs and ref": those sites
    cut = threshold_cut(t) if measures or re.search(r"\bhow many\b|\bnumber of\b", t) else None
    if cut and cut[0] not in ("age", "bmi") and not [m for m in measures if m.name != cut[0]]:
        cut = None  # "AHI above 15 and below 15" with nothing else measured: no comparison of another measure
    if cut:  # "subjects over 60 vs under 60", "obese vs non-obese", "AHI above 15 vs the rest": two groups at one value
        group_by = cut[0]
    if re.search(r"\bcompare\b|\bdiffer", t) and not group_by and len(p.recordings) < 2 and \
            not ((p.recordings or (p.this_night and ctx.recording)) and re.search(VERSUS_COHORT, t)):
        # "sim-0002 (or its AHI) compared to the cohort": the night against the others, no groups
        named = set(p.phenotypes) | {ph for ph in names.phenotypes if re.search(rf"\b{re.escape(ph.split('_')[0])}\b", t)}
        if measures and re.search(r"\b(vs\.?|versus|between|against|non[- ]?\w+)\b", t) and len(named) < 2:
            return Decline("I understood a comparison between two groups, but not groups I can form: I compare "
                           "nights grouped by sex, phenotype, site or age band, or two groups cut at one age or BMI "
                           "(\"over 60 vs under 60\", \"obese vs non-obese\").", understood(t, names),
                           "compare AHI by age band")
        group_by = "phenotype" if measures else None
    if not group_by and (p.phenotypes or re.search(r"\b(osa|obstructive sleep apn\w*) (patients|subjects|group)\b", t)) \
            and measures and re.search(
            r"\b(do|does|are|is|have)\b.*\b(longer|shorter|higher|lower|more|less|worse|better|greater)\b", t):
        group_by = "phenotype"  # "do the insomnia patients have longer sleep latency?": against the others
    return group_by, (cut[1] if cut else None)
