"""Loss curves of a training run (``loss_curves.png`` and ``loss_curves.json`` in the run folder)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

LOSS_KEYS: tuple[str, ...] = ("loss", "contrastive", "caption", "reconstruction")


def moving_average(y: np.ndarray, k: int) -> np.ndarray:
    """Trailing mean over ``k`` points; the first ``k - 1`` points are kept as they are."""
    if len(y) < k or k <= 1:
        return y
    c = np.cumsum(np.insert(y, 0, 0.0))
    return np.concatenate([y[: k - 1], (c[k:] - c[:-k]) / k])


def plot_history(history: Sequence[dict[str, Any]], png: str | Path, json_path: str | Path | None = None) -> Path:
    """Loss curves (total and each term; train smoothed, held-out at checkpoints) as PNG (+ JSON).

    Parameters
    ----------
    history
        Rows of ``history.jsonl``: ``step``, the loss terms and, at checkpoints, ``val_<term>``.
    png, json_path
        Output files; ``json_path`` receives the plotted points.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [k for k in LOSS_KEYS if any(k in r for r in history)]
    curves = {k: {"step": [r["step"] for r in history if k in r], "train": [r[k] for r in history if k in r]}
              for k in keys}
    for k in keys:
        val = [(r["step"], r[f"val_{k}"]) for r in history if f"val_{k}" in r]
        curves[k]["val_step"] = [s for s, _ in val]
        curves[k]["val"] = [v for _, v in val]
    fig, axes = plt.subplots(1, len(keys), figsize=(4.2 * len(keys), 3.4), squeeze=False)
    for ax, k in zip(axes[0], keys):
        c = curves[k]
        y = np.asarray(c["train"], float)
        ax.plot(c["step"], y, color="0.8", lw=0.6)
        ax.plot(c["step"], moving_average(y, 25), color="C0", lw=1.4, label="train (smoothed)")
        if c["val"]:
            ax.plot(c["val_step"], c["val"], "o-", color="C3", ms=3, label="held-out")
        ax.set_title(k)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    png = Path(png)
    fig.savefig(png, dpi=110)
    plt.close(fig)
    if json_path is not None:
        Path(json_path).write_text(json.dumps(curves) + "\n")
    return png
