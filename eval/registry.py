"""The task registry and the record a task returns.

A task is one small module under :mod:`sleeplm.eval.tasks` defining a class with

* ``name`` — the id used on the command line (``--tasks zero_shot_staging,retrieval``);
* ``main_score`` — the key of :attr:`TaskResult.scores` that summarises it, in [0, 1];
* ``description`` — one line for the report;
* ``run(ctx: EvalContext) -> TaskResult`` — raising :class:`~sleeplm.eval.context.TaskSkipped`
  with a reason when the workspace lacks what it needs.

Adding a task = writing that module and naming its class in :func:`task_classes`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from .context import EvalContext


@dataclass
class TaskResult:
    """What one task measured on one (workspace, model) pair.

    ``scores`` holds the task's numbers (``scores[main_score]`` the headline one), ``tables`` rows for
    the report (title -> list of row dicts), ``plots`` file names written into the context's
    ``out_dir``, ``config`` the parameters used, ``notes`` what a reader must know (tolerances,
    baselines skipped...). ``skipped`` is the reason when the task could not run.
    """

    task: str
    main_score: str
    scores: dict[str, Any] = field(default_factory=dict)
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    plots: list[str] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    skipped: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)  # model, workspace manifest, seed, time (set by the runner)

    @property
    def main_value(self) -> float | None:
        v = self.scores.get(self.main_score)
        return None if v is None else float(v)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Task(Protocol):
    name: str
    main_score: str
    description: str

    def run(self, ctx: EvalContext) -> TaskResult: ...


def task_classes() -> dict[str, type]:
    """Every task, by name, in report order."""
    from .tasks import adapted, captioning, few_shot, localization, night_retrieval, retrieval, zero_shot

    classes = (zero_shot.ZeroShotStaging, few_shot.FewShotStaging, retrieval.CrossModalRetrieval,
               captioning.Captioning, localization.EventLocalization, night_retrieval.NightRetrieval,
               adapted.AdaptedStaging)
    return {c.name: c for c in classes}


#: Tasks run only when named (``--tasks adapted_staging``), never by "all tasks": they train a model per fold.
OPT_IN: tuple[str, ...] = ("adapted_staging",)


def list_tasks(opt_in: bool = False) -> list[str]:
    """Task names, in report order: the ones "all tasks" runs, and with ``opt_in`` also those run only when named."""
    return [n for n in task_classes() if opt_in or n not in OPT_IN]


def get_task(name: str, **options: Any) -> Task:
    """An instance of task ``name`` (``options`` set its dataclass fields)."""
    classes = task_classes()
    if name not in classes:
        raise KeyError(f"unknown task {name!r}; known: {', '.join(classes)}")
    return classes[name](**options)
