"""Held-out report: zero-shot staging, retrieval Recall@k, caption fact accuracy, loss curves.

Prompt sets are data (:data:`STAGE_PROMPTS`); every metric is computed on held-out nights (root
seeds never trained on) with canonical captions, and on the real DREAMS EEG excerpts.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sleeplm.encoder.vocab import SCORED_STAGES as STAGES

#: Zero-shot prompts per stage: the canonical and paraphrased stage sentences with no events.
STAGE_PROMPTS: dict[str, list[str]] = {
    s: [
        f"Sleep stage evaluation reveals {name} for this epoch. No sleep-disordered breathing events were detected.",
        f"Sleep stage analysis shows {name} for this epoch. No clinical events were detected in this epoch.",
        f"The patient exhibits {name} features in this segment. No events are scored in this epoch.",
    ]
    for s, name in {"W": "Wake", "N1": "Light Sleep (N1)", "N2": "Stable Light Sleep (N2)",
                    "N3": "Deep Sleep (N3)", "REM": "REM Sleep"}.items()
}

LOSS_KEYS: tuple[str, ...] = ("loss", "contrastive", "caption", "reconstruction")


def _smooth(y: np.ndarray, k: int) -> np.ndarray:
    if len(y) < k or k <= 1:
        return y
    c = np.cumsum(np.insert(y, 0, 0.0))
    out = (c[k:] - c[:-k]) / k
    return np.concatenate([y[: k - 1], out])


def plot_history(history: Sequence[dict[str, Any]], png: str | Path, json_path: str | Path | None = None) -> Path:
    """Loss curves (total and each term; train smoothed, held-out at checkpoints) as PNG (+ JSON)."""
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
        ax.plot(c["step"], _smooth(y, 25), color="C0", lw=1.4, label="train (smoothed)")
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


# ----------------------------------------------------------------------------- classification metrics
def classification_metrics(true: Sequence[str], pred: Sequence[str], labels: Sequence[str] = STAGES) -> dict[str, Any]:
    """Accuracy, macro-F1 (over labels present in ``true``), Cohen's kappa and the confusion matrix."""
    lab = list(labels)
    pos = {s: i for i, s in enumerate(lab)}
    cm = np.zeros((len(lab), len(lab)), int)
    for t, p in zip(true, pred):
        cm[pos[t], pos[p]] += 1
    n = cm.sum()
    acc = float(np.trace(cm) / n) if n else float("nan")
    f1s = []
    for i in range(len(lab)):
        if cm[i].sum() == 0:
            continue
        prec = cm[i, i] / cm[:, i].sum() if cm[:, i].sum() else 0.0
        rec = cm[i, i] / cm[i].sum()
        f1s.append(0.0 if prec + rec == 0 else 2 * prec * rec / (prec + rec))
    pe = float((cm.sum(0) * cm.sum(1)).sum() / n**2) if n else float("nan")
    kappa = (acc - pe) / (1 - pe) if n and pe < 1 else float("nan")
    return {"n": int(n), "accuracy": acc, "macro_f1": float(np.mean(f1s)) if f1s else float("nan"),
            "kappa": float(kappa), "labels": lab, "confusion": cm.tolist()}


def stage_prototypes(lm: Any, prompts: dict[str, list[str]] = STAGE_PROMPTS) -> np.ndarray:
    """One unit vector per stage (``STAGES`` order): the normalised mean of its prompt embeddings."""
    protos = []
    for s in STAGES:
        e = lm.encode_text(prompts[s]).mean(axis=0)
        protos.append(e / np.linalg.norm(e))
    return np.stack(protos)


def zero_shot_stages(lm: Any, x: np.ndarray, prompts: dict[str, list[str]] = STAGE_PROMPTS,
                     signal_emb: np.ndarray | None = None) -> list[str]:
    """Predicted stage per epoch: the nearest stage prototype to the epoch embedding."""
    emb = lm.encode_signal(x) if signal_emb is None else signal_emb
    return [STAGES[i] for i in (emb @ stage_prototypes(lm, prompts).T).argmax(axis=1)]


def recall_at_k(signal_emb: np.ndarray, text_emb: np.ndarray, ks: Sequence[int] = (1, 5, 10)) -> dict[str, float]:
    """Text->signal and signal->text Recall@k; pair ``i`` is the only positive of row ``i``."""
    sim = signal_emb @ text_emb.T
    out = {}
    for name, s in (("text_to_signal", sim.T), ("signal_to_text", sim)):
        rank = (s > np.diag(s)[:, None]).sum(axis=1)  # 0 = the positive is ranked first
        for k in ks:
            out[f"{name}_R@{k}"] = float(np.mean(rank < k))
    return out


# ----------------------------------------------------------------------------- caption facts
def _close(a: float | None, b: float, rel_tol: float, abs_tol: float) -> bool:
    return a is not None and abs(a - b) <= max(rel_tol * abs(b), abs_tol)


def fact_scores(gen: Any, ref: Any, rel_tol: float = 0.1, abs_tol: float = 0.5) -> dict[str, float]:
    """Compare two ``CaptionFacts``: stage, event types, numbers (within tolerance), position.

    Returns the fraction correct for every fact kind the reference states (absent kinds omitted).
    """
    out: dict[str, float] = {}
    if ref.track == "stage_event":
        out["stage"] = float(gen.stage == ref.stage)
        out["event_types_exact"] = float(sorted(e.type for e in gen.events) == sorted(e.type for e in ref.events))
        out["no_event_agreement"] = float((len(gen.events) == 0) == (len(ref.events) == 0))
        return out
    hits, total = 0, 0
    for key, sec in ref.sections.items():
        got = gen.sections.get(key)
        for f, v in sec.values.items():
            total += 1
            hits += _close(got.values.get(f) if got else None, v, rel_tol, abs_tol)
    if total:
        out["numeric_within_tol"] = hits / total
        out["sections_present"] = float(np.mean([k in gen.sections for k in ref.sections]))
    if ref.position is not None:
        out["position"] = float(gen.position is not None and gen.position.position == ref.position.position)
    return out


def caption_fact_accuracy(lm: Any, x: np.ndarray, references: Sequence[str], track: str,
                          rel_tol: float = 0.1, abs_tol: float = 0.5, max_len: int = 256,
                          min_len: int = 2) -> dict[str, Any]:
    """Generate ``track`` captions for ``x`` and score their facts against the reference captions."""
    from sleeplm.encoder.captions import parse_caption

    gen = lm.generate(x, track, max_len=max_len, min_len=min_len)
    rows = [fact_scores(parse_caption(g, track), parse_caption(r, track), rel_tol, abs_tol)
            for g, r in zip(gen, references)]
    keys = sorted({k for r in rows for k in r})
    res: dict[str, Any] = {k: float(np.mean([r[k] for r in rows if k in r])) for k in keys}
    res["n"] = len(rows)
    res["examples"] = [{"generated": g, "reference": r} for g, r in list(zip(gen, references))[:2]]
    return res


# ----------------------------------------------------------------------------- real EEG
def real_eeg_staging(lm: Any, folder: str | Path = "/work/shared/data/real/dreams-eeg",
                     prompts: dict[str, list[str]] = STAGE_PROMPTS) -> dict[str, Any]:
    """Zero-shot staging of the DREAMS excerpts (EEG only, other channels zero), scored epochs only."""
    from sleeplm.encoder.signals.preprocess import make_epochs
    from sleeplm.encoder.io.psg import load_psg

    true_all, pred_all, per = [], [], {}
    for path in sorted(Path(folder).glob("excerpt*.txt")):
        psg = load_psg(path)
        ep = make_epochs(psg.mapped, psg.annotations)
        keep = np.array([s in STAGES for s in ep.stages])
        if not keep.any():
            continue
        true = [s for s, k in zip(ep.stages, keep) if k]
        pred = zero_shot_stages(lm, ep.x[keep], prompts)
        m = classification_metrics(true, pred)
        per[path.stem] = {k: m[k] for k in ("n", "accuracy", "macro_f1", "kappa")}
        per[path.stem]["channels"] = sorted(psg.mapped.channels)
        true_all += true
        pred_all += pred
    overall = classification_metrics(true_all, pred_all)
    overall["per_excerpt"] = per
    overall["predicted_counts"] = {s: int(sum(p == s for p in pred_all)) for s in STAGES}
    return overall


# ----------------------------------------------------------------------------- the whole report
def evaluate(lm: Any, val_dir: str | Path, n_pool: int = 500, n_caption: int = 100, seed: int = 0,
             real_dir: str | Path | None = "/work/shared/data/real/dreams-eeg", progress: bool = True
             ) -> dict[str, Any]:
    """All held-out metrics for a loaded ``SleepLM`` on a held-out split built by ``data.build_split``.

    ``n_pool`` epochs (drawn with ``seed``) give zero-shot staging and retrieval Recall@k with the
    canonical retrieval texts; the first ``n_caption`` of them give caption fact accuracy per track.
    """
    from sleeplm.encoder.train.data import MODEL_TRACKS, EpochCaptions

    data = EpochCaptions(val_dir)
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(len(data), size=min(n_pool, len(data)), replace=False))
    x = data.signals(idx)
    sig = lm.encode_signal(x)
    res: dict[str, Any] = {"held_out": {"split": str(val_dir), "n_epochs_split": len(data), "n_pool": len(idx),
                                        "nights": int(data.epochs["night_id"].nunique())}}
    true = [str(data.stages[i]) for i in idx]
    scored = np.array([t in STAGES for t in true])
    pred = zero_shot_stages(lm, x[scored], signal_emb=sig[scored])
    res["zero_shot_staging"] = classification_metrics([t for t, k in zip(true, scored) if k], pred)
    txt = lm.encode_text([data.retrieval_text(i, 0) for i in idx])
    res["retrieval"] = recall_at_k(sig, txt)
    res["retrieval"]["text"] = "canonical stage_event + ' ' + brain caption"
    res["caption_facts"] = {}
    sub = idx[:n_caption]
    for track in MODEL_TRACKS:
        if progress:
            print(f"captions: {track}", flush=True)
        refs = [data.caption(i, track, 0) for i in sub]
        res["caption_facts"][track] = caption_fact_accuracy(lm, x[:len(sub)], refs, track)
    if real_dir is not None and Path(real_dir).is_dir():
        res["real_eeg_dreams"] = real_eeg_staging(lm, real_dir)
    return res


def main() -> None:  # pragma: no cover - command-line helper
    import argparse

    from sleeplm.encoder.model import load_model

    ap = argparse.ArgumentParser(description="Held-out report of a trained SleepLM checkpoint.")
    ap.add_argument("model", help="checkpoint path or bundled model name")
    ap.add_argument("val_dir")
    ap.add_argument("--out", default=None)
    ap.add_argument("--n-pool", type=int, default=500)
    ap.add_argument("--n-caption", type=int, default=100)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    import torch

    torch.set_num_threads(a.threads)
    res = evaluate(load_model(a.model), a.val_dir, a.n_pool, a.n_caption)
    text = json.dumps(res, indent=1)
    if a.out:
        Path(a.out).write_text(text + "\n")
    print(text)


if __name__ == "__main__":  # pragma: no cover
    main()


def results_markdown(res: dict[str, Any]) -> str:
    """The held-out metrics of :func:`evaluate` as Markdown tables (for the model card)."""
    z, r = res["zero_shot_staging"], res["retrieval"]
    lines = [
        f"Held-out split: {res['held_out']['nights']} simulated nights ({res['held_out']['n_epochs_split']} epochs), "
        f"pool of {res['held_out']['n_pool']} epochs.",
        "",
        "| zero-shot 5-stage (simulated, held-out) | accuracy | macro-F1 | Cohen's kappa | n |",
        "|---|---|---|---|---|",
        f"| stage prompts (`STAGE_PROMPTS`) | {z['accuracy']:.3f} | {z['macro_f1']:.3f} | {z['kappa']:.3f} | {z['n']} |",
        "",
        "| retrieval (canonical stage_event + brain text) | R@1 | R@5 | R@10 |",
        "|---|---|---|---|",
    ]
    for d in ("text_to_signal", "signal_to_text"):
        lines.append(f"| {d.replace('_', ' ')} | {r[f'{d}_R@1']:.3f} | {r[f'{d}_R@5']:.3f} | {r[f'{d}_R@10']:.3f} |")
    lines += ["", "| caption track | n | fact scores (fraction correct) |", "|---|---|---|"]
    for track, c in res["caption_facts"].items():
        scores = ", ".join(f"{k} {v:.3f}" for k, v in c.items() if k not in ("n", "examples"))
        lines.append(f"| {track} | {c['n']} | {scores} |")
    if "real_eeg_dreams" in res:
        d = res["real_eeg_dreams"]
        lines += ["", "| zero-shot staging, real DREAMS EEG (EEG only) | accuracy | macro-F1 | kappa | n |",
                  "|---|---|---|---|---|",
                  f"| all excerpts | {d['accuracy']:.3f} | {d['macro_f1']:.3f} | {d['kappa']:.3f} | {d['n']} |"]
        for name, m in d["per_excerpt"].items():
            lines.append(f"| {name} | {m['accuracy']:.3f} | {m['macro_f1']:.3f} | {m['kappa']:.3f} | {m['n']} |")
        lines.append(f"\nPredicted stage counts on DREAMS: {d['predicted_counts']}.")
    return "\n".join(lines) + "\n"
