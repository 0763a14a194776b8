"""Captioning per track: generate for a sample of epochs and compare with the reference captions.

The same seeded sample serves every track: at most ``n_per_track`` epochs, half of them (when
there are enough) among epochs that overlap a scored event so that event facts get tested.
Fact accuracy parses both captions with ``parse_caption`` (tolerances in
:mod:`sleeplm.eval.metrics`: stage exact; event types F1; event start/end within
``EVENT_TIME_TOL_S``; numeric values within ``max(VALUE_REL_TOL·|ref|, VALUE_ABS_TOL)``;
body position exact), plus corpus BLEU-4 (sacrebleu) and mean ROUGE-L F (rouge-score).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sleeplm.encoder.captions import TRACKS
from sleeplm.encoder.captions.grounded import grounded_captions, grounded_stage_event
from sleeplm.encoder.captions.parse import parse_caption
from sleeplm.encoder.model.facts import FACT_TRACKS, fact_model_for
from sleeplm.encoder.pipeline import read_facts
from sleeplm.encoder.vocab import POSITIONS, SLEEPLM_CHANNELS

from ..context import EvalContext, TaskSkipped
from ..metrics import (
    EVENT_TIME_TOL_S,
    VALUE_ABS_TOL,
    VALUE_REL_TOL,
    bleu4,
    caption_fact_scores,
    rouge_l,
    value_close,
)
from ..registry import TaskResult


def caption_sample(ctx: EvalContext, n: int) -> pd.DataFrame:
    """Seeded sample: up to n/2 epochs with events, the rest from all epochs, in epoch order."""
    e = ctx.epochs()
    if ctx.limit_epochs is not None:
        n = min(n, ctx.limit_epochs)
    rng = ctx.rng(3)
    with_ev = np.flatnonzero(e["event_types"].map(len).to_numpy() > 0)
    take = list(rng.choice(with_ev, min(len(with_ev), n // 2), replace=False)) if len(with_ev) else []
    rest = np.setdiff1d(np.arange(len(e)), take)
    take += list(rng.choice(rest, min(len(rest), n - len(take)), replace=False))
    return e.iloc[np.sort(np.asarray(take, int))]


def caption_track_scores(model, x: np.ndarray, refs: list[str], track: str, max_len: int = 256
                         ) -> tuple[dict, list[str]]:
    """Generate ``track`` captions for ``x`` (greedy) and score them against ``refs``.

    Returns the table row (track, n, the fact scores of :func:`caption_fact_scores`, BLEU-4, ROUGE-L)
    and the generated captions.
    """
    preds = model.generate(x, track, max_len=max_len)
    row = {"track": track, "n": len(refs), **caption_fact_scores(preds, refs, track),
           "BLEU-4": bleu4(preds, refs), "ROUGE-L": rouge_l(preds, refs)}
    return row, preds


def reader_fact_scores(facts, read: tuple[np.ndarray, np.ndarray], refs: list[str], track: str) -> dict:
    """How often the fact reader's values (and body position) match what the reference captions state, with the
    tolerances of :func:`caption_fact_scores`: the reader's numbers beside the decoder's."""
    vals = facts.values(read[0], track)
    hit = tot = pos_hit = pos_tot = 0
    for i, ref in enumerate(refs):
        f = parse_caption(ref, track)
        for sec, section in f.sections.items():
            for key, v in section.values.items():
                tot += 1
                hit += bool(f"{sec}.{key}" in vals and value_close(float(vals[f"{sec}.{key}"][i]), v))
        if track == "somatic" and f.position is not None and f.position.position in POSITIONS:
            pos_tot += 1
            pos_hit += POSITIONS[int(np.argmax(read[1][i]))] == f.position.position
    value = hit / tot if tot else None
    position = pos_hit / pos_tot if pos_tot else None
    kinds = [v for v in (value, position) if v is not None]
    return {"track": track, "n": len(refs), "value_accuracy": value, "position_accuracy": position,
            "fact_accuracy": float(np.mean(kinds)) if kinds else None}


@dataclass
class Captioning:
    name: str = "captioning"
    main_score: str = "fact_accuracy"
    description: str = "generated captions per track: fact accuracy via parse_caption, BLEU-4, ROUGE-L"
    n_per_track: int = 50
    tracks: tuple[str, ...] = TRACKS
    max_len: int = 256

    def run(self, ctx: EvalContext) -> TaskResult:
        sample = caption_sample(ctx, self.n_per_track)
        if len(sample) == 0:
            raise TaskSkipped("no epochs")
        ids = sample["epoch_id"].to_numpy()
        x = ctx.signals(ids)
        res = TaskResult(self.name, self.main_score, config={
            "n_epochs": len(ids), "max_len": self.max_len, "decoding": "greedy",
            "event_time_tol_s": EVENT_TIME_TOL_S, "value_rel_tol": VALUE_REL_TOL, "value_abs_tol": VALUE_ABS_TOL})
        rows, facts, examples, reader_rows, grounded_rows, grounded_facts = [], [], [], [], [], []
        fact_model = fact_model_for(ctx.model_ref.weights, ctx.model_ref.sha256)
        read = read_facts(fact_model, x, ctx.night_emg_rms(ids)) if fact_model is not None else None
        masks = ctx.channel_masks(ids) if read is not None else None
        events = fact_model.read_events(x) if fact_model is not None else None  # None: the reader has no event head
        for track in self.tracks:
            refs = ctx.captions(ids, track)
            keep = [i for i, r in enumerate(refs) if r]
            if not keep:
                res.notes.append(f"{track}: no reference captions, skipped")
                continue
            refs = [refs[i] for i in keep]
            row, preds = caption_track_scores(ctx.model, x[keep], refs, track, self.max_len)
            rows.append(row)
            for k, v in row.items():
                if k not in ("track",):
                    res.scores[f"{track}/{k}"] = v
            if row["fact_accuracy"] is not None:
                facts.append(row["fact_accuracy"])
            examples.append({"track": track, "epoch_id": int(ids[keep[0]]), "reference": refs[0], "generated": preds[0]})
            grounded = None
            if read is not None and track in FACT_TRACKS:
                rr = reader_fact_scores(fact_model, (read[0][keep], read[1][keep]), refs, track)
                reader_rows.append(rr)
                res.scores[f"{track}/reader_fact_accuracy"] = rr["fact_accuracy"]
                grounded = grounded_captions(preds, track, fact_model.values(read[0][keep], track),
                                             read[1][keep] if track == "somatic" else None, masks[keep], refs)
            elif events is not None and track == "stage_event":
                grounded = [grounded_stage_event(p, events[i], fact_model.reader.event_types,
                                                 {c for c, on in zip(SLEEPLM_CHANNELS, masks[i]) if on})
                            for p, i in zip(preds, keep)]
            if grounded is not None:
                gr = {"track": track, "n": len(refs), **caption_fact_scores(grounded, refs, track),
                      "BLEU-4": bleu4(grounded, refs), "ROUGE-L": rouge_l(grounded, refs)}
                grounded_rows.append(gr)
                res.scores[f"{track}/grounded_fact_accuracy"] = gr["fact_accuracy"]
                examples[-1]["grounded"] = grounded[0]
            if row["fact_accuracy"] is not None and read is not None:
                grounded_facts.append(gr["fact_accuracy"] if grounded is not None else row["fact_accuracy"])
        ctx.drop_signals()
        if not rows:
            raise TaskSkipped("no reference captions in the workspace")
        res.scores[self.main_score] = float(np.mean(facts)) if facts else None
        res.tables["captioning"] = rows
        res.tables["examples"] = examples
        if grounded_facts:
            res.scores["grounded_fact_accuracy"] = float(np.mean(grounded_facts))
        if reader_rows:
            res.tables["fact reader: the numbers read from the signal"] = reader_rows
            res.tables["grounded captions: the decoder's wording, the fact reader's numbers"] = grounded_rows
            res.notes.append("grounded captions (encoder/captions/grounded.py): each generated caption of a numeric track "
                             "keeps its sections, trend phases and position changes and takes the fact reader's values "
                             "and body position; a caption cut off at the length limit gains the sections of the "
                             "channels the epoch has; where the reader has an event head, the stage caption keeps the "
                             "decoder's stage and takes the head's apneas, hypopneas and arousals. Both parts are model "
                             "outputs. grounded_fact_accuracy is the mean over all tracks (a track with no grounded "
                             "row counts its generated caption as it is)")
            res.notes.append("fact reader rows: the values (and body position) the fact reader shipped beside the weights "
                             "reads from each epoch (encoder/model/facts.py), scored against the same reference captions "
                             "with the same tolerances")
        res.notes.append(f"fact tolerances: stage exact; event times ±{EVENT_TIME_TOL_S:g} s; numeric values within "
                         f"max({VALUE_REL_TOL:.0%} relative, {VALUE_ABS_TOL:g} absolute); a value the caption omits is "
                         "wrong; fact_accuracy = mean over the fact kinds a track has")
        return res
