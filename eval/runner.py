"""Batch evaluation: models × workspaces × tasks → one JSON per task, ``report.md`` and plots.

``run_eval`` is what ``sleeplm eval`` calls. Layout of ``out_dir``::

    report.md                      comparison table + one section per (workspace, model)
    summary.json                   main scores of every run
    <workspace>__<model>/<task>.json   scores, tables, config, model name + sha256, manifest, seed, time
    <workspace>__<model>/*.png     plots (confusion matrices, recall curves, localization timeline)

A model other than the workspace's own gets its epoch vectors recomputed from the recordings
(see :mod:`sleeplm.eval.context`); a missing recording then fails that task with a clear message.
"""

from __future__ import annotations

import json
import math
import re
import time
import traceback
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .context import EvalContext, EvalError, TaskSkipped
from .registry import TaskResult, get_task, list_tasks
from .report import write_report


@dataclass
class RunResult:
    """All tasks of one (workspace, model) pair."""

    workspace: str
    model: str
    model_sha256: str = ""
    vectors: str = ""
    run_dir: str = ""
    results: list[TaskResult] = field(default_factory=list)
    error: str | None = None  # the pair could not be opened

    def main_scores(self) -> dict[str, float | None]:
        return {r.task: (None if r.skipped else r.main_value) for r in self.results}


@dataclass
class EvalResults:
    """What :func:`run_eval` did: one :class:`RunResult` per (workspace, model), and the report."""

    runs: list[RunResult]
    out_dir: Path
    report: Path
    tasks: list[str]

    @property
    def ok(self) -> bool:
        return all(r.error is None and all(t.meta.get("error") is None for t in r.results) for r in self.runs)

    def comparison(self) -> list[dict[str, Any]]:
        """One row per run: workspace, model, each task's main score."""
        return [{"workspace": r.workspace, "model": r.model, **r.main_scores()} for r in self.runs]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-") or "x"


def _jsonable(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, float) and math.isnan(obj):
        return None
    return obj


def run_eval(workspaces: list[Path], models: list[str | None], tasks: list[str], out_dir: Path, seed: int = 0,
             limit_epochs: int | None = None, task_options: dict[str, dict[str, Any]] | None = None) -> EvalResults:
    """Evaluate every model on every workspace with the named tasks.

    Parameters
    ----------
    workspaces : workspace folders.
    models : model names or checkpoint paths; ``None`` = the model that built each workspace.
    tasks : task names (see :func:`sleeplm.eval.registry.list_tasks`); empty = all.
    out_dir : created; receives the JSON results, plots and ``report.md``.
    seed : seeds every sample, split and chance draw.
    limit_epochs : cap on the epochs of the epoch-level tasks (seeded sample): zero-shot staging's epochs,
        few-shot's test epochs, the retrieval pool, the captioning sample. Localization and night
        retrieval always use whole nights.
    task_options : task name -> fields of the task (e.g. ``{"captioning": {"n_per_track": 10}}``).

    Raises
    ------
    KeyError
        An unknown task name (before anything runs).
    """
    names = list(tasks) or list_tasks()
    task_options = task_options or {}
    instances = [get_task(n, **task_options.get(n, {})) for n in names]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    runs: list[RunResult] = []
    names_taken: dict[str, str] = {}  # model label -> sha256, so two different files named alike never share a folder
    for ws in workspaces:
        for model in models or [None]:
            runs.append(_run_pair(Path(ws), model, instances, out_dir, seed, limit_epochs, names_taken))
    report = write_report(runs, out_dir, names, seed=seed, limit_epochs=limit_epochs)
    summary = {"seed": seed, "limit_epochs": limit_epochs, "tasks": names,
               "runs": [{"workspace": r.workspace, "model": r.model, "model_sha256": r.model_sha256,
                         "vectors": r.vectors, "error": r.error, "main_scores": r.main_scores(),
                         "skipped": {t.task: t.skipped for t in r.results if t.skipped}} for r in runs]}
    (out_dir / "summary.json").write_text(json.dumps(_jsonable(summary), indent=2) + "\n")
    return EvalResults(runs, out_dir, report, names)


def model_label(name: str, sha256: str, taken: dict[str, str]) -> str:
    """``name``, or ``name@<sha256 prefix>`` when another model of this run (other weights) already has that name
    (e.g. ``a/w.safetensors`` and ``b/w.safetensors``); records the label in ``taken``."""
    label = name
    if taken.get(label, sha256) != sha256:
        label = f"{name}@{sha256[:8]}"
    taken[label] = sha256
    return label


def _run_pair(ws: Path, model: str | None, tasks: list, out_dir: Path, seed: int,
              limit_epochs: int | None, names_taken: dict[str, str] | None = None) -> RunResult:
    label = model or "(workspace model)"
    try:
        probe = EvalContext.open(ws, model, seed=seed, limit_epochs=limit_epochs)
    except EvalError as exc:
        return RunResult(str(ws), label, error=str(exc))
    label = model_label(probe.model_ref.name, probe.model_ref.sha256, {} if names_taken is None else names_taken)
    run_dir = out_dir / f"{_slug(ws.resolve().name)}__{_slug(label)}"
    run_dir.mkdir(parents=True, exist_ok=True)
    probe.out_dir = run_dir
    run = RunResult(str(ws), label, probe.model_ref.sha256, probe.vector_source, str(run_dir))
    meta = probe.describe()
    try:
        for task in tasks:
            t0 = time.perf_counter()
            started = datetime.now(timezone.utc).isoformat(timespec="seconds")
            try:
                result = task.run(probe)
            except TaskSkipped as exc:
                result = TaskResult(task.name, task.main_score, skipped=str(exc))
            except EvalError as exc:
                result = TaskResult(task.name, task.main_score, skipped=f"refused: {exc}")
                result.meta["error"] = str(exc)
            except Exception as exc:  # one task's bug must not lose the others' results
                result = TaskResult(task.name, task.main_score, skipped=f"error: {type(exc).__name__}: {exc}")
                result.meta["error"] = traceback.format_exc()
            result.meta.update(meta)
            result.meta.update({"task": task.name, "description": task.description, "started": started,
                                "seconds": round(time.perf_counter() - t0, 2)})
            run.results.append(result)
            (run_dir / f"{task.name}.json").write_text(json.dumps(_jsonable(result.to_dict()), indent=2) + "\n")
    finally:
        probe.close()
    return run
