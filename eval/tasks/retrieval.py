"""Cross-modal retrieval per caption track, both ways, on a pool of epochs.

The pool is a seeded sample of at most ``pool_size`` epochs (and ``limit_epochs``). For each track,
the pool's reference captions are deduplicated (identical captions, frequent for ``stage_event``,
cannot be told apart) and the epochs' signal vectors are scored against the distinct captions'
text vectors (cosine):

* signal→text: each epoch ranks the distinct captions; correct = its own caption;
* text→signal: each distinct caption ranks the pool's epochs; correct = any epoch with it.

Ties with wrong items count against the query. Chance = expected Recall@k of random scores
(signal→text: k / distinct captions; text→signal: from the number of epochs sharing each caption).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sleeplm.encoder.captions import TRACKS

from ..context import EvalContext, TaskSkipped
from ..metrics import chance_recall_at_k, recall_at_k, retrieval_ranks
from ..plots import plot_recall_curves
from ..registry import TaskResult

KS = (1, 5, 10)


@dataclass
class CrossModalRetrieval:
    name: str = "retrieval"
    main_score: str = "mean_recall@10"
    description: str = "signal↔text retrieval per track on a pool of epochs (Recall@1/5/10, median rank)"
    pool_size: int = 1000
    tracks: tuple[str, ...] = TRACKS

    def run(self, ctx: EvalContext) -> TaskResult:
        pool = ctx.sample(ctx.epochs(), self.pool_size, salt=2)
        if len(pool) < 2:
            raise TaskSkipped("fewer than 2 epochs")
        ids = pool["epoch_id"].to_numpy()
        sig = ctx.epoch_vectors(ids)
        res = TaskResult(self.name, self.main_score, config={"pool": int(len(ids)), "ks": list(KS),
                                                             "correct": "identical reference caption"})
        rows, curves, chance_curves, r10 = [], {}, {}, []
        for track in self.tracks:
            texts = ctx.captions(ids, track)
            have = np.array([bool(t) for t in texts])
            if have.sum() < 2:
                res.notes.append(f"{track}: no reference captions, skipped")
                continue
            t_ids = np.flatnonzero(have)
            distinct, groups = np.unique(np.array([texts[i] for i in t_ids], dtype=object), return_inverse=True)
            txt = ctx.model.encode_text([str(t) for t in distinct])
            sim = sig[t_ids] @ txt.T  # [epochs, distinct captions]
            own = groups[:, None] == np.arange(len(distinct))[None, :]
            sizes = np.bincount(groups, minlength=len(distinct))
            setups = (("signal→text", sim, own, np.ones(len(t_ids)), len(distinct)),
                      ("text→signal", sim.T, own.T, sizes, len(t_ids)))
            for direction, s, correct, n_correct, n_gallery in setups:
                ranks = retrieval_ranks(s, correct)
                row = {"track": track, "direction": direction, **{f"R@{k}": recall_at_k(ranks, k) for k in KS},
                       "median rank": float(np.median(ranks)),
                       **{f"chance R@{k}": chance_recall_at_k(n_correct, n_gallery, k) for k in KS},
                       "epochs": int(len(t_ids)), "distinct captions": int(len(distinct))}
                rows.append(row)
                r10.append(row["R@10"])
                for k in KS:
                    res.scores[f"{track}/{direction}/R@{k}"] = row[f"R@{k}"]
                res.scores[f"{track}/{direction}/median_rank"] = row["median rank"]
                kgrid = np.unique(np.geomspace(1, n_gallery, 30).astype(int))
                curves[f"{track} {direction}"] = (kgrid, np.array([recall_at_k(ranks, k) for k in kgrid]))
                chance_curves[f"{track} {direction}"] = (kgrid, np.array([chance_recall_at_k(n_correct, n_gallery, k)
                                                                          for k in kgrid]))
        if not rows:
            raise TaskSkipped("no reference captions in the workspace")
        res.scores[self.main_score] = float(np.mean(r10))
        res.tables["cross-modal retrieval"] = rows
        res.plots.append(plot_recall_curves(curves, ctx.out_dir / "retrieval_recall.png",
                                            f"retrieval, pool {len(ids)} ({ctx.model_ref.name})", chance_curves))
        return res
