"""Hypnogram structure, respiratory events per phenotype, SpO2 desaturations, breathing during events."""

from __future__ import annotations

import numpy as np

from sleeplm.encoder.sim import draw_subject, simulate_night
from sleeplm.encoder.sim.events import RESPIRATORY_TYPES, ahi, simulate_events, simulate_position
from sleeplm.encoder.sim.hypnogram import hypnogram_summary, read_hypnogram_txt, simulate_hypnogram

N_EP = 960  # 8 h


def _hyp(phenotype: str, seed: int):
    rng = np.random.default_rng(seed)
    sub = draw_subject(0, rng, phenotype=phenotype)
    return rng, sub, simulate_hypnogram(rng, N_EP, sub.params)


def test_hypnogram_cycles_n3_early_rem_late():
    for seed in range(5):
        _, _, h = _hyp("healthy_young", seed)
        third = N_EP // 3
        assert np.sum(h[:third] == "N3") > 2 * np.sum(h[-third:] == "N3")
        assert np.sum(h[-third:] == "REM") > np.sum(h[:third] == "REM")
        s = hypnogram_summary(h)
        assert 4 <= s["n_rem_periods"] <= 6  # ~90-min cycles
        assert 1 <= s["latency_min"] <= 40


def test_hypnogram_vs_real(shared_data):
    real = read_hypnogram_txt(shared_data / "real" / "yasa-hypnograms" / "data_full_6hrs_100Hz_hypno_30s.txt")
    r = hypnogram_summary(real)
    sims = [hypnogram_summary(_hyp("healthy_young", s)[2]) for s in range(8)]
    m = {k: np.mean([x[k] for x in sims]) for k in r}
    assert abs(m["pct_N2"] - r["pct_N2"]) < 15
    assert abs(m["pct_REM"] - r["pct_REM"]) < 8
    assert m["pct_N3"] > 10 and m["pct_W"] < 15
    assert 0.5 * r["transitions_per_h"] < m["transitions_per_h"] < 2.5 * r["transitions_per_h"]


def test_phenotype_hypnograms():
    ins = [hypnogram_summary(_hyp("insomnia", s)[2]) for s in range(4)]
    hy = [hypnogram_summary(_hyp("healthy_young", s)[2]) for s in range(4)]
    old = [hypnogram_summary(_hyp("healthy_older", s)[2]) for s in range(4)]
    assert np.mean([x["latency_min"] for x in ins]) > 2 * np.mean([x["latency_min"] for x in hy])
    assert np.mean([x["waso_min"] for x in ins]) > np.mean([x["waso_min"] for x in hy])
    assert np.mean([x["pct_N3"] for x in old]) < np.mean([x["pct_N3"] for x in hy])
    assert np.mean([x["pct_W"] for x in old]) > np.mean([x["pct_W"] for x in hy])


def _events(phenotype: str, seed: int):
    rng, sub, h = _hyp(phenotype, seed)
    pos = simulate_position(rng, N_EP, sub.params)
    return h, pos, simulate_events(rng, h, pos, sub.params)


def test_event_counts_follow_severity():
    for seed in range(3):
        counts = []
        for ph in ("healthy_young", "osa_mild", "osa_moderate", "osa_severe"):
            h, _, ev = _events(ph, seed)
            counts.append(sum(e.type in RESPIRATORY_TYPES for e in ev))
        assert counts == sorted(counts) and counts[0] < counts[-1]
    for ph, (lo, hi) in {"osa_mild": (5, 15), "osa_moderate": (15, 30), "osa_severe": (30, 80)}.items():
        h, _, ev = _events(ph, 1)
        assert lo <= ahi(ev, h) <= hi, ph


def test_event_placement_and_mix():
    h, pos, ev = _events("osa_severe", 2)
    resp = [e for e in ev if e.type in RESPIRATORY_TYPES]
    ep = np.array([int(e.onset_s // 30) for e in resp])
    assert np.all(np.isin(h[ep], ["N1", "N2", "N3", "REM"]))  # only in sleep
    assert all(e.duration_s >= 10 for e in resp)
    on = np.sort([e.onset_s for e in resp])
    assert np.all(np.diff(on) > 10)
    supine = np.mean(pos[ep] == 2)
    assert supine > np.mean(pos[np.isin(h, ["N1", "N2", "N3", "REM"])] == 2)  # more events supine
    _, _, cen = _events("central_apnea", 2)
    types = [e.type for e in cen if e.type in RESPIRATORY_TYPES]
    assert types.count("central_apnea") > types.count("obstructive_apnea")
    desat = [e for e in ev if e.type == "oxygen_desaturation"]
    assert 0.3 * len(resp) < len(desat) < len(resp)  # ODI below the AHI: not every event desaturates
    assert sum(e.type == "arousal" for e in ev) >= 0.5 * len(resp)


def _pooled_events(phenotype: str, seeds=range(4), **param_changes):
    """(stages, position, events) of several 8-h nights, optionally with changed phenotype params."""
    from dataclasses import replace
    out = []
    for seed in seeds:
        rng, sub, h = _hyp(phenotype, seed)
        params = replace(sub.params, **param_changes)
        pos = simulate_position(rng, N_EP, params)
        out.append((h, pos, simulate_events(rng, h, pos, params)))
    return out


def test_apneas_desaturate_more_often_than_hypopneas():
    share = {"apnea": [0, 0], "hypopnea": [0, 0]}
    for _, _, ev in _pooled_events("osa_moderate"):
        caused = {e.cause for e in ev if e.type == "oxygen_desaturation"}
        resp = [e for e in ev if e.type in RESPIRATORY_TYPES]
        for i, e in enumerate(resp):
            k = "hypopnea" if e.type == "hypopnea" else "apnea"
            share[k][0] += i in caused
            share[k][1] += 1
    apnea, hypopnea = (share[k][0] / share[k][1] for k in ("apnea", "hypopnea"))
    assert apnea > hypopnea + 0.2
    assert hypopnea > 0.1


def test_lower_baseline_spo2_gives_more_desaturations():
    def odi_over_ahi(baseline: float) -> float:
        nights = _pooled_events("osa_moderate", spo2_baseline=baseline)
        n_desat = sum(e.type == "oxygen_desaturation" for _, _, ev in nights for e in ev)
        n_resp = sum(e.type in RESPIRATORY_TYPES for _, _, ev in nights for e in ev)
        return n_desat / n_resp
    assert odi_over_ahi(92.0) > odi_over_ahi(98.0) + 0.1


def test_rem_events_are_more_frequent_and_longer():
    rate_rem, rate_nrem, dur_rem, dur_nrem = [], [], [], []
    for h, _, ev in _pooled_events("osa_moderate"):
        resp = [e for e in ev if e.type in RESPIRATORY_TYPES]
        in_rem = np.array([h[int(e.onset_s // 30)] == "REM" for e in resp])
        d = np.array([e.duration_s for e in resp])
        rate_rem.append(in_rem.sum() / (np.sum(h == "REM") / 120))
        rate_nrem.append((~in_rem).sum() / (np.sum(np.isin(h, ["N1", "N2", "N3"])) / 120))
        dur_rem += list(d[in_rem])
        dur_nrem += list(d[~in_rem])
    assert np.mean(rate_rem) > 1.3 * np.mean(rate_nrem)
    assert np.median(dur_rem) > 1.1 * np.median(dur_nrem)


def test_hypopnea_without_desaturation_ends_in_arousal():
    for _, _, ev in _pooled_events("osa_mild", seeds=range(2)):
        resp = [e for e in ev if e.type in RESPIRATORY_TYPES]
        caused = {e.cause for e in ev if e.type == "oxygen_desaturation"}
        aroused = {e.cause for e in ev if e.type == "arousal" and e.cause >= 0}
        for i, e in enumerate(resp):
            if e.type == "hypopnea" and i not in caused:
                assert i in aroused  # AASM 1A: scored only with a desaturation or an arousal
            assert e.with_arousal == (i in aroused)


def test_position_moves_the_event_rate():
    sup, other = [0, 0.0], [0, 0.0]
    for h, pos, ev in _pooled_events("osa_moderate"):
        sleep = np.isin(h, ["N1", "N2", "N3", "REM"])
        on_back = np.array([pos[int(e.onset_s // 30)] == 2 for e in ev if e.type in RESPIRATORY_TYPES])
        sup[0] += on_back.sum()
        other[0] += (~on_back).sum()
        sup[1] += np.sum(sleep & (pos == 2)) / 120
        other[1] += np.sum(sleep & (pos != 2)) / 120
    assert sup[0] / sup[1] > 1.5 * other[0] / other[1]


def test_spo2_dips_and_breathing_during_events():
    rng = np.random.default_rng(4)
    sub = draw_subject(0, rng, phenotype="osa_severe", site="shhs")
    n = simulate_night(sub, rng, duration_h=1.5)
    spo2 = n.canonical["SPO2"].data
    base = sub.params.spo2_baseline
    flow, thx, abd = (n.canonical[k].data for k in ("AF", "THX", "ABD"))
    fs = n.canonical["AF"].fs_hz
    dips, checked = [], 0
    for e in n.events:
        if e.type not in RESPIRATORY_TYPES:
            continue
        i0, i1 = int(e.end_s + 15), int(e.end_s + 45)
        if i1 < len(spo2):
            dips.append(base - spo2[i0:i1].min())
        a, b = int((e.onset_s + 3) * fs), int((e.end_s - 2) * fs)
        before = slice(max(int((e.onset_s - 40) * fs), 0), int((e.onset_s - 5) * fs))
        if b - a < 5 * fs or before.stop - before.start < 20 * fs:
            continue
        checked += 1
        if e.type == "obstructive_apnea":
            assert np.std(flow[a:b]) < 0.2 * np.std(flow[before])
            assert np.std(abd[a:b]) > 0.5 * np.std(abd[before])
            assert np.corrcoef(thx[a:b], abd[a:b])[0, 1] < 0  # paradoxical
        elif e.type == "central_apnea":
            assert np.std(flow[a:b]) < 0.2 * np.std(flow[before])
            assert np.std(abd[a:b]) < 0.2 * np.std(abd[before])
        elif e.type == "hypopnea":
            assert np.std(flow[a:b]) < 0.75 * np.std(flow[before])
    assert checked > 5
    assert np.median(dips) >= 3.0
    assert n.epoch_truth["spo2_min"].min() < base - 3


def test_heart_rate_surges_after_events_that_end_in_arousal():
    from sleeplm.encoder.sim.cardio import HR_GRID_HZ, heart_rate
    from sleeplm.encoder.sim.events import ScoredEvent
    rng, sub, _ = _hyp("osa_moderate", 0)
    stages = np.array(["N2"] * 120)  # one hour of N2
    quiet = [ScoredEvent("obstructive_apnea", 60.0 + 120.0 * k, 20.0, with_arousal=False) for k in range(14)]
    loud = [ScoredEvent("obstructive_apnea", 60.0 + 120.0 * k, 20.0, with_arousal=True) for k in range(14)]
    phase = np.zeros(120 * 30 * 32)

    def surge(events) -> float:
        hr = heart_rate(np.random.default_rng(1), stages, events, phase, 32.0, sub.params)
        during = [hr[int((e.onset_s + 5) * HR_GRID_HZ):int(e.end_s * HR_GRID_HZ)].mean() for e in events]
        after = [hr[int(e.end_s * HR_GRID_HZ):int((e.end_s + 10) * HR_GRID_HZ)].max() for e in events]
        return float(np.mean(np.subtract(after, during)))
    assert surge(loud) > surge(quiet) + 5.0
    assert surge(quiet) > 0.0
