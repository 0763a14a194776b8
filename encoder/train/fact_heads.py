"""Refit the fact reader's value and position heads on its frozen tower (a second training stage, from a recipe).

The reader's first stage trains tower and heads together for a fixed number of steps; its held-out errors showed the
heads short of what their inputs hold (the spectral stem's bins sum to every EEG band power exactly, yet theta and
alpha were read to about 0.33 SD). Here the tower is frozen, so every training epoch's head inputs (per-channel mean
tokens, the global token, the stem's bins) are computed once, and the stem layer and both heads are trained on them
for many passes in minutes. The event head, which reads the tower's tokens, is kept as it is. The values' held-out
errors are measured again on the calibration nights and stored with the run.

Run: ``python -m sleeplm.encoder.train.fact_heads tiny-facts-heads --data DIR --out OUT.facts.safetensors``.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from sleeplm.encoder.model.facts import (
    save_fact_reader,
)
from sleeplm.encoder.train.data import EpochCaptions, SplitSpec
from sleeplm.encoder.train.facts import (
    HeadRecipe,
    calibrate_values,
    calibration_split,
    file_record,
    fit_cached,
    reader_stage_recipe,
    shipped_reader,
    stage_record,
    stage_values,
    value_loss,
)
from sleeplm.encoder.train.recipe import (
    RecipeError,
    recipe_cli,
    recipe_split,
    start_weights,
)


@dataclass
class HeadRefitRecipe(HeadRecipe):
    reader_sha256: str
    epochs: int
    position_weight: float
    calibration_nights: int


def load_head_recipe(name_or_path: str | Path) -> HeadRefitRecipe:
    need = {"epochs", "batch_size", "lr", "weight_decay", "warmup_frac", "grad_clip", "seed", "position_weight",
            "calibration_nights"}
    path, raw, body, t = reader_stage_recipe(name_or_path, "a head-refit", need)
    return HeadRefitRecipe(name=body["name"], source=path, sha256=hashlib.sha256(raw).hexdigest(),
                           start_from=body["start_from"], reader_sha256=body["reader"]["sha256"],
                           data=SplitSpec(**body["data"]), steps=0, **t)


@torch.no_grad()
def head_inputs(reader, x: np.ndarray, batch_size: int = 128) -> tuple[torch.Tensor, torch.Tensor]:
    """(the tower's part ``[N, C*D + D]``, the raw stem input ``[N, C*F]``) of epochs ``x``: what the heads read
    (:meth:`~sleeplm.encoder.model.facts.FactReader.heads`)."""
    tower, spec = [], []
    for s in range(0, len(x), batch_size):
        xb = torch.from_numpy(np.asarray(x[s:s + batch_size], dtype=np.float32))
        tower.append(reader.pooled(reader.tower.forward_features(xb)))
        spec.append(reader.spectral_input(xb))
    return torch.cat(tower), torch.cat(spec)


def refit_fact_heads(recipe: str | Path, data_dir: str | Path, out: str | Path, start_from: str | Path | None = None,
                     progress: bool = True) -> dict:
    """Refit the stem layer and the value and position heads of the shipped reader; save to ``out``."""
    rec = load_head_recipe(recipe)
    weights = start_weights(rec, start_from)  # type: ignore[arg-type]
    assert weights is not None
    fm = shipped_reader(rec.source, weights, rec.reader_sha256)
    reader, space = fm.reader, fm.space
    if not reader.spectral:
        raise RecipeError(f"{rec.source}: the reader has no spectral stem to refit")
    torch.manual_seed(rec.seed)
    data = EpochCaptions(recipe_split(data_dir, rec.data, rec.source, progress))
    held, calib, train = calibration_split(data, rec.calibration_nights)
    z, pos = stage_values(data, space, rec.source)
    reader.eval()
    t0 = time.time()
    tower, spec = head_inputs(reader, data.signals(train))
    zt = torch.from_numpy(np.nan_to_num(z[train])).float()
    mask = torch.from_numpy(np.isfinite(z[train])).float()
    post = torch.from_numpy(pos[train])
    params = [*reader.spec.parameters(), *reader.values.parameters(), *reader.position.parameters()]

    def batch_loss(b: torch.Tensor) -> torch.Tensor:
        pred, logits = reader.heads(tower[b], spec[b])
        return value_loss(pred, logits, zt[b], mask[b], post[b], rec.position_weight)

    losses = fit_cached(reader, params, len(train), rec, rec.epochs, batch_loss, "fact heads", progress)
    record = {**stage_record(rec, rec.reader_sha256, t0, losses, held), "steps": len(losses)}
    if len(calib):
        record["calibration"] = calibrate_values(reader, space, data.signals(calib), z[calib], pos[calib])
    meta = {k: fm.meta[k] for k in ("run", "events_run") if k in fm.meta}
    save_fact_reader(reader, space, out, {**meta, "heads_run": record})
    return {**record, "out": file_record(out)}


def main(argv: list[str] | None = None) -> None:  # pragma: no cover - command-line helper
    recipe_cli("Refit the fact reader's value and position heads on its frozen tower.", refit_fact_heads, argv)


if __name__ == "__main__":  # pragma: no cover
    main()
