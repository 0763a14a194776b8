"""EEG relative band powers per stage against real DREAMS statistics."""

from __future__ import annotations

import pytest

from sleeplm.encoder.sim.calibration import eeg_calibration


@pytest.mark.parametrize("wake_artifacts", [False, True], ids=["plain-wake", "wake-artifacts"])
def test_eeg_band_power_within_real_sd(shared_data, wake_artifacts):
    rows = eeg_calibration(shared_data / "real" / "dreams-eeg-bandpower-by-stage.json",
                           n_nights=3, seed=1, duration_h=3.0, wake_artifacts=wake_artifacts)
    bad = [(r["stage"], r["band"], round(r["z"], 2)) for r in rows if r["sim_n"] > 0 and abs(r["z"]) > 1.5]
    assert not bad, bad
    assert sum(r["sim_n"] > 0 for r in rows) >= 20  # at least four stages present
