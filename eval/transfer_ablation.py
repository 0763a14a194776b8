"""Ablation of training levers for transfer: several weights, scored the same way in one run.

For each candidate (a label and a checkpoint), on the same epochs:

* **real**: zero-shot staging on a workspace of real recordings (the DREAMS EEG excerpts), by the
  harness itself (:func:`sleeplm.eval.run_eval`, task ``zero_shot_staging``: the candidate's epoch vectors
  recomputed from the recordings, YASA and the majority class on the same epochs);
* **simulated**: a training run's held-out split (simulated nights from a seed never trained on): zero-shot
  staging of *every* clean epoch of the split (the harness's prompts and metrics), and signal↔text retrieval
  R@10 for every track, both directions, on the seeded pool of
  :func:`sleeplm.eval.training_report.training_report` (:func:`track_retrieval_rows`: a model with per-track
  signal heads is scored with each track's own epoch vector, the text query's track being known).

Writes ``ablation.json`` and ``ablation.md`` (one row per candidate) into the output folder, and the
harness's own reports under ``<out>/<label>-real/``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sleeplm.encoder.vocab import MODEL_TRACKS

from .report import md_table


def simulated_staging(model: Any, val_dir: Path) -> dict[str, Any]:
    """Zero-shot staging of every clean scored epoch of a held-out split (harness prompts and metrics)."""
    import numpy as np

    from sleeplm.encoder.train.data import EpochCaptions
    from sleeplm.encoder.vocab import SCORED_STAGES

    from .metrics import classification_scores
    from .staging import load_prompts, predict_stages

    data = EpochCaptions(val_dir)
    rows = data.clean_rows[np.isin(data.stages[data.clean_rows], SCORED_STAGES)]
    truth = np.asarray(data.stages[rows], dtype=object)
    pred = predict_stages(model, model.encode_signal(data.signals(rows), batch_size=64), load_prompts())
    return classification_scores(truth, pred, list(SCORED_STAGES))


def track_retrieval_rows(model: Any, val_dir: Path, n_pool: int = 500, seed: int = 0) -> list[dict[str, Any]]:
    """Retrieval rows per track and direction (:func:`sleeplm.eval.tasks.retrieval.track_retrieval`) on the
    pool :func:`sleeplm.eval.training_report.training_report` draws (same seed, same epochs).

    Each track's epochs are represented by ``model.encode_signal(x, track=track)``: the main vector for a model
    without track heads (then the rows equal the training report's), that track's head vector otherwise.
    """
    import numpy as np

    from sleeplm.encoder.train.data import EpochCaptions

    from .tasks.retrieval import track_retrieval

    data = EpochCaptions(val_dir)
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(len(data), size=min(n_pool, len(data)), replace=False))
    x = data.signals(idx)
    heads = bool(getattr(model.config, "track_heads", False))
    main = model.encode_signal(x)
    rows = []
    for track in MODEL_TRACKS:
        sig = model.encode_signal(x, track=track) if heads else main
        rows += [d.row() for d in track_retrieval(model, sig, [data.caption(int(i), track, 0) for i in idx], track)]
    return rows


def score_candidate(label: str, weights: str | Path, real_workspace: Path, val_dir: Path, out_dir: Path,
                    n_pool: int = 500, seed: int = 0, yasa: bool = True) -> dict[str, Any]:
    """One row of the ablation: real zero-shot staging and held-out simulated staging + retrieval."""
    from sleeplm.encoder.model import load_model

    from .runner import run_eval

    real = run_eval([real_workspace], [str(weights)], ["zero_shot_staging"], out_dir / f"{label}-real", seed=seed,
                    task_options={"zero_shot_staging": {"yasa": yasa}})
    run = real.runs[0]
    if run.error is not None or not run.results or run.results[0].skipped:
        raise RuntimeError(f"{label}: real zero-shot staging failed: {run.error or run.results[0].skipped}")
    z = run.results[0]
    row: dict[str, Any] = {"label": label, "weights": str(weights), "sha256": run.model_sha256,
                           "real_n": z.scores.get("n"),
                           **{f"real_{k}": z.scores[k] for k in ("accuracy", "macro_f1", "kappa")},
                           "real_baselines": z.scores.get("baselines", {})}
    model = load_model(str(weights))
    s = simulated_staging(model, val_dir)
    row |= {"sim_n": s.get("n"), **{f"sim_{k}": s.get(k) for k in ("accuracy", "macro_f1", "kappa")},
            "sim_per_class_f1": s.get("per_class_f1"), "real_per_class_f1": z.scores.get("per_class_f1")}
    row["track_heads"] = bool(getattr(model.config, "track_heads", False))
    for r in track_retrieval_rows(model, val_dir, n_pool=n_pool, seed=seed):
        row[f"R@10 {r['track']} {r['direction']}"] = r["R@10"]
    return row


def write_ablation(rows: list[dict[str, Any]], out_dir: Path) -> Path:
    """``ablation.json`` and ``ablation.md`` (accuracy / macro-F1 / κ, real and simulated; R@10 per track)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "ablation.json").write_text(json.dumps(rows, indent=1, default=str) + "\n")
    f3 = lambda v: "–" if v is None else f"{v:.3f}"
    main = [{"variant": r["label"],
             "real acc / F1 / κ": " / ".join(f3(r.get(f"real_{k}")) for k in ("accuracy", "macro_f1", "kappa")),
             "sim acc / F1 / κ": " / ".join(f3(r.get(f"sim_{k}")) for k in ("accuracy", "macro_f1", "kappa"))}
            for r in rows]
    retr = [{"variant": r["label"], **{t: " / ".join(f3(r.get(f"R@10 {t} {d}")) for d in ("signal→text", "text→signal"))
                                       for t in MODEL_TRACKS}} for r in rows]
    base = rows[0]["real_baselines"] if rows else {}
    lines = ["# Transfer ablation\n",
             "Real: zero-shot staging on the real workspace (harness, same epochs for every variant). Baselines in "
             "the same runs: " + "; ".join(f"{k} {f3(v.get('accuracy'))} / {f3(v.get('macro_f1'))} / {f3(v.get('kappa'))}"
                                           for k, v in base.items()) + ".\n",
             "Sim: every scored epoch of the held-out simulated split (never trained on); retrieval on a seeded "
             "pool of 500 of its epochs (a variant with track heads: each track's own epoch vector; chance R@10 "
             "0.020 for the four numeric tracks, whose 500 captions are all distinct).\n",
             md_table(main), "\n## Retrieval R@10 (signal→text / text→signal), held-out simulated\n", md_table(retr)]
    md = out_dir / "ablation.md"
    md.write_text("\n".join(lines) + "\n")
    return md


def main() -> None:  # pragma: no cover - command-line helper
    import argparse

    ap = argparse.ArgumentParser(description="Score candidate weights for transfer (real workspace + held-out split).")
    ap.add_argument("--real", type=Path, required=True, help="workspace of real recordings (e.g. the DREAMS EEG)")
    ap.add_argument("--val", type=Path, required=True, help="held-out split folder (<data root>/val)")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--no-yasa", action="store_true", help="leave YASA out of the real runs (it does not depend on the weights)")
    ap.add_argument("candidates", nargs="+", help="LABEL=WEIGHTS (checkpoint path or bundled name)")
    a = ap.parse_args()
    rows = []
    done = a.out / "ablation.json"
    have = {r["label"]: r for r in json.loads(done.read_text())} if done.is_file() else {}
    for cand in a.candidates:
        label, _, weights = cand.partition("=")
        rows.append(have.get(label) or score_candidate(label, weights, a.real, a.val, a.out, yasa=not a.no_yasa))
        write_ablation(rows, a.out)
    print(a.out / "ablation.md")


if __name__ == "__main__":  # pragma: no cover
    main()
