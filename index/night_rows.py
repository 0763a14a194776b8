"""One night's rows, built before anything is written, and their Parquet shard form.

:func:`prepare_night` does the CPU work (read, map, preprocess, features, captions, metrics);
:func:`embed_night` adds the epoch vectors and the night vector. Both engines (single process
and Ray) go through these two functions, and both write with
:func:`sleeplm.index.ingest.write_night`, so they store the same rows. The Ray engine hands
nights from workers to the driver as Parquet shards (:func:`write_shard` / :func:`read_shard`),
which the driver reads with DuckDB.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np
import pandas as pd
from sleeplm.encoder.captions import (
    TRACKS,
    events_in_epochs,
    night_summary,
    render_night,
)
from sleeplm.encoder.captions.night import unscored_night_summary
from sleeplm.encoder.io.psg import load_psg
from sleeplm.encoder.io.records import Event, Scoring
from sleeplm.encoder.signals.features import compute_epoch_features
from sleeplm.encoder.signals.night import night_metrics
from sleeplm.encoder.signals.preprocess import make_epochs
from sleeplm.encoder.signals.scoring import auto_score
from sleeplm.encoder.vocab import SCORING_KINDS, scoring_kind_of

from .models import sha256_file
from .nights import night_vector
from .ood import OODReference, night_score

if TYPE_CHECKING:  # the model (and torch) is not needed to prepare a night, e.g. in a pipeline worker
    from sleeplm.encoder.model.api import SleepLM


@dataclass
class NightRows:
    """Everything one night writes. ``x`` (model input) is dropped once the night is embedded."""

    name: str
    path: Path
    sha256: str
    annotation_path: Path | None
    annotation_sha256: str | None
    annotation_source: str | None
    start_time: datetime | None
    duration_s: float
    repairs: list[str]
    channel_map: dict[str, dict[str, Any]]
    missing: list[str]
    position_coding: str | None
    events: list[Event]
    onset_s: np.ndarray
    stages: list[str]
    channel_mask: np.ndarray
    features: pd.DataFrame
    captions: dict[str, list[str]]
    metrics: dict[str, float]
    summary: str
    x: np.ndarray | None = None
    vectors: np.ndarray | None = None
    night_vec: np.ndarray | None = None
    #: out-of-distribution scores (``index/ood.py``) of each epoch and of the night; None without a reference
    ood_epochs: np.ndarray | None = None
    ood_night: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    #: per kind of annotation (SCORING_KINDS): {"state": manual|automatic|not scored, "method", "reason"}
    scoring: dict[str, dict[str, str]] = field(default_factory=dict)
    #: what reading the files changed or found suspect (``Recording.warnings``: events listed twice, nadirs out of
    #: range, events cut at the end, duplicate labels, position coding unknown ...), one sentence each
    notes: list[str] = field(default_factory=list)

    def event_source(self, event_type: str) -> str:
        """"automatic" when the kind this event type belongs to was scored automatically, else "manual"."""
        kind = scoring_kind_of(event_type)
        return "automatic" if kind and self.scoring.get(kind, {}).get("state") == "automatic" else "manual"


def prepare_night(path: Path, name: str | None = None,
                  on_stage: Callable[[str], None] | None = None, score: str = "missing",
                  on_epochs: Callable[[np.ndarray], None] | None = None, brain_scale: str = "sd") -> NightRows:
    """Read, preprocess, featurise and caption one recording (no model, no writes).

    ``name`` is the night's name in the workspace (default: the file stem); ``on_stage(stage)`` is
    called as each stage of work starts ("reading", "annotations", "scoring", "epochs", "features",
    "captions", "metrics"), so a failure can say where it happened. ``score`` ("missing", "auto",
    "never"): automatic scoring of the kinds nobody scored / of every kind / none
    (:func:`sleeplm.encoder.signals.scoring.auto_score`). ``on_epochs(x)``, when given, receives the
    model input ``[n_epochs, 10, 1920]`` as soon as it is cut, before the features are computed (the
    ingest pipeline embeds it meanwhile); the returned rows then carry ``x=None``. ``brain_scale``: the model's
    EEG/EOG input scale (``SleepLM.brain_scale``; features and captions do not depend on it).
    """
    stage = on_stage or (lambda _s: None)
    path = Path(path)
    psg = load_psg(path, on_stage=stage)
    stage("scoring")
    ann = auto_score(psg.mapped, psg.annotations, score)
    scoring = ({k: ann.status(k) for k in SCORING_KINDS} if ann is not None
               else {k: Scoring("not scored", reason="no annotation file") for k in SCORING_KINDS})
    leads = {ch: s.lead for ch, s in psg.mapped.sources.items() if s.lead}
    rec = psg.mapped.recording
    stage("epochs")
    epochs = make_epochs(psg.mapped, ann, brain_scale=brain_scale)
    if on_epochs is not None:
        on_epochs(epochs.x)
    stage("features")
    features = compute_epoch_features(psg.mapped, ann, epochs.onset_s)
    events = list(ann.events) if ann is not None else []
    stage("captions")
    per_epoch_events = events_in_epochs(events, epochs.onset_s)
    states = {k: sc.state for k, sc in scoring.items()}
    conf = ann.stage_confidence if ann is not None else None
    captions = {track: render_night(features, per_epoch_events, track, scoring=states, leads=leads,
                                    stage_confidence=conf) for track in TRACKS}
    stage("metrics")
    nm = night_metrics(ann, features) if ann is not None and ann.stages else None
    ann_path = ann.path if ann is not None and ann.path is not None and ann.path != path else None
    return NightRows(
        name=name or path.stem,
        path=path,
        sha256=sha256_file(path),
        annotation_path=ann_path,
        annotation_sha256=sha256_file(ann_path) if ann_path else None,
        annotation_source=ann.source if ann is not None else None,
        start_time=rec.start_time,
        duration_s=rec.duration_s,
        repairs=list(rec.repairs),
        channel_map={ch: {"labels": list(s.labels), "derivation": s.derivation, "note": s.note, "lead": s.lead}
                     for ch, s in psg.mapped.sources.items()},
        missing=psg.mapped.missing,
        position_coding=psg.mapped.position_coding,
        events=events,
        onset_s=epochs.onset_s,
        stages=epochs.stages,
        channel_mask=epochs.channel_mask,
        features=features,
        captions=captions,
        metrics=nm.to_dict() if nm is not None else {},
        summary=night_summary(nm, scoring) if nm is not None else unscored_night_summary(scoring),
        x=epochs.x if on_epochs is None else None,
        scoring={k: sc.to_dict() for k, sc in scoring.items()},
        notes=list(rec.warnings),
    )


def embed_epochs(x: np.ndarray, model: SleepLM, batch_size: int = 32,
                 on_batch: Callable[[int], None] | None = None) -> np.ndarray:
    """Epoch vectors ``[n, embed_dim]`` (float32) of model input ``x``, ``batch_size`` epochs per call
    (``on_batch(k)`` after each call: k epochs done)."""
    chunks = []
    for i in range(0, len(x), batch_size):
        chunks.append(model.encode_signal(x[i : i + batch_size], batch_size=batch_size))
        if on_batch:
            on_batch(min(batch_size, len(x) - i))
    return np.concatenate(chunks).astype(np.float32)


def add_vectors(night: NightRows, vectors: np.ndarray, ood: OODReference | None = None) -> NightRows:
    """Set the epoch vectors, the night vector and (given the model's reference ``ood``) their
    out-of-distribution scores; drops ``x``."""
    if len(vectors) != len(night.onset_s):
        raise ValueError(f"{night.path}: {len(vectors)} epoch vectors for {len(night.onset_s)} epochs")
    night.vectors = np.asarray(vectors, np.float32)
    night.night_vec = night_vector(night.vectors, night.stages, night.metrics)
    if ood is not None:
        night.ood_epochs = ood.epoch_scores(night.vectors)
        night.ood_night = night_score(night.ood_epochs)
    night.x = None
    return night


def embed_night(night: NightRows, model: SleepLM, batch_size: int = 32,
                on_batch: Callable[[int], None] | None = None, ood: OODReference | None = None) -> NightRows:
    """Add epoch vectors, the night vector and (given the model's reference ``ood``) their
    out-of-distribution scores; drops ``x``."""
    if night.x is None:
        raise ValueError(f"{night.path}: night has no model input to embed")
    return add_vectors(night, embed_epochs(night.x, model, batch_size, on_batch), ood)


# ----------------------------------------------------------------------------- Parquet shards
def write_shard(night: NightRows, folder: Path) -> Path:
    """Write an embedded night as Parquet files in ``folder/<name>/`` (returns that folder)."""
    if night.vectors is None or night.night_vec is None:
        raise ValueError(f"{night.path}: embed the night before writing its shard")
    out = Path(folder) / night.name
    out.mkdir(parents=True, exist_ok=True)
    meta = {
        "name": night.name, "path": str(night.path), "sha256": night.sha256,
        "annotation_path": str(night.annotation_path) if night.annotation_path else None,
        "annotation_sha256": night.annotation_sha256, "annotation_source": night.annotation_source,
        "start_time": night.start_time.isoformat() if night.start_time else None, "duration_s": night.duration_s,
        "repairs": night.repairs, "channel_map": night.channel_map, "missing": night.missing,
        "position_coding": night.position_coding, "metrics": night.metrics, "summary": night.summary,
        "night_vec": night.night_vec.tolist(), "scoring": night.scoring, "ood_night": night.ood_night,
        "notes": night.notes,
        "events": [[e.type, e.onset_s, e.duration_s, e.label, e.spo2_nadir] for e in night.events],
    }
    pd.DataFrame({"meta": [json.dumps(meta)]}).to_parquet(out / "night.parquet")
    pd.DataFrame({
        "onset_s": night.onset_s, "stage": night.stages,
        "channel_mask": [list(map(bool, m)) for m in night.channel_mask],
        "vec": [v for v in night.vectors],
        "ood": night.ood_epochs if night.ood_epochs is not None else np.full(len(night.vectors), np.nan),
        **{f"caption_{t}": night.captions[t] for t in night.captions},
    }).to_parquet(out / "epochs.parquet")
    night.features.to_parquet(out / "features.parquet")
    return out


def read_shard(folder: Path) -> NightRows:
    """Read a night written by :func:`write_shard` (DuckDB reads the Parquet files)."""
    folder = Path(folder)
    con = duckdb.connect()
    try:
        meta = json.loads(con.execute("SELECT meta FROM read_parquet(?)", [str(folder / "night.parquet")]).fetchone()[0])
        epochs = con.execute("SELECT * FROM read_parquet(?)", [str(folder / "epochs.parquet")]).df()
        features = con.execute("SELECT * FROM read_parquet(?)", [str(folder / "features.parquet")]).df()
    finally:
        con.close()
    tracks = [c.removeprefix("caption_") for c in epochs.columns if c.startswith("caption_")]
    return NightRows(
        name=meta["name"], path=Path(meta["path"]), sha256=meta["sha256"],
        annotation_path=Path(meta["annotation_path"]) if meta["annotation_path"] else None,
        annotation_sha256=meta["annotation_sha256"], annotation_source=meta["annotation_source"],
        start_time=datetime.fromisoformat(meta["start_time"]) if meta["start_time"] else None,
        duration_s=meta["duration_s"], repairs=meta["repairs"], channel_map=meta["channel_map"],
        missing=meta["missing"], position_coding=meta["position_coding"],
        events=[Event(t, on, du, lab, nadir) for t, on, du, lab, nadir in meta["events"]],
        onset_s=epochs["onset_s"].to_numpy(np.float64), stages=epochs["stage"].tolist(),
        channel_mask=np.array([list(m) for m in epochs["channel_mask"]], bool),
        features=features, captions={t: epochs[f"caption_{t}"].tolist() for t in tracks},
        metrics=meta["metrics"], summary=meta["summary"],
        vectors=np.stack([np.asarray(v, np.float32) for v in epochs["vec"]]),
        night_vec=np.asarray(meta["night_vec"], np.float32), scoring=meta.get("scoring", {}),
        notes=list(meta.get("notes", [])),
        ood_epochs=(epochs["ood"].to_numpy(np.float64) if meta.get("ood_night") is not None else None),
        ood_night=meta.get("ood_night"),
    )
