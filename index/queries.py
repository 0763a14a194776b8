"""The query API over a workspace: what the agent, the CLI and eval call.

* :meth:`Cohort.search_text` — text → epochs, with filters (recording, subject attributes, stage,
  event types, hours since lights-off), top-k with cosine scores and epoch references;
* :meth:`Cohort.similar_epochs` — epoch → epochs; :meth:`Cohort.similar_nights` — night → nights,
  with their metrics side by side;
* :meth:`Cohort.localize` — a text query scored against every epoch of one night (see
  :mod:`sleeplm.index.localize`);
* cohort questions are in :mod:`sleeplm.index.stats`.

Filtered searches run exactly on the CPU index with a FAISS ``IDSelectorBatch`` built from a SQL
filter whose values are bound parameters, never pasted into SQL. The workspace is opened
read-only, and a model whose weights differ from the workspace's is refused.
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import faiss
import numpy as np
from sleeplm.encoder.model.api import SleepLM
from sleeplm.encoder.model.facts import FactModel, fact_model_for

from . import tables
from . import vectors as vec
from .caption_cache import OnceLRU
from .caption_store import CaptionStore
from .cohort import CohortLookups
from .localize import NEGATION, Localization, localize_read_events, localize_scores
from .models import ModelRef, measured_text_search, resolve_model
from .querytext import caption_style, parse_query
from .workspace import Workspace, WorkspaceError

SUBJECT_FILTERS = ("phenotype", "sex", "site")


@dataclass
class EpochFilter:
    """Restrict epoch searches. Every field is optional; lists mean "any of"."""

    recordings: list[str] | None = None
    stages: list[str] | None = None
    event_types: list[str] | None = None  # the epoch overlaps at least one of these
    phenotype: list[str] | None = None
    sex: list[str] | None = None
    site: list[str] | None = None
    age_min: float | None = None
    age_max: float | None = None
    hours_min: float | None = None  # time since the start of the recording
    hours_max: float | None = None
    hr_min_bpm: float | None = None  # the epoch's mean heart rate above this (per-epoch features)
    hr_max_bpm: float | None = None  # ... below this
    spo2_max_pct: float | None = None  # the epoch's lowest SpO2 at or below this

    #: Filters on the per-epoch ``features`` table.
    FEATURE_FILTERS = ("hr_min_bpm", "hr_max_bpm", "spo2_max_pct")

    #: Fields that select nights (a recording or its subject); the others select epochs within a night.
    NIGHT_FIELDS = ("recordings", "phenotype", "sex", "site", "age_min", "age_max")

    def epoch_fields(self) -> list[str]:
        """The fields set that select epochs within a night (stages, events, time of night, heart rate, SpO2)."""
        return [k for k, v in asdict(self).items() if v is not None and v != [] and k not in self.NIGHT_FIELDS]

    def night_where(self) -> tuple[str, list[Any]]:
        """SQL WHERE clause over ``recordings r LEFT JOIN subjects s`` for the fields that select nights.

        Raises
        ------
        ValueError
            When a field that selects epochs is set: a per-night table cannot honour it, and dropping it
            would answer another question.
        """
        extra = self.epoch_fields()
        if extra:
            raise ValueError(f"a per-night table cannot be restricted by {', '.join(extra)} (those select epochs "
                             "within a night)")
        return self.nights_only().where()

    def nights_only(self) -> EpochFilter:
        """This filter without the fields that select epochs: the nights it is about."""
        return EpochFilter(**{k: getattr(self, k) for k in self.NIGHT_FIELDS})

    def needs_features(self) -> bool:
        return any(getattr(self, f) is not None for f in self.FEATURE_FILTERS)

    def is_empty(self) -> bool:
        return all(v is None for v in asdict(self).values())

    def where(self) -> tuple[str, list[Any]]:
        """SQL WHERE clause over ``epochs e JOIN recordings r LEFT JOIN subjects s`` and its parameters."""
        clauses, params = ["TRUE"], []
        if self.recordings:
            clauses.append("r.name IN (SELECT unnest(?))")
            params.append(list(self.recordings))
        if self.stages:
            clauses.append("e.stage IN (SELECT unnest(?))")
            params.append(list(self.stages))
        if self.event_types:
            clauses.append("list_has_any(e.event_types, ?)")
            params.append(list(self.event_types))
        for name in SUBJECT_FILTERS:
            values = getattr(self, name)
            if values:
                clauses.append(f"s.{name} IN (SELECT unnest(?))")
                params.append(list(values))
        if self.age_min is not None:
            clauses.append("s.age >= ?")
            params.append(float(self.age_min))
        if self.age_max is not None:
            clauses.append("s.age <= ?")
            params.append(float(self.age_max))
        if self.hours_min is not None:
            clauses.append("e.onset_s >= ?")
            params.append(3600.0 * float(self.hours_min))
        if self.hours_max is not None:
            clauses.append("e.onset_s < ?")
            params.append(3600.0 * float(self.hours_max))
        for name, sql in (("hr_min_bpm", "hr_mean_bpm > ?"), ("hr_max_bpm", "hr_mean_bpm < ?"),
                          ("spo2_max_pct", "spo2_min_pct <= ?")):
            if getattr(self, name) is not None:
                clauses.append(f"e.epoch_id IN (SELECT epoch_id FROM features WHERE {sql})")
                params.append(float(getattr(self, name)))
        return " AND ".join(clauses), params


EPOCH_FROM = "epochs e JOIN recordings r USING (recording_id) LEFT JOIN subjects s USING (subject_id)"


@dataclass
class EpochHit:
    """One epoch found, with everything needed to open it."""

    epoch_id: int
    score: float
    recording: str
    epoch_index: int
    onset_s: float
    clock_time: str | None
    stage: str
    event_types: list[str]
    subject_id: str | None
    caption: str = ""  # the reference stage_event caption

    def ref(self) -> str:
        clock = f" ({self.clock_time[11:19]})" if self.clock_time else ""
        return f"{self.recording} epoch {self.epoch_index}{clock}"


@dataclass
class NightHit:
    """One night found, with its metrics and subject attributes."""

    recording_id: int
    recording: str
    score: float
    subject: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)


#: How many small lookups a cohort keeps (names, night records and metrics, the nights table, stored scores).
MEMO_ITEMS = 4096


class Cohort(CohortLookups):
    """A workspace opened for questions (typed night/epoch lookups: :class:`~sleeplm.index.cohort.CohortLookups`).

    Parameters
    ----------
    workspace : path
        The workspace folder.
    model : SleepLM, optional
        A loaded model; by default the one named in the manifest (bundled name or weights path).
    model_ref : ModelRef, optional
        Identity of ``model`` (checked against the manifest). Needed with ``model``.
    """

    def __init__(self, workspace: str | Path, model: SleepLM | None = None, model_ref: ModelRef | None = None):
        self.ws = Workspace(Path(workspace))
        self.con = self.ws.connect(read_only=True)
        #: Small whole-workspace answers, kept for this read-only cohort's life (:class:`CohortLookups`).
        self.memo = OnceLRU(MEMO_ITEMS)
        #: Captions the model generated for this workspace's epochs, kept beside the database.
        self.caption_store = CaptionStore.in_workspace(self.ws.root)
        self.manifest = self.ws.manifest()
        if model is None:
            model_ref = model_ref or self._manifest_model()
            model = model_ref.load()
        if model_ref is not None:
            self.ws.require_model(model_ref.name, model_ref.sha256)
        #: The weights the vectors were made with (None when a model object was passed in).
        self.model_ref = model_ref
        self.model = model
        self._epoch_index = vec.load_index(self.ws.epochs_index_path) if self.ws.epochs_index_path.is_file() else None
        self._night_index = vec.load_index(self.ws.nights_index_path) if self.ws.nights_index_path.is_file() else None
        self._epoch_search = vec.to_search_device(self._epoch_index) if self._epoch_index is not None else None

    def _manifest_model(self) -> ModelRef:
        m = self.manifest
        changed = None  # a model of that name whose weights are not the ones that built the workspace
        for spec in (m.model_name, m.model_weights):
            if not spec:
                continue
            try:
                ref = resolve_model(spec, m.model_config)
            except FileNotFoundError:
                continue
            if ref.sha256 == m.model_sha256:
                return ref
            changed = changed or ref
        if changed is not None:
            raise WorkspaceError(
                f"{self.ws.root}: built with {m.model_name} weights sha256 {m.model_sha256[:12]}…, but "
                f"{changed.name} is now {changed.sha256[:12]}… ({changed.weights}); the stored vectors are not "
                "comparable with the new model's. Ingest the cohort again (a new workspace), or pass the old "
                "weights file with --model")
        raise WorkspaceError(
            f"{self.ws.root}: the model that built this workspace ({m.model_name}, sha256 {m.model_sha256[:12]}…) "
            "is not available; pass it explicitly"
        )

    @property
    def brain_scale(self) -> str:
        """How the model of this cohort wants EEG and EOG scaled (``make_epochs``'s ``brain_scale``)."""
        model = getattr(self.model, "wrapped", self.model)  # the page's CachedTextModel wraps it
        scale = getattr(model, "brain_scale", None)
        return scale if isinstance(scale, str) else (self.model_ref.brain_scale if self.model_ref else "sd")

    @functools.cached_property
    def fact_model(self) -> FactModel | None:
        """The fact reader shipped beside this cohort's weights (:func:`fact_model_for`), or None when there is none
        for these weights (the official checkpoint has none)."""
        ref = self.model_ref
        return None if ref is None else fact_model_for(ref.weights, ref.sha256)

    def measured_text_search(self) -> dict | None:
        """What this workspace's model's text search was measured to do (:func:`models.measured_text_search`),
        or None when nothing is known for these weights."""
        ref = self.model_ref
        return None if ref is None else measured_text_search(ref.weights, ref.sha256)

    def close(self) -> None:
        self.con.close()

    # ---------------------------------------------------------------- epochs
    def embed_query(self, text: str, rewrite: bool = True) -> np.ndarray:
        """The query's text embedding (rewritten in caption style unless ``rewrite`` is False)."""
        return self.model.encode_text([caption_style(text) if rewrite else text])[0]

    def search_text(self, text: str, k: int = 10, filters: EpochFilter | None = None,
                    rewrite: bool = True) -> list[EpochHit]:
        """Epochs whose signals best match a description."""
        return self.search_vector(self.embed_query(text, rewrite), k, filters)

    def similar_epochs(self, epoch_id: int, k: int = 10, filters: EpochFilter | None = None) -> list[EpochHit]:
        """Epochs most like a given epoch (itself excluded)."""
        row = self.con.execute("SELECT vec FROM epoch_vectors WHERE epoch_id = ?", [int(epoch_id)]).fetchone()
        if row is None:
            raise KeyError(f"no epoch with id {epoch_id}")
        hits = self.search_vector(np.asarray(row[0], np.float32), k + 1, filters)
        return [h for h in hits if h.epoch_id != epoch_id][:k]

    def search_vector(self, q: np.ndarray, k: int = 10, filters: EpochFilter | None = None) -> list[EpochHit]:
        if self._epoch_index is None:
            return []
        if filters is None or filters.is_empty():
            hits = vec.search(self._epoch_search, q, k)[0]
        else:
            if filters.needs_features() and not self.has_table("features"):
                raise ValueError("this workspace stores no per-epoch features (heart rate, SpO2), so epochs cannot "
                                 "be selected by them; re-ingest with the current version to add them")
            where, params = filters.where()
            ids = self.con.execute(f"SELECT e.epoch_id FROM {EPOCH_FROM} WHERE {where}", params).fetchnumpy()["epoch_id"]
            if len(ids) == 0:
                return []
            sel = faiss.IDSelectorBatch(np.ascontiguousarray(ids, dtype=np.int64))
            params_cls = faiss.SearchParametersIVF if isinstance(self._epoch_index, faiss.IndexIVF) else faiss.SearchParameters
            sp = params_cls(sel=sel)
            scores, found = self._epoch_index.search(vec.normalise(q[None]), min(k, len(ids)), params=sp)
            keep = found[0] >= 0
            hits = vec.Hits(found[0][keep], scores[0][keep])
        return self.epoch_hits(hits.ids, hits.scores)

    def epoch_hits(self, ids: np.ndarray, scores: np.ndarray | None = None) -> list[EpochHit]:
        """Look up epochs by id, keeping the given order."""
        if len(ids) == 0:
            return []
        rows = self.con.execute(
            f"""SELECT e.epoch_id, r.name, e.epoch_index, e.onset_s, CAST(e.clock_time AS VARCHAR), e.stage,
                       e.event_types, r.subject_id, c.text
                FROM {EPOCH_FROM} LEFT JOIN captions c ON c.epoch_id = e.epoch_id AND c.track = 'stage_event'
                WHERE e.epoch_id IN (SELECT unnest(?))""",
            [list(map(int, ids))],
        ).fetchall()
        by_id = {r[0]: r for r in rows}
        out = []
        for i, eid in enumerate(map(int, ids)):
            r = by_id.get(eid)
            if r is None:
                raise WorkspaceError(f"{self.ws.root}: epoch id {eid} is in epochs.faiss but not in DuckDB; run `sleeplm check`")
            out.append(EpochHit(eid, float(scores[i]) if scores is not None else float("nan"), r[1], r[2], r[3], r[4],
                                r[5], list(r[6] or []), r[7], r[8] or ""))
        return out

    def epoch_id(self, recording: str, epoch_index: int) -> int:
        row = self.con.execute(
            "SELECT e.epoch_id FROM epochs e JOIN recordings r USING (recording_id) WHERE r.name = ? AND e.epoch_index = ?",
            [recording, int(epoch_index)],
        ).fetchone()
        if row is None:
            n = self.con.execute("SELECT n_epochs FROM recordings WHERE name = ?", [recording]).fetchall()
            if not n:
                raise KeyError(f"no recording {recording!r} in this cohort")
            raise KeyError(f"no epoch {epoch_index} in recording {recording!r} (it has epochs 0–{int(n[0][0]) - 1})")
        return int(row[0])

    # ---------------------------------------------------------------- nights
    def recording_id(self, recording: str) -> int:
        row = self.con.execute("SELECT recording_id FROM recordings WHERE name = ?", [recording]).fetchone()
        if row is None:
            names = [r[0] for r in self.con.execute("SELECT name FROM recordings ORDER BY name LIMIT 20").fetchall()]
            raise KeyError(f"no recording {recording!r}; known: {', '.join(names)}")
        return int(row[0])

    def night_info(self, recording_ids: list[int]) -> dict[int, tuple[str, dict[str, Any], dict[str, Any]]]:
        """recording_id -> (name, subject attributes, night metrics)."""
        rel = self.con.execute(
            """SELECT r.recording_id, r.name, s.* EXCLUDE (attributes), m.* EXCLUDE (recording_id)
               FROM recordings r LEFT JOIN subjects s USING (subject_id)
               LEFT JOIN night_metrics m USING (recording_id) WHERE r.recording_id IN (SELECT unnest(?))""",
            [list(map(int, recording_ids))],
        )
        cols = [d[0] for d in rel.description]
        subject_cols = {"subject_id", "age", "sex", "bmi", "phenotype", "site"}
        out = {}
        for row in rel.fetchall():
            d = dict(zip(cols, row))
            rid, name = d.pop("recording_id"), d.pop("name")
            out[rid] = (name, {k: v for k, v in d.items() if k in subject_cols},
                        {k: v for k, v in d.items() if k not in subject_cols})
        return out

    def similar_nights(self, recording: str, k: int = 5) -> tuple[NightHit, list[NightHit]]:
        """The night itself and the ``k`` nights most like it, each with metrics and subject attributes."""
        rid = self.recording_id(recording)
        row = self.con.execute("SELECT vec FROM night_vectors WHERE recording_id = ?", [rid]).fetchone()
        assert self._night_index is not None and row is not None
        hits = vec.search(self._night_index, np.asarray(row[0], np.float32), k + 1)[0]
        info = self.night_info([rid, *map(int, hits.ids)])

        def make(r: int, score: float) -> NightHit:
            name, subject, metrics = info[r]
            return NightHit(r, name, score, subject, metrics)

        others = [make(int(i), float(s)) for i, s in zip(hits.ids, hits.scores) if int(i) != rid][:k]
        return make(rid, 1.0), others

    def recordings(self) -> list[str]:
        return self.recording_names()

    # ---------------------------------------------------------------- localization
    def night_vectors(self, recording: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """(onset_s [N], epoch vectors [N, D], stages) of one night, in epoch order."""
        rid = self.recording_id(recording)
        rows = self.con.execute(
            "SELECT e.onset_s, v.vec, e.stage FROM epochs e JOIN epoch_vectors v USING (epoch_id) "
            "WHERE e.recording_id = ? ORDER BY e.epoch_index", [rid]).fetchall()
        onset = np.array([r[0] for r in rows], np.float64)
        mat = np.stack([np.asarray(r[1], np.float32) for r in rows]) if rows else np.zeros((0, self.model.embed_dim))
        return onset, mat, [r[2] for r in rows]

    def localize(self, recording: str, query: str, z_threshold: float = 2.0, smooth_epochs: int = 1,
                 rewrite: bool = True, calibrated: bool = True, stages: list[str] | None = None,
                 event_types: list[str] | None = None) -> Localization:
        """Where in a night a described event happens (see :mod:`sleeplm.index.localize`).

        ``calibrated`` (default): each epoch against the no-event caption, intervals where the
        probability > 0.5; else within-night outliers above ``z_threshold``. ``stages``: only epochs scored
        in these stages ("central apneas during REM"), intervals and annotated events alike.
        """
        onset, mat, epoch_stages = self.night_vectors(recording)
        allowed = None if not stages else np.array([s in stages for s in epoch_stages], bool)
        scores = mat @ self.embed_query(query, rewrite)
        reference = mat @ self.embed_query(NEGATION, rewrite=False) if calibrated else None
        return localize_scores(recording, query, onset, scores, self._annotated(recording), z_threshold,
                               smooth_epochs, reference_scores=reference, allowed=allowed, event_types=event_types)

    def localize_read(self, recording: str, query: str, event_probs: np.ndarray, stages: list[str] | None = None,
                      event_types: list[str] | None = None) -> Localization:
        """Where in a night the events a query names are, as this workspace's fact reader's event head reads them
        (``event_probs`` ``[N, T, K]``: ``self.fact_model.event_probabilities`` of the night's epochs, in order;
        :func:`sleeplm.index.localize.localize_read_events`), compared with the night's annotated events.
        ``stages``: only events that start in epochs scored in these stages."""
        fm = self.fact_model
        if fm is None or not fm.reader.event_types:
            raise ValueError(f"the weights of this workspace ({self.manifest.model_name}) have no event head")
        rid = self.recording_id(recording)
        rows = self.con.execute("SELECT onset_s, stage FROM epochs WHERE recording_id = ? ORDER BY epoch_index",
                                [rid]).fetchall()
        if len(rows) != len(event_probs):
            raise ValueError(f"{recording}: {len(event_probs)} epochs read, the workspace holds {len(rows)}")
        onset = np.array([r[0] for r in rows], np.float64)
        allowed = None if not stages else np.array([r[1] in stages for r in rows], bool)
        kinds = list(event_types) if event_types is not None else parse_query(query).events
        return localize_read_events(recording, query, onset, event_probs, fm.reader.event_types, fm.patch_s,
                                    self._annotated(recording), kinds, allowed)

    def channel_masks(self, epoch_ids: list[int]) -> np.ndarray:
        """bool ``[len(epoch_ids), 10]``: the model input channels each epoch has (``SLEEPLM_CHANNELS`` order)."""
        return tables.epoch_channel_masks(self.con, np.asarray(epoch_ids, np.int64))

    def _annotated(self, recording: str) -> list[tuple[str, float, float]]:
        """The night's scored events as (type, onset_s, duration_s), by onset (what localization compares with)."""
        return [(e.type, e.onset_s, e.duration_s) for e in self.night_events(self.recording_id(recording))]
