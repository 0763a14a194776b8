"""Train the fact reader (:mod:`sleeplm.encoder.model.facts`) from a recipe on a simulated training split.

The recipe (``encoder/train/recipes/tiny-facts.json``) names the start weights by sha256, the split (a
:class:`~sleeplm.encoder.train.data.SplitSpec`, built when missing) and the training settings. The split's last
``calibration_nights`` nights are held out of training; the reader's error on each value is measured on them and
stored in the file (``FactSpace.error_sd``), so retrieval weighs every value by how well it is read on nights the
reader never saw. Every number of the run (losses, the calibration errors, the time) goes in the file's metadata.

Run: ``python -m sleeplm.encoder.train.facts tiny-facts --data DIR --out OUT.facts.safetensors``.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from sleeplm.encoder.captions.parse import caption_fact_values
from sleeplm.encoder.model.facts import (
    FACT_TRACKS,
    QUANTILE_LEVELS,
    FactModel,
    FactReader,
    FactSpace,
    save_fact_reader,
)
from sleeplm.encoder.train.data import EpochCaptions, SplitSpec
from sleeplm.encoder.train.recipe import (
    RecipeError,
    recipe_cli,
    recipe_path,
    recipe_split,
    start_weights,
)
from tqdm import tqdm

#: Floor of a value's error SD (normal-score units): no value is trusted beyond this.
MIN_ERROR_SD = 0.1


@dataclass
class HeadRecipe:
    """What every fact-reader training recipe sets (the reader and its event head)."""

    name: str
    source: Path
    sha256: str
    start_from: dict[str, str]
    data: SplitSpec
    steps: int
    batch_size: int
    lr: float
    weight_decay: float
    warmup_frac: float
    grad_clip: float
    seed: int


@dataclass
class FactRecipe(HeadRecipe):
    position_weight: float
    calibration_nights: int
    spectral_stem: bool = False


def load_fact_recipe(name_or_path: str | Path) -> FactRecipe:
    path = recipe_path(name_or_path)
    raw = path.read_bytes()
    body = json.loads(raw)
    unknown = sorted(set(body) - {"_doc", "name", "version", "start_from", "data", "train"})
    if unknown or "train" not in body or "data" not in body:
        raise RecipeError(f"{path}: a fact-reader recipe has start_from, data and train (unknown: {unknown})")
    t = dict(body["train"])
    need = {"steps", "batch_size", "lr", "weight_decay", "warmup_frac", "grad_clip", "seed", "position_weight",
            "calibration_nights"}
    optional = {"spectral_stem"}
    if not need <= set(t) or set(t) - need - optional:
        raise RecipeError(f"{path}: train needs exactly {sorted(need)}; missing {sorted(need - set(t))}, "
                          f"unknown {sorted(set(t) - need - optional)}")
    return FactRecipe(name=body["name"], source=path, sha256=hashlib.sha256(raw).hexdigest(),
                      start_from=body["start_from"], data=SplitSpec(**body["data"]), **t)


def reader_stage_recipe(name_or_path: str | Path, kind: str, need: set[str]) -> tuple[Path, bytes, dict, dict]:
    """(path, raw bytes, body, train section) of a recipe for a stage on a shipped reader (``start_from``,
    ``reader``, ``data``, ``train``), whose ``train`` has exactly the keys ``need``; ``kind`` names the stage in
    errors."""
    path = recipe_path(name_or_path)
    raw = path.read_bytes()
    body = json.loads(raw)
    unknown = sorted(set(body) - {"_doc", "name", "version", "start_from", "reader", "data", "train"})
    if unknown or not {"train", "data", "reader", "start_from"} <= set(body):
        raise RecipeError(f"{path}: {kind} recipe has start_from, reader, data and train (unknown: {unknown})")
    t = dict(body["train"])
    if set(t) != need:
        raise RecipeError(f"{path}: train needs exactly {sorted(need)}; missing {sorted(need - set(t))}, "
                          f"unknown {sorted(set(t) - need)}")
    return path, raw, body, t


def fit_cached(reader: FactReader, params: list, n_train: int, rec: HeadRecipe, epochs: int, batch_loss,
               desc: str, progress: bool = True) -> list[float]:
    """Train ``params`` of ``reader`` (every other parameter frozen) for ``epochs`` passes over ``n_train`` cached
    rows, each pass in a fresh seeded order; ``batch_loss(index tensor)`` gives a batch's loss. AdamW with a
    one-cycle schedule and clipping from ``rec``; returns the losses."""
    for p in reader.parameters():
        p.requires_grad_(False)
    for p in params:
        p.requires_grad_(True)
    steps = epochs * int(np.ceil(n_train / rec.batch_size))
    opt = torch.optim.AdamW(params, lr=rec.lr, weight_decay=rec.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=rec.lr, total_steps=steps, pct_start=rec.warmup_frac)
    rng = np.random.default_rng(rec.seed)
    losses = []
    bar = tqdm(total=steps, desc=desc, disable=not progress)
    for _ in range(epochs):
        order = rng.permutation(n_train)
        for s in range(0, len(order), rec.batch_size):
            losses.append(optimizer_step(batch_loss(torch.from_numpy(order[s:s + rec.batch_size])), opt, sched,
                                         params, rec.grad_clip))
            bar.update()
    bar.close()
    return losses


def index_batches(train: np.ndarray, batch_size: int, steps: int, seed: int, desc: str, progress: bool = True):
    """``steps`` sorted batches of ``train`` indices, each pass over them in a fresh seeded order (with progress)."""
    rng = np.random.default_rng(seed)
    order, at = rng.permutation(train), 0
    for _ in tqdm(range(steps), desc=desc, disable=not progress):
        if at + batch_size > len(order):
            order, at = rng.permutation(train), 0
        yield np.sort(order[at: at + batch_size])
        at += batch_size


def optimizer_step(loss: torch.Tensor, opt: torch.optim.Optimizer, sched, params, grad_clip: float) -> float:
    """One clipped step of ``opt`` and ``sched`` on ``loss``; returns the loss."""
    opt.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, grad_clip)
    opt.step()
    sched.step()
    return float(loss.detach())


def calibration_split(data: EpochCaptions, n_nights: int) -> tuple[list, np.ndarray, np.ndarray]:
    """(the last ``n_nights`` nights, their epoch indices, every other epoch's indices): the nights a reader is
    calibrated on are never trained on."""
    nights = data.epochs["night_id"].to_numpy()
    held = sorted(set(nights))[-n_nights:] if n_nights else []
    return held, np.flatnonzero(np.isin(nights, held)), np.flatnonzero(~np.isin(nights, held))


def value_loss(pred: torch.Tensor, logits: torch.Tensor, z: torch.Tensor, mask: torch.Tensor, pos: torch.Tensor,
               position_weight: float) -> torch.Tensor:
    """Mean squared error of the stated values' normal scores (``mask``: stated) plus ``position_weight`` times the
    cross-entropy of the stated body positions (``pos`` >= 0)."""
    loss = ((pred - z) ** 2 * mask).sum() / mask.sum().clamp(min=1)
    known = pos >= 0
    if known.any():
        loss = loss + position_weight * F.cross_entropy(logits[known], pos[known])
    return loss


def stage_values(data: EpochCaptions, space: FactSpace, source: Path) -> tuple[np.ndarray, np.ndarray]:
    """(value normal scores ``[N, V]``, position index ``[N]``) of a split's captions, for a stage on a reader with
    value space ``space`` (the split must state the reader's values; ``source``: the recipe, named in the error)."""
    names, values, pos = fact_targets(data)
    if names != space.names:
        raise RecipeError(f"{source}: the split's caption values are not the reader's ({len(names)} vs "
                          f"{len(space.names)})")
    return space.to_normal(values), pos


def stage_record(rec: HeadRecipe, reader_sha256: str, t0: float, losses: list[float], held: list) -> dict:
    """The fields every later stage's training record starts with: recipe, the reader it started from, training
    seconds since ``t0``, the last losses and the held-out nights."""
    return {"recipe": {"name": rec.name, "file": rec.source.name, "sha256": rec.sha256},
            "reader_sha256": reader_sha256, "train_seconds": round(time.time() - t0, 1),
            "final_loss_mean_last_50": float(np.mean(losses[-50:])) if losses else None, "held_out_nights": [str(n) for n in held]}


def file_record(path: str | Path) -> dict:
    """Where a trained file was written and its sha256 (the record's ``out``)."""
    return {"file": str(path), "sha256": hashlib.sha256(Path(path).read_bytes()).hexdigest()}


def calibrate_values(reader: FactReader, space: FactSpace, x: np.ndarray, z: np.ndarray, pos: np.ndarray,
                     measured: dict[str, np.ndarray] | None = None) -> dict:
    """Set ``space.error_sd`` to the reader's RMS error on held-out epochs ``x`` (normal scores ``z``, positions
    ``pos``; ``measured``: what the reader's measured priors need); returns the calibration record."""
    pz, plogp = FactModel(reader, space, {}).read(x, measured)
    err = pz - z
    ok = np.isfinite(err)
    rms = np.sqrt(np.where(ok, err, 0.0).__pow__(2).sum(0) / np.maximum(ok.sum(0), 1))
    space.error_sd = np.where(ok.sum(0) > 0, np.maximum(rms, MIN_ERROR_SD), 1.0)
    known = pos >= 0
    return {"epochs": len(x), "error_sd": dict(zip(space.names, np.round(space.error_sd, 3).tolist())),
            "position_accuracy": float((plogp[known].argmax(1) == pos[known]).mean()) if known.any() else None}


def shipped_reader(source: Path, weights: Path, reader_sha256: str) -> FactModel:
    """The fact reader beside ``weights``, when it is the one a recipe (``source``) starts from."""
    from sleeplm.encoder.model.facts import facts_path, load_fact_model

    path = facts_path(weights)
    if not path.is_file() or hashlib.sha256(path.read_bytes()).hexdigest() != reader_sha256:
        raise RecipeError(f"{source}: the fact reader beside {weights} is not the one this recipe starts from "
                          f"(sha256 {reader_sha256[:12]}…)")
    return load_fact_model(path)


def fact_targets(data: EpochCaptions) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(value names, values ``[N, V]`` in caption units with NaN where unstated, position index ``[N]``)."""
    names, cols, pos = [], [], np.full(len(data), -1, dtype=np.int64)
    for track in FACT_TRACKS:
        vals, p = caption_fact_values([data.caption(i, track) for i in range(len(data))], track)
        names += list(vals)
        cols += list(vals.values())
        if track == "somatic":
            pos = p
    return names, np.stack(cols, 1), pos


def train_fact_reader(recipe: str | Path, data_dir: str | Path, out: str | Path, start_from: str | Path | None = None,
                      progress: bool = True) -> dict:
    """Train, calibrate and save the reader; returns the run's record (also in the file's metadata)."""
    from sleeplm.encoder.model import load_model

    rec = load_fact_recipe(recipe)
    weights = start_weights(rec, start_from)  # type: ignore[arg-type]  # FactRecipe has source and start_from
    assert weights is not None
    sha = rec.start_from["sha256"]
    torch.manual_seed(rec.seed)
    data = EpochCaptions(recipe_split(data_dir, rec.data, rec.source, progress))
    held, calib, train = calibration_split(data, rec.calibration_nights)
    names, values, pos = fact_targets(data)
    space = FactSpace(names, np.stack([np.nanquantile(values[train, j], QUANTILE_LEVELS) for j in range(len(names))], 1),
                      np.ones(len(names)))
    z = space.to_normal(values)
    model = load_model(str(weights))
    reader = FactReader(model.config.biosignals_cfg, model.config.embed_dim, len(names), spectral=rec.spectral_stem)
    reader.tower.load_state_dict(model.model.biosignals.state_dict())
    if rec.spectral_stem:  # standardise the stem's input by the training epochs' statistics (a fixed, saved buffer)
        rng0 = np.random.default_rng(rec.seed + 1)
        sample = np.sort(rng0.choice(train, min(len(train), 2048), replace=False))
        with torch.no_grad():
            spec = torch.cat([reader.spectral_input(torch.from_numpy(data.signals(sample[i:i + 256])))
                              for i in range(0, len(sample), 256)])
        reader.spec_mean.copy_(spec.mean(0))
        reader.spec_std.copy_(spec.std(0).clamp_min(1e-6))
    opt = torch.optim.AdamW(reader.parameters(), lr=rec.lr, weight_decay=rec.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=rec.lr, total_steps=rec.steps, pct_start=rec.warmup_frac)
    zt = torch.from_numpy(np.nan_to_num(z)).float()
    mask = torch.from_numpy(np.isfinite(z)).float()
    post = torch.from_numpy(pos)
    losses, t0 = [], time.time()
    for b in index_batches(train, rec.batch_size, rec.steps, rec.seed, "fact reader", progress):
        pred, logits = reader(torch.from_numpy(data.signals(b)))
        loss = value_loss(pred, logits, zt[b], mask[b], post[b], rec.position_weight)
        losses.append(optimizer_step(loss, opt, sched, reader.parameters(), rec.grad_clip))
    seconds = time.time() - t0
    record: dict = {"recipe": {"name": rec.name, "file": rec.source.name, "sha256": rec.sha256},
                    "started_from": {"file": weights.name, "sha256": sha}, "train_seconds": round(seconds, 1),
                    "final_loss_mean_last_50": float(np.mean(losses[-50:])) if losses else None, "held_out_nights": [str(n) for n in held]}
    if len(calib):
        reader.eval()
        record["calibration"] = calibrate_values(reader, space, data.signals(calib), z[calib], pos[calib])
    save_fact_reader(reader, space, out, {"run": record})
    return {**record, "out": file_record(out)}


def main(argv: list[str] | None = None) -> None:  # pragma: no cover - command-line helper
    recipe_cli("Train the fact reader of a model from a recipe.", train_fact_reader, argv)


if __name__ == "__main__":  # pragma: no cover
    main()
