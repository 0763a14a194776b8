"""``report.md``: a comparison table of main scores, then each (workspace, model) run task by task
(tables, baselines, notes, plots). Plots are PNG files beside the JSON results; links are relative."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .runner import RunResult


def fmt(v: Any) -> str:
    """A table cell: floats with 3 decimals, None/NaN as '–'."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, float):
        return f"{v:.3f}"
    if isinstance(v, (list, tuple)):
        return ", ".join(map(str, v))
    return str(v).replace("|", "\\|").replace("\n", " ")


def md_table(rows: Sequence[dict[str, Any]]) -> str:
    """A markdown table of row dicts (columns: union of keys, in first-seen order)."""
    if not rows:
        return "_(empty)_\n"
    cols: list[str] = []
    for r in rows:
        cols += [k for k in r if k not in cols]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    lines += ["| " + " | ".join(fmt(r.get(c)) for c in cols) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def write_report(runs: Sequence[RunResult], out_dir: Path, tasks: Sequence[str], seed: int,
                 limit_epochs: int | None) -> Path:
    """Write ``out_dir/report.md`` and return its path."""
    out_dir = Path(out_dir)
    parts = ["# SleepLM evaluation report\n\n",
             f"seed {seed}; epochs per task {'all' if limit_epochs is None else f'≤ {limit_epochs}'}; "
             f"tasks: {', '.join(tasks)}.\n\n",
             "## Comparison (main score of each task)\n\n"]
    main_names: dict[str, str] = {}
    for r in runs:
        for t in r.results:
            main_names.setdefault(t.task, t.main_score)
    rows = []
    for r in runs:
        row: dict[str, Any] = {"workspace": Path(r.workspace).name, "model": r.model}
        scores = r.main_scores()
        for task in tasks:
            row[f"{task} ({main_names.get(task, '')})"] = scores.get(task) if r.error is None else None
        rows.append(row)
    parts.append(md_table(rows))
    parts.append("\n– = skipped or not applicable (reasons below).\n")
    for r in runs:
        parts.append(f"\n## {Path(r.workspace).name} × {r.model}\n\n")
        if r.error:
            parts.append(f"**Not run:** {r.error}\n")
            continue
        manifest = r.results[0].meta.get("manifest", {}) if r.results else {}
        parts.append(f"- workspace: `{r.workspace}` ({manifest.get('counts', {}).get('recordings', '?')} recordings, "
                     f"{manifest.get('counts', {}).get('epochs', '?')} epochs, built with {manifest.get('model_name', '?')})\n"
                     f"- model: {r.model}, weights sha256 `{r.model_sha256[:16]}…`\n"
                     f"- epoch vectors: {r.vectors}\n")
        rel = Path(r.run_dir).relative_to(out_dir) if r.run_dir else Path(".")
        for t in r.results:
            desc = t.meta.get("description", "")
            parts.append(f"\n### {t.task}\n\n{desc}. Result file: [{rel / (t.task + '.json')}]({rel / (t.task + '.json')}); "
                         f"{t.meta.get('seconds', '?')} s.\n")
            if t.skipped:
                parts.append(f"\n**Skipped:** {t.skipped}\n")
                continue
            parts.append(f"\n**{t.main_score} = {fmt(t.main_value)}**\n")
            for title, table in t.tables.items():
                if title == "examples":
                    parts.append("\nExamples (first sampled epoch per track):\n")
                    for ex in table:
                        parts.append(f"\n- **{ex['track']}** (epoch {ex['epoch_id']})\n  - reference: {ex['reference']}\n"
                                     f"  - generated: {ex['generated']}\n"
                                     + (f"  - grounded: {ex['grounded']}\n" if ex.get("grounded") else ""))
                    continue
                parts.append(f"\n{title}:\n\n{md_table(table)}")
            if t.notes:
                parts.append("\n" + "".join(f"- {n}\n" for n in t.notes))
            for p in t.plots:
                parts.append(f"\n![{p}]({rel / p})\n")
    path = out_dir / "report.md"
    path.write_text("".join(parts))
    return path
