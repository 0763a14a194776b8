"""REM-related obstructive sleep apnea across nights: the rule applied to each night's stored indices.

One night's reading lives with ``describe_night`` (:func:`sleeplm.encoder.captions.night.rem_related_reading`);
this tool applies the same rule (:func:`~sleeplm.encoder.captions.night.rem_related`) to every night of the cohort or
to named nights, and says for each night it cannot judge why: respiratory events not scored, sleep not staged, no REM.
"""

from __future__ import annotations

import math
from typing import Any

from sleeplm.encoder.captions.night import MIN_REM_FOR_REM_RELATED_MIN, rem_related

from .context import ToolContext
from .lookup import finite
from .provenance import hypopneas_lower_bound


def _night_row(r: dict[str, Any]) -> dict[str, Any]:
    scoring = r.get("scoring") or {}
    state = {k: (v or {}).get("state") for k, v in scoring.items()}
    staged = state.get("stages") != "not scored"
    tst, rem_pct = finite(r.get("tst_min")), finite(r.get("rem_pct"))
    rem_min = tst * rem_pct / 100.0 if staged and tst is not None and rem_pct is not None else None
    ahi, rem_ahi, nrem_ahi = (finite(r.get(k)) for k in ("ahi_per_h", "ahi_rem_per_h", "ahi_nrem_per_h"))
    row = {"recording": r["recording"], "ahi_per_h": ahi, "ahi_rem_per_h": rem_ahi, "ahi_nrem_per_h": nrem_ahi,
           "rem_min": None if rem_min is None else round(rem_min, 1), "ratio": None,
           "usual": None, "strict": None, "why": "",
           "ahi_lower_bound": ahi is not None and state.get("respiratory") != "not scored"
                              and hypopneas_lower_bound(scoring),
           "automatic": [k for k in ("stages", "respiratory") if state.get(k) == "automatic"]}
    if state.get("respiratory") == "not scored":
        reason = (scoring.get("respiratory") or {}).get("reason")
        row["why"] = "respiratory events were not scored" + (f" ({reason})" if reason else "")
    elif not staged:
        row["why"] = "sleep stages were not scored, so there is no REM or NREM AHI"
    else:
        v = rem_related(ahi, rem_ahi, nrem_ahi, rem_min)
        row.update(usual=v.usual, strict=v.strict, why=v.why,
                   ratio=None if v.ratio is None else (v.ratio if math.isfinite(v.ratio) else "inf"))
    return row


def rem_related_nights(ctx: ToolContext, recordings: list[str] | None = None) -> dict[str, Any]:
    """Each night's AHI, REM AHI, NREM AHI and REM minutes, and whether it fits REM-related OSA by the usual and by
    the stricter rule (unknown, with the reason, where it cannot be told)."""
    frame = ctx.cohort.nights_frame()
    if recordings:
        wanted = [ctx.night(r).recording for r in recordings]
        frame = frame[frame["recording"].isin(wanted)]
    rows = [_night_row(r) for r in frame.to_dict("records")]
    usual = [r["recording"] for r in rows if r["usual"]]
    strict = [r["recording"] for r in rows if r["strict"]]
    unknown = [r["recording"] for r in rows if r["usual"] is None]
    n = len(rows)
    scope = (f"{n} named night{'s' if n != 1 else ''}" if recordings else
             f"all {n} nights" if n != 1 else "the cohort's one night")
    return {
        "nights": rows, "scope": scope, "usual": usual, "strict": strict, "unknown": unknown,
        "rule": {"usual": "AHI >= 5 and REM AHI >= 2 x NREM AHI",
                 "strict": f"also NREM AHI < 15 and at least {MIN_REM_FOR_REM_RELATED_MIN:g} min of REM"},
        "figures": [], "focus": {},
        "summary": (f"REM-related OSA over {scope}: {len(usual)} by the usual rule, {len(strict)} by the stricter, "
                    f"{len(unknown)} cannot be assessed"),
    }
