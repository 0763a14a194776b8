"""Zero-shot sleep staging: each epoch gets the stage whose text prototype is most similar.

Prompts are data (``eval/prompts/staging.json``); the prediction is :func:`sleeplm.eval.staging.predict_stages`
(a stage's prototype is the normalised mean of its prompts' text embeddings). Scored on
every epoch with a stage in W/N1/N2/N3/REM (``limit_epochs`` samples them). Baselines on the same
epochs: uniform chance, the majority class of those epochs, and YASA automatic staging (optional).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..baselines import yasa_available, yasa_stages
from ..context import SCORED_STAGES, EvalContext, TaskSkipped
from ..metrics import classification_scores, majority_scores, uniform_chance_scores
from ..plots import plot_confusion
from ..registry import TaskResult
from ..staging import PROMPTS, load_prompts, predict_stages


@dataclass
class ZeroShotStaging:
    name: str = "zero_shot_staging"
    main_score: str = "macro_f1"
    description: str = "zero-shot staging from text prompts (accuracy, macro-F1, kappa) vs chance, majority, YASA"
    prompts_path: Path = PROMPTS
    yasa: bool = True
    plot_prefix: str = field(default="zero_shot")

    def run(self, ctx: EvalContext) -> TaskResult:
        epochs = ctx.sample(ctx.scored_epochs(), None, salt=1)
        if len(epochs) == 0:
            raise TaskSkipped("no epoch has a scored stage (W/N1/N2/N3/REM)")
        prompts = load_prompts(self.prompts_path)
        stages = [s for s in SCORED_STAGES if s in prompts]
        pred = predict_stages(ctx.model, ctx.epoch_vectors(epochs["epoch_id"].to_numpy()), prompts)
        truth = epochs["stage"].to_numpy(dtype=object)
        labels = list(SCORED_STAGES)
        model = classification_scores(truth, pred, labels)
        res = TaskResult(self.name, self.main_score, config={"prompts": str(self.prompts_path), "stages": stages,
                                                             "n_epochs": int(len(epochs))})
        res.scores = {k: model[k] for k in ("accuracy", "macro_f1", "kappa", "per_class_f1", "n")}
        res.scores["confusion"] = {"labels": labels, "matrix": model["confusion"]}
        res.scores["stage_counts"] = {s: int((truth == s).sum()) for s in labels}
        baselines = {"chance (uniform)": uniform_chance_scores(truth, labels, seed=ctx.seed),
                     "majority class": majority_scores(truth, labels)}
        res.notes.append(f"majority class = {baselines['majority class']['majority_class']} (of the evaluated epochs)")
        if self.yasa and yasa_available():
            try:
                ypred = self._yasa(ctx, epochs)
                keep = ypred != "UNKNOWN"
                yres = classification_scores(truth[keep], ypred[keep], labels)
                yres["coverage"] = float(keep.mean())
                baselines["YASA"] = yres
                res.plots.append(plot_confusion(yres["confusion"], labels, ctx.out_dir / f"{self.plot_prefix}_confusion_yasa.png",
                                                "YASA confusion"))
            except Exception as exc:  # an optional baseline never fails the task
                res.notes.append(f"YASA baseline failed: {type(exc).__name__}: {exc}")
        elif self.yasa:
            res.notes.append("YASA baseline skipped: yasa is not installed (pip install yasa)")
        res.scores["baselines"] = {k: {m: v[m] for m in ("accuracy", "macro_f1", "kappa") if m in v} | (
            {"coverage": v["coverage"]} if "coverage" in v else {}) for k, v in baselines.items()}
        rows = [{"method": f"SleepLM ({ctx.model_ref.name})", "accuracy": model["accuracy"],
                 "macro_f1": model["macro_f1"], "kappa": model["kappa"],
                 **{f"F1 {s}": model["per_class_f1"].get(s) for s in labels}}]
        for k, v in baselines.items():
            rows.append({"method": k, "accuracy": v["accuracy"], "macro_f1": v["macro_f1"], "kappa": v["kappa"],
                         **{f"F1 {s}": v["per_class_f1"].get(s) for s in labels}})
        res.tables["staging"] = rows
        res.plots.insert(0, plot_confusion(model["confusion"], labels, ctx.out_dir / f"{self.plot_prefix}_confusion.png",
                                           f"zero-shot staging ({ctx.model_ref.name})"))
        return res

    def _yasa(self, ctx: EvalContext, epochs) -> np.ndarray:
        out = np.empty(len(epochs), dtype=object)
        pos = {eid: i for i, eid in enumerate(epochs["epoch_id"])}
        for rid, grp in epochs.groupby("recording_id"):
            path, n = ctx.recording_file(int(rid))
            if not Path(path).is_file():
                raise OSError(f"{path} is missing")
            pred = yasa_stages(path, int(n))
            for eid, k in zip(grp["epoch_id"], grp["epoch_index"]):
                out[pos[eid]] = pred[int(k)]
        return out
