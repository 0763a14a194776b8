"""PNG plots of the report (matplotlib, Agg backend; each function writes one file and returns its name)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def _save(fig: plt.Figure, path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path.name


def plot_confusion(matrix: Sequence[Sequence[int]], labels: Sequence[str], path: Path, title: str) -> str:
    """Row-normalised confusion matrix with counts (rows: annotated stage, columns: predicted)."""
    m = np.asarray(matrix, np.float64)
    norm = m / np.maximum(m.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(4.2, 3.8))
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            ax.text(j, i, f"{int(m[i, j])}", ha="center", va="center", fontsize=8,
                    color="white" if norm[i, j] > 0.6 else "black")
    ax.set_xticks(range(len(labels)), labels)
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("annotated")
    ax.set_title(title, fontsize=9)
    return _save(fig, path)


def plot_recall_curves(curves: dict[str, tuple[np.ndarray, np.ndarray]], path: Path, title: str,
                       chance: dict[str, tuple[np.ndarray, np.ndarray]] | None = None) -> str:
    """Recall@k against k, one line per name (dashed: chance)."""
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    for i, (name, (k, r)) in enumerate(curves.items()):
        line, = ax.plot(k, r, label=name, color=f"C{i % 10}")
        if chance and name in chance:
            ax.plot(*chance[name], ls=":", color=line.get_color(), lw=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("k")
    ax.set_ylabel("Recall@k")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=6, ncol=2)
    ax.set_title(title + " (dotted: chance)", fontsize=9)
    return _save(fig, path)


def plot_timeline(onset_s: np.ndarray, series: dict[str, np.ndarray], events: Sequence[tuple[float, float]],
                  found: dict[str, Sequence[tuple[float, float]]], threshold: float, path: Path, title: str) -> str:
    """Robust-z similarity over one night with annotated events (shaded) and found intervals (bars)."""
    hours = np.asarray(onset_s) / 3600.0
    fig, ax = plt.subplots(figsize=(8, 3))
    for on, off in events:
        ax.axvspan(on / 3600, off / 3600, color="tab:red", alpha=0.25, lw=0)
    for i, (name, z) in enumerate(series.items()):
        ax.plot(hours, z, lw=0.8, label=name, color=f"C{i}")
        y = threshold + 0.5 + 0.4 * i
        for on, off in found.get(name, []):
            ax.plot([on / 3600, off / 3600], [y, y], lw=3, color=f"C{i}")
    ax.axhline(threshold, ls="--", color="gray", lw=0.7)
    ax.set_xlabel("hours from recording start")
    ax.set_ylabel("robust z")
    ax.legend(fontsize=7, loc="upper right")
    ax.set_title(title + " (red: annotated; bars: intervals found)", fontsize=9)
    return _save(fig, path)


def plot_few_shot(ks: Sequence[int], mean: np.ndarray, std: np.ndarray, path: Path, title: str,
                  reference: dict[str, float] | None = None) -> str:
    """Macro-F1 against shots per class (mean ± sd over seeds), horizontal lines for references."""
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.errorbar(ks, mean, yerr=std, marker="o", capsize=3, label="logistic regression")
    for i, (name, v) in enumerate((reference or {}).items()):
        ax.axhline(v, ls="--", lw=0.8, color=f"C{i + 1}", label=name)
    ax.set_xscale("log")
    ax.set_xticks(list(ks), [str(k) for k in ks])
    ax.set_xlabel("labelled epochs per class (k)")
    ax.set_ylabel("macro-F1 (test nights)")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    ax.set_title(title, fontsize=9)
    return _save(fig, path)
