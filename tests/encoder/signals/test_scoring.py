"""Automatic scoring: AASM rules on airflow, belts and SpO2; YASA stages; always labelled automatic."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sleeplm.encoder.io.records import Annotations, MappedRecording, Recording, Signal
from sleeplm.encoder.signals.scoring import auto_score, score_respiratory

FS = 32.0
DURATION_S = 1200.0
OBSTRUCTIVE = (300.0, 322.0)  # flow ~0, belts keep moving
CENTRAL = (700.0, 720.0)  # flow and belts stop
HYPOPNEA = (500.0, 525.0)  # flow at 50 %, then a 4 % desaturation
NADIR_S, DROP_PCT = 540.0, 4.0


def _night(with_effort: bool = True, with_spo2: bool = True) -> MappedRecording:
    t = np.arange(int(DURATION_S * FS)) / FS
    breath = np.sin(2 * np.pi * 0.25 * t)
    flow_amp = np.ones_like(t)
    effort_amp = np.ones_like(t)
    for (a, b), f, e in ((OBSTRUCTIVE, 0.02, 1.0), (CENTRAL, 0.02, 0.02), (HYPOPNEA, 0.5, 0.8)):
        sel = (t >= a) & (t < b)
        flow_amp[sel], effort_amp[sel] = f, e
    rng = np.random.default_rng(0)
    ch = {"AF": Signal("Flow", (flow_amp * breath + 0.005 * rng.standard_normal(t.size)).astype(np.float32), FS)}
    if with_effort:
        ch["THX"] = Signal("Thor", (effort_amp * breath).astype(np.float32), FS)
        ch["ABD"] = Signal("Abdo", (effort_amp * breath).astype(np.float32), FS)
    if with_spo2:
        ts = np.arange(int(DURATION_S))
        spo2 = 96.0 - DROP_PCT * np.clip(1 - np.abs(ts - NADIR_S) / 15.0, 0, 1)
        ch["SPO2"] = Signal("SpO2", spo2.astype(np.float32), 1.0, "%")
    rec = Recording(Path("x.edf"), None, DURATION_S, list(ch.values()))
    return MappedRecording(rec, ch, {}, {})


def _overlaps(events, kind, span) -> bool:
    return any(e.type == kind and e.onset_s < span[1] and e.end_s > span[0] for e in events)


def test_an_obstructive_apnea_is_a_90_percent_flow_drop_with_effort() -> None:
    res = score_respiratory(_night())
    assert _overlaps(res.events, "obstructive_apnea", OBSTRUCTIVE)
    assert not _overlaps(res.events, "central_apnea", OBSTRUCTIVE)


def test_a_central_apnea_has_no_effort() -> None:
    assert _overlaps(score_respiratory(_night()).events, "central_apnea", CENTRAL)


def test_a_hypopnea_needs_its_desaturation() -> None:
    assert _overlaps(score_respiratory(_night()).events, "hypopnea", HYPOPNEA)
    without_spo2 = score_respiratory(_night(with_spo2=False))
    assert not _overlaps(without_spo2.events, "hypopnea", HYPOPNEA)
    assert "arousals only" in without_spo2.scoring["respiratory"].reason


def test_the_desaturation_is_found_with_its_nadir() -> None:
    desat = [e for e in score_respiratory(_night()).events if e.type == "oxygen_desaturation"]
    assert len(desat) == 1 and abs(desat[0].end_s - NADIR_S) <= 2 and desat[0].spo2_nadir == pytest.approx(92.0, abs=0.5)


def test_events_are_labelled_automatic_with_the_rule_set() -> None:
    res = score_respiratory(_night())
    assert all(e.label.startswith("automatic") for e in res.events)
    assert res.scoring["respiratory"].state == "automatic" and "AASM" in res.scoring["respiratory"].method


def test_without_belts_the_apnea_type_is_not_claimed() -> None:
    res = score_respiratory(_night(with_effort=False))
    apneas = [e for e in res.events if "apnea" in e.type]
    assert apneas and all("type not determined" in e.label for e in apneas)


def test_without_airflow_respiratory_events_are_not_scored_not_none() -> None:
    m = _night()
    del m.channels["AF"]
    res = score_respiratory(m)
    assert res.scoring["respiratory"].state == "not scored" and "airflow" in res.scoring["respiratory"].reason
    assert not any(e.type in ("obstructive_apnea", "hypopnea") for e in res.events)


def test_a_dead_airflow_sensor_is_not_scored_rather_than_no_events() -> None:
    m = _night()
    m.channels["AF"].data[:] = 0.0
    res = score_respiratory(m)
    assert res.scoring["respiratory"].state == "not scored" and "sensor loss" in res.scoring["respiratory"].reason


def test_missing_mode_keeps_what_a_person_scored() -> None:
    ann = Annotations("csv", None, ["N2"] * 40)
    from sleeplm.encoder.io.annotations import event_list_scoring

    ann.scoring = event_list_scoring(ann, "CSV")
    out = auto_score(_night(), ann, "missing")
    assert out.status("stages").state == "manual" and out.stages == ann.stages
    assert out.status("respiratory").state == "automatic"
    assert out.status("arousal").state == "not scored" and "no automatic arousal scorer" in out.status("arousal").reason


def test_never_mode_changes_nothing() -> None:
    assert auto_score(_night(), None, "never") is None


def test_without_eeg_stages_stay_unscored_with_the_reason() -> None:
    out = auto_score(_night(), None, "missing")
    assert out.status("stages").state == "not scored" and "EEG" in out.status("stages").reason


@pytest.mark.slow
def test_yasa_stages_a_simulated_night_with_confidences() -> None:
    sim = pytest.importorskip("sleeplm.encoder.sim")
    rng = np.random.default_rng(5)
    night = sim.simulate_night(sim.draw_subject(0, rng, phenotype="healthy_young"), rng, duration_h=2.0)
    ch = dict(night.canonical)
    mapped = MappedRecording(Recording(Path("sim.edf"), None, night.duration_s, list(ch.values())), ch, {}, {})
    out = auto_score(mapped, None, "missing")
    truth = night.annotations().stages
    assert out.status("stages").state == "automatic" and "YASA" in out.status("stages").method
    assert len(out.stages) == len(truth) and len(out.stage_confidence) == len(truth)
    agree = np.mean([a == b for a, b in zip(out.stages, truth)])
    assert agree > 0.5, agree  # measured agreement is in the README (bench/bench_autoscore.py)
    assert all(0.0 <= c <= 1.0 for c in out.stage_confidence if np.isfinite(c))
