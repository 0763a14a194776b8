"""One call from a PSG file on disk to mapped channels, annotations and epochs.

:func:`load_psg` reads the header, plans the channel mapping, loads only the
samples the plan needs (bounded memory on 90-signal clinical files), pairs the
recording with its annotations (a sidecar file or EDF+ annotations) and checks
that the two fit. :func:`inspect_psg` turns that into the report printed by
``sleeplm inspect``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sleeplm.encoder.io.annotations import (
    check_against,
    clock_warning,
    find_annotations,
    from_tal,
    read_annotations,
    tidy_events,
)
from sleeplm.encoder.io.channels import (
    apply_plan,
    duplicate_label_warnings,
    needed_labels,
    plan_channels,
    recognised_montage,
)
from sleeplm.encoder.io.position import detect_position_coding
from sleeplm.encoder.vocab import SCORING_KINDS
from sleeplm.encoder.io.edf import read_recording
from sleeplm.encoder.io.records import AUX_CHANNELS, SLEEPLM_CHANNELS, Annotations, MappedRecording


@dataclass
class PSG:
    """A recording ready for feature extraction and preprocessing."""

    mapped: MappedRecording
    annotations: Annotations | None

    @property
    def path(self) -> Path:
        return self.mapped.recording.path


def load_psg(
    path: str | Path,
    annotations: str | Path | None = None,
    position_coding: str = "auto",
    header_only: bool = False,
    on_stage: Callable[[str], None] | None = None,
) -> PSG:
    """Read a recording and its annotations.

    Parameters
    ----------
    path : str or Path
        EDF/EDF+/BDF file.
    annotations : str or Path, optional
        Annotation file; by default a sidecar found by
        :func:`~sleeplm.encoder.io.annotations.find_annotations`, else the EDF+ annotations.
    position_coding : str
        Position coding (see :mod:`sleeplm.encoder.io.position`); "auto" detects it.
    header_only : bool
        Map channels without loading samples (for ``inspect``).
    on_stage : callable, optional
        Called with "reading", then "annotations", as each part starts (error reports say where).

    Raises
    ------
    PSGError
        Naming the file (recording or annotations) and the problem.
    """
    path = Path(path)
    if on_stage is not None:
        on_stage("reading")
    header = read_recording(path, header_only=True)
    sources, unmapped = plan_channels(header)
    if header_only:
        rec = header
        channels, coding = {}, None
        if "POS" in sources:  # judge the position coding by its values (a 1-Hz channel: cheap to read)
            pos_label = sources["POS"].labels[0]
            coding, warning = detect_position_coding(read_recording(path, labels={pos_label}).signal(pos_label))
            if warning:
                rec.warnings.append(warning)
    else:
        rec = read_recording(path, labels=needed_labels(sources))
        channels, coding = apply_plan(rec, sources, position_coding)
    rec.warnings.extend(w for w in duplicate_label_warnings(header, sources) if w not in rec.warnings)
    mapped = MappedRecording(rec, channels, sources, unmapped, coding)

    if on_stage is not None:
        on_stage("annotations")
    ann_path = Path(annotations) if annotations is not None else find_annotations(path)
    if ann_path is not None:
        ann = read_annotations(ann_path)
    else:
        ann = from_tal(rec)  # the header read already parsed the EDF+ annotations
    if ann is not None:
        check_against(ann, rec)
        ann = tidy_events(ann, rec)
        clock = clock_warning(ann, rec)
        if clock:
            rec.warnings.append(clock)
        rec.warnings.extend(f"{ann_path.name if ann_path else 'annotations'}: {note}" for note in ann.notes)
    return PSG(mapped, ann)


def inspect_psg(path: str | Path, annotations: str | Path | None = None) -> dict[str, Any]:
    """The ``sleeplm inspect`` report as a JSON-ready dict (keys documented in the README).

    Every source label gets a ``status``: ``recognised`` (fills a SleepLM channel as the documented /
    AASM derivation), ``substituted`` (fills it with a neighbouring derivation or a second sensor),
    ``reference`` (the reference electrode of a derived pair) or ``left out``, with ``reason``.
    """
    psg = load_psg(path, annotations, header_only=True)
    rec, mapped = psg.mapped.recording, psg.mapped
    where: dict[str, str] = {}
    for ch, src in mapped.sources.items():
        for lab in src.labels[:1]:
            where.setdefault(lab, ch)
    refs = {src.labels[1]: ch for ch, src in mapped.sources.items() if src.derivation == "bipolar"}
    channels = []
    for s in rec.signals:
        entry: dict[str, Any] = {"label": s.label, "fs_hz": s.fs_hz, "unit": s.unit}
        if s.label in where:
            src = mapped.sources[where[s.label]]
            entry["maps_to"] = where[s.label]
            entry["derivation"] = src.derivation
            entry["lead"] = src.lead
            entry["status"] = "substituted" if src.is_substitute else "recognised"
            if src.note:
                entry["reason"] = src.note
        elif s.label in refs:
            entry["maps_to"] = refs[s.label]
            entry["derivation"] = "bipolar"
            entry["status"] = "reference"
            entry["reason"] = f"reference electrode of {refs[s.label]} ({mapped.sources[refs[s.label]].lead})"
        else:
            entry["maps_to"] = None
            entry["status"] = "left out"
            entry["reason"] = mapped.unmapped.get(s.label, "")
        channels.append(entry)
    montage = recognised_montage(rec)
    ann = psg.annotations
    return {
        "path": str(rec.path),
        "file_type": rec.file_type,
        "start_time": rec.start_time.isoformat() if rec.start_time else None,
        "duration_s": rec.duration_s,
        "n_signals": len(rec.signals),
        "montage": None if montage is None else {"source": montage[0], "coverage": round(montage[1], 3)},
        "channels": channels,
        "sleeplm_channels": {
            ch: {"labels": list(src.labels), "derivation": src.derivation, "lead": src.lead, "note": src.note}
            for ch, src in mapped.sources.items()
            if ch in SLEEPLM_CHANNELS or ch in AUX_CHANNELS
        },
        "missing": mapped.missing,
        "substitutions": [src.note for src in mapped.sources.values() if src.is_substitute],
        "position_coding": mapped.position_coding,
        "repairs": rec.repairs,
        "warnings": rec.warnings,
        "annotations": None
        if ann is None
        else {
            "source": ann.source,
            "path": str(ann.path) if ann.path else None,
            "n_epochs": len(ann.stages),
            "stage_onset_s": ann.stage_onset_s,
            "stage_counts": ann.stage_counts(),
            "event_counts": ann.event_counts(),
            "scoring": {kind: ann.status(kind).to_dict() for kind in SCORING_KINDS},
        },
    }
