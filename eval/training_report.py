"""Held-out report of a training run, with the evaluation harness's own metrics and prompts.

A training run's held-out split (:func:`sleeplm.encoder.train.data.build_split`: simulated nights from a
root seed never trained on) is arrays, not a workspace, so the harness's tasks cannot open it; the report
calls the functions those tasks call, so that every number means what it means in ``sleeplm eval``:

* zero-shot staging: :func:`sleeplm.eval.staging.predict_stages` with ``eval/prompts/staging.json``,
  scored by :func:`sleeplm.eval.metrics.classification_scores`, beside the majority class and uniform
  chance of the same epochs;
* retrieval: :func:`sleeplm.eval.tasks.retrieval.track_retrieval` per caption track (identical captions
  merged, both directions, Recall@1/5/10 with their chance levels);
* captioning: :func:`sleeplm.eval.tasks.captioning.caption_track_scores` (fact accuracy via
  ``parse_caption`` with the harness's tolerances, BLEU-4, ROUGE-L), canonical captions as references.

Real recordings are evaluated by the harness itself, on a workspace (``sleeplm train --eval-workspace``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from sleeplm.encoder.vocab import MODEL_TRACKS, SCORED_STAGES

from .metrics import classification_scores, majority_scores, uniform_chance_scores
from .report import md_table
from .staging import PROMPTS, load_prompts, predict_stages
from .tasks.captioning import caption_track_scores
from .tasks.retrieval import track_retrieval

_STAGING_KEYS = ("n", "accuracy", "macro_f1", "kappa", "per_class_f1")


def training_report(model: Any, val_dir: str | Path, n_pool: int = 500, n_caption: int = 50, seed: int = 0,
                    prompts_path: Path = PROMPTS, max_len: int = 256) -> dict[str, Any]:
    """Zero-shot staging, retrieval and captioning of ``model`` on a held-out split.

    Parameters
    ----------
    model : a loaded ``SleepLM``.
    val_dir : a split folder written by ``build_split`` (``<data root>/val``).
    n_pool : epochs drawn (seeded, without replacement) for staging and retrieval.
    n_caption : epochs of that pool (seeded) whose captions are generated, per track.
    seed : the draws' seed.
    prompts_path : the zero-shot staging prompts (the harness's file by default).
    max_len : caption length limit in tokens (greedy decoding).
    """
    from sleeplm.encoder.train.data import EpochCaptions

    data = EpochCaptions(val_dir)
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(len(data), size=min(n_pool, len(data)), replace=False))
    cap_pos = np.sort(rng.choice(len(idx), size=min(n_caption, len(idx)), replace=False))
    x = data.signals(idx)
    sig = model.encode_signal(x)
    res: dict[str, Any] = {"held_out": {"split": str(val_dir), "nights": int(data.epochs["night_id"].nunique()),
                                        "n_epochs_split": len(data), "n_pool": len(idx), "n_caption": len(cap_pos),
                                        "seed": seed}}

    truth = np.asarray([str(data.stages[i]) for i in idx], dtype=object)
    scored = np.isin(truth, SCORED_STAGES)
    labels = list(SCORED_STAGES)
    if scored.any():
        pred = predict_stages(model, sig[scored], load_prompts(prompts_path))
        model_scores = classification_scores(truth[scored], pred, labels)
        res["zero_shot_staging"] = {
            "prompts": str(prompts_path), **{k: model_scores[k] for k in _STAGING_KEYS},
            "confusion": {"labels": labels, "matrix": model_scores["confusion"]},
            "baselines": {name: {k: v[k] for k in ("accuracy", "macro_f1", "kappa")} for name, v in (
                ("majority class", majority_scores(truth[scored], labels)),
                ("chance (uniform)", uniform_chance_scores(truth[scored], labels, seed=seed)))}}
    else:
        res["zero_shot_staging"] = {"skipped": "no epoch of the pool has a scored stage (W/N1/N2/N3/REM)"}

    rows = [d.row() for track in MODEL_TRACKS
            for d in track_retrieval(model, sig, [data.caption(int(i), track, 0) for i in idx], track)]
    res["retrieval"] = {"rows": rows, "mean_recall@10": float(np.mean([r["R@10"] for r in rows])) if rows else None,
                        "correct": "identical reference caption (canonical, per track)"}

    cap_rows = []
    for track in MODEL_TRACKS if len(cap_pos) else ():
        refs = [data.caption(int(idx[p]), track, 0) for p in cap_pos]
        row, preds = caption_track_scores(model, x[cap_pos], refs, track, max_len)
        cap_rows.append({**row, "example_reference": refs[0], "example_generated": preds[0]})
    facts = [r["fact_accuracy"] for r in cap_rows if r.get("fact_accuracy") is not None]
    res["captioning"] = {"rows": cap_rows, "fact_accuracy": float(np.mean(facts)) if facts else None,
                         "decoding": "greedy", "max_len": max_len}
    return res


def report_markdown(res: dict[str, Any]) -> str:
    """The report of :func:`training_report` as Markdown tables."""
    h = res["held_out"]
    parts = [f"# Held-out report\n\nSplit `{h['split']}`: {h['nights']} simulated nights never trained on "
             f"({h['n_epochs_split']} epochs); pool of {h['n_pool']} epochs (seed {h['seed']}), "
             f"{h['n_caption']} of them captioned per track. Metrics and prompts: the evaluation harness's "
             "(`sleeplm.eval`).\n"]
    z = res["zero_shot_staging"]
    parts.append("\n## Zero-shot staging\n\n")
    if "skipped" in z:
        parts.append(f"Skipped: {z['skipped']}\n")
    else:
        rows = [{"method": "model (prompts)", **{k: z[k] for k in ("accuracy", "macro_f1", "kappa", "n")}}]
        rows += [{"method": name, **b} for name, b in z["baselines"].items()]
        parts.append(f"Prompts: `{z['prompts']}`.\n\n{md_table(rows)}")
    r = res["retrieval"]
    parts.append(f"\n## Retrieval (correct = {r['correct']})\n\nmean R@10 = "
                 f"{'–' if r['mean_recall@10'] is None else format(r['mean_recall@10'], '.3f')}\n\n{md_table(r['rows'])}")
    c = res["captioning"]
    table = [{k: v for k, v in row.items() if not k.startswith("example_")} for row in c["rows"]]
    parts.append(f"\n## Captioning ({c['decoding']}, at most {c['max_len']} tokens)\n\n"
                 f"mean fact accuracy = {'–' if c['fact_accuracy'] is None else format(c['fact_accuracy'], '.3f')}\n\n"
                 f"{md_table(table)}")
    return "".join(parts)


def write_training_report(model: Any, val_dir: str | Path, out_dir: str | Path, **options: Any) -> Path:
    """Write ``report.json`` and ``report.md`` of :func:`training_report` into ``out_dir``.

    ``model`` is a loaded ``SleepLM`` or a model name / checkpoint path (loaded here); ``options`` go to
    :func:`training_report`. Returns the Markdown file.
    """
    from sleeplm.encoder.model import load_model

    loaded = load_model(model) if isinstance(model, (str, Path)) else model
    res = training_report(loaded, val_dir, **options)
    res["model"] = str(model) if isinstance(model, (str, Path)) else type(model).__name__
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "report.json").write_text(json.dumps(res, indent=1, default=str) + "\n")
    md = out_dir / "report.md"
    md.write_text(report_markdown(res))
    return md


def main() -> None:  # pragma: no cover - command-line helper
    import argparse

    ap = argparse.ArgumentParser(description="Held-out report of a checkpoint on a training run's held-out split.")
    ap.add_argument("model", help="checkpoint path or bundled model name")
    ap.add_argument("val_dir", help="held-out split folder (<data root>/val)")
    ap.add_argument("--out", required=True, help="folder for report.json and report.md")
    ap.add_argument("--n-pool", type=int, default=500)
    ap.add_argument("--n-caption", type=int, default=50)
    a = ap.parse_args()
    print(write_training_report(a.model, a.val_dir, a.out, n_pool=a.n_pool, n_caption=a.n_caption))


if __name__ == "__main__":  # pragma: no cover
    main()
