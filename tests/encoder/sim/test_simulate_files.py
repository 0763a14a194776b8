"""simulate_cohort: files on disk (EDF+, NSRR XML, truth npz, subjects.csv), site labels, determinism."""

from __future__ import annotations

import csv
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pyedflib
import pytest

from sleeplm.encoder.sim import simulate_cohort
from sleeplm.encoder.sim.sites import SITE_CHANNELS

EPOCH_KEYS = ("stage", "heart_rate_bpm", "resp_rate_bpm", "spo2_mean", "spo2_min", "position_code",
              "eeg_rel_power_delta", "eeg_rel_power_theta", "eeg_rel_power_alpha", "eeg_rel_power_sigma",
              "eeg_rel_power_beta")


@pytest.fixture(scope="module")
def cohort(tmp_path_factory) -> tuple[Path, list[Path]]:
    out = tmp_path_factory.mktemp("sim")
    return out, simulate_cohort(out, n_nights=3, seed=11, duration_h=0.5, progress=False)


def test_files_exist(cohort):
    out, paths = cohort
    assert [p.name for p in paths] == ["sim-0001.edf", "sim-0002.edf", "sim-0003.edf"]
    for p in paths:
        assert p.exists()
        assert (out / f"{p.stem}-nsrr.xml").exists()
        assert (out / f"{p.stem}.truth.npz").exists()
    assert (out / "subjects.csv").exists()


def test_edf_opens_with_site_labels(cohort):
    out, paths = cohort
    for p in paths:
        truth = np.load(out / f"{p.stem}.truth.npz")
        site = str(truth["site"])
        missing = set(truth["missing_channels"].tolist())
        expected = {c.label for c in SITE_CHANNELS[site] if c.source not in missing}
        with pyedflib.EdfReader(str(p)) as r:
            labels = set(r.getSignalLabels())
            assert r.filetype == pyedflib.FILETYPE_EDFPLUS
            assert r.file_duration == pytest.approx(1800.0)
            if site == "aasm":  # nasal pressure or thermistor
                expected = {("Flow" if (lab == "NasalP" and "Flow" in labels) else lab) for lab in expected}
            assert labels == expected


def test_xml_stage_count_matches_duration(cohort):
    out, paths = cohort
    for p in paths:
        with pyedflib.EdfReader(str(p)) as r:
            dur = r.file_duration
        root = ET.parse(out / f"{p.stem}-nsrr.xml").getroot()
        assert root.findtext("EpochLength") == "30"
        evs = root.find("ScoredEvents").findall("ScoredEvent")
        stages = [e for e in evs if e.findtext("EventType") == "Stages|Stages"]
        assert len(stages) == int(dur // 30)
        concepts = {e.findtext("EventConcept") for e in stages}
        assert concepts <= {"Wake|0", "Stage 1 sleep|1", "Stage 2 sleep|2", "Stage 3 sleep|3", "REM sleep|5"}
        truth = np.load(out / f"{p.stem}.truth.npz")
        assert len(truth["stage"]) == len(stages)
        desats = [e for e in evs if e.findtext("EventConcept") == "SpO2 desaturation|SpO2 desaturation"]
        for e in desats:
            assert float(e.findtext("SpO2Nadir")) <= float(e.findtext("SpO2Baseline")) - 3.0


def test_truth_and_subjects(cohort):
    out, paths = cohort
    rows = list(csv.DictReader(open(out / "subjects.csv", encoding="utf-8")))
    assert list(rows[0]) == ["subject_id", "recording", "age", "sex", "bmi", "phenotype", "ahi_true", "site"]
    assert [r["recording"] for r in rows] == [p.stem for p in paths]
    assert [r["site"] for r in rows] == ["shhs", "aasm", "ref"]
    for p, row in zip(paths, rows):
        t = np.load(out / f"{p.stem}.truth.npz")
        n = len(t["stage"])
        for k in EPOCH_KEYS:
            assert len(t[k]) == n, k
        assert len(t["event_type"]) == len(t["event_onset_s"]) == len(t["event_duration_s"])
        assert str(t["phenotype"]) == row["phenotype"]
        assert float(t["fs_hz_EEG_C3"]) == 256.0
        assert np.all((t["spo2_min"] <= t["spo2_mean"]) & (t["spo2_mean"] <= 100))


def test_deterministic(cohort, tmp_path):
    out, paths = cohort
    again = simulate_cohort(tmp_path, n_nights=2, seed=11, duration_h=0.5, progress=False)
    for p, q in zip(paths[:2], again):
        assert (out / f"{p.stem}-nsrr.xml").read_bytes() == (tmp_path / f"{q.stem}-nsrr.xml").read_bytes()
        with pyedflib.EdfReader(str(p)) as a, pyedflib.EdfReader(str(q)) as b:
            for i in range(a.signals_in_file):
                np.testing.assert_array_equal(a.readSignal(i, digital=True), b.readSignal(i, digital=True))
    other = simulate_cohort(tmp_path / "other", n_nights=1, seed=12, duration_h=0.5, progress=False)
    assert (tmp_path / "other" / f"{other[0].stem}-nsrr.xml").read_bytes() != (
        out / "sim-0001-nsrr.xml").read_bytes()
