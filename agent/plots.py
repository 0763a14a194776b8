"""Figures the agent shows: a hypnogram with events, one epoch's 10 channels, a similarity timeline.

Each function draws on its own :class:`matplotlib.figure.Figure` with the Agg canvas (no
pyplot, no global backend state), writes a PNG and returns its path.

Each also takes ``cache=`` (an :class:`~sleeplm.index.caption_cache.OnceLRU`, e.g. the chat's
shared ``ChatCache.figures``): the PNG's bytes are then kept under :func:`figure_key`, a digest of
the function and every argument it draws from, so the same figure asked again (by any session) is
written from memory instead of drawn (drawing costs 0.2–2 s of CPU), and concurrent requests for it
draw once. A change in anything drawn (another night, other stages or events) is another key.
"""

from __future__ import annotations

import functools
import hashlib
import pickle
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

#: Hypnogram rows, top to bottom.
STAGE_ROWS: tuple[str, ...] = ("W", "REM", "N1", "N2", "N3")
EVENT_COLOURS: dict[str, str] = {
    "obstructive_apnea": "#d62728", "central_apnea": "#9467bd", "mixed_apnea": "#8c564b", "hypopnea": "#ff7f0e",
    "oxygen_desaturation": "#1f77b4", "arousal": "#2ca02c", "limb_movement": "#7f7f7f",
}


class FigureStore(Protocol):
    """What a figure cache offers: the value of a key, computed once (:class:`~sleeplm.index.caption_cache.OnceLRU`)."""

    def get(self, key: Any, compute: Callable[[], bytes]) -> bytes: ...


def figure_key(kind: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    """A digest of a figure's kind and every argument it is drawn from (not the path it is written to).

    Arguments are pickled (numpy arrays with their dtype, shape and bytes; floats exactly), so two
    calls get the same key only when they would draw the same picture.
    """
    payload = pickle.dumps((kind, args, sorted(kwargs.items())), protocol=pickle.HIGHEST_PROTOCOL)
    return f"{kind}:{hashlib.blake2b(payload, digest_size=20).hexdigest()}"


def _cached(render: Callable[..., Path]) -> Callable[..., Path]:
    """Give a figure function the keyword ``cache`` (see the module's docstring)."""

    @functools.wraps(render)
    def draw(path: Path, *args: Any, cache: FigureStore | None = None, **kwargs: Any) -> Path:
        if cache is None:
            return render(path, *args, **kwargs)
        path = Path(path)
        drawn_here: list[bool] = []

        def render_bytes() -> bytes:
            drawn_here.append(True)
            return render(path, *args, **kwargs).read_bytes()

        png = cache.get(figure_key(render.__name__, args, kwargs), render_bytes)
        if not drawn_here:  # drawn earlier or by another session: write the kept bytes
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(png)
        return path

    return draw


def _save(fig: Figure, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(fig)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    return path


def _hours(onset_s: np.ndarray) -> np.ndarray:
    return np.asarray(onset_s, float) / 3600.0


@_cached
def hypnogram(path: Path, onset_s: Sequence[float], stages: Sequence[str],
              events: Sequence[tuple[str, float, float]] = (), title: str = "",
              start_clock: str | None = None, epoch_s: float = 30.0) -> Path:
    """Stage over the night (REM drawn thick) above one lane of scored events per type.

    Parameters
    ----------
    path : PNG to write.
    onset_s, stages : epoch onsets (s from the recording start) and annotated stages.
    events : (type, onset_s, duration_s) of scored events.
    title : figure title; ``start_clock`` ("23:11:00") labels the time axis origin.
    """
    onset = np.asarray(onset_s, float)
    level = np.array([STAGE_ROWS.index(s) if s in STAGE_ROWS else np.nan for s in stages], float)
    types = sorted({e[0] for e in events})
    fig = Figure(figsize=(10, 3.2 + 0.25 * len(types)))
    gs = fig.add_gridspec(2, 1, height_ratios=[3, max(1, len(types)) * 0.6], hspace=0.08)
    ax = fig.add_subplot(gs[0])
    if len(onset):
        t = _hours(np.append(onset, onset[-1] + epoch_s))
        y = np.append(level, level[-1])
        ax.step(t, y, where="post", color="#333333", lw=1.2)
        rem = np.where(np.array(stages) == "REM", level, np.nan)
        ax.step(t, np.append(rem, rem[-1]), where="post", color="#d62728", lw=3.5)
    ax.set_yticks(range(len(STAGE_ROWS)), STAGE_ROWS)
    ax.set_ylim(len(STAGE_ROWS) - 0.5, -0.5)
    ax.set_title(title)
    ax.tick_params(labelbottom=False)
    ax.grid(axis="x", alpha=0.3)
    ev_ax = fig.add_subplot(gs[1], sharex=ax)
    for row, kind in enumerate(types):
        spans = [(on / 3600.0, du / 3600.0) for k, on, du in events if k == kind]
        ev_ax.broken_barh(spans, (row - 0.35, 0.7), color=EVENT_COLOURS.get(kind, "#555555"))
    ev_ax.set_yticks(range(len(types)), [k.replace("_", " ") for k in types] if types else [])
    ev_ax.set_ylim(max(len(types), 1) - 0.5, -0.5)
    ev_ax.set_xlabel(f"hours from recording start{f' ({start_clock})' if start_clock else ''}")
    if not types:
        ev_ax.text(0.5, 0.5, "no scored events", transform=ev_ax.transAxes, ha="center", va="center", color="#777")
        ev_ax.set_yticks([])
    ev_ax.grid(axis="x", alpha=0.3)
    return _save(fig, path)


@_cached
def epoch_signals(path: Path, x: np.ndarray, channels: Sequence[str], mask: Sequence[bool] | None = None,
                  events: Sequence[tuple[str, float, float]] = (), title: str = "", fs_hz: float = 64.0) -> Path:
    """The model's 10 input channels of one epoch, stacked, with events shaded.

    Parameters
    ----------
    x : [10, samples] preprocessed epoch (z-scored channels; POS as codes).
    channels : channel names in ``x``'s order; ``mask`` False marks an absent/flat channel.
    events : (type, start_s, end_s) within the epoch (0–30 s).
    """
    x = np.asarray(x, float)
    n_ch, n = x.shape
    t = np.arange(n) / fs_hz
    fig = Figure(figsize=(10, 1.0 * n_ch + 0.6))
    axes = fig.subplots(n_ch, 1, sharex=True)
    axes = np.atleast_1d(axes)
    for c, ax in enumerate(axes):
        present = mask is None or bool(mask[c])
        ax.plot(t, x[c], lw=0.6, color="#1f3b73" if present else "#bbbbbb")
        unit = "code" if channels[c] == "POS" else "z"  # the model's input, not physical units
        ax.set_ylabel(f"{channels[c]} ({unit})", rotation=0, ha="right", va="center", fontsize=8)
        ax.tick_params(axis="y", labelsize=6)
        if not present:
            ax.text(0.99, 0.5, "absent", transform=ax.transAxes, ha="right", va="center", fontsize=7, color="#999")
        for kind, a, b in events:
            ax.axvspan(a, b, color=EVENT_COLOURS.get(kind, "#999999"), alpha=0.15, lw=0)
    axes[0].set_title(title)
    axes[-1].set_xlabel("seconds within the epoch · the model's input: each channel z-scored over the recording "
                        "(no physical units), POS a position code; SpO2 is not an input")
    if events:
        axes[0].legend(handles=[_patch(k) for k in sorted({e[0] for e in events})], fontsize=7, loc="upper right")
    return _save(fig, path)


def _patch(kind: str):
    from matplotlib.patches import Patch

    return Patch(color=EVENT_COLOURS.get(kind, "#999999"), alpha=0.4, label=kind.replace("_", " "))


@_cached
def similarity_timeline(path: Path, onset_s: Sequence[float], scores: Sequence[float], z: Sequence[float],
                        intervals: Sequence[tuple[float, float]], annotated: Sequence[tuple[float, float, str]] = (),
                        z_threshold: float = 2.0, title: str = "") -> Path:
    """A query's similarity to every epoch of a night: cosine above, robust z below with the
    threshold; found intervals shaded, annotated events of the query's types as bars.
    """
    h = _hours(np.asarray(onset_s, float))
    fig = Figure(figsize=(10, 4))
    ax, zax = fig.subplots(2, 1, sharex=True, height_ratios=[1, 1])
    ax.plot(h, scores, lw=0.8, color="#1f3b73")
    ax.set_ylabel("cosine")
    ax.set_title(title)
    zax.plot(h, z, lw=0.8, color="#444444")
    zax.axhline(z_threshold, color="#d62728", ls="--", lw=0.8, label=f"z = {z_threshold:g}")
    zax.set_ylabel("robust z")
    zax.set_xlabel("hours from recording start")
    for a, b in intervals:
        for axis in (ax, zax):
            axis.axvspan(a / 3600.0, b / 3600.0, color="#ff7f0e", alpha=0.25, lw=0)
    if len(annotated):
        lo = float(np.nanmin(z)) if len(z) else 0.0
        for a, b, kind in annotated:
            zax.plot([a / 3600.0, b / 3600.0], [lo, lo], lw=5, color=EVENT_COLOURS.get(kind, "#2ca02c"),
                     solid_capstyle="butt")
    zax.legend(fontsize=7, loc="upper right")
    return _save(fig, path)


@_cached
def event_probability_timeline(path: Path, onset_s: Sequence[float], probability: Sequence[float],
                               events: Sequence[tuple[float, float]],
                               annotated: Sequence[tuple[float, float, str]] = (), title: str = "") -> Path:
    """The event head's reading of a night: each epoch's highest probability of the named events (the 0.5 line
    marks an event), the events it read shaded, the annotated events of those types as bars below."""
    h = _hours(np.asarray(onset_s, float))
    fig = Figure(figsize=(10, 3))
    ax = fig.add_subplot()
    ax.step(h, probability, where="post", lw=0.8, color="#1f3b73")
    ax.axhline(0.5, color="#d62728", ls="--", lw=0.8, label="p = 0.5")
    ax.set_ylim(-0.12, 1.02)
    ax.set_ylabel("event head probability")
    ax.set_xlabel("hours from recording start")
    ax.set_title(title)
    for a, b in events:
        ax.axvspan(a / 3600.0, b / 3600.0, color="#ff7f0e", alpha=0.35, lw=0)
    for a, b, kind in annotated:
        ax.plot([a / 3600.0, b / 3600.0], [-0.07, -0.07], lw=5, color=EVENT_COLOURS.get(kind, "#2ca02c"),
                solid_capstyle="butt")
    ax.legend(fontsize=7, loc="upper right")
    return _save(fig, path)


@_cached
def group_strip(path: Path, groups: Sequence[tuple[str, Sequence[float]]], label: str, title: str = "") -> Path:
    """One box per group with every night drawn as a point (a comparison of a few nights shows them all)."""
    fig = Figure(figsize=(max(4.0, 1.2 * len(groups) + 2), 3.2))
    ax = fig.add_subplot()
    data = [np.asarray(v, float) for _, v in groups]
    ax.boxplot([d if len(d) else [np.nan] for d in data], widths=0.5, showfliers=False)
    for i, d in enumerate(data, 1):
        ax.scatter(np.full(len(d), i) + np.linspace(-0.08, 0.08, len(d)), d, s=18, zorder=3, color="#1f77b4")
    ax.set_xticks(range(1, len(groups) + 1), [f"{g}\n(n={len(d)})" for (g, _), d in zip(groups, data)])
    ax.set_ylabel(label)
    ax.set_title(title, fontsize=10)
    return _save(fig, path)


@_cached
def ranking_bars(path: Path, names: Sequence[str], values: Sequence[float], label: str, title: str = "") -> Path:
    """Horizontal bars, one per night, in the order given (highest first for a descending ranking)."""
    fig = Figure(figsize=(5.0, 0.35 * len(names) + 1.2))
    ax = fig.add_subplot()
    y = np.arange(len(names))[::-1]
    ax.barh(y, np.asarray(values, float), color="#1f77b4")
    ax.set_yticks(y, list(names))
    ax.set_xlabel(label)
    ax.set_title(title, fontsize=10)
    return _save(fig, path)
