"""Metric functions of the evaluation harness (pure functions of arrays; no model, no workspace).

Classification metrics come from scikit-learn, BLEU-4 from sacrebleu, ROUGE-L from rouge-score;
what is written here is the bookkeeping around them: retrieval ranks with duplicate targets,
analytic chance levels, event-level matching of intervals, and caption fact comparison.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from sklearn.metrics import cohen_kappa_score, confusion_matrix, f1_score, roc_auc_score

from sleeplm.encoder.captions import CaptionFacts, parse_caption

#: Caption fact tolerances (stated in every captioning result).
EVENT_TIME_TOL_S = 3.0
VALUE_REL_TOL = 0.10
VALUE_ABS_TOL = 0.5  # values near zero (counts, small ratios) are compared with this absolute tolerance


# ----------------------------------------------------------------------------- classification
def classification_scores(y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str]) -> dict:
    """Accuracy, macro-F1 (over ``labels`` present in ``y_true``), Cohen's kappa, per-class F1, confusion.

    Parameters
    ----------
    y_true, y_pred : sequences of class names, same length.
    labels : the class order of the confusion matrix (rows: truth, columns: prediction).
    """
    y_true, y_pred = np.asarray(y_true, dtype=object), np.asarray(y_pred, dtype=object)
    if len(y_true) == 0:
        raise ValueError("no samples to score")
    present = [c for c in labels if (y_true == c).any()]
    per_class = f1_score(y_true, y_pred, labels=list(labels), average=None, zero_division=0)
    kappa = cohen_kappa_score(y_true, y_pred, labels=list(labels)) if len(set(y_true) | set(y_pred)) > 1 else 0.0
    return {
        "n": int(len(y_true)),
        "accuracy": float(np.mean(y_true == y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, labels=present, average="macro", zero_division=0)),
        "kappa": float(0.0 if math.isnan(kappa) else kappa),
        "per_class_f1": {c: float(f) for c, f in zip(labels, per_class) if c in present},
        "labels": list(labels),
        "confusion": confusion_matrix(y_true, y_pred, labels=list(labels)).tolist(),
    }



def _scores_from_confusion(conf: np.ndarray) -> dict[str, np.ndarray]:
    """Accuracy, macro-F1 and Cohen's kappa of ``[..., L, L]`` confusion matrices (rows truth, columns prediction),
    with :func:`classification_scores`' definitions (macro-F1 over the classes present in the truth)."""
    conf = np.asarray(conf, np.float64)
    n = conf.sum(axis=(-2, -1))
    rows, cols = conf.sum(axis=-1), conf.sum(axis=-2)
    diag = np.diagonal(conf, axis1=-2, axis2=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        acc = diag.sum(axis=-1) / n
        f1 = np.where(rows + cols > 0, 2 * diag / (rows + cols), 0.0)
        present = rows > 0
        macro = (f1 * present).sum(axis=-1) / present.sum(axis=-1)
        pe = (rows * cols).sum(axis=-1) / n ** 2
        kappa = np.where(pe < 1, (acc - pe) / (1 - pe), 0.0)
    return {"accuracy": acc, "macro_f1": macro, "kappa": kappa}


def bootstrap_intervals(y_true: Sequence[str], predictions: dict[str, Sequence[str]], groups: Sequence[object],
                        labels: Sequence[str], reference: str, n_boot: int = 2000, level: float = 0.95,
                        seed: int = 0) -> dict:
    """Percentile intervals of accuracy, macro-F1 and kappa by resampling whole recordings, and of each method's
    difference from ``reference`` on the same resamples (paired).

    Epochs of one night are not independent, so the unit of resampling is the recording (``groups``): a resample
    draws as many recordings as there are, with replacement, and pools their epochs. A prediction that is not one
    of ``labels`` (e.g. "UNKNOWN" where a baseline could not score) leaves that epoch out of that method's scores.

    Parameters
    ----------
    y_true : the scored stage of each epoch.
    predictions : method name -> predicted stage of each epoch (same order as ``y_true``).
    groups : the recording of each epoch.
    labels : the classes (:data:`~sleeplm.encoder.vocab.SCORED_STAGES`).
    reference : the method the differences are taken from (a key of ``predictions``).

    Returns
    -------
    dict with ``unit``, ``n_units``, ``n_boot``, ``level``, ``methods`` (name -> metric -> ``[low, high]``) and
    ``differences`` (``"A − reference"`` -> metric -> ``{"estimate", "interval", "share_above_zero"}``).

    Raises
    ------
    ValueError
        With fewer than two recordings (nothing to resample) or an unknown ``reference``.
    """
    y_true = np.asarray(y_true, dtype=object)
    groups = np.asarray(groups, dtype=object)
    if reference not in predictions:
        raise ValueError(f"reference {reference!r} is not among the methods {list(predictions)}")
    units, unit_of = np.unique(groups.astype(str), return_inverse=True)
    if len(units) < 2:
        raise ValueError(f"{len(units)} recording: intervals by resampling recordings need at least two")
    index = {c: i for i, c in enumerate(labels)}
    n_lab = len(labels)
    t = np.array([index.get(c, -1) for c in y_true])
    per_method = {}
    for name, pred in predictions.items():
        p = np.array([index.get(c, -1) for c in np.asarray(pred, dtype=object)])
        ok = (t >= 0) & (p >= 0)
        conf = np.zeros((len(units), n_lab, n_lab))
        np.add.at(conf, (unit_of[ok], t[ok], p[ok]), 1.0)
        per_method[name] = conf.reshape(len(units), -1)
    rng = np.random.default_rng(seed)
    weights = rng.multinomial(len(units), np.full(len(units), 1.0 / len(units)), size=n_boot).astype(np.float64)
    q = [(1 - level) / 2 * 100, (1 + level) / 2 * 100]
    boot = {name: _scores_from_confusion((weights @ conf).reshape(n_boot, n_lab, n_lab))
            for name, conf in per_method.items()}
    point = {name: _scores_from_confusion(conf.sum(axis=0).reshape(n_lab, n_lab)) for name, conf in per_method.items()}
    out = {"unit": "recording", "n_units": len(units), "n_boot": int(n_boot), "level": float(level),
           "methods": {}, "differences": {}}
    for name, sc in boot.items():
        out["methods"][name] = {m: [float(v) for v in np.nanpercentile(sc[m], q)] for m in sc}
        if name == reference:
            continue
        diffs = {}
        for m in sc:
            d = sc[m] - boot[reference][m]
            d = d[np.isfinite(d)]
            diffs[m] = {"estimate": float(point[name][m] - point[reference][m]),
                        "interval": [float(v) for v in np.percentile(d, q)],
                        "share_above_zero": float(np.mean(d > 0))}
        out["differences"][f"{name} − {reference}"] = diffs
    return out


def uniform_chance_scores(y_true: Sequence[str], labels: Sequence[str], seed: int = 0, draws: int = 20) -> dict:
    """Scores of uniformly random predictions over ``labels``, averaged over ``draws`` draws."""
    rng = np.random.default_rng(seed)
    runs = [classification_scores(y_true, rng.choice(np.asarray(labels, dtype=object), size=len(y_true)), labels)
            for _ in range(draws)]
    out = {k: float(np.mean([r[k] for r in runs])) for k in ("accuracy", "macro_f1", "kappa")}
    out["per_class_f1"] = {c: float(np.mean([r["per_class_f1"].get(c, 0.0) for r in runs])) for c in runs[0]["per_class_f1"]}
    return {"n": len(y_true), **out}


def majority_scores(y_true: Sequence[str], labels: Sequence[str]) -> dict:
    """Scores of always predicting the most frequent class of ``y_true``."""
    values, counts = np.unique(np.asarray(y_true, dtype=object), return_counts=True)
    majority = values[int(np.argmax(counts))]
    res = classification_scores(y_true, [majority] * len(y_true), labels)
    res["majority_class"] = str(majority)
    return res


def auroc(truth: np.ndarray, score: np.ndarray) -> float | None:
    """ROC AUC, or None when ``truth`` holds a single class."""
    truth = np.asarray(truth, bool)
    if truth.all() or not truth.any():
        return None
    return float(roc_auc_score(truth, np.asarray(score, np.float64)))


# ----------------------------------------------------------------------------- retrieval
def retrieval_ranks(sim: np.ndarray, correct: np.ndarray) -> np.ndarray:
    """1-based rank of the best-scored correct gallery item for each query (row of ``sim``).

    ``correct[i, j]`` says whether gallery item ``j`` answers query ``i`` (several may, e.g. epochs
    sharing one caption). Ties with wrong items count against the query (pessimistic).
    """
    sim = np.asarray(sim, np.float64)
    correct = np.asarray(correct, bool)
    if not correct.any(axis=1).all():
        raise ValueError("every query needs at least one correct gallery item")
    best_correct = np.where(correct, sim, -np.inf).max(axis=1)
    wrong_above = ((sim >= best_correct[:, None]) & ~correct).sum(axis=1)
    return wrong_above + 1


def recall_at_k(ranks: np.ndarray, k: int) -> float:
    return float(np.mean(np.asarray(ranks) <= k))


def chance_recall_at_k(n_correct: np.ndarray, n_gallery: int, k: int) -> float:
    """Expected Recall@k of random scores: mean over queries of 1 - C(G-m, k) / C(G, k),
    with ``m`` the query's correct items among ``G`` gallery items."""
    m = np.asarray(n_correct, np.float64)
    k = min(k, n_gallery)
    miss = np.ones_like(m)
    for i in range(k):  # C(G-m, k) / C(G, k) = prod_{i<k} (G-m-i) / (G-i)
        miss *= np.clip((n_gallery - m - i) / (n_gallery - i), 0.0, None)
    return float(np.mean(1.0 - miss))


# ----------------------------------------------------------------------------- intervals
def event_level_scores(found: Sequence[tuple[float, float]], truth: Sequence[tuple[float, float]]) -> dict:
    """Event-level precision / recall / F1 by overlap.

    A found interval is a true positive when it overlaps any annotated event; an annotated event
    is detected when any found interval overlaps it. Precision = TP intervals / found, recall =
    detected events / events, F1 their harmonic mean (0 when either is 0 or undefined).
    """
    def overlaps(a: tuple[float, float], b: tuple[float, float]) -> bool:
        return a[0] < b[1] and b[0] < a[1]

    tp = sum(any(overlaps(f, t) for t in truth) for f in found)
    detected = sum(any(overlaps(f, t) for f in found) for t in truth)
    precision = tp / len(found) if found else None
    recall = detected / len(truth) if truth else None
    f1 = 2 * precision * recall / (precision + recall) if precision and recall else 0.0
    return {"n_found": len(found), "n_events": len(truth), "tp_found": int(tp), "detected": int(detected),
            "precision": precision, "recall": recall, "f1": float(f1)}


# ----------------------------------------------------------------------------- captions
@dataclass
class FactCounts:
    """Fact comparison counts of a set of captions of one track (add them up, then :meth:`scores`)."""

    stage_total: int = 0
    stage_correct: int = 0
    event_tp: int = 0
    event_fp: int = 0
    event_fn: int = 0
    times_total: int = 0  # reference events of a type also predicted
    times_correct: int = 0
    values_total: int = 0
    values_correct: int = 0
    values_missing: int = 0
    position_total: int = 0
    position_correct: int = 0
    details: list[str] = field(default_factory=list)

    def add(self, other: FactCounts) -> None:
        for name in self.__dataclass_fields__:
            if name != "details":
                setattr(self, name, getattr(self, name) + getattr(other, name))

    def scores(self) -> dict[str, float | None]:
        def ratio(a: int, b: int) -> float | None:
            return a / b if b else None

        p = ratio(self.event_tp, self.event_tp + self.event_fp)
        r = ratio(self.event_tp, self.event_tp + self.event_fn)
        if self.event_tp + self.event_fp + self.event_fn == 0:
            ev_f1 = None  # no events on either side: nothing to score
        else:
            ev_f1 = 2 * p * r / (p + r) if p and r else 0.0
        parts = [x for x in (ratio(self.stage_correct, self.stage_total), ev_f1,
                             ratio(self.times_correct, self.times_total),
                             ratio(self.values_correct, self.values_total),
                             ratio(self.position_correct, self.position_total)) if x is not None]
        return {
            "stage_accuracy": ratio(self.stage_correct, self.stage_total),
            "event_type_f1": ev_f1,
            "event_time_accuracy": ratio(self.times_correct, self.times_total),
            "value_accuracy": ratio(self.values_correct, self.values_total),
            "value_missing_rate": ratio(self.values_missing, self.values_total),
            "position_accuracy": ratio(self.position_correct, self.position_total),
            "fact_accuracy": float(np.mean(parts)) if parts else None,
        }


def value_close(pred: float, ref: float, rel_tol: float = VALUE_REL_TOL, abs_tol: float = VALUE_ABS_TOL) -> bool:
    """|pred - ref| <= max(rel_tol * |ref|, abs_tol)."""
    return abs(pred - ref) <= max(rel_tol * abs(ref), abs_tol)


def compare_facts(pred: CaptionFacts, ref: CaptionFacts, time_tol_s: float = EVENT_TIME_TOL_S,
                  rel_tol: float = VALUE_REL_TOL, abs_tol: float = VALUE_ABS_TOL) -> FactCounts:
    """Compare the facts of a generated caption with those of its reference caption.

    * stage: exact match (stage_event);
    * event types: sets per epoch → TP / FP / FN;
    * event times: each reference event whose type was predicted is correct when some predicted
      event of that type starts and ends within ``time_tol_s``;
    * numeric values: each reference value (section, field) is correct when the prediction states
      it within ``max(rel_tol·|ref|, abs_tol)``; a missing value counts as wrong;
    * body position (somatic): exact.
    """
    c = FactCounts()
    if ref.track == "stage_event":
        c.stage_total = 1
        c.stage_correct = int(pred.stage == ref.stage)
        rt, pt = {e.type for e in ref.events}, {e.type for e in pred.events}
        c.event_tp, c.event_fp, c.event_fn = len(rt & pt), len(pt - rt), len(rt - pt)
        for e in ref.events:
            cands = [p for p in pred.events if p.type == e.type]
            if not cands:
                continue
            c.times_total += 1
            c.times_correct += int(any(abs(p.start_s - e.start_s) <= time_tol_s and abs(p.end_s - e.end_s) <= time_tol_s
                                       for p in cands))
        return c
    for key, sec in ref.sections.items():
        got = pred.sections.get(key)
        for name, v in sec.values.items():
            c.values_total += 1
            pv = got.values.get(name) if got is not None else None
            if pv is None:
                c.values_missing += 1
            elif value_close(pv, v, rel_tol, abs_tol):
                c.values_correct += 1
    if ref.position is not None:
        c.position_total = 1
        c.position_correct = int(pred.position is not None and pred.position.position == ref.position.position)
    return c


def caption_fact_scores(preds: Sequence[str], refs: Sequence[str], track: str, **tol: float) -> dict:
    """Parse every (generated, reference) pair with :func:`parse_caption` and score the facts."""
    total = FactCounts()
    for p, r in zip(preds, refs, strict=True):
        total.add(compare_facts(parse_caption(p, track), parse_caption(r, track), **tol))
    return total.scores()


def bleu4(preds: Sequence[str], refs: Sequence[str]) -> float:
    """Corpus BLEU-4 (sacrebleu defaults: 13a tokenisation, exponential smoothing), 0-100."""
    import sacrebleu

    return float(sacrebleu.corpus_bleu(list(preds), [list(refs)]).score)


def rouge_l(preds: Sequence[str], refs: Sequence[str]) -> float:
    """Mean ROUGE-L F-measure (rouge-score, with stemming), 0-1."""
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    vals = [scorer.score(r, p)["rougeL"].fmeasure for p, r in zip(preds, refs, strict=True)]
    return float(np.mean(vals)) if vals else 0.0


# ----------------------------------------------------------------------------- labels of nights
def same_label_chance(labels: Sequence[object]) -> float:
    """Expected share of another random night with the query's label: mean of (n_label - 1) / (N - 1)."""
    labels = np.asarray(labels, dtype=object)
    n = len(labels)
    if n < 2:
        return float("nan")
    _, inverse, counts = np.unique(labels.astype(str), return_inverse=True, return_counts=True)
    return float(np.mean((counts[inverse] - 1) / (n - 1)))
