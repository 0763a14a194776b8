"""Stage anchoring on simulated training nights: :mod:`~sleeplm.encoder.train.adapt`'s objective on a built training
split instead of a lab's scored recordings (issue 15, "train for transfer").

Every scored epoch of the split (its clean nights and their domain-randomized renditions), with
``single_lead_copies`` also as a one-lead recording, is pulled onto the text embedding of its stage's training text;
the text tower and the caption decoder stay bit-identical. No real recording is used. The recipe
(``encoder/train/recipes/tiny-stage-anchor-sim.json``) states the weights it starts from (by sha256), the split
(:class:`~sleeplm.encoder.train.data.SplitSpec`; built on first use) and every adaptation setting.

``python -m sleeplm.encoder.train.sim_adapt RECIPE --data DIR --out weights.safetensors [--start-from PATH]``
writes the weights (fp16 storage, as the bundled files) and ``<out stem>.card.json`` beside them.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sleeplm.encoder.train.adapt import (
    AdaptRecipe,
    adapt_signal_tower,
    channel_presence,
    config_dict,
    load_adapt_recipe,
)
from sleeplm.encoder.train.recipe import RecipeError, recipe_split, start_weights
from sleeplm.encoder.vocab import SCORED_STAGES


def split_epochs(split_dir: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The scored epochs of a built split: ``x`` float32 ``[n, 10, 1920]``, their stages, channel mask and stage/event
    text (the event gist of the canonical stage_event caption, as the contrastive training used it).

    Raises
    ------
    FileNotFoundError
        ``split_dir`` is not a split written by :func:`~sleeplm.encoder.train.data.build_split`.
    """
    from sleeplm.encoder.captions.render import event_gist

    split_dir = Path(split_dir)
    if not (split_dir / "x.npy").is_file() or not (split_dir / "epochs.parquet").is_file():
        raise FileNotFoundError(f"{split_dir}: not a built split (x.npy and epochs.parquet expected)")
    epochs = pd.read_parquet(split_dir / "epochs.parquet")
    stages = epochs["stage"].to_numpy(object)
    rows = np.flatnonzero(np.isin(stages, SCORED_STAGES))
    cap = pd.read_parquet(split_dir / "captions.parquet")
    canon = cap[(cap["track"] == "stage_event") & (cap["variant"] == 0)].set_index("idx")["caption"]
    caption_row = epochs["caption_row"].to_numpy() if "caption_row" in epochs else np.arange(len(epochs))
    texts = np.asarray([event_gist(canon[int(caption_row[r])]) for r in rows], dtype=object)
    x = np.asarray(np.load(split_dir / "x.npy", mmap_mode="r")[rows], np.float32)
    return x, stages[rows], channel_presence(x), texts


def _split_dir(recipe: AdaptRecipe, data_dir: Path, progress: bool) -> Path:
    if recipe.data is None:
        raise RecipeError(f"{recipe.source}: no \"data\" split: this recipe adapts on a workspace (sleeplm adapt)")
    return recipe_split(data_dir, recipe.data, recipe.source, progress)


def run(recipe: str | Path, data_dir: str | Path, out: str | Path, start_from: str | Path | None = None,
        progress: bool = True) -> Path:
    """Adapt the recipe's start weights on its simulated split and write ``out`` and its card; returns ``out``."""
    from sleeplm.encoder.model.api import load_model
    from sleeplm.encoder.model.checkpoint import save_checkpoint
    from sleeplm.encoder.train.loop import export_weights

    rec = load_adapt_recipe(recipe)
    if rec.start_from is None and start_from is None:
        raise RecipeError(f"{rec.source}: no start_from weights and none given")
    start = start_weights(rec, start_from)  # type: ignore[arg-type]  # AdaptRecipe has source and start_from
    split = _split_dir(rec, Path(data_dir), progress)
    x, stages, mask, texts = split_epochs(split)
    model = load_model(start)
    t0 = time.time()
    result = adapt_signal_tower(model, x, stages, mask, rec.config, progress=progress, desc=rec.name,
                                texts_per_epoch=texts)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    full = out.with_suffix(".fp32.safetensors")
    # the weights read recordings as their training split was cut (an "sd" start adapted on a "mad" split is "mad"),
    # or as the recipe says where that reads every training night the same way (adapt.same_reading)
    scale = rec.input_brain_scale or rec.data.brain_scale  # type: ignore[union-attr]
    config = dataclasses.replace(result.model.config, input_brain_scale=scale)
    save_checkpoint(result.model.model, full, config.to_dict())
    export_weights(full, out)
    full.unlink()
    card = {
        "recipe": {"name": rec.name, "version": rec.version, "file": str(rec.source), "sha256": rec.sha256},
        "started_from": {"file": str(start), "sha256": hashlib.sha256(Path(start).read_bytes()).hexdigest()},
        "weights": {"file": str(out.resolve()), "sha256": hashlib.sha256(out.read_bytes()).hexdigest(),
                    "storage": "float16"},
        "data": {"split": str(split), **vars(rec.data)} if rec.data else None,
        "epochs": {"n": len(stages), "with_single_lead_copies": sum(result.stage_counts.values()),
                   "per_stage": result.stage_counts},
        "settings": config_dict(rec.config), "trainable_parameters": result.trainable_parameters,
        "loss_first_last": [result.history[0]["loss"], result.history[-1]["loss"]],
        "seconds": round(time.time() - t0, 1),
        "real_data_used": False,
    }
    stem = out.with_suffix("")
    (stem.parent / f"{stem.name}.card.json").write_text(json.dumps(card, indent=1, default=str) + "\n")
    return out


def main(argv: list[str] | None = None) -> None:  # pragma: no cover - command-line helper
    ap = argparse.ArgumentParser(prog="python -m sleeplm.encoder.train.sim_adapt", description=__doc__.split("\n\n")[0])
    ap.add_argument("recipe", help="adaptation recipe name or JSON file with a \"data\" split")
    ap.add_argument("--data", required=True, type=Path, help="dataset folder (the split is built in DATA/train)")
    ap.add_argument("--out", required=True, type=Path, help="weights file to write (.safetensors)")
    ap.add_argument("--start-from", default=None, help="the start weights, if not the recipe's (checked by sha256)")
    a = ap.parse_args(argv)
    print(run(a.recipe, a.data, a.out, a.start_from))


if __name__ == "__main__":  # pragma: no cover
    main()
