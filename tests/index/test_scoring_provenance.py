"""A night's scoring provenance reaches the workspace rows: unscored is never "none", automatic says so."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pytest
from sleeplm.encoder.io.annotations import read_annotations
from sleeplm.index.night_rows import prepare_night


def _sleepiest(sim_cohort_dir: Path) -> str:
    """The simulated night whose NSRR XML scores the most sleep epochs."""
    xmls = sorted(sim_cohort_dir.glob("*-nsrr.xml"))
    best = max(xmls, key=lambda p: sum(s not in ("W", "UNKNOWN") for s in read_annotations(p).stages))
    return best.name.removesuffix("-nsrr.xml")


def _with_hypnogram_only(sim_cohort_dir: Path, tmp_path: Path) -> Path:
    """A simulated night's EDF beside a hypnogram file holding the stages of its own NSRR XML (no events)."""
    stem = _sleepiest(sim_cohort_dir)
    src = sim_cohort_dir / f"{stem}.edf"
    stages = read_annotations(sim_cohort_dir / f"{stem}-nsrr.xml").stages
    dst = tmp_path / "night.edf"
    shutil.copy(src, dst)
    (tmp_path / "night.txt").write_text("\n".join(s if s != "REM" else "R" for s in stages) + "\n")
    return dst


def test_a_hypnogram_only_night_scored_never_has_no_ahi_and_says_not_scored(sim_cohort_dir: Path,
                                                                            tmp_path: Path) -> None:
    night = prepare_night(_with_hypnogram_only(sim_cohort_dir, tmp_path), score="never")
    assert night.scoring["stages"]["state"] == "manual"
    assert night.scoring["respiratory"]["state"] == "not scored"
    assert night.metrics["ahi_per_h"] is None or math.isnan(night.metrics["ahi_per_h"])
    assert "Respiratory events were not scored" in night.summary
    assert not any("No sleep-disordered breathing" in c for c in night.captions["stage_event"])
    assert all("not scored" in c for c in night.captions["stage_event"])


def test_missing_scoring_adds_automatic_events_labelled_automatic(sim_cohort_dir: Path, tmp_path: Path) -> None:
    night = prepare_night(_with_hypnogram_only(sim_cohort_dir, tmp_path), score="missing")
    resp = night.scoring["respiratory"]
    if "AF" in night.missing:
        assert resp["state"] == "not scored" and "airflow" in resp["reason"]
        return
    assert resp["state"] == "automatic" and "AASM" in resp["method"]
    assert math.isfinite(night.metrics["ahi_per_h"])
    assert "automatic scoring" in night.summary
    assert all(night.event_source(e.type) == "automatic" for e in night.events
               if e.type in ("obstructive_apnea", "central_apnea", "mixed_apnea", "hypopnea"))


def test_a_fully_scored_night_stays_manual(sim_cohort_dir: Path) -> None:
    night = prepare_night(sim_cohort_dir / "sim-0001.edf", score="missing")
    assert {v["state"] for v in night.scoring.values()} == {"manual"}
    assert night.channel_map["EEG_C3"]["lead"]


@pytest.mark.slow
def test_a_night_without_annotations_gets_automatic_stages(sim_cohort_dir: Path, tmp_path: Path) -> None:
    dst = tmp_path / "bare.edf"
    shutil.copy(sim_cohort_dir / "sim-0001.edf", dst)
    night = prepare_night(dst, score="missing")
    assert night.scoring["stages"]["state"] == "automatic" and "YASA" in night.scoring["stages"]["method"]
    assert any("automatic staging" in c for c in night.captions["stage_event"])
