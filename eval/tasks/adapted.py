"""Staging after adaptation on real scored recordings, each recording held out in turn.

This is **not** zero-shot on unseen data: the model is fine-tuned on the workspace's own scored epochs
(:func:`sleeplm.encoder.train.adapt.adapt_signal_tower`, settings from an adaptation recipe), and what is
measured is how well that carries to a recording the adaptation never saw:

* folds by recording: with up to ``max_folds`` recordings, leave one recording out; with more, the
  recordings are split into ``max_folds`` seeded groups. For each fold a fresh copy of the model is
  adapted on every scored epoch of the *other* recordings, then stages the held-out recording's epochs
  with the harness prompts (:func:`sleeplm.eval.staging.predict_stages`, ``eval/prompts/staging.json``);
* on the very same epochs: the unadapted model (same prompts), YASA (optional) and the majority class of
  the evaluated epochs (as ``zero_shot_staging`` reports it);
* scores pooled over every held-out epoch and per fold, the adapted model's fit on its own training
  epochs (how far it overfits), and the same prediction with only the prompts that are not a training
  text (the first prompt of each stage is word for word the stage's training text, so the adaptation
  has seen it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sleeplm.encoder.train.adapt import (
    AdaptRecipe,
    AdaptResult,
    adapt_signal_tower,
    channel_presence,
    config_dict,
    load_adapt_recipe,
    stage_texts,
)
from tqdm import tqdm

from ..baselines import yasa_available
from ..context import SCORED_STAGES, EvalContext, TaskSkipped
from ..metrics import classification_scores, majority_scores
from ..plots import plot_confusion
from ..registry import TaskResult
from ..staging import PROMPTS, load_prompts, predict_stages

STATEMENT = ("This is adaptation on real recordings with each scored recording held out: the model was fine-tuned on "
             "the scored epochs of the other recordings of this workspace and scored on the one it never saw. It is "
             "not zero-shot staging of unseen data in issue 15's sense.")
_SCORES = ("accuracy", "macro_f1", "kappa")


def fold_plan(recording_ids: np.ndarray, max_folds: int, rng: np.random.Generator) -> list[np.ndarray]:
    """The held-out recording ids of each fold: one recording per fold when there are at most
    ``max_folds`` recordings (sorted), else ``max_folds`` seeded groups of recordings."""
    recs = np.unique(np.asarray(recording_ids))
    if len(recs) <= max_folds:
        return [np.asarray([r]) for r in recs]
    return [np.sort(g) for g in np.array_split(rng.permutation(recs), max_folds)]


def unseen_prompts(prompts: dict[str, list[str]]) -> dict[str, list[str]]:
    """The prompts that are not the stage's training text (:func:`stage_texts`); a stage left with none
    keeps its prompts (and the result says so)."""
    trained = set(stage_texts().values())
    return {s: ([p for p in ps if p not in trained] or ps) for s, ps in prompts.items()}


def _short(scores: dict[str, Any]) -> dict[str, float]:
    return {k: scores[k] for k in _SCORES}


def adapt_on_workspace(ctx: EvalContext, recipe: AdaptRecipe, progress: bool = True) -> tuple[AdaptResult, dict[str, Any]]:
    """Adapt ``ctx.model`` on every scored epoch of the workspace (what ``sleeplm adapt`` writes out).

    Returns the :class:`AdaptResult` and a description of what it was adapted on (workspace, recordings,
    epochs per stage, channels, recipe and its sha256, the model it started from).
    """
    epochs = ctx.scored_epochs().sort_values(["recording_id", "epoch_index"])
    if epochs["stage"].nunique() < 2:
        raise TaskSkipped(f"{ctx.workspace}: adaptation needs scored epochs of at least two stages")
    x = ctx.signals(epochs["epoch_id"].to_numpy())
    result = adapt_signal_tower(ctx.model, x, epochs["stage"].to_numpy(dtype=object), channel_presence(x),
                                recipe.config, progress=progress, desc="adapt (all recordings)")
    ctx.drop_signals()
    card = {"adapted_on": {"workspace": str(Path(ctx.workspace).resolve()),
                           "recordings": sorted(epochs["recording"].unique().tolist()),
                           "n_epochs": len(epochs), "stage_counts": result.stage_counts,
                           "channels_seen": result.channels_seen},
            "started_from": {"name": ctx.model_ref.name, "sha256": ctx.model_ref.sha256},
            "recipe": {"name": recipe.name, "version": recipe.version, "file": str(recipe.source),
                       "sha256": recipe.sha256, "settings": config_dict(recipe.config)},
            "training_texts": result.texts, "trainable_parameters": result.trainable_parameters,
            "loss_first_last": [result.history[0]["loss"], result.history[-1]["loss"]]}
    return result, card


@dataclass
class AdaptedStaging:
    name: str = "adapted_staging"
    main_score: str = "macro_f1"
    description: str = ("staging after adaptation on the other recordings' scored epochs (each recording held out "
                        "in turn) vs the unadapted model, YASA and the majority class on the same epochs")
    recipe: str = "tiny-adapt-real"
    prompts_path: Path = PROMPTS
    max_folds: int = 10
    #: Refuse workspaces with more scored epochs than this (their signals are held in memory).
    max_epochs: int = 20000
    yasa: bool = True
    progress: bool = True
    plot_prefix: str = field(default="adapted")

    def run(self, ctx: EvalContext) -> TaskResult:
        epochs = ctx.sample(ctx.scored_epochs(), None, salt=1).sort_values(["recording_id", "epoch_index"])
        rec_of = epochs["recording_id"].to_numpy()
        if len(np.unique(rec_of)) < 2:
            raise TaskSkipped(f"needs at least 2 recordings with scored stages (one is held out); has {len(np.unique(rec_of))}")
        if len(epochs) > self.max_epochs:
            raise TaskSkipped(f"{len(epochs)} scored epochs exceed max_epochs={self.max_epochs} (signals are held in "
                              "memory); pass --limit-epochs")
        recipe = load_adapt_recipe(self.recipe)
        ids = epochs["epoch_id"].to_numpy()
        truth = epochs["stage"].to_numpy(dtype=object)
        names = dict(zip(epochs["recording_id"], epochs["recording"]))
        plan = fold_plan(rec_of, self.max_folds, ctx.rng(7))
        for held in plan:
            kinds = np.unique(truth[~np.isin(rec_of, held)])
            if len(kinds) < 2:
                raise TaskSkipped(f"holding out {[names[r] for r in held]} leaves training epochs of one stage only "
                                  f"({kinds.tolist()}): nothing to adapt on")
        x = ctx.signals(ids)
        mask = channel_presence(x)
        prompts = load_prompts(self.prompts_path)
        held_prompts = unseen_prompts(prompts)
        base = predict_stages(ctx.model, ctx.epoch_vectors(ids), prompts)
        pred = np.empty(len(ids), dtype=object)
        pred_unseen = np.empty(len(ids), dtype=object)
        folds = []
        for k, held in enumerate(tqdm(plan, desc="adapted_staging folds", disable=not self.progress)):
            test = np.isin(rec_of, held)
            train = ~test
            fit = adapt_signal_tower(ctx.model, x[train], truth[train], mask[train], recipe.config,
                                     progress=self.progress, desc=f"fold {k + 1}/{len(plan)}")
            vec_test = fit.model.encode_signal(x[test])
            pred[test] = predict_stages(fit.model, vec_test, prompts)
            pred_unseen[test] = predict_stages(fit.model, vec_test, held_prompts)
            train_fit = classification_scores(truth[train], predict_stages(fit.model, fit.model.encode_signal(x[train]),
                                                                           prompts), list(SCORED_STAGES))
            folds.append({
                "fold": k + 1, "held_out": [names[r] for r in held], "held_out_ids": [int(r) for r in held],
                # read from the epochs handed to the adaptation, not from the plan
                "train_recording_ids": sorted(int(r) for r in np.unique(rec_of[train])),
                "train_recordings": [names[r] for r in sorted(np.unique(rec_of[train]))],
                "n_train": int(train.sum()), "n_test": int(test.sum()), "train_stage_counts": fit.stage_counts,
                "channels_seen": fit.channels_seen, "loss_first": fit.history[0]["loss"],
                "loss_last": fit.history[-1]["loss"], "train_fit": _short(train_fit),
                "adapted": _short(classification_scores(truth[test], pred[test], list(SCORED_STAGES))),
                "unadapted": _short(classification_scores(truth[test], base[test], list(SCORED_STAGES)))})
            del fit
        ctx.drop_signals()
        labels = list(SCORED_STAGES)
        adapted = classification_scores(truth, pred, labels)
        res = TaskResult(self.name, self.main_score, config={
            "recipe": {"name": recipe.name, "version": recipe.version, "file": str(recipe.source),
                       "sha256": recipe.sha256, "settings": config_dict(recipe.config)},
            "prompts": str(self.prompts_path), "n_epochs": len(ids), "n_folds": len(plan),
            "folds": "leave one recording out" if all(len(h) == 1 for h in plan) else f"{len(plan)} groups of recordings",
            "training_texts": stage_texts()})
        res.scores = {k: adapted[k] for k in ("accuracy", "macro_f1", "kappa", "per_class_f1", "n")}
        res.scores["confusion"] = {"labels": labels, "matrix": adapted["confusion"]}
        res.scores["stage_counts"] = {s: int((truth == s).sum()) for s in labels}
        methods = {f"adapted ({recipe.name}), harness prompts": adapted,
                   f"adapted ({recipe.name}), prompts other than the training texts":
                       classification_scores(truth, pred_unseen, labels),
                   f"unadapted ({ctx.model_ref.name}), harness prompts": classification_scores(truth, base, labels),
                   "majority class (of the evaluated epochs)": majority_scores(truth, labels)}
        res.notes = [STATEMENT,
                     "The adaptation's training texts are the model's stage/event gist captions "
                     f"({'; '.join(stage_texts().values())}); the first harness prompt of each stage is the same "
                     "sentence, so the row 'prompts other than the training texts' scores with the other two only.",
                     f"majority class = {methods['majority class (of the evaluated epochs)']['majority_class']} "
                     "(the most frequent stage of the evaluated epochs themselves, an upper bound for a constant "
                     "guess)",
                     "A per-fold κ on one 30-min excerpt rests on about 60 epochs: read the pooled row."]
        if self.yasa and yasa_available():
            try:
                from .zero_shot import ZeroShotStaging

                ypred = ZeroShotStaging()._yasa(ctx, epochs)
                keep = ypred != "UNKNOWN"
                methods["YASA (same epochs)"] = classification_scores(truth[keep], ypred[keep], labels) | {
                    "coverage": float(keep.mean())}
                for f in folds:
                    m = np.isin(rec_of, f["held_out_ids"]) & keep
                    f["yasa"] = _short(classification_scores(truth[m], ypred[m], labels)) if m.any() else None
                res.plots.append(plot_confusion(methods["YASA (same epochs)"]["confusion"], labels,
                                                ctx.out_dir / f"{self.plot_prefix}_confusion_yasa.png", "YASA confusion"))
            except Exception as exc:  # an optional baseline never fails the task
                res.notes.append(f"YASA baseline failed: {type(exc).__name__}: {exc}")
        elif self.yasa:
            res.notes.append("YASA baseline skipped: yasa is not installed (pip install yasa)")
        res.scores["methods"] = {k: _short(v) | ({"coverage": v["coverage"]} if "coverage" in v else {})
                                 for k, v in methods.items()}
        res.scores["folds"] = folds
        res.tables["pooled over every held-out epoch"] = [
            {"method": k, **_short(v), **{f"F1 {s}": v["per_class_f1"].get(s) for s in labels}} for k, v in methods.items()]
        res.tables["per fold (accuracy / macro-F1 / κ)"] = [{
            "held out": ", ".join(f["held_out"]), "epochs": f["n_test"], "trained on": f["n_train"],
            "adapted": " / ".join(f"{f['adapted'][m]:.3f}" for m in _SCORES),
            "unadapted": " / ".join(f"{f['unadapted'][m]:.3f}" for m in _SCORES),
            "YASA": " / ".join(f"{f['yasa'][m]:.3f}" for m in _SCORES) if f.get("yasa") else "–",
            "fit on own training epochs": " / ".join(f"{f['train_fit'][m]:.3f}" for m in _SCORES),
            "loss first → last": f"{f['loss_first']:.3f} → {f['loss_last']:.3f}"} for f in folds]
        res.plots.insert(0, plot_confusion(adapted["confusion"], labels, ctx.out_dir / f"{self.plot_prefix}_confusion.png",
                                           f"adapted ({recipe.name}), each recording held out"))
        res.plots.insert(1, plot_confusion(methods[f"unadapted ({ctx.model_ref.name}), harness prompts"]["confusion"],
                                           labels, ctx.out_dir / f"{self.plot_prefix}_confusion_unadapted.png",
                                           f"unadapted ({ctx.model_ref.name}), same epochs"))
        return res


def write_adapted_model(workspace: Path, out: Path, recipe: str = "tiny-adapt-real", model: str | None = None,
                        progress: bool = True) -> tuple[Path, Path]:
    """Adapt a model on every scored epoch of ``workspace`` and write ``out`` (safetensors, fp32, with its
    config) and a card beside it: ``<out stem>.card.json`` and ``<out stem>.card.md``.

    ``model`` is the model to start from (default the workspace's own). The card says on what the weights
    were adapted, from which weights, by which recipe (its sha256), the weights' sha256, and that no
    out-of-distribution reference exists for them (a workspace ingested with them stores no OOD score).

    Returns
    -------
    (weights path, markdown card path)

    Raises
    ------
    EvalError, TaskSkipped, RecipeError
        No workspace, no two scored stages, or an unusable recipe; the message names it.
    """
    import hashlib
    import json

    from sleeplm.encoder.model.checkpoint import save_checkpoint

    from ..report import md_table

    rec = load_adapt_recipe(recipe)
    ctx = EvalContext.open(Path(workspace), model)
    try:
        result, card = adapt_on_workspace(ctx, rec, progress=progress)
    finally:
        ctx.close()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(result.model.model, out, result.model.config.to_dict())
    card["weights"] = {"file": str(out.resolve()), "sha256": hashlib.sha256(out.read_bytes()).hexdigest()}
    card["out_of_distribution"] = ("no reference asset for these weights: a workspace ingested with them stores no "
                                   "out-of-distribution score (NULL), never one against another model's reference")
    card["not_measured_here"] = ("how well the adapted model stages recordings it was not adapted on: run "
                                 "`sleeplm eval -w WORKSPACE --out FOLDER --tasks adapted_staging` (each recording "
                                 "held out in turn) on the same workspace")
    stem = out.with_suffix("")
    (stem.parent / f"{stem.name}.card.json").write_text(json.dumps(card, indent=1, default=str) + "\n")
    on = card["adapted_on"]
    md = [f"# {out.name}: {card['started_from']['name']} adapted on scored recordings\n",
          f"- weights sha256 `{card['weights']['sha256']}`",
          f"- started from {card['started_from']['name']} (sha256 `{card['started_from']['sha256']}`)",
          f"- recipe {rec.name} v{rec.version} (`{rec.source}`, sha256 `{rec.sha256}`)",
          f"- adapted on {on['n_epochs']} scored epochs of {len(on['recordings'])} recordings of `{on['workspace']}`: "
          + ", ".join(on["recordings"]),
          f"- channels recorded in those epochs: {', '.join(on['channels_seen'])}; other channels were never seen "
          "during adaptation",
          f"- training loss (stage cross-entropy + regulariser) {card['loss_first_last'][0]:.3f} → "
          f"{card['loss_first_last'][1]:.3f}; {card['trainable_parameters']:,} parameters trained, the text tower "
          "and caption decoder unchanged",
          f"- out of distribution: {card['out_of_distribution']}",
          f"- not measured here: {card['not_measured_here']}\n",
          "Scored epochs per stage:\n", md_table([on["stage_counts"]])]
    path = stem.parent / f"{stem.name}.card.md"
    path.write_text("\n".join(md) + "\n")
    return out, path


def forgetting(workspace: Path, val_dir: Path, recipes: list[str], weights_dir: Path, out_dir: Path) -> Path:
    """What adaptation costs on the training distribution: zero-shot staging of every clean epoch of a held-out
    simulated split (:func:`sleeplm.eval.transfer_ablation.simulated_staging`, harness prompts) by the workspace's
    own model and by that model adapted on *every* scored epoch of ``workspace`` with each recipe.

    Writes ``forgetting.json`` and ``forgetting.md`` into ``out_dir`` (the adapted weights and their cards into
    ``weights_dir``) and returns the markdown path.
    """
    import json

    from sleeplm.encoder.model import load_model

    from ..report import md_table
    from ..transfer_ablation import simulated_staging

    ctx = EvalContext.open(Path(workspace))
    base_ref = ctx.model_ref
    ctx.close()
    rows = [{"model": f"{base_ref.name} (unadapted)", "sha256": base_ref.sha256,
             **simulated_staging(base_ref.load(), Path(val_dir))}]
    for name in recipes:
        weights, _ = write_adapted_model(workspace, Path(weights_dir) / f"{load_adapt_recipe(name).name}.safetensors", name)
        card = json.loads(weights.with_name(f"{weights.stem}.card.json").read_text())
        rows.append({"model": f"adapted on every scored epoch of {Path(workspace).name} ({card['recipe']['name']})",
                     "sha256": card["weights"]["sha256"], "recipe_sha256": card["recipe"]["sha256"],
                     **simulated_staging(load_model(str(weights)), Path(val_dir))})
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "forgetting.json").write_text(json.dumps({"workspace": str(workspace), "val_dir": str(val_dir),
                                                         "rows": rows}, indent=1, default=str) + "\n")
    table = [{"model": r["model"], **{k: r[k] for k in _SCORES}, "epochs": r["n"],
              **{f"F1 {s}": r["per_class_f1"].get(s) for s in SCORED_STAGES}} for r in rows]
    md = out_dir / "forgetting.md"
    md.write_text("# Forgetting: held-out simulated staging before and after adaptation\n\n"
                  f"Every clean scored epoch of the held-out simulated split `{val_dir}` (never trained on), zero-shot "
                  "staging with the harness prompts. The adapted models were adapted on every scored epoch of "
                  f"`{workspace}`.\n\n" + md_table(table) + "\n")
    return md


def main() -> None:  # pragma: no cover - command-line helper
    import argparse

    ap = argparse.ArgumentParser(description="Forgetting of adaptation: held-out simulated staging before/after.")
    ap.add_argument("--workspace", type=Path, required=True, help="workspace with scored recordings to adapt on")
    ap.add_argument("--val", type=Path, required=True, help="held-out simulated split (<data root>/val)")
    ap.add_argument("--weights-dir", type=Path, required=True, help="where the adapted weights and cards go")
    ap.add_argument("--out", type=Path, required=True, help="folder for forgetting.json / forgetting.md")
    ap.add_argument("--recipe", action="append", required=True, help="adaptation recipe (repeatable)")
    a = ap.parse_args()
    print(forgetting(a.workspace, a.val, a.recipe, a.weights_dir, a.out))


if __name__ == "__main__":  # pragma: no cover
    main()
