"""Training recipes: data (``encoder/train/recipes/*.json``, one per shipped model version).

A recipe names the model config, the simulated data (training and held-out splits) and one or more
training stages. Its ``train`` object is the first stage's complete :class:`TrainConfig` (every
setting that changes the weights; :class:`TrainConfig` has no defaults for those); each stage lists
only what it changes from the stage before it and starts from that stage's final weights::

    {"name": "sleeplm-tiny", "model_config": "sleeplm-tiny",
     "data": {"train": {"n_nights": 48, "seed": 1, ...}, "val": {"n_nights": 9, "seed": 1000001, ...}},
     "train": {"steps": 1000, "lr": 0.0005, ...},
     "stages": [{"name": "pretrain", "train": {}}, {"name": "channel-drop", "train": {"p_channel_drop": 0.4}}]}

``model_config`` is a config name, a JSON path (relative to the recipe file) or an inline object.
An optional ``start_from`` ``{"weights": NAME_OR_PATH, "sha256": HEX}`` makes the first stage a fine-tune
of those weights (a bundled model name, or a path relative to the recipe file); the file must have that
sha256, so a recipe never silently starts from other weights (after a bundled model is replaced, pass the
old file with ``train_recipe(..., start_from=PATH)``).
:func:`train_recipe` runs the stages in ``<out>/stage<k>-<name>/`` and copies the last stage's weights
to ``<out>/model.safetensors``.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import MISSING, asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from sleeplm.encoder.train.data import SplitSpec, build_split, spec_differences
from sleeplm.encoder.train.loop import TrainConfig

RECIPES_DIR = Path(__file__).resolve().parent / "recipes"
_TOP_KEYS = {"name", "version", "model_config", "data", "train", "stages", "start_from"}


class RecipeError(ValueError):
    """A recipe that cannot be used; the message names the file and the problem."""


@dataclass(frozen=True)
class RecipeStage:
    """One training stage: its name and its complete settings (``init_from`` set by :func:`train_recipe`)."""

    name: str
    config: TrainConfig


@dataclass(frozen=True)
class Recipe:
    """A loaded recipe (see the module docstring for the file format)."""

    name: str
    version: str
    model_config: str | dict[str, Any]
    train_split: SplitSpec
    val_split: SplitSpec
    stages: tuple[RecipeStage, ...]
    source: Path
    #: ``{"weights": name or path, "sha256": hex}`` the first stage starts from, or ``None`` (from scratch).
    start_from: dict[str, str] | None = None

    @property
    def data_tag(self) -> str:
        """Folder name of the cached dataset these splits build."""
        t, v = self.train_split, self.val_split
        tag = f"data-n{t.n_nights}-v{v.n_nights}-h{t.duration_h:g}-p{t.n_paraphrases}-s{t.seed}"
        return tag + (f"-r{t.n_randomized}" if t.n_randomized else "") + (f"-vh{v.duration_h:g}" if v.duration_h != t.duration_h else "") \
            + (f"-hmax{t.duration_h_max:g}" if t.duration_h_max is not None else "")


def list_recipes() -> list[str]:
    """Names of the bundled recipes."""
    return sorted(p.stem for p in RECIPES_DIR.glob("*.json"))


def recipe_path(name_or_path: str | Path) -> Path:
    """The file of a bundled recipe name, or ``name_or_path`` itself when it is a file."""
    named = RECIPES_DIR / f"{name_or_path}.json"
    if isinstance(name_or_path, str) and "/" not in name_or_path and named.is_file():
        return named
    path = Path(name_or_path)
    if path.is_file():
        return path
    raise RecipeError(f"unknown recipe {str(name_or_path)!r}: not one of {list_recipes()} and not a file")


def _train_config(path: Path, where: str, values: dict[str, Any]) -> TrainConfig:
    known = {f.name for f in fields(TrainConfig)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise RecipeError(f"{path}: {where}: unknown training settings {unknown}")
    required = sorted(f.name for f in fields(TrainConfig)
                      if f.default is MISSING and f.default_factory is MISSING and f.name not in values)
    if required:
        raise RecipeError(f"{path}: {where}: missing training settings {required} (a recipe states every one)")
    if "init_from" in values:
        raise RecipeError(f"{path}: {where}: init_from is set by the stage order, not written in a recipe")
    try:
        return TrainConfig.from_dict(values)
    except (TypeError, ValueError) as exc:
        raise RecipeError(f"{path}: {where}: {exc}") from exc


def _split(path: Path, data: dict[str, Any], key: str) -> SplitSpec:
    try:
        return SplitSpec(**data[key])
    except KeyError:
        raise RecipeError(f"{path}: data.{key} is missing") from None
    except TypeError as exc:
        raise RecipeError(f"{path}: data.{key}: {exc}") from exc


def load_recipe(name_or_path: str | Path) -> Recipe:
    """Read and check a recipe: a bundled name (``"sleeplm-tiny"``) or a JSON file.

    Raises
    ------
    RecipeError
        Unknown name, unreadable JSON, missing or unknown keys, a stage without a name, or training
        settings that are unknown or missing; the message names the file.
    """
    path = recipe_path(name_or_path)
    try:
        raw = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RecipeError(f"{path}: not a readable JSON recipe ({exc})") from exc
    if not isinstance(raw, dict):
        raise RecipeError(f"{path}: a recipe is a JSON object")
    body = {k: v for k, v in raw.items() if not k.startswith("_")}
    unknown, missing = sorted(set(body) - _TOP_KEYS), sorted({"name", "model_config", "data", "train", "stages"} - set(body))
    if unknown or missing:
        raise RecipeError(f"{path}: " + "; ".join(
            ([f"unknown keys {unknown}"] if unknown else []) + ([f"missing keys {missing}"] if missing else [])))
    if not isinstance(body["stages"], list) or not body["stages"]:
        raise RecipeError(f"{path}: stages must be a non-empty list")
    model_config = body["model_config"]
    if isinstance(model_config, str) and model_config.endswith(".json"):
        model_config = str((path.parent / model_config).resolve())
    settings = dict(body["train"])
    stages = []
    for k, stage in enumerate(body["stages"], start=1):
        if not isinstance(stage, dict) or not stage.get("name"):
            raise RecipeError(f"{path}: stage {k} needs a name")
        extra = sorted(set(stage) - {"name", "train"})
        if extra:
            raise RecipeError(f"{path}: stage {k} ({stage['name']}): unknown keys {extra}")
        settings = {**settings, **stage.get("train", {})}
        stages.append(RecipeStage(str(stage["name"]), _train_config(path, f"stage {k} ({stage['name']})", settings)))
    data = body["data"]
    start = body.get("start_from")
    if start is not None and (not isinstance(start, dict) or set(start) != {"weights", "sha256"}):
        raise RecipeError(f"{path}: start_from must be {{\"weights\": name or path, \"sha256\": hex}}")
    return Recipe(name=str(body["name"]), version=str(body.get("version", "")), model_config=model_config,
                  train_split=_split(path, data, "train"), val_split=_split(path, data, "val"),
                  stages=tuple(stages), source=path, start_from=dict(start) if start else None)


def start_weights(recipe: Recipe, override: str | Path | None = None) -> Path | None:
    """The checked file the recipe's first stage starts from (``override`` instead of the named one).

    Raises
    ------
    RecipeError
        The file is missing or its sha256 is not the recipe's.
    """
    import hashlib

    from sleeplm.encoder.model.factory import bundled_weights

    if recipe.start_from is None:
        return Path(override) if override is not None else None
    name = override if override is not None else recipe.start_from["weights"]
    path = bundled_weights(str(name)) if override is None and "/" not in str(name) else None
    path = path or (Path(name) if Path(name).is_absolute() or override is not None else recipe.source.parent / name)
    if not Path(path).is_file():
        raise RecipeError(f"{recipe.source}: start_from weights {str(name)!r} not found")
    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    if digest != recipe.start_from["sha256"]:
        raise RecipeError(f"{recipe.source}: start_from {path} has sha256 {digest[:12]}…, the recipe starts from "
                          f"{recipe.start_from['sha256'][:12]}… (pass those weights with start_from=PATH)")
    return Path(path)


@dataclass(frozen=True)
class RecipeRun:
    """What :func:`train_recipe` left: the final weights, the dataset it used and the stage folders."""

    weights: Path
    data_root: Path
    stage_dirs: tuple[Path, ...]


def stage_dir(out_dir: str | Path, k: int, stage: RecipeStage) -> Path:
    """Run folder of stage ``k`` (1-based) of a recipe run in ``out_dir``."""
    return Path(out_dir) / f"stage{k}-{stage.name}"


def _as_json(cfg: TrainConfig) -> dict[str, Any]:
    return json.loads(json.dumps(asdict(cfg)))


def train_recipe(recipe: Recipe, out_dir: str | Path, data_root: str | Path | None = None, resume: bool = False,
                 workers: int = 2, progress: bool = True, start_from: str | Path | None = None,
                 device: str = "cpu") -> RecipeRun:
    """Build (or reuse) the recipe's simulated data and run its stages in order.

    Parameters
    ----------
    recipe
        From :func:`load_recipe`.
    out_dir
        Run folder: ``stage<k>-<name>/`` per stage (checkpoints, ``history.jsonl``, loss curves,
        ``train_config.json``), ``recipe.json`` (the recipe as run) and ``model.safetensors``.
    data_root
        Dataset cache (default ``<out_dir>/../<recipe.data_tag>``), reused when its splits match.
    resume
        Continue a run in ``out_dir``: finished stages are kept, the unfinished one continues from its
        last checkpoint. Without it a folder that already holds a stage is refused.
    start_from
        The weights the first stage starts from, instead of the recipe's ``start_from`` (checked by sha256).
    device
        ``cpu`` (fp32) or ``cuda`` (bf16 autocast); see :func:`~sleeplm.encoder.train.loop.run_training`.

    Raises
    ------
    RecipeError
        ``out_dir`` holds a run and ``resume`` is off, or a stage folder was trained with other settings.
    """
    from sleeplm.encoder.model.factory import get_config
    from sleeplm.encoder.train.data import EpochCaptions, build_dataset
    from sleeplm.encoder.train.loop import (
        latest_checkpoint,
        resolve_tokenizer,
        run_training,
    )

    out_dir = Path(out_dir)
    dirs = [stage_dir(out_dir, k, s) for k, s in enumerate(recipe.stages, start=1)]
    if not resume and any(d.exists() for d in dirs):
        raise RecipeError(f"{out_dir}: already holds a run of this recipe; --resume continues it, or choose another --out")
    root = Path(data_root) if data_root is not None else out_dir.parent / recipe.data_tag
    build_dataset(root, recipe.train_split, recipe.val_split, workers=workers)
    train_data, val_data = EpochCaptions(root / "train"), EpochCaptions(root / "val")
    out_dir.mkdir(parents=True, exist_ok=True)
    model_cfg, tok = resolve_tokenizer(get_config(recipe.model_config), train_data, out_dir)
    (out_dir / "data.json").write_text(json.dumps({"root": str(root.resolve())}) + "\n")
    if not (out_dir / "recipe.json").exists() or not (out_dir / "recipe.json").samefile(recipe.source):
        shutil.copyfile(recipe.source, out_dir / "recipe.json")
    weights: Path | None = start_weights(recipe, start_from)
    for stage, folder in zip(recipe.stages, dirs):
        cfg = replace(stage.config, init_from=str(weights.resolve()) if weights is not None else None)
        stored = folder / "train_config.json"
        if stored.is_file() and json.loads(stored.read_text()) != _as_json(cfg):
            raise RecipeError(f"{stored}: this stage was trained with other settings than {recipe.source} states")
        last = latest_checkpoint(folder)
        if (folder / "model.safetensors").is_file() and last is not None and last[0] == cfg.steps:
            weights = folder / "model.safetensors"
            continue
        weights = run_training(model_cfg, cfg, train_data, tok, folder, val_data, resume=resume, progress=progress,
                               device=device)
    if weights is None:
        raise RecipeError(f"{recipe.source}: no stages to run")
    final = out_dir / "model.safetensors"
    shutil.copyfile(weights, final)
    return RecipeRun(final, root, tuple(dirs))


def recipe_split(data_dir: str | Path, spec: SplitSpec, source: Path, progress: bool = True) -> Path:
    """``data_dir/train``: the simulated split a recipe (file ``source``) trains on, built when missing.

    Raises
    ------
    RecipeError
        The folder holds a split built with other settings than ``spec``.
    """
    split = Path(data_dir) / "train"
    info = split / "info.json"
    if info.is_file():
        differ = spec_differences(json.loads(info.read_text()), spec)
        if differ:
            raise RecipeError(f"{split}: built with other settings than {source.name}'s data: {differ}")
        return split
    build_split(split, spec, workers=2, progress=progress)
    return split


def recipe_cli(description: str, train: Any, argv: list[str] | None = None) -> None:  # pragma: no cover - CLI
    """The command line of a recipe-driven trainer: ``RECIPE --data DIR --out FILE [--start-from WEIGHTS]``; runs
    ``train(recipe, data, out, start_from)`` and prints its record as JSON."""
    import argparse

    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("recipe")
    ap.add_argument("--data", required=True, help="dataset root (its train/ split is built when missing)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--start-from", default=None)
    a = ap.parse_args(argv)
    print(json.dumps(train(a.recipe, a.data, a.out, a.start_from), indent=1))
