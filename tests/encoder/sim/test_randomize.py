"""Domain randomization: each knob changes the signal the way the module table says, and nothing else runs."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal as ssig
from sleeplm.encoder.sim import draw_subject, simulate_night
from sleeplm.encoder.sim.randomize import (
    KNOB_NAMES,
    Knobs,
    randomize,
    randomize_with_report,
    randomized_file_signals,
)


@pytest.fixture(scope="module")
def night():
    rng = np.random.default_rng(0)
    return simulate_night(draw_subject(1, rng, site="aasm"), rng, duration_h=0.25)


def _run(night, knobs: Knobs, seed: int = 1):
    out, report = randomize_with_report(night.canonical, np.random.default_rng(seed), knobs)
    return out, report


def _band_power(x: np.ndarray, fs_hz: float, lo: float, hi: float) -> float:
    f, p = ssig.welch(x, fs_hz, nperseg=int(4 * fs_hz))
    return float(p[(f >= lo) & (f < hi)].sum())


def _unchanged(night, out, but: tuple[str, ...] = ()) -> None:
    for k, s in night.canonical.items():
        if k not in but:
            np.testing.assert_array_equal(out[k].data, s.data)


def test_no_knobs_returns_equal_copies(night):
    before = {k: s.data.copy() for k, s in night.canonical.items()}
    out = randomize(night.canonical, np.random.default_rng(0), Knobs.none())
    _unchanged(night, out)
    assert all(out[k].data is not night.canonical[k].data for k in out)
    for k in before:  # input untouched
        np.testing.assert_array_equal(night.canonical[k].data, before[k])


def test_every_knob_is_tested():
    names = [name for name in globals() if name.startswith("test_knob_")]
    untested = [k for k in KNOB_NAMES if not any(n.startswith(f"test_knob_{k}_") for n in names)]
    assert not untested


def test_knob_source_rate_removes_content_above_half_the_source_rate(night):
    out, rep = _run(night, Knobs.only("source_rate", source_rates_hz=(100.0,)))
    fs = night.canonical["EMG_CHIN"].fs_hz
    before, after = night.canonical["EMG_CHIN"].data, out["EMG_CHIN"].data
    assert _band_power(after, fs, 55.0, 100.0) < 0.01 * _band_power(before, fs, 55.0, 100.0)
    assert _band_power(after, fs, 15.0, 40.0) > 0.8 * _band_power(before, fs, 15.0, 40.0)
    assert {r["source_hz"] for r in rep} == {100.0}


def test_knob_hardware_filter_cuts_below_the_highpass_and_above_the_lowpass(night):
    from dataclasses import replace
    fs = night.canonical["EEG_C3"].fs_hz
    n = len(night.canonical["EEG_C3"].data)
    slow = 50.0 * np.sin(2 * np.pi * 0.05 * np.arange(n) / fs)  # a 0.05-Hz drift the high-pass must remove
    signals = dict(night.canonical, EEG_C3=replace(night.canonical["EEG_C3"], data=night.canonical["EEG_C3"].data + slow))
    out, _ = randomize_with_report(signals, np.random.default_rng(1),
                                   Knobs.only("hardware_filter", highpass_eeg_hz=(0.5, 0.5), lowpass_hz=(30.0, 30.0)))
    before, after = signals["EEG_C3"].data, out["EEG_C3"].data
    f, p_before = ssig.welch(before, fs, nperseg=int(60 * fs))
    _, p_after = ssig.welch(after, fs, nperseg=int(60 * fs))
    at = np.argmin(np.abs(f - 0.05))
    assert p_after[at] < 0.2 * p_before[at]
    assert _band_power(after, fs, 60.0, 120.0) < 0.05 * _band_power(before, fs, 60.0, 120.0)
    assert _band_power(after, fs, 8.0, 16.0) > 0.8 * _band_power(before, fs, 8.0, 16.0)


def test_knob_amplitude_scales_each_channel_by_its_gain(night):
    out, rep = _run(night, Knobs.only("amplitude"))
    for r in rep:
        c = r["channel"]
        np.testing.assert_allclose(out[c].data, r["gain"] * night.canonical[c].data, rtol=1e-2)
    gains = [r["gain"] for r in rep]
    assert len(set(gains)) > 1 and all(0.2 <= g <= 5.0 for g in gains)


def test_knob_polarity_flips_the_sign(night):
    out, rep = _run(night, Knobs.only("polarity", p_flip_electrode=1.0, p_flip_breathing=1.0))
    assert {r["channel"] for r in rep} >= {"EEG_C3", "AF", "THX"}
    for r in rep:
        np.testing.assert_array_equal(out[r["channel"]].data, -night.canonical[r["channel"]].data)


def test_knob_impedance_noise_adds_noise_of_the_stated_rms(night):
    out, _ = _run(night, Knobs.only("impedance_noise", impedance_noise_uv=(5.0, 5.0)))
    for c in ("EEG_C3", "EOG_L", "EMG_CHIN"):
        added = out[c].data - night.canonical[c].data
        assert np.std(added) == pytest.approx(5.0, rel=0.25)


def test_knob_mains_adds_a_line_at_50_or_60_hz(night):
    out, rep = _run(night, Knobs.only("mains", mains_uv=(10.0, 10.0)))
    mains = rep[0]["mains_hz"]
    fs = night.canonical["EEG_C3"].fs_hz
    added = out["EEG_C3"].data - night.canonical["EEG_C3"].data
    f, p = ssig.welch(added, fs, nperseg=int(4 * fs))
    assert f[np.argmax(p)] == pytest.approx(mains, abs=0.3)
    assert np.std(added) == pytest.approx(10.0 / np.sqrt(2) * np.sqrt(1 + 0.09), rel=0.05)


def test_knob_pops_put_decaying_steps_where_reported(night):
    out, rep = _run(night, Knobs.only("pops", pops_per_h=(40.0, 40.0)))
    assert rep
    for r in rep:
        c, fs = r["channel"], night.canonical[r["channel"]].fs_hz
        i = int(round(r["onset_s"] * fs))
        added = out[c].data[max(i - 3, 0):i + 3] - night.canonical[c].data[max(i - 3, 0):i + 3]
        jump = added[np.argmax(np.abs(added))]
        assert abs(jump) >= 95.0 and np.sign(jump) == np.sign(r["uv"])


def test_knob_movement_hits_every_electrode_at_once(night):
    out, rep = _run(night, Knobs.only("movement", movement_per_h=(30.0, 30.0), movement_uv=(200.0, 200.0)))
    assert rep
    r = rep[0]
    for c in ("EEG_C3", "EEG_C4", "EOG_L", "EMG_CHIN"):
        fs = night.canonical[c].fs_hz
        mid = int((r["onset_s"] + r["duration_s"] / 2) * fs)
        w = slice(max(mid - int(0.25 * fs), 0), mid + int(0.25 * fs))
        if w.stop <= len(out[c].data):
            assert np.std(out[c].data[w] - night.canonical[c].data[w]) > 50.0


def test_knob_sweat_adds_slow_sway(night):
    out, _ = _run(night, Knobs.only("sweat", sweat_uv=(100.0, 100.0)))
    fs = night.canonical["EEG_C3"].fs_hz
    before, after = night.canonical["EEG_C3"].data, out["EEG_C3"].data
    assert _band_power(after, fs, 0.0, 0.5) > 2.0 * _band_power(before, fs, 0.0, 0.5)
    assert _band_power(after, fs, 10.0, 30.0) == pytest.approx(_band_power(before, fs, 10.0, 30.0), rel=0.05)


def test_knob_ecg_in_eeg_adds_the_ecg(night):
    out, rep = _run(night, Knobs.only("ecg_in_eeg"))
    ecg = night.canonical["ECG"].data
    for r in rep:
        added = out[r["channel"]].data - night.canonical[r["channel"]].data
        np.testing.assert_allclose(added, r["uv_per_mv"] * ecg[: len(added)], atol=1e-9)


def test_knob_eog_in_eeg_adds_the_eye_movement_signal(night):
    out, rep = _run(night, Knobs.only("eog_in_eeg"))
    eye = 0.5 * (night.canonical["EOG_L"].data - night.canonical["EOG_R"].data)
    for r in rep:
        added = out[r["channel"]].data - night.canonical[r["channel"]].data
        np.testing.assert_allclose(added, r["share"] * eye, atol=1e-9)


@pytest.mark.parametrize("seed", range(8))
def test_knob_montage_changes_the_eeg_leads_as_named(night, seed):
    out, rep = _run(night, Knobs.only("montage"), seed=seed)
    c3, c4 = night.canonical["EEG_C3"].data, night.canonical["EEG_C4"].data
    kind = rep[0]["montage"]
    if kind == "contralateral":
        _unchanged(night, out)
    elif kind == "swapped":
        np.testing.assert_array_equal(out["EEG_C3"].data, c4)
        np.testing.assert_array_equal(out["EEG_C4"].data, c3)
    elif kind == "ipsilateral":
        g = np.std(out["EEG_C3"].data) / np.std(c3)
        assert 0.6 <= g <= 0.8 and np.std(out["EEG_C4"].data) / np.std(c4) == pytest.approx(g)
    else:  # frontal: one lead now carries the eye movements
        eye = night.canonical["EOG_L"].data - night.canonical["EOG_R"].data
        gain = [abs(np.corrcoef(out[c].data, eye)[0, 1]) - abs(np.corrcoef(night.canonical[c].data, eye)[0, 1])
                for c in ("EEG_C3", "EEG_C4")]
        assert max(gain) > 0.05


def test_knob_airflow_sensor_changes_the_flow_curve(night):
    flow = night.canonical["AF"].data
    seen = set()
    for seed in range(6):
        out, rep = _run(night, Knobs.only("airflow_sensor"), seed=seed)
        kind = rep[0]["sensor"]
        seen.add(kind)
        y = out["AF"].data
        assert np.std(y) == pytest.approx(np.std(flow), rel=1e-6)  # same scale, other shape
        if kind == "nasal_pressure":  # signed square of the flow
            expected = np.sign(flow) * flow ** 2
            np.testing.assert_allclose(y, expected / np.std(expected) * np.std(flow), atol=1e-9)
        else:  # thermistor: a lagged, smoother curve than the flow itself
            lag = np.argmax(ssig.correlate(y, flow, mode="full")) - (len(flow) - 1)
            assert np.mean(np.abs(np.diff(y))) < np.mean(np.abs(np.diff(flow)))
            assert lag != 0
    assert seen == {"nasal_pressure", "thermistor"}


def test_knob_effort_sensor_piezo_loses_slow_shifts(night):
    out, rep = _run(night, Knobs.only("effort_sensor"))
    fs = night.canonical["ABD"].fs_hz
    before, after = night.canonical["ABD"].data, out["ABD"].data
    f, p_before = ssig.welch(before, fs, nperseg=int(120 * fs))
    _, p_after = ssig.welch(after, fs, nperseg=int(120 * fs))
    slow, breath = (f > 0) & (f < 0.03), (f > 0.15) & (f < 0.4)
    assert p_after[slow].sum() < 0.2 * p_before[slow].sum()
    assert p_after[breath].sum() > 0.3 * p_before[breath].sum()
    assert all(r["sensor"] == "piezo" for r in rep)


def test_knob_missing_removes_channels_but_never_position(night):
    out, rep = _run(night, Knobs.only("missing", p_missing=1.0))
    assert set(out) == {"POS"}
    assert {r["channel"] for r in rep} == set(night.canonical) - {"POS"}


def test_knob_flat_makes_a_channel_constant(night):
    out, rep = _run(night, Knobs.only("flat", p_flat=1.0))
    for r in rep:
        assert np.ptp(out[r["channel"]].data) == 0.0
    assert len(rep) == len(night.canonical) - 1


def test_randomized_file_signals_read_like_a_file(night):
    from pathlib import Path

    from sleeplm.encoder.io.channels import map_channels
    from sleeplm.encoder.io.records import Recording

    sigs = randomized_file_signals(night, np.random.default_rng(3), Knobs.only("missing", p_missing=0.5))
    rec = Recording(Path("x.edf"), night.start_time, night.duration_s, sigs)
    mapped = map_channels(rec)
    assert mapped is not None
    assert len(sigs) < len(night.signals)
