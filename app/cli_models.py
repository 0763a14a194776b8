"""The model commands of ``sleeplm``: evaluate, train, adapt (registered on the app in :mod:`sleeplm.app.cli`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .cli_common import console, fail as _fail, table as _table


def evaluate(
    workspace: Annotated[list[Path], typer.Option("--workspace", "-w", help="workspace(s) to evaluate on")],
    out: Annotated[Path, typer.Option(help="output folder: report.md, summary.json, one JSON per task")],
    model: Annotated[list[str] | None, typer.Option(help="model(s); default each workspace's own")] = None,
    tasks: Annotated[str, typer.Option(help="comma-separated task names; empty = all but adapted_staging (named only: it trains per fold)")] = "",
    seed: Annotated[int, typer.Option()] = 0,
    limit_epochs: Annotated[int | None, typer.Option(help="cap epochs per task (quick runs)")] = None,
) -> None:
    """Batch evaluation: tasks × models × workspaces, with baselines, a report and plots."""
    from sleeplm.eval import list_tasks, run_eval

    names = [t.strip() for t in tasks.split(",") if t.strip()]
    unknown = sorted(set(names) - set(list_tasks(opt_in=True)))
    if unknown:
        _fail(ValueError(f"unknown tasks {unknown}; available: {', '.join(list_tasks(opt_in=True))}"))
    res = run_eval(list(workspace), list(model) if model else [None], names, out, seed, limit_epochs)
    rows = res.comparison()
    if rows:
        cols = list(dict.fromkeys(k for r in rows for k in r))
        _table(cols, [[r.get(c) for c in cols] for r in rows], title="main score per task")
    console.print(f"report: {out / 'report.md'}")
    if not res.ok:
        raise typer.Exit(1)


def train(
    out: Annotated[Path, typer.Option(help="run folder: one folder per stage, model.safetensors, report.md")],
    recipe: Annotated[str, typer.Option(help="recipe name (encoder/train/recipes/NAME.json) or a recipe JSON file")] = "sleeplm-tiny",
    data_root: Annotated[Path | None, typer.Option(help="dataset cache folder (default beside --out)")] = None,
    resume: Annotated[bool, typer.Option(help="continue the run in --out (finished stages are kept)")] = False,
    report: Annotated[bool, typer.Option(help="held-out report with the evaluation harness's metrics")] = True,
    eval_workspace: Annotated[list[Path] | None, typer.Option(help="also run `sleeplm eval` on these workspaces with the new weights")] = None,
    eval_tasks: Annotated[str, typer.Option(help="tasks for --eval-workspace (comma-separated)")] = "zero_shot_staging,few_shot_staging",
    device: Annotated[str, typer.Option(help="cpu (fp32) or cuda (bf16 autocast)")] = "cpu",
) -> None:
    """Train a SleepLM model on simulated nights by a recipe (default: the bundled sleeplm-tiny's).

    `sleeplm train --recipe sleeplm-tiny --out runs/tiny` repeats the bundled weights' three stages.
    """
    from sleeplm.encoder.train.recipe import RecipeError, load_recipe, train_recipe

    names = [t.strip() for t in eval_tasks.split(",") if t.strip()]
    if eval_workspace:
        from sleeplm.eval import list_tasks

        unknown = sorted(set(names) - set(list_tasks()))
        if unknown:
            _fail(ValueError(f"unknown tasks {unknown}; available: {', '.join(list_tasks())}"))
    try:
        from sleeplm.encoder.train.loop import training_device

        training_device(device)
        run = train_recipe(load_recipe(recipe), out, data_root=data_root, resume=resume, device=device)
    except (RecipeError, ValueError) as exc:
        _fail(exc)
    console.print(f"weights: {run.weights}")
    if report:
        from sleeplm.eval.training_report import write_training_report

        console.print(f"report: {write_training_report(run.weights, run.data_root / 'val', out)}")
    if eval_workspace:
        from sleeplm.eval import run_eval

        res = run_eval(list(eval_workspace), [str(run.weights)], names, out / "eval")
        console.print(f"evaluation: {res.report}")


def adapt(
    workspace: Annotated[Path, typer.Option("--workspace", "-w", help="workspace whose scored epochs adapt the model")],
    out: Annotated[Path, typer.Option(help="weights file to write (.safetensors); a card is written beside it")],
    recipe: Annotated[str, typer.Option(help="adaptation recipe name (encoder/train/recipes/NAME.json) or JSON file")] = "tiny-adapt-real",
    model: Annotated[str | None, typer.Option(help="model to start from; default the workspace's own")] = None,
) -> None:
    """Adapt the model's signal tower on every scored epoch of a workspace (your own scored nights).

    Ingest other nights with the result: `sleeplm ingest ... --model OUT`. Measure it first with
    `sleeplm eval -w WORKSPACE --out FOLDER --tasks adapted_staging` (each recording held out in turn).
    """
    from sleeplm.encoder.train.recipe import RecipeError
    from sleeplm.eval.context import EvalError, TaskSkipped
    from sleeplm.eval.tasks.adapted import write_adapted_model

    if out.suffix != ".safetensors":
        _fail(ValueError(f"{out}: --out must end in .safetensors"))
    try:
        weights, card = write_adapted_model(workspace, out, recipe, model)
    except (RecipeError, EvalError, TaskSkipped, ValueError) as exc:
        _fail(exc)
    console.print(f"weights: {weights}\ncard: {card}")
