"""Cross-modal retrieval per caption track, both ways, on a pool of epochs.

The pool is a seeded sample of at most ``pool_size`` epochs (and ``limit_epochs``). For each track,
the pool's reference captions are deduplicated (identical captions, frequent for ``stage_event``,
cannot be told apart) and the epochs' signal vectors are scored against the distinct captions'
text vectors (cosine):

* signal→text: each epoch ranks the distinct captions; correct = its own caption;
* text→signal: each distinct caption ranks the pool's epochs; correct = any epoch with it.

Ties with wrong items count against the query. Chance = expected Recall@k of random scores
(signal→text: k / distinct captions; text→signal: from the number of epochs sharing each caption).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sleeplm.encoder.captions import TRACKS
from sleeplm.encoder.captions.parse import (
    caption_fact_values,
    event_timelines,
    parse_caption,
)
from sleeplm.encoder.model.facts import (
    FACT_TRACKS,
    event_inputs_present,
    fact_model_for,
    stage_event_scores,
)
from sleeplm.encoder.pipeline import read_facts
from sleeplm.encoder.vocab import SCORED_STAGES

from ..context import EvalContext, TaskSkipped
from ..metrics import chance_recall_at_k, recall_at_k, retrieval_ranks
from ..plots import plot_recall_curves
from ..registry import TaskResult
from ..staging import PLAIN, load_prompts, stage_prototypes, stage_scores

KS = (1, 5, 10)


@dataclass
class DirectionRanks:
    """The ranks of one retrieval direction of one track (what :func:`track_retrieval` measures)."""

    track: str
    direction: str  # "signal→text" or "text→signal"
    ranks: np.ndarray  # 1-based rank of the best correct item, per query
    n_correct: np.ndarray  # correct gallery items per query
    n_gallery: int
    n_epochs: int
    n_distinct: int

    def row(self) -> dict:
        """Recall@k, median rank and their chance levels (a report table row)."""
        return {"track": self.track, "direction": self.direction,
                **{f"R@{k}": recall_at_k(self.ranks, k) for k in KS}, "median rank": float(np.median(self.ranks)),
                **{f"chance R@{k}": chance_recall_at_k(self.n_correct, self.n_gallery, k) for k in KS},
                "epochs": self.n_epochs, "distinct captions": self.n_distinct}


def _both_directions(texts: list[str], label: str, score) -> list[DirectionRanks]:
    """Rank epochs against the distinct captions both ways; ``score(epoch_rows, distinct_texts)`` gives the
    ``[epochs, distinct captions]`` similarity, or None when there is nothing to rank by."""
    have = np.array([bool(t) for t in texts])
    if have.sum() < 2:
        return []
    t_ids = np.flatnonzero(have)
    distinct, groups = np.unique(np.array([texts[i] for i in t_ids], dtype=object), return_inverse=True)
    sim = score(t_ids, [str(t) for t in distinct])
    if sim is None:
        return []
    own = groups[:, None] == np.arange(len(distinct))[None, :]
    sizes = np.bincount(groups, minlength=len(distinct))
    return [DirectionRanks(label, "signal→text", retrieval_ranks(sim, own), np.ones(len(t_ids)), len(distinct),
                           len(t_ids), len(distinct)),
            DirectionRanks(label, "text→signal", retrieval_ranks(sim.T, own.T), sizes, len(t_ids),
                           len(t_ids), len(distinct))]


def track_retrieval(model, signal_vectors: np.ndarray, texts: list[str], track: str) -> list[DirectionRanks]:
    """Both directions of retrieval between epochs and their reference captions of one track.

    Parameters
    ----------
    model : a loaded ``SleepLM`` (embeds the captions).
    signal_vectors : ``[N, D]`` epoch vectors of the same model.
    texts : the epochs' reference captions ("" where absent: those epochs are left out).
    track : the captions' track (a label for the rows).

    Returns an empty list when fewer than two epochs have a caption.
    """
    return _both_directions(texts, track, lambda rows, distinct: np.asarray(signal_vectors)[rows]
                            @ model.encode_text(distinct).T)


def fact_retrieval(fact_model, read: tuple[np.ndarray, np.ndarray], texts: list[str], track: str) -> list[DirectionRanks]:
    """:func:`track_retrieval` in the fact reader's value space (``sleeplm.encoder.model.facts``): epochs read by the
    reader, texts by their stated values, scored by the log-likelihood of the text's values under the reading."""
    def score(rows: np.ndarray, distinct: list[str]) -> np.ndarray | None:
        stated = caption_fact_values(distinct, track)
        if not any(np.isfinite(v).any() for v in stated[0].values()) and not (stated[1] >= 0).any():
            return None  # no caption states a value of this track (e.g. "no ECG recorded"): nothing to retrieve by
        return fact_model.scores((read[0][rows], read[1][rows]), stated, track)

    return _both_directions(texts, f"{track} (fact reader)", score)


#: The stage/event fact rows' constants: the stage probabilities' softmax temperature over cosine similarities and
#: the event term's weight, chosen on the validation split (9 simulated nights × 6 h, seed 1,000,001; never on an
#: evaluation cohort): ``eval/results/stage-event-facts/``.
STAGE_TEMPERATURE = 0.05
EVENT_WEIGHT = 0.3


def stage_log_probabilities(model, signal_vectors: np.ndarray, temperature: float = STAGE_TEMPERATURE) -> np.ndarray:
    """``[N, S]`` log-probability of each of :data:`~sleeplm.encoder.vocab.SCORED_STAGES` per epoch vector: the
    softmax over stages of the zero-shot prototypes' cosine (``eval/staging.py``, plain rule) / ``temperature``."""
    stages, protos = stage_prototypes(model, load_prompts())
    if list(stages) != list(SCORED_STAGES):
        raise ValueError(f"the staging prompts cover {stages}, not every scored stage {list(SCORED_STAGES)}")
    z = stage_scores(np.asarray(signal_vectors), protos, PLAIN) / temperature
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def stage_event_fact_retrieval(fact_model, stage_logp: np.ndarray, event_probs: np.ndarray,
                               texts: list[str]) -> list[DirectionRanks]:
    """:func:`track_retrieval` of the stage/event captions scored by
    :func:`~sleeplm.encoder.model.facts.stage_event_scores`: each text's stage under ``stage_logp`` ``[N, S]``
    (:func:`stage_log_probabilities`) and its readable events' timeline under the event head's per-patch
    probabilities ``event_probs`` ``[N, T, K]`` (``FactModel.event_probabilities``)."""
    def score(rows: np.ndarray, distinct: list[str]) -> np.ndarray:
        stage = np.array([SCORED_STAGES.index(f.stage) if f.stage in SCORED_STAGES else -1
                          for f in (parse_caption(t, "stage_event") for t in distinct)])
        timelines = event_timelines(distinct, fact_model.reader.event_types, event_probs.shape[1], fact_model.patch_s)
        return stage_event_scores(stage_logp[rows], stage, event_probs[rows], timelines, EVENT_WEIGHT)

    return _both_directions(texts, "stage_event (fact reader)", score)


@dataclass
class CrossModalRetrieval:
    name: str = "retrieval"
    main_score: str = "mean_recall@10"
    description: str = "signal↔text retrieval per track on a pool of epochs (Recall@1/5/10, median rank)"
    pool_size: int = 1000
    tracks: tuple[str, ...] = TRACKS

    def run(self, ctx: EvalContext) -> TaskResult:
        pool = ctx.sample(ctx.epochs(), self.pool_size, salt=2)
        if len(pool) < 2:
            raise TaskSkipped("fewer than 2 epochs")
        ids = pool["epoch_id"].to_numpy()
        sig = ctx.epoch_vectors(ids)
        res = TaskResult(self.name, self.main_score, config={"pool": len(ids), "ks": list(KS),
                                                             "correct": "identical reference caption"})
        rows, curves, chance_curves, r10 = [], {}, {}, []
        for track in self.tracks:
            directions = track_retrieval(ctx.model, sig, ctx.captions(ids, track), track)
            if not directions:
                res.notes.append(f"{track}: no reference captions, skipped")
                continue
            for d in directions:
                row = d.row()
                rows.append(row)
                r10.append(row["R@10"])
                for k in KS:
                    res.scores[f"{track}/{d.direction}/R@{k}"] = row[f"R@{k}"]
                res.scores[f"{track}/{d.direction}/median_rank"] = row["median rank"]
                kgrid = np.unique(np.geomspace(1, d.n_gallery, 30).astype(int))
                curves[f"{track} {d.direction}"] = (kgrid, np.array([recall_at_k(d.ranks, k) for k in kgrid]))
                chance_curves[f"{track} {d.direction}"] = (
                    kgrid, np.array([chance_recall_at_k(d.n_correct, d.n_gallery, k) for k in kgrid]))
        if not rows:
            raise TaskSkipped("no reference captions in the workspace")
        res.scores[self.main_score] = float(np.mean(r10))
        facts = fact_model_for(ctx.model_ref.weights, ctx.model_ref.sha256)
        if facts is not None:  # the numeric tracks again, in the fact reader's value space
            x = ctx.signals(ids)
            read = read_facts(facts, x, ctx.night_emg_rms(ids))
            event_probs = facts.event_probabilities(x) if "stage_event" in self.tracks else None
            if event_probs is not None:  # a type whose inputs the epoch lacks is unread: 0.5, which tells nothing
                seen = event_inputs_present(facts.reader.event_types, ctx.channel_masks(ids))
                event_probs = np.where(seen[:, None, :], event_probs, 0.5)
            del x
            ctx.drop_signals()
            f10 = []
            for track in (t for t in self.tracks if t in FACT_TRACKS):
                for d in fact_retrieval(facts, read, ctx.captions(ids, track), track):
                    row = d.row()
                    rows.append(row)
                    f10.append(row["R@10"])
                    for k in KS:
                        res.scores[f"{track}/facts/{d.direction}/R@{k}"] = row[f"R@{k}"]
            if f10:
                res.scores["facts_mean_recall@10"] = float(np.mean(f10))
                res.notes.append("rows \"(fact reader)\": the numeric tracks scored in the value space of the fact "
                                 "reader shipped beside the weights (encoder/model/facts.py), not by the text tower")
            if event_probs is not None:
                stage_logp = stage_log_probabilities(ctx.model, sig)
                for d in stage_event_fact_retrieval(facts, stage_logp, event_probs, ctx.captions(ids, "stage_event")):
                    row = d.row()
                    rows.append(row)
                    for k in KS:
                        res.scores[f"stage_event/facts/{d.direction}/R@{k}"] = row[f"R@{k}"]
                res.notes.append(
                    "rows \"stage_event (fact reader)\": a stage/event caption scored by the log-probability of its "
                    f"stage (zero-shot prototypes, temperature {STAGE_TEMPERATURE}) plus {EVENT_WEIGHT} × the "
                    "likelihood of its apneas, hypopneas and arousals under the fact reader's event head, per 1-s "
                    "patch (desaturations and limb movements are not read); both constants chosen on the validation "
                    "split, eval/results/stage-event-facts/")
        res.tables["cross-modal retrieval"] = rows
        res.plots.append(plot_recall_curves(curves, ctx.out_dir / "retrieval_recall.png",
                                            f"retrieval, pool {len(ids)} ({ctx.model_ref.name})", chance_curves))
        return res
