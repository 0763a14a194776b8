"""Per-epoch features against the night simulator's truth (1-h nights in memory).

Tolerances (stated here and in the report):
- heart rate (ecg_hr_bpm and hr_mean_bpm): within 2 bpm in >= 98 % of epochs;
- respiratory rate (THX, ABD, AF): within 1.5 bpm in >= 95 % of epochs free of respiratory events;
- SpO2 min and mean: within 1 % (absolute) in every epoch;
- position: exact in every epoch;
- EEG C3 relative band power: within 2 percentage points in >= 98 % of epochs;
- stage_event captions: stage and clipped event times exactly as annotated.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sleeplm.encoder.captions import events_in_epochs, parse_caption, render_night
from sleeplm.encoder.signals.features import compute_epoch_features, default_onsets_s
from sleeplm.encoder.io.records import MappedRecording, Recording

sim_night = pytest.importorskip("sleeplm.encoder.sim.night")
phen = pytest.importorskip("sleeplm.encoder.sim.phenotypes")

RESP = ("obstructive_apnea", "central_apnea", "mixed_apnea", "hypopnea")


@pytest.fixture(scope="module", params=[1, 4])
def night(request):
    rng = np.random.default_rng(request.param)
    n = sim_night.simulate_night(phen.draw_subject(request.param, rng), rng, duration_h=1.0)
    ch = dict(n.canonical)
    m = MappedRecording(Recording(Path("sim.edf"), None, n.duration_s, list(ch.values())), ch, {}, {})
    ann = n.annotations()
    df = compute_epoch_features(m, ann, default_onsets_s(m, ann))
    return n, ann, df


def _frac_within(a, b, tol) -> float:
    d = np.abs(np.asarray(a, float) - np.asarray(b, float))
    return float(np.mean(d <= tol))


def test_heart_rate(night) -> None:
    n, _, df = night
    assert _frac_within(df.ecg_hr_bpm, n.epoch_truth["heart_rate_bpm"], 2.0) >= 0.98
    assert _frac_within(df.hr_mean_bpm, n.epoch_truth["heart_rate_bpm"], 2.0) >= 0.98


def test_respiratory_rate(night) -> None:
    n, ann, df = night
    ev = events_in_epochs(ann.events, df.onset_s.to_numpy())
    free = np.array([not any(e.type in RESP for e in x) for x in ev])
    for ch in ("thx", "abd", "af"):
        assert _frac_within(df[f"{ch}_rate_bpm"][free], n.epoch_truth["resp_rate_bpm"][free], 1.5) >= 0.95, ch


def test_spo2_and_position(night) -> None:
    n, _, df = night
    assert _frac_within(df.spo2_min_pct, n.epoch_truth["spo2_min"], 1.0) == 1.0
    assert _frac_within(df.spo2_mean_pct, n.epoch_truth["spo2_mean"], 1.0) == 1.0
    assert np.array_equal(df.position_code.to_numpy(), n.epoch_truth["position_code"].astype(float))


def test_eeg_band_power(night) -> None:
    n, _, df = night
    for b in ("delta", "theta", "alpha", "sigma", "beta"):
        truth = np.asarray(n.epoch_truth[f"eeg_rel_power_{b}"], float)
        truth = truth * 100 if np.nanmax(truth) <= 1.0 else truth
        assert _frac_within(df[f"eeg_c3_{b}_rel_pct"], truth, 2.0) >= 0.98, b


def test_stage_event_captions_match_annotations(night) -> None:
    n, ann, df = night
    caps = render_night(df, events_in_epochs(ann.events, df.onset_s.to_numpy()), "stage_event")
    for k, text in enumerate(caps):
        f = parse_caption(text, "stage_event")
        assert f.stage == n.epoch_truth["stage"][k]
        t0 = df.onset_s.iloc[k]
        expect = sorted((e.type, round(max(e.onset_s - t0, 0.0), 1), round(min(e.end_s - t0, 30.0), 1))
                        for e in ann.events if e.onset_s < t0 + 30 and e.end_s > t0
                        and round(min(e.end_s - t0, 30.0), 1) > round(max(e.onset_s - t0, 0.0), 1))
        assert sorted((e.type, e.start_s, e.end_s) for e in f.events) == expect


def test_missing_channel_gives_nan_and_no_sentence(night) -> None:
    n, ann, df = night
    ch = {k: v for k, v in n.canonical.items() if k not in ("ECG", "AF")}
    m = MappedRecording(Recording(Path("sim.edf"), None, n.duration_s, list(ch.values())), ch, {}, {})
    d2 = compute_epoch_features(m, ann, default_onsets_s(m, ann)[:20])
    assert d2[["ecg_hr_bpm", "ecg_rmssd_ms", "hr_mean_bpm", "af_rate_bpm", "af_flatness"]].isna().all().all()
    assert (d2.hr_trend == "").all()
    caps = render_night(d2, None, "respiratory")
    assert all("Air Flow" not in c and "Thoracic Respiration" in c for c in caps)
    assert all("Electrocardiogram" not in c for c in render_night(d2, None, "cardiac"))


# --- the same physiology through the disk path: EDF+ writer -> load_psg (labels, units, position
# codings of the three simulated sites) -> features, against <stem>.truth.npz, same tolerances.

@pytest.fixture(scope="module")
def disk_nights(tmp_path_factory):
    """Three 1-h nights, one per site (shhs, aasm, ref), written and read back."""
    cohort = pytest.importorskip("sleeplm.encoder.sim.cohort")
    from sleeplm.encoder.io.psg import load_psg

    out = tmp_path_factory.mktemp("disk")
    nights = []
    for path in cohort.simulate_cohort(out, 3, seed=0, duration_h=1.0, progress=False):
        truth = dict(np.load(path.with_name(path.stem + ".truth.npz")))
        psg = load_psg(path)
        df = compute_epoch_features(psg.mapped, psg.annotations, default_onsets_s(psg.mapped, psg.annotations))
        nights.append((path, truth, psg, df))
    return nights


def test_disk_path_preserves_physiology(disk_nights) -> None:
    assert sorted(str(t["site"]) for _, t, _, _ in disk_nights) == ["aasm", "ref", "shhs"]
    for path, truth, psg, df in disk_nights:
        name = f"{path.name} ({truth['site']})"
        missing = set(map(str, truth["missing_channels"]))
        assert psg.annotations is not None and psg.annotations.source == "nsrr-xml", name
        assert len(df) == len(truth["stage"]) and list(df.stage) == list(truth["stage"]), name
        assert len(psg.annotations.events) == len(truth["event_type"]), name
        assert _frac_within(df.ecg_hr_bpm, truth["heart_rate_bpm"], 2.0) >= 0.98, name
        assert _frac_within(df.hr_mean_bpm, truth["heart_rate_bpm"], 2.0) >= 0.98, name
        ev = events_in_epochs(psg.annotations.events, df.onset_s.to_numpy())
        free = np.array([not any(e.type in RESP for e in x) for x in ev])
        for ch in ("thx", "abd", "af"):
            if ch.upper() in missing:
                assert df[f"{ch}_rate_bpm"].isna().all(), (name, ch)
                continue
            got = _frac_within(df[f"{ch}_rate_bpm"][free], truth["resp_rate_bpm"][free], 1.5)
            assert got >= 0.95, (name, ch, got)
        assert _frac_within(df.spo2_min_pct, truth["spo2_min"], 1.0) == 1.0, name
        assert _frac_within(df.spo2_mean_pct, truth["spo2_mean"], 1.0) == 1.0, name
        assert np.array_equal(df.position_code.to_numpy(), truth["position_code"].astype(float)), name
        for b in ("delta", "theta", "alpha", "sigma", "beta"):
            t = np.asarray(truth[f"eeg_rel_power_{b}"], float)
            t = t * 100 if np.nanmax(t) <= 1.0 else t
            assert _frac_within(df[f"eeg_c3_{b}_rel_pct"], t, 2.0) >= 0.98, (name, b)
