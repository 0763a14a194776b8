"""Everything about one epoch of one recording: stage, events, features, reference captions and,
optionally, a model's captions (``sleeplm caption FILE --epoch K``).

Epoch ``K`` is the ``K``-th 30-s epoch of the model's clock, exactly as
:func:`sleeplm.encoder.signals.preprocess.make_epochs` cuts the night (from the annotations'
``stage_onset_s``, else the recording start, to the last complete epoch), so the features,
the reference captions and the model's input all describe the same 30 s.

Features are computed for the whole night (some are relative to the night: EMG tone,
respiratory amplitude, the spindle threshold), then epoch ``K``'s row is taken; for an 8-h
night this costs a few seconds, dominated by R-peak detection.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from sleeplm.encoder.captions.facts import (
    TRACKS,
    EventFact,
    canonical_track,
    events_in_epochs,
)
from sleeplm.encoder.captions.render import render_captions
from sleeplm.encoder.io.psg import load_psg
from sleeplm.encoder.io.records import EPOCH_S, PSGError
from sleeplm.encoder.signals.features import compute_epoch_features
from sleeplm.encoder.signals.preprocess import epoch_onsets, make_epochs
from sleeplm.encoder.vocab import (
    SCORING_KINDS,
    SLEEPLM_CHANNELS,
    withheld_caption_reason,
)


@dataclass
class EpochCaption:
    """One epoch of one recording, with its reference (and optionally generated) captions.

    Attributes
    ----------
    path : the recording.
    epoch : epoch index (0-based, the model's epoch clock).
    n_epochs : epochs in the night.
    onset_s : epoch start (s) from the recording start.
    clock_time : wall-clock start of the epoch, when the file has a start time.
    stage : annotated stage (``W``, ``N1``, ``N2``, ``N3``, ``REM``; ``UNKNOWN`` when unscored).
    events : annotated events overlapping the epoch, times (s) within the epoch, clipped to [0, 30].
    captions : canonical reference caption per track, rendered from the features and annotations.
    features : the epoch's row of :func:`sleeplm.encoder.signals.features.compute_epoch_features`
        (units in the names; NaN where the channel is absent).
    generated : the model's caption per track; None when no model was given.
    withheld : tracks whose model caption was not generated, with the reason (the epoch has none of the
        track's inputs: :func:`sleeplm.encoder.vocab.withheld_caption_reason`).
    warnings : what reading the files changed or found suspect (e.g. annotations whose clock start differs).
    """

    path: Path
    epoch: int
    n_epochs: int
    onset_s: float
    clock_time: datetime | None
    stage: str
    events: list[EventFact] = field(default_factory=list)
    captions: dict[str, str] = field(default_factory=dict)
    features: dict[str, Any] = field(default_factory=dict)
    generated: dict[str, str] | None = None
    withheld: dict[str, str] = field(default_factory=dict)
    #: what reading the files changed or found suspect (``Recording.warnings``), one sentence each
    warnings: list[str] = field(default_factory=list)


def _track_list(tracks: Sequence[str] | str | None) -> list[str]:
    if tracks is None:
        return list(TRACKS)
    if isinstance(tracks, str):
        tracks = [tracks]
    out: list[str] = []
    for t in tracks:
        c = canonical_track(t)  # ValueError naming the track and the valid ones
        if c not in out:
            out.append(c)
    return out


def _plain(v: Any) -> Any:
    """A feature value as a plain Python value (numpy scalars unwrapped)."""
    if isinstance(v, np.generic):
        v = v.item()
    return v


def _load_model(model: Any) -> Any:
    if isinstance(model, (str, Path)):
        from sleeplm.encoder.model import load_model

        return load_model(model)
    return model


def caption_epoch(
    path: str | Path,
    epoch: int,
    tracks: Sequence[str] | str | None = None,
    model: Any = None,
    annotations: str | Path | None = None,
) -> EpochCaption:
    """Stage, events, features and captions of epoch ``epoch`` of a recording.

    Parameters
    ----------
    path : EDF/EDF+/BDF (or DREAMS text) recording, read with :func:`sleeplm.encoder.io.psg.load_psg`.
    epoch : 0-based epoch index (see the module docstring for the epoch clock).
    tracks : caption tracks (``stage_event``, ``brain``, ``cardiac``/``heart``, ``respiratory``,
        ``somatic``/``position_muscle``); default all five.
    model : optional SleepLM (from :func:`sleeplm.encoder.model.load_model`) or a name/path to
        load; when given, its greedy caption of the epoch is added per track.
    annotations : annotation file; default the sidecar / EDF+ annotations that ``load_psg`` finds.

    Raises
    ------
    PSGError
        Naming the file, when it cannot be read, is shorter than one epoch, or ``epoch`` is out
        of range ("epoch 5000 out of range: night has 960 epochs (0–959)").
    ValueError
        For an unknown track name.
    """
    track_list = _track_list(tracks)
    try:
        k = operator.index(epoch)
    except TypeError:
        raise TypeError(f"epoch must be an integer, got {epoch!r}") from None
    path = Path(path)
    psg = load_psg(path, annotations)
    mapped, ann = psg.mapped, psg.annotations
    rec = mapped.recording
    onsets = epoch_onsets(rec.duration_s, ann.stage_onset_s if ann is not None else 0.0)
    n = len(onsets)
    if n == 0:
        raise PSGError(path, f"shorter than one {EPOCH_S:.0f}-s epoch ({rec.duration_s:.1f} s)")
    if not 0 <= k < n:
        raise PSGError(path, f"epoch {k} out of range: night has {n} epochs (0–{n - 1})")

    feats = compute_epoch_features(mapped, ann, onsets)
    row = {c: _plain(v) for c, v in feats.iloc[k].items()}
    stage = str(row.get("stage", "UNKNOWN"))
    evs = events_in_epochs(ann.events if ann is not None else [], onsets[k : k + 1])[0]
    scoring = {k: ann.status(k).state for k in SCORING_KINDS} if ann is not None else dict.fromkeys(
        SCORING_KINDS, "not scored")
    leads = {ch: src.lead for ch, src in mapped.sources.items() if src.lead}
    conf = ann.stage_confidence if ann is not None and ann.stage_confidence else None
    conf_k = conf[k] if conf is not None and k < len(conf) else None
    captions = {t: render_captions(row, evs, stage, t, scoring=scoring, leads=leads, stage_confidence=conf_k)
                for t in track_list}
    onset = float(onsets[k])
    clock = rec.start_time + timedelta(seconds=onset) if rec.start_time is not None else None

    generated, withheld = None, {}
    if model is not None:
        m = _load_model(model)
        ep = make_epochs(mapped, ann, brain_scale=m.brain_scale)
        present = [c for c, on in zip(SLEEPLM_CHANNELS, ep.channel_mask[k]) if on]
        withheld = {t: why for t in track_list if (why := withheld_caption_reason(t, present))}
        wanted = [t for t in track_list if t not in withheld]
        generated = m.caption_batch(ep.x[k : k + 1], wanted)[0] if wanted else {}

    return EpochCaption(path=path, epoch=k, n_epochs=n, onset_s=onset, clock_time=clock, stage=stage,
                        events=evs, captions=captions, features=row, generated=generated, withheld=withheld,
                        warnings=list(psg.mapped.recording.warnings))


def _json_value(v: Any) -> Any:
    v = _plain(v)
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def epoch_caption_to_dict(ec: EpochCaption) -> dict[str, Any]:
    """A JSON-ready dict (NaN features become ``null``; clock time as ISO 8601)."""
    return {
        "path": str(ec.path),
        "epoch": ec.epoch,
        "n_epochs": ec.n_epochs,
        "onset_s": ec.onset_s,
        "clock_time": ec.clock_time.isoformat() if ec.clock_time is not None else None,
        "stage": ec.stage,
        "events": [{"type": e.type, "start_s": e.start_s, "end_s": e.end_s,
                    "spo2_nadir_pct": e.spo2_nadir_pct} for e in ec.events],
        "captions": dict(ec.captions),
        "generated": dict(ec.generated) if ec.generated is not None else None,
        "warnings": list(ec.warnings),
        "withheld": dict(ec.withheld),
        "features": {c: _json_value(v) for c, v in ec.features.items()},
    }


def night_emg_reference(x_night: np.ndarray) -> float:
    """The chin EMG's reference RMS of a whole night's model input ``x_night`` ``[N, 10, L]`` (every epoch of the
    recording): what the relative tone of its epochs is measured against (``night_emg_rms`` of :func:`read_facts`);
    NaN without a chin EMG."""
    from sleeplm.encoder.signals.emg import night_emg_rms

    return night_emg_rms(np.asarray(x_night)[:, SLEEPLM_CHANNELS.index("EMG_CHIN")])


def fact_measurements(reader: Any, x: np.ndarray, fs_hz: float = 64.0,
                      night_emg_rms: float | np.ndarray | None = None) -> dict[str, np.ndarray]:
    """The measurements a fact reader's measured priors need (``reader.measured_quantities``), taken on its input
    epochs ``x`` ``[N, 10, L]`` by the caption features' own code: the ECG's R peaks for the beat values; the chin
    EMG's RMS against its night's reference (``night_emg_rms``, one value or one per epoch:
    :func:`night_emg_reference` of each epoch's whole night) for the relative tone, which is NaN without it (the
    reader's head then reads the tone, less well: an epoch alone cannot tell its night's tone)."""
    from sleeplm.encoder.signals.cardiac import (
        EPOCH_CARDIAC_COLUMNS,
        epoch_cardiac_values,
    )
    from sleeplm.encoder.signals.emg import EPOCH_EMG_COLUMNS, epoch_emg_values

    wanted = set(reader.measured_quantities)
    unknown = wanted - set(EPOCH_CARDIAC_COLUMNS) - set(EPOCH_EMG_COLUMNS)
    if unknown:
        raise ValueError(f"the fact reader asks for measurements this version cannot take: {sorted(unknown)}")
    x = np.asarray(x)
    values: dict[str, np.ndarray] = {}
    if wanted & set(EPOCH_CARDIAC_COLUMNS):
        values |= epoch_cardiac_values(x[:, SLEEPLM_CHANNELS.index("ECG")], fs_hz)
    if wanted & set(EPOCH_EMG_COLUMNS):
        ref = np.broadcast_to(np.asarray(np.nan if night_emg_rms is None else night_emg_rms, dtype=np.float64),
                              (len(x),))
        values |= epoch_emg_values(x[:, SLEEPLM_CHANNELS.index("EMG_CHIN")], ref)
    return {k: values[k] for k in wanted}


def read_facts(fact_model: Any, x: np.ndarray,
               night_emg_rms: float | np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """:meth:`~sleeplm.encoder.model.facts.FactModel.read` with the measurements its priors need
    (:func:`fact_measurements`; ``night_emg_rms``: :func:`night_emg_reference` of the epochs' night, one value or one
    per epoch): the one way callers read a shipped fact reader."""
    return fact_model.read(x, fact_measurements(fact_model.reader, x, night_emg_rms=night_emg_rms))
