"""Nights compared by group and against age or BMI, for :func:`sleeplm.agent.executor.run_query`: Mann-Whitney U
(two groups) or Kruskal-Wallis H (more), Spearman's rank correlation for a trend, each with its figure."""

from __future__ import annotations

from typing import Any

import pandas as pd
from scipy import stats as sps

from . import lookup, plots
from .context import ToolContext
from .lookup import finite
from .measure_values import Frames, decline
from .provenance import provenance_note
from .query import GROUPINGS, Query
from .vocab import METRIC_LABELS, metric_label

#: Below this many nights in a group, a comparison says its test has little power.
SMALL_GROUP = 5


def groups_of(fr: Frames, by: str, nights: list[str], pooled: dict[str, list[str]] | None = None,
              cut: float | None = None) -> pd.Series:
    """recording -> its group (sex, phenotype, site, age band, ...) for these nights; with ``pooled`` (label ->
    values of ``by``), the label of the pooled group its value is in (NaN when in none); with ``cut`` (``by`` age or
    bmi), "age < 60" or "age ≥ 60" (NaN without the attribute)."""
    if cut is not None:
        if by not in ("age", "bmi") and by not in METRIC_LABELS or by not in fr.nights.columns:
            raise decline(f"a cut at a value makes groups of age, bmi or a night metric, not of {by!r}.")
        x = pd.to_numeric(fr.nights.loc[nights, by], errors="coerce")
        name = METRIC_LABELS[by][0] if by in METRIC_LABELS else by
        below, above = f"{name} < {cut:g}", f"{name} ≥ {cut:g}"
        return x.map(lambda v: None if pd.isna(v) else below if v < cut else above)
    if by not in GROUPINGS or by not in fr.nights.columns:
        raise decline(f"cannot group by {by!r}; groupings: {', '.join(GROUPINGS)}.")
    g = fr.nights.loc[nights, by]
    if pooled:
        label = {str(v): name for name, values in pooled.items() for v in values}
        g = g.map(lambda v: label.get(str(v)) if pd.notna(v) else None)
    return g


def compare_groups(ctx: ToolContext, fr: Frames, q: Query, vals: pd.Series, base: dict[str, Any]) -> dict[str, Any]:
    """``base`` with the measure's values ``vals`` compared across the groups of ``q.group_by`` (default phenotype)."""
    by = q.group_by or "phenotype"
    g = groups_of(fr, by, list(vals.index), q.pooled, q.cut)
    x = pd.to_numeric(vals, errors="coerce")
    groups = []
    samples = []
    for name in sorted(g.dropna().unique(), key=lambda v: (str(v).replace("≥", ">"), str(v))):
        members = x[(g == name).to_numpy()]
        xs = members.dropna()
        groups.append({"group": str(name), "n": len(members), "n_with_value": len(xs),
                       "without_value": sorted(members.index[members.isna()]),
                       "mean": finite(xs.mean()) if len(xs) else None,
                       "median": finite(xs.median()) if len(xs) else None,
                       "nights": sorted(x.index[(g == name).to_numpy()])})
        if len(xs):
            samples.append(xs.to_numpy())
    test = None
    if len(samples) >= 2 and all(len(s) >= 1 for s in samples) and sum(len(s) for s in samples) > len(samples):
        if len(samples) == 2:
            res = sps.mannwhitneyu(samples[0], samples[1], alternative="two-sided")
            test = {"name": "Mann-Whitney U", "statistic": float(res.statistic), "p": finite(res.pvalue)}
        else:
            try:
                res = sps.kruskal(*samples)
                test = {"name": "Kruskal-Wallis H", "statistic": finite(res.statistic), "p": finite(res.pvalue)}
            except ValueError:  # every value identical
                test = None
    diff = None
    if len(groups) == 2 and groups[0]["mean"] is not None and groups[1]["mean"] is not None:
        diff = groups[1]["mean"] - groups[0]["mean"]
    small = [gr["group"] for gr in groups if gr["n_with_value"] < SMALL_GROUP]
    if samples:
        base["figures"] = [str(plots.group_strip(
            ctx.figure_path("compare", q.measures[0].name, by),
            [(gr["group"], x[gr["nights"]].dropna().tolist()) for gr in groups], base["label"],
            f"{base['label']} by {METRIC_LABELS[by][0] if by in METRIC_LABELS else by}", cache=ctx.figure_cache))]
    grouped = [r for gr in groups for r in gr["nights"]]
    base["provenance"] = provenance_note(fr, q.measures, grouped)  # nights outside every group are not in the answer
    by_label = METRIC_LABELS[by][0] if by in METRIC_LABELS else by
    base.update({"by": by, "by_label": by_label,
                 "groups": lookup.jsonable(groups), "difference": diff, "test": test, "pooled": q.pooled, "cut": q.cut,
                 "small_groups": small, "ungrouped": [r for r in g.index if pd.isna(g[r])],
                 "summary": f"{base['label']} by {by_label}: {len(groups)} group(s)"
                            + (f", {test['name']} p = {test['p']:.3g}" if test and test["p"] is not None else "")})
    return base


def trend(fr: Frames, q: Query, vals: pd.Series, base: dict[str, Any]) -> dict[str, Any]:
    """``base`` with the Spearman correlation of ``vals`` against age (or BMI, or another night metric, when
    ``q.group_by`` names it: "is AHI correlated with the arousal index?")."""
    against = q.group_by if q.group_by in ("age", "bmi") or q.group_by in METRIC_LABELS else "age"
    if against not in fr.nights.columns:
        raise decline(f"no {metric_label(against)} is stored for these nights, so there is no trend against it.")
    a = pd.to_numeric(fr.nights.loc[vals.index, against], errors="coerce")
    x = pd.to_numeric(vals, errors="coerce")
    ok = a.notna() & x.notna()
    if ok.sum() < 3:
        raise decline(f"a trend needs at least 3 nights with both {against} and {base['label']}; "
                       f"this cohort has {int(ok.sum())}.")
    res = sps.spearmanr(a[ok], x[ok])
    base.update({"against": against, "against_label": metric_label(against) if against in METRIC_LABELS else against,
                 "n": int(ok.sum()), "rho": finite(res.statistic), "p": finite(res.pvalue),
                 "points": lookup.jsonable([{"recording": r, against: a[r], "value": x[r]} for r in x.index[ok]]),
                 "summary": f"{base['label']} vs {against}: Spearman rho {finite(res.statistic) or float('nan'):.2f}"})
    return base
