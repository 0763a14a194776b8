"""Evaluation harness: tasks over a workspace and a model, JSON results, ``report.md`` with plots.

``run_eval(workspaces, models, tasks, out_dir)`` is the entry point (``sleeplm eval``);
``list_tasks()`` names the tasks.
"""

from .context import EvalContext, EvalError, TaskSkipped
from .registry import TaskResult, get_task, list_tasks
from .runner import EvalResults, RunResult, run_eval

__all__ = ["EvalContext", "EvalError", "EvalResults", "RunResult", "TaskResult", "TaskSkipped", "get_task",
           "list_tasks", "run_eval"]
