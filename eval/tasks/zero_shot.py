"""Zero-shot sleep staging: each epoch gets the stage whose text prototype is most similar.

Prompts are data (``eval/prompts/staging.json``); the prediction is :func:`sleeplm.eval.staging.predict_stages`
(a stage's prototype is the normalised mean of its prompts' text embeddings) with the kept test-time
levers (:data:`sleeplm.eval.staging.DEFAULT_OPTIONS`). Scored on every epoch with a stage in
W/N1/N2/N3/REM (``limit_epochs`` samples them); levers that work within a night (centring, smoothing)
see every epoch of the sampled epochs' nights, in order. Baselines on the same epochs: uniform
chance, the majority class of those epochs, and YASA automatic staging (optional). The ``ablation``
table scores every lever of :data:`sleeplm.eval.staging.ABLATION` on the same epochs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..baselines import yasa_available, yasa_stages
from ..context import SCORED_STAGES, EvalContext, EvalError, TaskSkipped
from ..metrics import bootstrap_intervals, classification_scores, majority_scores, uniform_chance_scores
from ..plots import plot_confusion
from ..registry import TaskResult
from ..staging import ABLATION, DEFAULT_OPTIONS, PROMPTS, StagingOptions, load_prompts, predict_stages


@dataclass
class ZeroShotStaging:
    name: str = "zero_shot_staging"
    main_score: str = "macro_f1"
    description: str = "zero-shot staging from text prompts (accuracy, macro-F1, kappa) vs chance, majority, YASA"
    prompts_path: Path = PROMPTS
    yasa: bool = True
    plot_prefix: str = field(default="zero_shot")
    options: StagingOptions = DEFAULT_OPTIONS
    ablation: bool = True
    n_boot: int = 2000

    def run(self, ctx: EvalContext) -> TaskResult:
        epochs = ctx.sample(ctx.scored_epochs(), None, salt=1)
        if len(epochs) == 0:
            raise TaskSkipped("no epoch has a scored stage (W/N1/N2/N3/REM)")
        prompts = load_prompts(self.prompts_path)
        stages = [s for s in SCORED_STAGES if s in prompts]
        pred = self._predict(ctx, epochs, prompts, self.options)
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
        ypred = None
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
        self._intervals(res, epochs, truth, pred, ypred if "YASA" in baselines else None, ctx)
        if self.ablation:
            abl = []
            for name, (opts, path) in ABLATION.items():
                try:
                    pred_lever = self._predict(ctx, epochs, load_prompts(path), opts)
                except EvalError as exc:  # e.g. the input-scale lever needs the recordings, and they are gone
                    res.notes.append(f"lever '{name}' not measured: {exc}")
                    continue
                sc = classification_scores(truth, pred_lever, labels)
                abl.append({"lever": name, "prompts": Path(path).name, "accuracy": sc["accuracy"],
                            "macro_f1": sc["macro_f1"], "kappa": sc["kappa"],
                            **{f"F1 {s}": sc["per_class_f1"].get(s) for s in labels}})
            res.tables["ablation"] = abl
            res.scores["ablation"] = {r["lever"]: {k: r[k] for k in ("accuracy", "macro_f1", "kappa")} for r in abl}
        res.plots.insert(0, plot_confusion(model["confusion"], labels, ctx.out_dir / f"{self.plot_prefix}_confusion.png",
                                           f"zero-shot staging ({ctx.model_ref.name})"))
        return res

    def _intervals(self, res: TaskResult, epochs, truth: np.ndarray, pred: np.ndarray, yasa_pred: np.ndarray | None,
                   ctx: EvalContext) -> None:
        """95 % intervals by resampling recordings (:func:`~sleeplm.eval.metrics.bootstrap_intervals`): the model's
        and YASA's scores, and the model's paired difference from YASA on the same resamples."""
        model = f"SleepLM ({ctx.model_ref.name})"
        preds = {model: pred}
        if yasa_pred is not None:
            preds["YASA"] = yasa_pred
        try:
            iv = bootstrap_intervals(truth, preds, epochs["recording_id"].to_numpy(), list(SCORED_STAGES),
                                     reference="YASA" if "YASA" in preds else model, n_boot=self.n_boot,
                                     seed=ctx.seed)
        except ValueError as exc:  # one recording: nothing to resample
            res.notes.append(f"no intervals: {exc}")
            return
        res.scores["intervals"] = iv
        rows = [{"method": name, **{m: f"[{lo:.3f}, {hi:.3f}]" for m, (lo, hi) in ci.items()}}
                for name, ci in iv["methods"].items()]
        rows += [{"method": name, **{m: f"{d['estimate']:+.3f} [{d['interval'][0]:+.3f}, {d['interval'][1]:+.3f}]"
                                     for m, d in diff.items()}} for name, diff in iv["differences"].items()]
        res.tables["intervals"] = rows
        res.notes.append(f"intervals: {iv['level']:.0%} percentile bootstrap over the {iv['n_units']} recordings "
                         f"({iv['n_boot']} resamples; epochs of one night are not independent); a difference is "
                         "the model minus YASA on the same resamples. With few recordings the intervals are coarse.")

    def _predict(self, ctx: EvalContext, epochs, prompts: dict[str, list[str]], options: StagingOptions) -> np.ndarray:
        """Stages of ``epochs``; night-wise levers see every epoch of those nights, in epoch order."""
        if not options.needs_nights:
            return predict_stages(ctx.model, ctx.epoch_vectors(epochs["epoch_id"].to_numpy(), options.brain_scale),
                                  prompts, options=options)
        every = ctx.epochs()
        every = every[every["recording_id"].isin(epochs["recording_id"].unique())].sort_values(
            ["recording_id", "epoch_index"])
        pred = predict_stages(ctx.model, ctx.epoch_vectors(every["epoch_id"].to_numpy(), options.brain_scale), prompts,
                              nights=every["recording_id"].to_numpy(), options=options)
        by_id = dict(zip(every["epoch_id"].to_numpy().tolist(), pred))
        return np.asarray([by_id[int(i)] for i in epochs["epoch_id"]], dtype=object)

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
