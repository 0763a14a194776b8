"""simulate_night in memory: signal physiology per stage, phenotype effects, site derivations."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal as ssig

from sleeplm.encoder.sim import draw_subject, simulate_night
from sleeplm.encoder.sim.sites import POSITION_CODING


def _night(index: int, seed: int = 0, hours: float = 1.0, **kw):
    rng = np.random.default_rng(seed)
    sub = draw_subject(index, rng, **kw)
    return simulate_night(sub, rng, duration_h=hours)


def _forced(stages: list[str], phenotype: str = "healthy_young", site: str = "aasm", seed: int = 0):
    """A night with a fixed hypnogram (monkeypatch-free: patch the module function locally)."""
    import sleeplm.encoder.sim.night as night_mod
    orig = night_mod.simulate_hypnogram
    night_mod.simulate_hypnogram = lambda rng, n, p: np.array(stages, dtype="<U3")
    try:
        return _night(0, seed, hours=len(stages) / 120.0, phenotype=phenotype, site=site)
    finally:
        night_mod.simulate_hypnogram = orig


def _emg_rms(x: np.ndarray, fs_hz: float) -> float:
    """RMS of 10-45 Hz (below mains, which nuisance may add)."""
    sos = ssig.butter(4, [10.0, 45.0], "bandpass", fs=fs_hz, output="sos")
    return float(np.std(ssig.sosfiltfilt(sos, x)))


def test_deterministic_in_memory():
    a, b = _night(3, seed=5), _night(3, seed=5)
    np.testing.assert_array_equal(a.stages, b.stages)
    for k in a.canonical:
        np.testing.assert_array_equal(a.canonical[k].data, b.canonical[k].data)
    assert [e.onset_s for e in a.events] == [e.onset_s for e in b.events]


def test_lengths_and_truth():
    n = _night(1, hours=0.5)
    assert n.n_epochs == 60
    for s in n.canonical.values():
        assert len(s.data) == int(round(n.duration_s * s.fs_hz))
    for s in n.signals:
        assert len(s.data) == int(round(n.duration_s * s.fs_hz))
    assert set(n.epoch_truth["position_code"]) <= {0, 1, 2, 3}
    hr = n.epoch_truth["heart_rate_bpm"]
    assert np.all((hr > 35) & (hr < 160))


def test_stage_physiology():
    n = _forced(["W"] * 20 + ["N3"] * 20 + ["REM"] * 20)
    sl = {s: slice(i * 20 * 30, (i + 1) * 20 * 30) for i, s in enumerate(["W", "N3", "REM"])}

    def rms(key, stage):
        sig = n.canonical[key]
        f = sig.fs_hz
        return float(np.std(sig.data[int(sl[stage].start * f):int(sl[stage].stop * f)]))

    emg, fe = n.canonical["EMG_CHIN"].data, n.canonical["EMG_CHIN"].fs_hz
    assert _emg_rms(emg[: int(600 * fe)], fe) > 2 * _emg_rms(emg[int(1200 * fe):], fe)  # REM atonia
    assert rms("EEG_C3", "N3") > 1.5 * rms("EEG_C3", "W")  # high-amplitude delta
    hr = n.epoch_truth["heart_rate_bpm"]
    assert hr[:20].mean() > hr[20:40].mean()  # HR falls from W to N3
    rr = n.epoch_truth["resp_rate_bpm"]
    assert np.std(np.diff(rr[20:40])) < np.std(np.diff(rr[40:]))  # N3 more regular than REM
    e1, e2, f = n.canonical["EOG_L"].data, n.canonical["EOG_R"].data, n.canonical["EOG_L"].fs_hz
    rem = slice(int(40 * 30 * f), int(60 * 30 * f))
    n3 = slice(int(20 * 30 * f), int(40 * 30 * f))
    assert np.corrcoef(e1[rem], e2[rem])[0, 1] < 0  # conjugate eye movements, opposite polarity
    assert np.corrcoef(e1[n3], e2[n3])[0, 1] > 0  # EEG leakage, same polarity


def test_rem_without_atonia_keeps_tone():
    normal = _forced(["REM"] * 40, phenotype="healthy_young")
    rbd = _forced(["REM"] * 40, phenotype="rem_without_atonia")
    fe = normal.canonical["EMG_CHIN"].fs_hz
    assert _emg_rms(rbd.canonical["EMG_CHIN"].data, fe) > 2 * _emg_rms(normal.canonical["EMG_CHIN"].data, fe)


@pytest.mark.parametrize("site", ["shhs", "aasm", "ref"])
def test_site_position_coding(site):
    n = _night(0, hours=0.5, site=site)
    pos = next(s for s in n.signals if s.label in ("POSITION", "Position", "PosAngle"))
    codes = np.repeat(n.epoch_truth["position_code"], 30)
    coding = POSITION_CODING[site]
    if coding == "shhs":
        np.testing.assert_array_equal(pos.data, codes)
    elif coding == "mesa":
        np.testing.assert_array_equal(pos.data, np.array([0, 2, 1, 3, 4])[codes])
    else:
        back = np.select([np.abs(pos.data) <= 45, pos.data > 135, pos.data < -135, pos.data > 0], [2, 3, 3, 1], 0)
        np.testing.assert_array_equal(back, codes)


def test_ref_site_referential_derivation():
    n = _night(2, hours=0.25, site="ref")
    sig = {s.label: s.data for s in n.signals}
    np.testing.assert_allclose(sig["C3"] - sig["M2"], n.canonical["EEG_C3"].data, atol=1e-9)
    np.testing.assert_allclose(sig["E2"] - sig["M2"], n.canonical["EOG_R"].data, atol=1e-9)
    np.testing.assert_allclose(sig["Chin1"] - sig["Chin2"], n.canonical["EMG_CHIN"].data, atol=1e-9)
    assert np.std(sig["C3"] - n.canonical["EEG_C3"].data) > 1.0  # the reference really is in there
