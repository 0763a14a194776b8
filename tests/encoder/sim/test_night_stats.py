"""Night statistics for calibration (the same code on real and simulated scorings) and the slpdb reader."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sleeplm.encoder.sim.night_stats import (
    ScoredNight,
    event_statistics,
    heart_statistics,
    hypnogram_statistics,
)
from sleeplm.encoder.sim.slpdb import (
    SlpdbError,
    read_annotations,
    read_beats,
    read_record,
)


def test_hypnogram_statistics_of_a_hand_scored_night():
    h = np.array(["W"] * 4 + ["N1"] * 2 + ["N2"] * 10 + ["N3"] * 6 + ["N2"] * 4 + ["REM"] * 6 + ["W"] * 2 + ["N2"] * 6)
    s = hypnogram_statistics(h)
    assert s["pct_W"] == pytest.approx(100 * 6 / 40)
    assert s["sleep_latency_min"] == 2.0  # four wake epochs
    assert s["rem_latency_min"] == 11.0  # REM starts 22 epochs after sleep onset
    assert s["waso_min"] == 1.0
    assert s["bout_N2_min"] == pytest.approx(np.mean([10, 4, 6]) / 2)
    assert s["p_N2_N3"] == pytest.approx(1 / 19)  # 19 N2 epochs have a successor; one goes to N3
    assert s["p_REM_W"] == pytest.approx(1 / 6)
    assert s["rem_periods_per_h"] == pytest.approx(1 / (36 / 120))


def test_record_cut_mid_night_has_no_latency():
    s = hypnogram_statistics(np.array(["N2"] * 10 + ["REM"] * 5))
    assert np.isnan(s["sleep_latency_min"]) and np.isnan(s["rem_latency_min"])


def test_event_statistics_rates_by_stage():
    h = np.array(["N2"] * 100 + ["REM"] * 20)  # 50 min NREM, 10 min REM
    night = ScoredNight("x", h, np.array([1, 5, 9, 100, 101]), np.array(["obstructive", "hypopnea", "central",
                                                                          "obstructive", "hypopnea"]),
                        np.array([True, False, True, True, True]))
    s = event_statistics(night)
    assert s["ahi_per_h"] == pytest.approx(5 / 1.0)
    assert s["ahi_nrem_per_h"] == pytest.approx(3 / (50 / 60))
    assert s["ahi_rem_per_h"] == pytest.approx(2 / (10 / 60))
    assert s["share_with_arousal"] == pytest.approx(0.8)
    assert s["share_obstructive"] == pytest.approx(0.4)


def test_heart_statistics_of_a_steady_rhythm():
    beats = np.arange(0, 30 * 40, 1.0)  # 60 bpm, no variability
    s = heart_statistics(ScoredNight("x", np.array(["N2"] * 40), np.array([], int), np.array([]), np.array([]), beats))
    assert s["hr_N2_bpm"] == pytest.approx(60.0)
    assert s["rmssd_N2_ms"] == pytest.approx(0.0, abs=1e-6)


def test_slpdb_annotations_match_the_file(shared_data):
    path = shared_data / "real" / "slpdb-labels" / "slp37.an"
    lines = [ln for ln in path.read_text().splitlines() if "\t" in ln and not ln.lstrip().startswith("Elapsed")]
    stages, events = read_annotations(path)
    assert len(stages) == len(lines)
    tokens = [t for ln in lines for t in ln.split("\t")[1].split()[1:]]
    assert sum(k == "obstructive" and not a for _, k, a in events) == tokens.count("OA")
    assert sum(k == "obstructive" and a for _, k, a in events) == tokens.count("X")
    assert set(stages) <= {"W", "N1", "N2", "N3", "REM"}


def test_slpdb_beats_are_normal_beats_in_order(shared_data):
    beats = read_beats(shared_data / "real" / "slpdb-labels" / "slp37.rr")
    assert len(beats) > 20000 and np.all(np.diff(beats) > 0)
    rec = read_record(shared_data / "real" / "slpdb-labels", "slp37")
    assert rec.age == 39 and rec.duration_h == pytest.approx(5.8333, abs=1e-3)


def test_bad_slpdb_file_names_the_file(tmp_path: Path):
    bad = tmp_path / "slp99.an"
    bad.write_text("    0:00.000        1     \"    0    0    0\tQ OA\n")
    with pytest.raises(SlpdbError, match="slp99.an: line 1"):
        read_annotations(bad)


@pytest.mark.slow
def test_simulated_twins_lie_within_the_real_slpdb_spread(shared_data):
    from sleeplm.encoder.sim.calibration import slpdb_comparison

    rows, _ = slpdb_comparison(shared_data / "real" / "slpdb-labels", seeds=1, seed=3)
    judged = [r.within for r in rows if r.within is not None]
    assert sum(judged) >= 0.8 * len(judged)
