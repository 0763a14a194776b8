"""How well could any model do on per-track signal↔text retrieval? Bounds from the captions alone.

Retrieval (:func:`sleeplm.eval.tasks.retrieval.track_retrieval`) counts a hit only for the epoch's own caption
(identical captions merged). For the brain, cardiac, respiratory and somatic tracks a caption is a list of
measured numbers ("heart rate ... mean of 69.56"), so whether the task can be done depends on how many pool
captions a reader of those numbers could tell apart. Three measures, on the same pool the ablation scores:

* **distinct captions**: identical texts cannot be told apart by any model (the harness merges them);
* **tolerance twins**: for each caption, the pool captions whose every stated value lies within the
  caption-fact tolerance of the harness (``eval.metrics.value_close``: ``max(10 % relative, 0.5 absolute)``)
  and that name the same categorical facts (body position). A retriever that reads each number only that
  well cannot order twins; its best expected R@k is ``mean(min(1, k / twins))``;
* **noisy-number oracle**: every caption's values are z-scored over the pool; each epoch "reads" its own
  values with Gaussian noise of ``noise_sd`` pool standard deviations per value and ranks the captions by
  Euclidean distance. R@k as a function of ``noise_sd`` says how precisely a model must read the numbers;
  ``noise_sd = 0`` is the feature oracle (the captions are a function of the signal: R@1 = 1 when distinct).

``visible=True`` measures the text the text tower actually sees: the caption cut to the model's context
(128 tokens for sleeplm-tiny: the brain caption loses its C4 section, the respiratory one its last airflow value).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from sleeplm.encoder.captions.parse import parse_caption
from sleeplm.encoder.vocab import MODEL_TRACKS

from .metrics import VALUE_ABS_TOL, VALUE_REL_TOL, recall_at_k, retrieval_ranks
from .report import md_table

KS = (1, 10)
NOISE_SDS = (0.0, 0.1, 0.25, 0.5, 1.0)
#: The tracks whose captions are lists of measured numbers (stage_event names a stage and event times).
NUMERIC_TRACKS = tuple(t for t in MODEL_TRACKS if t != "stage_event")


def caption_values(texts: list[str], track: str) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Stated numbers and categorical facts of each caption (``parse_caption``).

    Returns
    -------
    names : value names ``section.field`` (sorted).
    values : float ``[N, len(names)]``, NaN where a caption does not state the value.
    categories : object ``[N]``, the categorical facts as one string (stage and event types for stage_event,
        body position for somatic, "" otherwise).
    """
    facts = [parse_caption(t, track) for t in texts]
    flat = [{f"{sec}.{k}": v for sec, s in f.sections.items() for k, v in s.values.items()} for f in facts]
    names = sorted({k for d in flat for k in d})
    values = np.array([[d.get(k, np.nan) for k in names] for d in flat], dtype=float).reshape(len(texts), len(names))
    cats = np.array([" ".join(filter(None, [f.stage or "", ",".join(sorted(e.type for e in f.events)),
                                            f.position.position if f.position else ""])) for f in facts], dtype=object)
    return names, values, cats


def tolerance_twins(values: np.ndarray, categories: np.ndarray, rel_tol: float = VALUE_REL_TOL,
                    abs_tol: float = VALUE_ABS_TOL) -> np.ndarray:
    """Per caption, how many pool captions (itself included) the harness's fact tolerance cannot tell from it.

    Caption ``j`` is a twin of ``i`` when both state the same values and the same categorical facts, and
    every value of ``j`` is within ``max(rel_tol * |v_i|, abs_tol)`` of ``i``'s.
    """
    v = np.asarray(values, float)
    same = categories[:, None] == categories[None, :]
    present = ~np.isnan(v)
    same &= (present[:, None, :] == present[None, :, :]).all(axis=-1)
    tol = np.maximum(rel_tol * np.abs(v), abs_tol)
    close = (np.abs(v[None, :, :] - v[:, None, :]) <= tol[:, None, :]) | ~present[:, None, :]
    return (same & close.all(axis=-1)).sum(axis=1)


def twin_recall_at_k(twins: np.ndarray, k: int) -> float:
    """Best expected R@k of a retriever that cannot order a caption's tolerance twins: ``mean(min(1, k/m))``."""
    return float(np.mean(np.minimum(1.0, k / np.asarray(twins, float))))


def oracle_ranks(values: np.ndarray, categories: np.ndarray, noise_sd: float, rng: np.random.Generator
                 ) -> np.ndarray:
    """Signal→text ranks of the noisy-number oracle (see the module doc), identical captions merged.

    Each distinct (values, categories) row is one gallery item; a value a caption does not state sits at the
    pool mean (z = 0); a categorical fact is one more coordinate per category, 0 or 1.
    """
    v = np.asarray(values, float)
    sd = np.nanstd(v, axis=0)
    z = np.nan_to_num((v - np.nanmean(v, axis=0)) / np.where(sd > 0, sd, 1.0))
    cat_levels, cat_idx = np.unique(categories.astype(str), return_inverse=True)
    z = np.hstack([z, np.eye(len(cat_levels))[cat_idx] if len(cat_levels) > 1 else np.zeros((len(z), 0))])
    gallery, group = np.unique(z, axis=0, return_inverse=True)
    group = group.reshape(-1)
    query = z + noise_sd * rng.standard_normal(z.shape)
    dist = ((query[:, None, :] - gallery[None, :, :]) ** 2).sum(axis=-1)
    own = group[:, None] == np.arange(len(gallery))[None, :]
    return retrieval_ranks(-dist, own)


def visible_texts(tokenizer: Any, texts: list[str]) -> list[str]:
    """The captions as the text tower sees them: tokenized to its context length and decoded back."""
    ids = tokenizer(texts)
    return [tokenizer.decode([int(t) for t in row if int(t) != 0]) for row in ids]


def track_bound(texts: list[str], track: str, seed: int = 0, noise_sds: tuple[float, ...] = NOISE_SDS
                ) -> dict[str, Any]:
    """All three measures for one track's pool captions (see the module doc)."""
    names, values, cats = caption_values(texts, track)
    twins = tolerance_twins(values, cats)
    row: dict[str, Any] = {"track": track, "epochs": len(texts), "distinct captions": len(set(texts)),
                           "values per caption": len(names),
                           "median twins": float(np.median(twins)), "captions with >= 10 twins": int((twins >= 10).sum())}
    row |= {f"twin R@{k}": twin_recall_at_k(twins, k) for k in KS}
    rng = np.random.default_rng(seed)
    for sd in noise_sds:
        ranks = oracle_ranks(values, cats, sd, rng)
        row |= {f"oracle σ={sd:g} R@{k}": recall_at_k(ranks, k) for k in KS}
    return row


def retrieval_bounds(val_dir: str | Path, tokenizer: Any | None = None, n_pool: int = 500, seed: int = 0,
                     tracks: tuple[str, ...] = NUMERIC_TRACKS) -> list[dict[str, Any]]:
    """Bounds for every track on the seeded pool of :func:`sleeplm.eval.training_report.training_report`.

    With ``tokenizer``, each track is measured twice: on the full captions and on what the text tower sees
    (``text`` = ``"full"`` / ``"visible"``).
    """
    from sleeplm.encoder.train.data import EpochCaptions

    data = EpochCaptions(val_dir)
    rng = np.random.default_rng(seed)  # the same draw as training_report's pool
    idx = np.sort(rng.choice(len(data), size=min(n_pool, len(data)), replace=False))
    rows = []
    for track in tracks:
        full = [data.caption(int(i), track, 0) for i in idx]
        rows.append({"text": "full", **track_bound(full, track, seed)})
        if tokenizer is not None:
            rows.append({"text": "visible", **track_bound(visible_texts(tokenizer, full), track, seed)})
    return rows


def write_bounds(rows: list[dict[str, Any]], out_dir: Path) -> Path:
    """``bounds.json`` and ``bounds.md`` (one row per track and text)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "bounds.json").write_text(json.dumps(rows, indent=1) + "\n")
    f = lambda v: f"{v:.3f}" if isinstance(v, float) else v
    table = [{k: f(v) for k, v in r.items()} for r in rows]
    md = out_dir / "bounds.md"
    md.write_text("# Upper bounds of per-track retrieval (held-out pool)\n\n"
                  "Measured from the captions alone (`python -m sleeplm.eval.retrieval_bound`); definitions in "
                  "`eval/retrieval_bound.py`. twin R@k: best expected R@k when each number is read only to the "
                  "harness's fact tolerance (max(10 % relative, 0.5 absolute)). oracle σ=s: each epoch reads its "
                  "caption's numbers with Gaussian noise of s pool SDs and ranks the captions by distance.\n\n"
                  + md_table(table) + "\n")
    return md


def main() -> None:  # pragma: no cover - command-line helper
    import argparse

    from sleeplm.encoder.model import load_model

    ap = argparse.ArgumentParser(description="Upper bounds of per-track retrieval on a held-out split's pool.")
    ap.add_argument("--val", type=Path, required=True, help="held-out split folder (<data root>/val)")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--model", default="sleeplm-tiny", help="whose tokenizer cuts the visible text")
    ap.add_argument("--n-pool", type=int, default=500)
    a = ap.parse_args()
    print(write_bounds(retrieval_bounds(a.val, load_model(a.model).tokenizer, a.n_pool), a.out))


if __name__ == "__main__":  # pragma: no cover
    main()
