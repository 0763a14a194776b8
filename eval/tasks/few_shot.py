"""Few-shot staging: logistic regression on frozen epoch embeddings, split by night.

For each seed the recordings with scored epochs are split in two (train nights ≠ test nights;
half each, at least one on each side); k epochs per stage are drawn from the train nights
(all of them when a stage has fewer), a logistic regression is fitted on their vectors and scored
on every scored epoch of the test nights (``limit_epochs`` caps those).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

from ..context import SCORED_STAGES, EvalContext, TaskSkipped
from ..metrics import classification_scores
from ..plots import plot_few_shot
from ..registry import TaskResult


@dataclass
class FewShotStaging:
    name: str = "few_shot_staging"
    main_score: str = "macro_f1@k10"
    description: str = "few-shot staging: logistic regression on frozen embeddings, k per class, split by night"
    ks: tuple[int, ...] = (1, 5, 10, 50)
    n_seeds: int = 5
    C: float = 1.0

    def run(self, ctx: EvalContext) -> TaskResult:
        epochs = ctx.scored_epochs()
        recs = np.sort(epochs["recording_id"].unique())
        if len(recs) < 2:
            raise TaskSkipped(f"needs at least 2 recordings with scored stages (train nights ≠ test nights); has {len(recs)}")
        vecs = ctx.epoch_vectors(epochs["epoch_id"].to_numpy())
        stages = epochs["stage"].to_numpy(dtype=object)
        rec_of = epochs["recording_id"].to_numpy()
        per_k: dict[int, list[dict]] = {k: [] for k in self.ks}
        for seed in range(self.n_seeds):
            rng = ctx.rng(100 + seed)
            order = rng.permutation(recs)
            n_train = max(1, min(len(recs) - 1, len(recs) // 2))
            train_mask = np.isin(rec_of, order[:n_train])
            test_idx = np.flatnonzero(~train_mask)
            if ctx.limit_epochs is not None and len(test_idx) > ctx.limit_epochs:
                test_idx = np.sort(rng.choice(test_idx, ctx.limit_epochs, replace=False))
            for k in self.ks:
                train_idx = []
                for s in SCORED_STAGES:
                    pool = np.flatnonzero(train_mask & (stages == s))
                    if len(pool):
                        train_idx.extend(rng.choice(pool, min(k, len(pool)), replace=False))
                train_idx = np.asarray(train_idx)
                classes = np.unique(stages[train_idx])
                if len(classes) < 2:
                    continue
                clf = LogisticRegression(C=self.C, max_iter=2000)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", ConvergenceWarning)
                    clf.fit(vecs[train_idx], stages[train_idx])
                pred = clf.predict(vecs[test_idx])
                r = classification_scores(stages[test_idx], pred, list(SCORED_STAGES))
                r["train_classes"] = [str(c) for c in classes]
                per_k[k].append(r)
        if not any(per_k.values()):
            raise TaskSkipped("the train nights never hold two different stages")
        res = TaskResult(self.name, self.main_score, config={"ks": list(self.ks), "n_seeds": self.n_seeds, "C": self.C,
                                                             "split": "by recording, half train / half test",
                                                             "n_recordings": int(len(recs))})
        rows, means, stds = [], [], []
        for k in self.ks:
            runs = per_k[k]
            if not runs:
                means.append(np.nan)
                stds.append(np.nan)
                continue
            agg = {m: (float(np.mean([r[m] for r in runs])), float(np.std([r[m] for r in runs])))
                   for m in ("accuracy", "macro_f1", "kappa")}
            for m, (mu, sd) in agg.items():
                res.scores[f"{m}@k{k}"] = mu
                res.scores[f"{m}_sd@k{k}"] = sd
            rows.append({"k per class": k, "seeds": len(runs), **{m: f"{mu:.3f} ± {sd:.3f}" for m, (mu, sd) in agg.items()},
                         "test epochs": int(np.mean([r["n"] for r in runs]))})
            means.append(agg["macro_f1"][0])
            stds.append(agg["macro_f1"][1])
        if self.main_score not in res.scores:  # k=10 absent: fall back to the largest k scored
            scored = [k for k in self.ks if per_k[k]]
            res.scores[self.main_score] = res.scores[f"macro_f1@k{max(scored)}"]
            res.notes.append(f"{self.main_score} is macro-F1 at k={max(scored)}")
        res.tables["few-shot staging (mean ± sd over seeds)"] = rows
        res.notes.append("a stage with fewer than k epochs in the train nights contributes all it has")
        res.plots.append(plot_few_shot(list(self.ks), np.array(means), np.array(stds), ctx.out_dir / "few_shot.png",
                                       f"few-shot staging ({ctx.model_ref.name})"))
        return res
