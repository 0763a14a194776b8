"""Event localization with text queries, against a feature-rule baseline.

For each event kind (``eval/prompts/events.json``: apnea = obstructive + central + mixed,
hypopnea, desaturation, arousal) the query vector is the normalised mean of the kind's prompt
embeddings; each epoch's score is its cosine with it, standardised within the night (robust z,
as ``Cohort.localize``). Reported:

* per-epoch AUROC of the night-standardised score against "the epoch overlaps an annotated event
  of this kind" (all nights pooled);
* event-level precision / recall / F1 of the intervals found (runs of z > ``z_threshold``,
  :func:`sleeplm.index.localize.find_intervals`) against the annotated events, by overlap;
* the same for the calibrated score (:func:`sleeplm.index.localize.calibrated_probability`: the event
  text against the no-event caption, per epoch, intervals where the probability > 0.5), which does
  not need the event to stand out within its night;
* the same for the rule baseline (:func:`sleeplm.eval.baselines.rule_scores`) on the reference
  feature table;
* the same for the fact reader's event head when one ships beside the weights (kinds it reads: apneas,
  hypopneas, arousals): an epoch's score is its highest per-patch probability of the kind's types, and the
  intervals are the events it reads over the night, to the second
  (:func:`sleeplm.encoder.model.facts.night_events_from_probs`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sleeplm.encoder.captions.render import event_gist
from sleeplm.encoder.model.facts import (
    event_inputs_present,
    fact_model_for,
    night_events_from_probs,
)
from sleeplm.index.localize import (
    NEGATION,
    calibrated_probability,
    find_intervals,
    robust_z,
)

from ..baselines import rule_scores
from ..context import EvalContext, EvalError, TaskSkipped
from ..metrics import auroc, event_level_scores
from ..plots import plot_timeline
from ..registry import TaskResult

PROMPTS = Path(__file__).resolve().parents[1] / "prompts" / "events.json"


def load_event_prompts(path: Path = PROMPTS) -> dict[str, dict]:
    return {k: v for k, v in json.loads(Path(path).read_text()).items() if not k.startswith("_")}


def _event_head_probabilities(ctx: EvalContext, facts, epochs) -> dict[int, np.ndarray] | None:
    """recording_id -> the event head's per-patch probabilities ``[N, T, K]`` of its epochs (in ``epochs`` order),
    read night by night; None when the reader has no event head."""
    if not facts.reader.event_types:
        return None
    out = {}
    for rid, grp in epochs.groupby("recording_id"):
        ids = grp["epoch_id"].to_numpy()
        probs = facts.event_probabilities(ctx.signals(ids))
        ctx.drop_signals()
        # an epoch without an event type's inputs (airflow and belts, EEG) shows none: not read there
        out[int(rid)] = probs * event_inputs_present(facts.reader.event_types, ctx.channel_masks(ids))[:, None, :]
    return out


@dataclass
class EventLocalization:
    name: str = "localization"
    main_score: str = "mean_auroc"
    description: str = "event localization by text query: per-epoch AUROC and event-level F1, vs feature rules"
    z_threshold: float = 2.0
    prompts_path: Path = PROMPTS

    def run(self, ctx: EvalContext) -> TaskResult:
        kinds = load_event_prompts(self.prompts_path)
        events = ctx.events()
        if events.empty:
            raise TaskSkipped("the workspace has no scored events")
        epochs = ctx.epochs()
        feats = None
        if ctx.has_table("features"):  # aligned row by row with ``epochs``
            feats = ctx.features().set_index("epoch_id").reindex(epochs["epoch_id"]).reset_index()
        vecs = ctx.epoch_vectors(epochs["epoch_id"].to_numpy())
        facts = fact_model_for(ctx.model_ref.weights, ctx.model_ref.sha256)
        res = TaskResult(self.name, self.main_score, config={"z_threshold": self.z_threshold, "kinds": kinds,
                                                             "score": "cosine, robust z within night"})
        head = None
        if facts is not None:
            try:
                head = _event_head_probabilities(ctx, facts, epochs)
            except EvalError as exc:  # the recordings are gone: every other method runs from the stored vectors
                res.notes.append(f"event head rows left out: {exc}")
        rows, aucs, best = [], [], None
        for kind, spec in kinds.items():
            types = set(spec["types"])
            ev = events[events["type"].isin(types)]
            if ev.empty:
                res.notes.append(f"{kind}: no annotated events, skipped")
                continue
            # event times inside a prompt are noise for "where in the night": the query is the gist, as in
            # sleeplm.index.querytext.caption_style
            q = ctx.model.encode_text([event_gist(p) for p in spec["prompts"]]).mean(axis=0)
            q /= max(float(np.linalg.norm(q)), 1e-12)
            neg = ctx.model.encode_text([NEGATION])[0]
            for method in ("SleepLM", "SleepLM calibrated", "feature rule", "event head"):
                if method == "event head" and not (head and types & set(facts.reader.event_types)):
                    continue
                truth_all, z_all, found_n, tp_found, det, n_ev = [], [], 0, 0, 0, 0
                for rid, grp in epochs.groupby("recording_id"):
                    idx = grp.index.to_numpy()
                    if method == "SleepLM":
                        raw = vecs[idx] @ q
                    elif method == "SleepLM calibrated":  # event text vs the no-event caption, per epoch
                        raw = calibrated_probability(vecs[idx] @ q, vecs[idx] @ neg)
                    elif method == "event head":
                        ks = [k for k, t in enumerate(facts.reader.event_types) if t in types]
                        raw = head[rid][:, :, ks].max(axis=(1, 2))
                    else:
                        if feats is None:
                            break
                        raw = rule_scores(feats.iloc[idx].reset_index(drop=True), kind)
                        if raw is None:
                            continue
                    probability = method in ("SleepLM calibrated", "event head")
                    z = raw if probability else robust_z(raw)
                    onset = grp["onset_s"].to_numpy()
                    truth = np.array([bool(types & set(t)) for t in grp["event_types"]])
                    threshold = 0.5 if probability else self.z_threshold
                    night_ev = ev[ev["recording_id"] == rid]
                    spans = list(zip(night_ev["onset_s"], night_ev["onset_s"] + night_ev["duration_s"]))
                    if method == "event head":
                        found = [(a, b) for t, a, b in night_events_from_probs(
                            head[rid], onset, facts.reader.event_types, facts.patch_s) if t in types]
                    else:
                        found = [(iv.start_s, iv.end_s) for iv in find_intervals(z, onset, raw, threshold)]
                    s = event_level_scores(found, spans)
                    found_n += s["n_found"]
                    n_ev += s["n_events"]
                    tp_found += s["tp_found"]
                    det += s["detected"]
                    truth_all.append(truth)
                    z_all.append(z)
                    if method == "SleepLM" and (best is None or len(spans) > best[0]):
                        best = (len(spans), kind, grp["recording"].iloc[0], onset, z, spans, found, rid)
                if not truth_all:
                    rows.append({"kind": kind, "method": method, "AUROC": None, "note": "channel missing"})
                    continue
                a = auroc(np.concatenate(truth_all), np.concatenate(z_all))
                p = tp_found / found_n if found_n else None
                r = det / n_ev if n_ev else None
                f1 = 2 * p * r / (p + r) if p and r else 0.0
                rows.append({"kind": kind, "method": method, "AUROC": a, "precision": p, "recall": r, "F1": f1,
                             "intervals": found_n, "events": n_ev,
                             "positive epochs": int(np.concatenate(truth_all).sum())})
                key = {"SleepLM": "model", "SleepLM calibrated": "model_calibrated",
                       "event head": "event_head"}.get(method, "rule")
                res.scores[f"{kind}/{key}/auroc"] = a
                res.scores[f"{kind}/{key}/event_f1"] = f1
                if method == "SleepLM" and a is not None:
                    aucs.append(a)
        if not rows:
            raise TaskSkipped("no annotated events of the kinds queried (apnea, hypopnea, desaturation, arousal)")
        res.scores[self.main_score] = float(np.mean(aucs)) if aucs else None
        rule_aucs = [v for k, v in res.scores.items() if k.endswith("/rule/auroc") and v is not None]
        res.scores["rule_mean_auroc"] = float(np.mean(rule_aucs)) if rule_aucs else None
        res.tables["event localization"] = rows
        if best is not None:
            _, kind, rec, onset, z, spans, found, rid = best
            series, found_by = {"SleepLM": z}, {"SleepLM": found}
            if feats is not None:
                grp = epochs[epochs["recording_id"] == rid]
                raw = rule_scores(feats.iloc[grp.index.to_numpy()].reset_index(drop=True), kind)
                if raw is not None:
                    zr = robust_z(raw)
                    series["feature rule"] = zr
                    found_by["feature rule"] = [(iv.start_s, iv.end_s) for iv in find_intervals(zr, onset, raw, self.z_threshold)]
            res.plots.append(plot_timeline(onset, series, spans, found_by, self.z_threshold,
                                           ctx.out_dir / "localization_timeline.png", f"{kind} in {rec}"))
        return res
