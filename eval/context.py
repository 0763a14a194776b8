"""What a task sees: one workspace, one model, and the data both give (:class:`EvalContext`).

Which vectors are used
----------------------
* the model is the workspace's own (same weights sha256 as ``manifest.json``): the stored epoch
  and night vectors are read from DuckDB;
* another model: epoch vectors are **recomputed from the recordings** (``recordings.path``, read
  with ``load_psg`` + ``make_epochs``, the same preprocessing as ingest) and night vectors are
  rebuilt from them with :func:`sleeplm.index.nights.night_vector`; nothing is written to the
  workspace. A recording file that is no longer there makes the run refuse with
  :class:`EvalError` naming it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
from sleeplm.encoder.model.api import SleepLM
from sleeplm.encoder.vocab import SCORED_STAGES
from sleeplm.index import tables
from sleeplm.index.models import ModelRef, resolve_model
from sleeplm.index.nights import night_vector
from sleeplm.index.workspace import Manifest, Workspace, WorkspaceError, load_vectors


class EvalError(RuntimeError):
    """The evaluation cannot run as asked (missing workspace, model or recordings)."""


class TaskSkipped(Exception):
    """Raised by a task whose inputs are absent from the workspace; the message is the reason."""


def manifest_model(ws: Workspace, manifest: Manifest) -> ModelRef:
    """The model that built the workspace, found by name or weights path and checked by sha256."""
    for spec in (manifest.model_name, manifest.model_weights):
        if not spec:
            continue
        try:
            ref = resolve_model(spec, manifest.model_config)
        except (FileNotFoundError, ValueError):
            continue
        if ref.sha256 == manifest.model_sha256:
            return ref
    raise EvalError(f"{ws.root}: the model that built this workspace ({manifest.model_name}, sha256 "
                    f"{manifest.model_sha256[:12]}…) is not available; pass --model explicitly")


@dataclass
class EvalContext:
    """One (workspace, model) pair opened for evaluation.

    Parameters
    ----------
    workspace : the workspace folder.
    model_ref : the model's identity; ``model`` its loaded instance.
    seed : every sampling and split draws from ``numpy.random.default_rng(seed)``-derived generators.
    limit_epochs : cap on the epochs used by epoch-level tasks (a seeded random sample).
    out_dir : where the tasks of this pair write their plots.
    """

    workspace: Path
    model_ref: ModelRef
    model: SleepLM
    seed: int = 0
    limit_epochs: int | None = None
    out_dir: Path = Path(".")
    con: duckdb.DuckDBPyConnection = field(init=False, repr=False)
    manifest: Manifest = field(init=False)
    recompute: bool = field(init=False)
    _epochs: pd.DataFrame | None = field(default=None, init=False, repr=False)
    _vectors: dict[int, np.ndarray] = field(default_factory=dict, init=False, repr=False)
    _signals: dict[int, np.ndarray] = field(default_factory=dict, init=False, repr=False)
    _night_emg_rms: dict[int, float] = field(default_factory=dict, init=False, repr=False)
    _signals_scale: str | None = field(default=None, init=False, repr=False)
    _scaled_vectors: dict[str, dict[int, np.ndarray]] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        ws = Workspace(Path(self.workspace))
        try:
            self.con = ws.connect(read_only=True)
            self.manifest = ws.manifest()
        except WorkspaceError as exc:
            raise EvalError(str(exc)) from exc
        self.recompute = self.model_ref.sha256 != self.manifest.model_sha256
        self.out_dir = Path(self.out_dir)  # created by the first plot written

    @classmethod
    def open(cls, workspace: Path, model: str | None = None, **kw: object) -> EvalContext:
        """Open a workspace with ``model`` (a name or checkpoint path; None: the workspace's own)."""
        ws = Workspace(Path(workspace))
        if not ws.exists():
            raise EvalError(f"{workspace}: no workspace here (cohort.duckdb is missing)")
        try:
            manifest = ws.manifest()
        except WorkspaceError as exc:
            raise EvalError(str(exc)) from exc
        try:
            ref = manifest_model(ws, manifest) if model is None else resolve_model(model)
        except FileNotFoundError as exc:
            raise EvalError(f"model {model!r}: {exc}") from exc
        return cls(Path(workspace), ref, ref.load(), **kw)  # type: ignore[arg-type]

    def close(self) -> None:
        self.con.close()

    @property
    def vector_source(self) -> str:
        if self.recompute:
            return (f"recomputed from the recordings with {self.model_ref.name} (the workspace was built with "
                    f"{self.manifest.model_name}); not written back")
        return "stored in the workspace (same model)"

    def rng(self, salt: int = 0) -> np.random.Generator:
        return np.random.default_rng([self.seed, salt])

    # ------------------------------------------------------------------ tables
    def epochs(self) -> pd.DataFrame:
        """Every epoch: epoch_id, recording_id, recording, epoch_index, onset_s, stage, event_types."""
        if self._epochs is None:
            self._epochs = tables.epochs_frame(self.con)
        return self._epochs

    def scored_epochs(self) -> pd.DataFrame:
        e = self.epochs()
        return e[e["stage"].isin(SCORED_STAGES)]

    def sample(self, frame: pd.DataFrame, n: int | None, salt: int = 0) -> pd.DataFrame:
        """A seeded random sample of at most ``n`` rows (and of ``limit_epochs``), in epoch order."""
        caps = [c for c in (n, self.limit_epochs) if c is not None]
        cap = min(caps) if caps else None
        if cap is None or len(frame) <= cap:
            return frame
        idx = self.rng(salt).choice(len(frame), size=cap, replace=False)
        return frame.iloc[np.sort(idx)]

    def channel_masks(self, epoch_ids: np.ndarray) -> np.ndarray:
        """bool ``[N, 10]``: the model input channels each epoch has."""
        return tables.epoch_channel_masks(self.con, epoch_ids)

    def captions(self, epoch_ids: np.ndarray, track: str) -> list[str]:
        """The reference caption of each epoch for ``track`` ("" where absent)."""
        rows = tables.captions_of(self.con, epoch_ids, track)
        return [rows.get(int(i), "") for i in epoch_ids]

    def has_table(self, name: str) -> bool:
        return tables.has_table(self.con, name)

    def events(self) -> pd.DataFrame:
        """Every scored event: recording_id, recording, type, onset_s, duration_s, spo2_nadir, stage."""
        return tables.events_frame(self.con)

    def features(self) -> pd.DataFrame:
        """The per-epoch feature table (empty when the workspace has none)."""
        return tables.features_frame(self.con)

    def night_metrics(self) -> pd.DataFrame:
        """The night-metrics table, one row per recording_id."""
        return tables.night_metrics_frame(self.con)

    def nights(self) -> pd.DataFrame:
        """One row per night: subject attributes and every night metric (see :func:`tables.nights_frame`)."""
        return tables.nights_frame(self.con)

    def recording_file(self, recording_id: int) -> tuple[str, int]:
        """(path, n_epochs) of a recording."""
        return tables.recording_file(self.con, recording_id)

    # ------------------------------------------------------------------ vectors and signals
    def epoch_vectors(self, epoch_ids: np.ndarray, brain_scale: str | None = None) -> np.ndarray:
        """Epoch vectors ``[len(epoch_ids), D]`` of this context's model (stored or recomputed); with a
        ``brain_scale`` other than the model's own (``SleepLM.brain_scale``) always recomputed from the recordings
        re-read with that scale (``make_epochs``)."""
        ids = np.asarray(epoch_ids, np.int64)
        if brain_scale is not None and brain_scale != getattr(self.model, "brain_scale", "sd"):
            cache = self._scaled_vectors.setdefault(brain_scale, {})
            todo = [int(i) for i in ids if int(i) not in cache]
            if todo:
                vecs = self.model.encode_signal(self.signals(np.asarray(todo), brain_scale))
                cache.update({i: v for i, v in zip(todo, vecs)})
            if not len(ids):
                return np.zeros((0, self.model.embed_dim), np.float32)
            return np.stack([cache[int(i)] for i in ids])
        missing = [int(i) for i in ids if int(i) not in self._vectors]
        if missing and not self.recompute:
            self._vectors.update(tables.epoch_vectors_of(self.con, missing))
        elif missing:
            x = self.signals(np.asarray(missing))
            vecs = self.model.encode_signal(x)
            self._vectors.update({i: v for i, v in zip(missing, vecs)})
        if not len(ids):
            return np.zeros((0, self.model.embed_dim), np.float32)
        return np.stack([self._vectors[int(i)] for i in ids])

    def signals(self, epoch_ids: np.ndarray, brain_scale: str | None = None) -> np.ndarray:
        """Model input ``[N, 10, 1920]`` of epochs, read and preprocessed from their recordings (EEG and EOG scaled
        as ``brain_scale`` says, default the model's own; ``make_epochs``)."""
        ids = np.asarray(epoch_ids, np.int64)
        brain_scale = brain_scale or getattr(self.model, "brain_scale", "sd")
        if brain_scale != self._signals_scale:  # one scale cached at a time
            self._signals.clear()
            self._signals_scale = brain_scale
        todo = [int(i) for i in ids if int(i) not in self._signals]
        if todo:
            from sleeplm.encoder.io.psg import load_psg
            from sleeplm.encoder.pipeline import night_emg_reference
            from sleeplm.encoder.signals.preprocess import make_epochs

            e = self.epochs().set_index("epoch_id").loc[todo]
            for rid, grp in e.groupby("recording_id"):
                path, _ = self.recording_file(int(rid))
                if not Path(path).is_file():
                    raise EvalError(f"recording {grp['recording'].iloc[0]}: {path} is missing, so its epochs cannot be "
                                    "re-read (needed for generation or for a model other than the workspace's)")
                psg = load_psg(path)
                x = make_epochs(psg.mapped, psg.annotations, brain_scale=brain_scale).x
                ref = night_emg_reference(x)  # the whole night's, while it is read
                for eid, k in zip(grp.index, grp["epoch_index"]):
                    self._signals[int(eid)] = x[int(k)]
                    self._night_emg_rms[int(eid)] = ref
                del x, psg
        if not len(ids):
            return np.zeros((0, 10, 1920), np.float32)
        return np.stack([self._signals[int(i)] for i in ids])

    def night_emg_rms(self, epoch_ids: np.ndarray) -> np.ndarray:
        """Each epoch's night chin-EMG reference (``sleeplm.encoder.pipeline.night_emg_reference`` of its whole
        recording's model input), for the fact reader's relative tone; read with the signals when not yet read."""
        ids = np.asarray(epoch_ids, np.int64)
        if any(int(i) not in self._night_emg_rms for i in ids):
            self.signals(np.array([i for i in ids if int(i) not in self._night_emg_rms], np.int64))
        return np.array([self._night_emg_rms[int(i)] for i in ids], dtype=np.float64)

    def drop_signals(self) -> None:
        """Free the signal cache (vectors stay)."""
        self._signals.clear()

    def night_vectors(self) -> tuple[np.ndarray, np.ndarray]:
        """(recording_ids, night vectors) of this context's model, stored or rebuilt."""
        if not self.recompute:
            return load_vectors(self.con, "night_vectors", "recording_id")
        e = self.epochs()
        metrics = {}
        if self.has_table("night_metrics"):
            m = self.night_metrics()
            metrics = {int(r["recording_id"]): {k: v for k, v in r.items() if k not in ("recording_id", "summary")}
                       for r in m.to_dict("records")}
        rids, out = [], []
        for rid, grp in e.groupby("recording_id"):
            vecs = self.epoch_vectors(grp["epoch_id"].to_numpy())
            self.drop_signals()
            out.append(night_vector(vecs, grp["stage"].tolist(), metrics.get(int(rid), {})))
            rids.append(int(rid))
        return np.asarray(rids, np.int64), np.stack(out) if out else np.zeros((0, 0), np.float32)

    def describe(self) -> dict:
        """Model, workspace and vector source, for result JSON files."""
        return {
            "workspace": str(Path(self.workspace).resolve()),
            "manifest": json.loads(Path(Workspace(Path(self.workspace)).manifest_path).read_text()),
            "model": {"name": self.model_ref.name, "sha256": self.model_ref.sha256,
                      "weights": str(self.model_ref.weights), "embed_dim": self.model.embed_dim},
            "vectors": self.vector_source,
            "seed": self.seed,
            "limit_epochs": self.limit_epochs,
        }
