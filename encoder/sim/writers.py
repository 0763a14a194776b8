"""Writers: EDF+ (pyedflib), NSRR XML annotations, truth ``.npz`` and ``subjects.csv``."""

from __future__ import annotations

import csv
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pyedflib

from sleeplm.encoder.sim._util import EPOCH_S
from sleeplm.encoder.sim.night import SimulatedNight
from sleeplm.encoder.sim.sites import channel_spec

#: Stage -> NSRR EventConcept.
NSRR_STAGE_CONCEPTS: dict[str, str] = {
    "W": "Wake|0", "N1": "Stage 1 sleep|1", "N2": "Stage 2 sleep|2", "N3": "Stage 3 sleep|3", "REM": "REM sleep|5",
}
#: Event type -> (NSRR EventType, EventConcept).
NSRR_EVENT_CONCEPTS: dict[str, tuple[str, str]] = {
    "obstructive_apnea": ("Respiratory|Respiratory", "Obstructive apnea|Obstructive Apnea"),
    "central_apnea": ("Respiratory|Respiratory", "Central apnea|Central Apnea"),
    "mixed_apnea": ("Respiratory|Respiratory", "Mixed apnea|Mixed Apnea"),
    "hypopnea": ("Respiratory|Respiratory", "Hypopnea|Hypopnea"),
    "oxygen_desaturation": ("Respiratory|Respiratory", "SpO2 desaturation|SpO2 desaturation"),
    "arousal": ("Arousals|Arousals", "Arousal|Arousal ()"),
    "limb_movement": ("Limb Movement|Limb Movement", "Limb movement - left|Limb Movement (Left)"),
}
SUBJECTS_CSV_COLUMNS: tuple[str, ...] = ("subject_id", "recording", "age", "sex", "bmi", "phenotype", "ahi_true", "site")


def write_edf(night: SimulatedNight, path: Path) -> Path:
    """Write the site-labelled signals as a continuous EDF+ file (1-s data records)."""
    path = Path(path)
    sigs = night.signals
    headers = []
    for s in sigs:
        spec = channel_spec(night.site, s.label)
        lo, hi = spec.phys_range
        dmin, dmax = (int(lo), int(hi)) if spec.integer else (-32768, 32767)
        headers.append({"label": s.label, "dimension": s.unit, "sample_frequency": s.fs_hz,
                        "physical_min": float(lo), "physical_max": float(hi), "digital_min": dmin,
                        "digital_max": dmax, "transducer": s.transducer, "prefilter": s.prefilter})
    w = pyedflib.EdfWriter(str(path), len(sigs), file_type=pyedflib.FILETYPE_EDFPLUS)
    try:
        w.setSignalHeaders(headers)
        w.setStartdatetime(night.start_time)
        w.setPatientCode(night.subject.subject_id)
        w.setEquipment("sleeplm_simulator")
        n_records = int(round(night.duration_s))  # 1-s data records
        blocks = []
        for s, h in zip(sigs, headers):
            gain = (h["digital_max"] - h["digital_min"]) / (h["physical_max"] - h["physical_min"])
            d = np.rint((np.asarray(s.data, float) - h["physical_min"]) * gain + h["digital_min"])
            spr = int(round(s.fs_hz))
            blocks.append(np.clip(d, h["digital_min"], h["digital_max"]).astype(np.int16)[: n_records * spr]
                          .reshape(n_records, spr))
        # One contiguous int16 row per data record (all signals), written record by record in C:
        # pyedflib's writeSamples assembles records with np.append and dominated the write time.
        records = np.ascontiguousarray(np.concatenate(blocks, axis=1))
        for row in records:
            w.blockWriteDigitalShortSamples(row)
    finally:
        w.close()
    return path


def _add(parent: ET.Element, tag: str, text: str | None = None) -> ET.Element:
    el = ET.SubElement(parent, tag)
    if text is not None:
        el.text = text
    return el


def nsrr_xml(night: SimulatedNight) -> ET.ElementTree:
    """NSRR-style ``PSGAnnotation`` tree: recording start, events, then one stage per 30-s epoch."""
    labels = {s.label for s in night.signals}

    def first(*cands: str) -> str:
        return next((c for c in cands if c in labels), cands[-1])

    flow = first("AIRFLOW", "NasalP", "Flow", "Airflow", "ABDO RES", "Abdo", "Abdomen")
    spo2 = first("SaO2", "SpO2")
    eeg = first("EEG(sec)", "C3-M2", "C3")
    loc = {"oxygen_desaturation": spo2, "arousal": eeg, "limb_movement": "Left Leg"}

    root = ET.Element("PSGAnnotation")
    _add(root, "SoftwareVersion", "sleeplm-simulate 0.1")
    _add(root, "EpochLength", "30")
    events = _add(root, "ScoredEvents")
    ev = _add(events, "ScoredEvent")
    _add(ev, "EventType")
    _add(ev, "EventConcept", "Recording Start Time")
    _add(ev, "Start", "0")
    _add(ev, "Duration", f"{night.duration_s:.1f}")
    _add(ev, "ClockTime", night.start_time.strftime("00.00.00 %H.%M.%S"))
    for e in night.events:
        etype, concept = NSRR_EVENT_CONCEPTS[e.type]
        ev = _add(events, "ScoredEvent")
        _add(ev, "EventType", etype)
        _add(ev, "EventConcept", concept)
        _add(ev, "Start", f"{e.onset_s:.1f}")
        _add(ev, "Duration", f"{e.duration_s:.1f}")
        _add(ev, "SignalLocation", loc.get(e.type, flow))
        if e.type == "oxygen_desaturation":
            _add(ev, "SpO2Nadir", f"{e.spo2_nadir:.1f}")
            _add(ev, "SpO2Baseline", f"{e.spo2_baseline:.1f}")
    for i, s in enumerate(night.stages):
        ev = _add(events, "ScoredEvent")
        _add(ev, "EventType", "Stages|Stages")
        _add(ev, "EventConcept", NSRR_STAGE_CONCEPTS[str(s)])
        _add(ev, "Start", f"{i * EPOCH_S:.1f}")
        _add(ev, "Duration", f"{EPOCH_S:.1f}")
    tree = ET.ElementTree(root)
    ET.indent(tree)
    return tree


def write_nsrr_xml(night: SimulatedNight, path: Path) -> Path:
    """Write ``<stem>-nsrr.xml``."""
    path = Path(path)
    nsrr_xml(night).write(path, encoding="UTF-8", xml_declaration=True)
    return path


def write_truth(night: SimulatedNight, path: Path) -> Path:
    """Write ``<stem>.truth.npz`` (see :meth:`SimulatedNight.truth_arrays`)."""
    path = Path(path)
    with open(path, "wb") as fh:
        np.savez_compressed(fh, **night.truth_arrays())
    return path


def subject_row(night: SimulatedNight) -> dict[str, object]:
    """One ``subjects.csv`` row."""
    s = night.subject
    return {"subject_id": s.subject_id, "recording": s.stem, "age": s.age, "sex": s.sex, "bmi": s.bmi,
            "phenotype": s.phenotype, "ahi_true": round(night.ahi_true, 1), "site": s.site}


def write_subjects_csv(rows: list[dict[str, object]], path: Path) -> Path:
    """Write ``subjects.csv``."""
    path = Path(path)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(SUBJECTS_CSV_COLUMNS))
        w.writeheader()
        w.writerows(rows)
    return path
