"""Train the fact reader's event head (:class:`sleeplm.encoder.model.facts.EventHead`) from a recipe.

The reader shipped beside the weights is loaded (checked by the recipe's sha256) and frozen; only a new event head is
trained, on the stage_event captions' event times of the recipe's simulated split, less its last
``calibration_nights`` nights. On those nights the head's events are scored as the captioning task scores a caption's
events (type F1 per epoch; a reference event's start and end within 3 s), and the numbers go in the file's metadata
beside the reader's own training record. The values the reader reads are unchanged.

Run: ``python -m sleeplm.encoder.train.fact_events tiny-facts-events --data DIR --out OUT.facts.safetensors``.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from sleeplm.encoder.captions.parse import event_timelines, parse_caption
from sleeplm.encoder.model.facts import (
    READABLE_EVENTS,
    EventHead,
    FactModel,
    save_fact_reader,
)
from sleeplm.encoder.train.data import EpochCaptions, SplitSpec
from sleeplm.encoder.train.facts import (
    HeadRecipe,
    calibration_split,
    file_record,
    index_batches,
    optimizer_step,
    reader_stage_recipe,
    shipped_reader,
    stage_record,
)
from sleeplm.encoder.train.recipe import (
    RecipeError,
    recipe_cli,
    recipe_split,
    start_weights,
)

#: A reference event's start and end must both lie this close to a read event of its type (the captioning task's).
TIME_TOL_S = 3.0


@dataclass
class EventRecipe(HeadRecipe):
    reader_sha256: str
    pos_weight: float
    calibration_nights: int
    event_types: tuple[str, ...]


def load_event_recipe(name_or_path: str | Path) -> EventRecipe:
    need = {"steps", "batch_size", "lr", "weight_decay", "warmup_frac", "grad_clip", "seed", "pos_weight",
            "calibration_nights", "event_types"}
    path, raw, body, t = reader_stage_recipe(name_or_path, "an event-head", need)
    bad = [e for e in t["event_types"] if e not in READABLE_EVENTS]
    if bad:
        raise RecipeError(f"{path}: event types {bad} are not readable from the model's inputs ({READABLE_EVENTS})")
    t["event_types"] = tuple(t["event_types"])
    return EventRecipe(name=body["name"], source=path, sha256=hashlib.sha256(raw).hexdigest(),
                       start_from=body["start_from"], reader_sha256=body["reader"]["sha256"],
                       data=SplitSpec(**body["data"]), **t)


def event_scores(read: list[list[tuple[str, float, float]]], captions: list[str],
                 event_types: tuple[str, ...]) -> dict[str, dict[str, float | int | None]]:
    """Per type and over all: type F1 over epochs (an epoch's set of types) and the share of stated events whose
    start and end a read event of the type matches within :data:`TIME_TOL_S`."""
    out = {}
    for name in (*event_types, "all"):
        types = event_types if name == "all" else (name,)
        tp = fp = fn = hit = total = 0
        for got, text in zip(read, captions):
            ref = [e for e in parse_caption(text, "stage_event").events if e.type in types]
            rt, pt = {e.type for e in ref}, {g[0] for g in got if g[0] in types}
            tp, fp, fn = tp + len(rt & pt), fp + len(pt - rt), fn + len(rt - pt)
            for e in ref:
                total += 1
                hit += any(g[0] == e.type and abs(g[1] - e.start_s) <= TIME_TOL_S and abs(g[2] - e.end_s) <= TIME_TOL_S
                           for g in got)
        f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else None
        out[name] = {"type_f1": f1, "time_accuracy": hit / total if total else None, "stated": total}
    return out


def train_event_head(recipe: str | Path, data_dir: str | Path, out: str | Path, start_from: str | Path | None = None,
                     progress: bool = True) -> dict:
    """Train the head on the frozen shipped reader, score it on the held-out nights, save reader + head to ``out``."""
    rec = load_event_recipe(recipe)
    weights = start_weights(rec, start_from)  # type: ignore[arg-type]  # EventRecipe has source and start_from
    assert weights is not None
    fm = shipped_reader(rec.source, weights, rec.reader_sha256)
    reader = fm.reader
    torch.manual_seed(rec.seed)
    cfg = reader.tower.cfg
    patch_s = cfg.patch_size / (cfg.signal_length / 30.0)
    reader.event_types = rec.event_types
    reader.events = EventHead(cfg.input_channels, cfg.transformer_width, len(rec.event_types))
    for p in reader.parameters():
        p.requires_grad_(False)
    for p in reader.events.parameters():
        p.requires_grad_(True)
    reader.eval()
    reader.events.train()
    data = EpochCaptions(recipe_split(data_dir, rec.data, rec.source, progress))
    held, calib, train = calibration_split(data, rec.calibration_nights)
    captions = [data.caption(i, "stage_event") for i in range(len(data))]
    y = torch.from_numpy(event_timelines(captions, rec.event_types, cfg.num_patches, patch_s))
    opt = torch.optim.AdamW(reader.events.parameters(), lr=rec.lr, weight_decay=rec.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=rec.lr, total_steps=rec.steps, pct_start=rec.warmup_frac)
    pos_weight = torch.full((len(rec.event_types),), rec.pos_weight)
    losses, t0 = [], time.time()
    for b in index_batches(train, rec.batch_size, rec.steps, rec.seed, "event head", progress):
        with torch.no_grad():
            seq = reader.tower.forward_features(torch.from_numpy(data.signals(b)))
        loss = F.binary_cross_entropy_with_logits(reader.events(seq), y[b], pos_weight=pos_weight)
        losses.append(optimizer_step(loss, opt, sched, reader.events.parameters(), rec.grad_clip))
    reader.eval()
    record = stage_record(rec, rec.reader_sha256, t0, losses, held)
    if len(calib):
        got = FactModel(reader, fm.space, {}).read_events(data.signals(calib))
        assert got is not None
        record["calibration"] = {"epochs": len(calib),
                                 **event_scores(got, [captions[i] for i in calib], rec.event_types)}
    save_fact_reader(reader, fm.space, out, {"run": fm.meta.get("run"), "events_run": record})
    return {**record, "out": file_record(out)}


def main(argv: list[str] | None = None) -> None:  # pragma: no cover - command-line helper
    recipe_cli("Train the fact reader's event head from a recipe.", train_event_head, argv)


if __name__ == "__main__":  # pragma: no cover
    main()
