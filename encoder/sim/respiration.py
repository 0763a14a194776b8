"""Respiratory effort (ABD, THX), airflow and SpO2 generators.

Breathing is a phase oscillator whose rate depends on the stage (regular in N3,
irregular in W and REM). Respiratory events modulate the flow and effort envelopes:
obstructive apnea (flow ≈ 0, effort continues with paradoxical THX/ABD), central
apnea (flow and effort stop), mixed apnea (central then obstructive), hypopnea
(flow −40 to −70 %, effort −30 %); each ends with a few large recovery breaths.
SpO2 (%) falls by each event's ``spo2_drop`` (scored as a desaturation when ≥ 3 %), lagging the event.
"""

from __future__ import annotations

import numpy as np

from sleeplm.encoder.sim._util import EPOCH_S, epochs_to_samples, moving_average, per_epoch, slow_noise, stage_lookup
from sleeplm.encoder.sim.events import RESPIRATORY_TYPES, ScoredEvent
from sleeplm.encoder.sim.phenotypes import PhenotypeParams

RATE_FACTOR = {"W": 1.08, "N1": 1.02, "N2": 0.98, "N3": 0.95, "REM": 1.06}
RATE_IRREG = {"W": 0.12, "N1": 0.08, "N2": 0.04, "N3": 0.02, "REM": 0.14}
AMP_IRREG = {"W": 0.25, "N1": 0.15, "N2": 0.07, "N3": 0.04, "REM": 0.25}


def simulate_breathing(rng: np.random.Generator, stages: np.ndarray, events: list[ScoredEvent],
                       fs_hz: float, params: PhenotypeParams) -> dict[str, np.ndarray]:
    """Breathing signals at ``fs_hz`` (normalised units, tidal amplitude ≈ 1).

    Returns
    -------
    dict
        ``abd``, ``thx``, ``flow`` (signals), ``phase_rad`` (breath phase) and
        ``rate_bpm`` (instantaneous breathing rate, breaths/min).
    """
    stages = np.asarray(stages).astype(str)
    n = int(len(stages) * EPOCH_S * fs_hz)
    base = params.resp_rate_bpm * stage_lookup(stages, RATE_FACTOR, 1.0)
    irr = epochs_to_samples(stage_lookup(stages, RATE_IRREG, 0.05), fs_hz, n, ramp_s=10.0)
    rate = epochs_to_samples(base, fs_hz, n, ramp_s=20.0) * (1.0 + irr * slow_noise(rng, n, fs_hz, 8.0))
    rate = np.clip(rate, 5.0, 40.0)
    phase = 2.0 * np.pi * np.cumsum(rate / 60.0 / fs_hz)
    amp_irr = epochs_to_samples(stage_lookup(stages, AMP_IRREG, 0.1), fs_hz, n, ramp_s=10.0)
    amp = np.clip(1.0 + amp_irr * slow_noise(rng, n, fs_hz, 6.0), 0.3, 2.0)
    # Volume: skewed cosine (inspiration shorter than expiration).
    vol = -np.cos(phase + 0.6 * np.sin(phase))

    flow_env = np.ones(n)
    effort_env = np.ones(n)
    paradox = np.zeros(n)
    for e in events:
        if e.type not in RESPIRATORY_TYPES:
            continue
        i0, i1 = int(e.onset_s * fs_hz), min(int(e.end_s * fs_hz), n)
        if i1 <= i0:
            continue
        ramp = np.linspace(1.0, 1.3, i1 - i0)
        left = e.flow_fraction  # drawn with the event (events.FLOW_FRACTION); None for hand-made events
        if e.type == "obstructive_apnea":
            flow_env[i0:i1] = rng.uniform(0.0, 0.08) if left is None else left
            effort_env[i0:i1] = ramp
            paradox[i0:i1] = 1.0
        elif e.type == "central_apnea":
            flow_env[i0:i1] = rng.uniform(0.0, 0.05) if left is None else left
            effort_env[i0:i1] = rng.uniform(0.0, 0.05)
        elif e.type == "mixed_apnea":
            im = i0 + (i1 - i0) // 2
            flow_env[i0:i1] = rng.uniform(0.0, 0.06) if left is None else left
            effort_env[i0:im] = 0.04
            effort_env[im:i1] = ramp[: i1 - im]
            paradox[im:i1] = 1.0
        else:  # hypopnea
            flow_env[i0:i1] = rng.uniform(0.3, 0.6) if left is None else left
            effort_env[i0:i1] = rng.uniform(0.6, 0.8)
        r1 = min(i1 + int(rng.uniform(6.0, 12.0) * fs_hz), n)
        big = rng.uniform(1.5, 2.2)
        flow_env[i1:r1] = big
        effort_env[i1:r1] = big
    w = int(1.5 * fs_hz)
    flow_env = moving_average(flow_env, w)
    effort_env = moving_average(effort_env, w)
    paradox = moving_average(paradox, int(3.0 * fs_hz))

    vol_eff = amp * effort_env * vol
    abd = 0.55 * vol_eff
    thx = 0.45 * vol_eff * (1.0 - 2.0 * paradox)
    # Flow ≈ dV/dt of the (flow-limited) volume, normalised to tidal amplitude ~1.
    flow = np.gradient(amp * flow_env * vol) * fs_hz / (2.0 * np.pi * params.resp_rate_bpm / 60.0)
    noise = rng.standard_normal((3, n)) * 0.008
    return {"abd": abd + noise[0] + 0.05 * slow_noise(rng, n, fs_hz, 30.0), "thx": thx + noise[1],
            "flow": flow + noise[2], "phase_rad": phase, "rate_bpm": rate}


def simulate_spo2(rng: np.random.Generator, n_epochs: int, stages: np.ndarray, events: list[ScoredEvent],
                  fs_hz: float, params: PhenotypeParams) -> np.ndarray:
    """SpO2 (%) at ``fs_hz``: baseline with slow drift, minus the fall each respiratory event causes.

    Every respiratory event with a ``spo2_drop`` lowers SpO2, scored (≥ 3 %) or not: the fall
    starts ``desat_lag_s`` after the event onset, lasts the event's duration + 8 s, falls
    linearly to the nadir (at 75 % of that span) and recovers over the rest (the geometry of the
    scored ``oxygen_desaturation`` events, whose ``spo2_nadir`` it reaches). Desaturations
    without a respiratory cause (``cause`` < 0) are drawn from their own nadir.
    """
    n = int(n_epochs * EPOCH_S * fs_hz)
    t = np.arange(n) / fs_hz
    base = params.spo2_baseline + 0.3 * slow_noise(rng, n, fs_hz, 120.0)
    base -= epochs_to_samples(stage_lookup(np.asarray(stages).astype(str), {"REM": 0.4, "W": -0.2}),
                              fs_hz, n, ramp_s=30.0)
    dips: list[tuple[float, float, float]] = []  # onset_s, duration_s, depth (%)
    for e in events:
        if e.type in RESPIRATORY_TYPES and e.spo2_drop is not None:
            dips.append((e.onset_s + (e.desat_lag_s or 25.0), e.duration_s + 8.0, e.spo2_drop))
        elif e.type == "oxygen_desaturation" and e.spo2_nadir is not None and e.cause < 0:
            dips.append((e.onset_s, e.duration_s, (e.spo2_baseline or params.spo2_baseline) - e.spo2_nadir))
    drop = np.zeros(n)
    for onset_s, duration_s, depth in dips:
        i0, i1 = int(onset_s * fs_hz), min(int(np.ceil((onset_s + duration_s) * fs_hz)) + 1, n)
        if i1 <= i0:
            continue
        tt = t[i0:i1] - onset_s
        tn = 0.75 * duration_s
        shape = np.where(tt < tn, tt / tn, np.clip(1.0 - (tt - tn) / (duration_s - tn + 1e-9), 0.0, 1.0))
        drop[i0:i1] = np.maximum(drop[i0:i1], depth * shape)
    spo2 = base - drop + 0.15 * rng.standard_normal(n)
    return np.clip(spo2, 50.0, 100.0)


def epoch_resp_rate(rate_bpm: np.ndarray, fs_hz: float, n_epochs: int) -> np.ndarray:
    """Mean true breathing rate per 30-s epoch (breaths/min)."""
    return per_epoch(rate_bpm, fs_hz, n_epochs)
