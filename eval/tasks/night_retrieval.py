"""Night retrieval: do a night's nearest nights (night vectors, cosine) share its labels?

Labels: phenotype (``subjects.phenotype``), AHI class from ``night_metrics.ahi_per_h`` (normal < 5,
mild < 15, moderate < 30, severe ≥ 30), age band (:data:`sleeplm.encoder.vocab.AGE_BANDS`). For each night with a label,
precision@k = share of its top-k other nights (among those with that label known) sharing it;
chance = expected share of a random other night, from the label distribution.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sleeplm.encoder.captions.night import ahi_severity
from sleeplm.encoder.vocab import age_band

from ..context import EvalContext, TaskSkipped
from ..metrics import same_label_chance
from ..registry import TaskResult


def ahi_class(ahi: float | None) -> str | None:
    """AASM adult severity of an AHI (:func:`~sleeplm.encoder.captions.night.ahi_severity`), None when unknown."""
    if ahi is None or not math.isfinite(float(ahi)):
        return None
    return ahi_severity(float(ahi))


def night_labels(ctx: EvalContext) -> pd.DataFrame:
    """recording_id -> phenotype, ahi_class, age_band (None where unknown)."""
    df = ctx.nights().sort_values("recording_id").reset_index(drop=True)
    df["ahi"] = df["ahi_per_h"] if "ahi_per_h" in df.columns else None
    return pd.DataFrame({"recording_id": df["recording_id"],
                         "phenotype": [p if isinstance(p, str) and p else None for p in df["phenotype"]],
                         "ahi_class": [ahi_class(None if pd.isna(a) else a) for a in df["ahi"]],
                         "age_band": [age_band(None if pd.isna(a) else a) for a in df["age"]]})


@dataclass
class NightRetrieval:
    name: str = "night_retrieval"
    main_score: str = "phenotype/precision@k"
    description: str = "night→night retrieval: share of top-k nights with the same phenotype / AHI class / age band"
    k: int = 5

    def run(self, ctx: EvalContext) -> TaskResult:
        rids, mat = ctx.night_vectors()
        if len(rids) < 2:
            raise TaskSkipped(f"needs at least 2 nights; has {len(rids)}")
        labels = night_labels(ctx).set_index("recording_id").reindex(rids)
        mat = mat / np.maximum(np.linalg.norm(mat, axis=1, keepdims=True), 1e-12)
        sim = mat @ mat.T
        np.fill_diagonal(sim, -np.inf)
        res = TaskResult(self.name, self.main_score, config={"k": self.k, "nights": int(len(rids)),
                                                             "vectors": ctx.vector_source})
        rows = []
        for label in ("phenotype", "ahi_class", "age_band"):
            lab = labels[label].to_numpy(dtype=object)
            known = np.array([v is not None for v in lab])
            if known.sum() < 2 or len(set(lab[known])) < 1:
                res.notes.append(f"{label}: known for {int(known.sum())} night(s), skipped")
                continue
            k = min(self.k, int(known.sum()) - 1)
            sub = sim[np.ix_(known, known)]
            l_known = lab[known]
            top = np.argsort(-sub, axis=1)[:, :k]
            prec = float(np.mean([(l_known[t] == l_known[i]).mean() for i, t in enumerate(top)]))
            chance = same_label_chance(l_known)
            rows.append({"label": label, "precision@k": prec, "chance": chance, "k": k, "nights": int(known.sum()),
                         "classes": int(len(set(l_known)))})
            res.scores[f"{label}/precision@k"] = prec
            res.scores[f"{label}/chance"] = chance
        if not rows:
            raise TaskSkipped("no night has a phenotype, AHI or age to compare")
        if self.main_score not in res.scores:
            res.scores[self.main_score] = None
            res.notes.append("no phenotype in this workspace: the main score is undefined")
        res.tables["night retrieval"] = rows
        return res
