"""Ingestion on Ray: the same per-night work, spread over a cluster.

``ray.data`` runs :func:`~sleeplm.index.night_rows.prepare_night` (read, preprocess, features,
captions) as CPU tasks, then the embedding in a pool of model actors — one per GPU when the
cluster has GPUs (``num_gpus=1`` each), else CPU actors — and writes each embedded night as a
Parquet shard (``WORKSPACE/shards/<night>/``). The driver reads the shards with DuckDB and
writes them with the same :func:`~sleeplm.index.ingest.write_night` as the single-process
engine, one transaction per night, so the workspace is the same whichever engine built it.

Ray is an optional extra: ``pip install "sleeplm[ray]"``.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sleeplm.encoder.io.records import PSGError

from .models import ModelRef
from .night_rows import NightRows, embed_night, prepare_night, read_shard, write_shard


def _require_ray():
    try:
        import ray
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise RuntimeError('the Ray engine needs Ray: pip install "sleeplm[ray]"') from exc
    return ray


def _prepare(row: dict[str, Any]) -> dict[str, Any]:
    stage = ["reading"]
    try:
        night = prepare_night(Path(row["path"]), row["name"] or None, on_stage=lambda s: stage.__setitem__(0, s),
                              brain_scale=row.get("brain_scale") or "sd")
        return {"path": row["path"], "night": night, "error": "", "stage": ""}
    except Exception as exc:  # noqa: BLE001 - reported per file, the run goes on
        return {"path": row["path"], "night": None, "error": _message(row["path"], stage[0], exc), "stage": stage[0]}


def _message(path: str, stage: str, exc: BaseException) -> str:
    from sleeplm.encoder.io.annotations import find_annotations

    from .failures import describe_failure

    try:
        ann = find_annotations(path)
    except OSError:
        ann = None
    return describe_failure(Path(path), stage, exc, ann)


class RayNightError(PSGError):
    """A night that failed on a Ray worker: the message is already written; ``stage`` says where."""

    def __init__(self, path: str, message: str, stage: str) -> None:
        super().__init__(path, message)
        self.message, self.stage = message, stage

    def __str__(self) -> str:
        return self.message


class _Embedder:
    """A Ray actor holding one model replica."""

    def __init__(self, weights: str, config: str | None, shard_dir: str, batch_size: int) -> None:
        import torch

        from sleeplm.encoder.model import load_model

        device = "cuda" if torch.cuda.is_available() else "cpu"
        self.model = load_model(weights, config=config, device=device)
        from .models import sha256_file
        from .ood import reference_for

        self.ood = reference_for(Path(weights), sha256_file(Path(weights)))
        self.shard_dir = Path(shard_dir)
        self.batch_size = batch_size

    def __call__(self, row: dict[str, Any]) -> dict[str, Any]:
        if row["error"]:
            return {"path": row["path"], "shard": "", "error": row["error"], "stage": row["stage"]}
        try:
            night: NightRows = embed_night(row["night"], self.model, self.batch_size, ood=self.ood)
            return {"path": row["path"], "shard": str(write_shard(night, self.shard_dir)), "error": "", "stage": ""}
        except Exception as exc:  # noqa: BLE001
            return {"path": row["path"], "shard": "", "error": _message(row["path"], "embedding", exc),
                    "stage": "embedding"}


def ray_nights(paths: list[Path], ref: ModelRef, shard_dir: Path, batch_size: int = 32,
               num_cpus: int | None = None, names: dict[Path, str] | None = None,
               ) -> Iterator[tuple[Path, NightRows | BaseException]]:
    """Yield (path, NightRows or error) for each night, processed on Ray (``names``: path -> night name)."""
    if not paths:
        return
    ray = _require_ray()
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        n_gpus = int(ray.cluster_resources().get("GPU", 0))
        shard_dir = Path(shard_dir)
        shard_dir.mkdir(parents=True, exist_ok=True)
        ds = ray.data.from_items([{"path": str(p), "name": (names or {}).get(p, ""), "brain_scale": ref.brain_scale}
                                  for p in paths],
                                 override_num_blocks=len(paths))
        ds = ds.map(_prepare, num_cpus=1)
        # different resources keep the CPU stage and the model actors apart (no operator fusion),
        # so nights are prepared in parallel while the actors embed
        ds = ds.map(
            _Embedder,
            fn_constructor_args=(str(ref.weights), ref.config, str(shard_dir), batch_size),
            compute=ray.data.ActorPoolStrategy(size=max(1, n_gpus)),
            num_gpus=1 if n_gpus else 0,
            num_cpus=0 if n_gpus else 0.5,
        )
        for row in ds.iter_rows():
            path = Path(row["path"])
            if row["error"]:
                yield path, RayNightError(row["path"], row["error"], row["stage"])
                continue
            try:
                night = read_shard(Path(row["shard"]))
            except Exception as exc:  # noqa: BLE001 - a shard that cannot be read fails its night only
                yield path, RayNightError(row["path"], _message(row["path"], "writing", exc), "writing")
                continue
            yield path, night
            shutil.rmtree(row["shard"], ignore_errors=True)
    finally:
        if started_here:
            ray.shutdown()
