"""Domain randomization of a simulated night's signals, for training a model that must transfer to real PSG.

:func:`randomize` takes a night's canonical signals (SleepLM channel names, as in
:attr:`~sleeplm.encoder.sim.night.SimulatedNight.canonical`), a generator and a :class:`Knobs`
record, and returns new signals (the input is never modified): the same physiology as a
different lab, amplifier, sensor and night of electrode trouble would have recorded it.
:func:`randomized_file_signals` then derives the site's file channels from them, so the result
goes through the same reading path as a real file (``map_channels`` → ``make_epochs``).

Every knob fires with its own probability (``p_*``) and draws its strength from a range; ranges
are chosen from what real recordings show, and each is stated with its reason below.

=================  =====================================================  ===============================================
knob               range                                                  why
=================  =====================================================  ===============================================
source rate        50, 100, 128, 200, 250, 256 Hz (≤ the channel rate),   home and older devices record EEG at 100-200 Hz
                   with the anti-aliasing low-pass ``resample_poly``      and some at 50 Hz: nothing above fs/2 survives,
                   applies, then back to the channel rate                 and the model must not rely on it
hardware filters   high-pass 0.1-0.5 Hz (EEG/EOG), 5-20 Hz (EMG),         amplifiers' AC coupling and anti-alias filters
                   0.05-1 Hz (ECG); low-pass 30-100 Hz (below fs/2);      differ per lab (AASM recommends 0.3 / 35 Hz
                   first/second-order Butterworth, applied causally       for EEG, but 0.16 / 70 Hz is common)
amplitude          gain ×0.5-2 (log-uniform) for electrodes, ×0.2-5 for   electrode gain, calibration and units differ;
                   effort/flow (uncalibrated belts and cannulas)          belts are never calibrated between labs
polarity           sign flip, p 0.1 per electrode channel, 0.25 per       swapped leads; nasal pressure and belts have
                   effort/flow channel                                    no agreed sign convention
impedance noise    white + 1/f noise, 1-8 µV RMS, per EEG/EOG/EMG         a dry or loose electrode (> 10 kΩ) adds thermal
                   channel                                                and 1/f noise
mains              50 or 60 Hz (+ 3rd harmonic), 0.5-15 µV                unshielded rooms and bad references
pops               0-6 per hour per channel, 100-500 µV steps decaying    an electrode briefly losing contact
                   over 0.2-1.5 s
movement           0-10 bursts per hour, 1-10 s, 50-300 µV broadband on   body movements move every lead and belt together
                   all electrodes at once, effort/flow ×2-5
sweat              0-3 episodes per night, 2-10 min, 0.05-0.5 Hz sway of  sweating changes the skin potential slowly
                   20-120 µV on EEG/EOG                                   (warm rooms, night sweats)
ECG in EEG         3-25 µV per mV of ECG added to EEG/EOG                 mastoid references pick up the heart's field
EOG in EEG         5-35 % of the eye-movement signal (E1 − E2) / 2        central leads see eye movements, more so with
                   added to EEG                                           frontal substitutes
montage            contralateral (as simulated), ipsilateral reference    labs reference differently, and when C3 or C4
                   (×0.6-0.8 amplitude), C3/C4 swapped, frontal           is bad another lead substitutes for it
                   substitute (more EOG, ×0.8-1.2)
airflow sensor     nasal pressure (∝ signed flow², DC-free) or            pressure cannulas and thermistors record
                   thermistor (first-order lag 0.5-1.5 s of |flow|-like   different curves of the same breath
                   temperature swing, sign of expiration)
effort sensor      RIP (as simulated) or piezo (first-order high-pass     piezo belts measure the change of tension,
                   0.05-0.3 Hz)                                           losing the slow volume shifts
missing channel    p 0.05 per channel: removed                            not every montage records every channel
flat channel       p 0.03 per channel: constant (a disconnected lead)     a lead lost or unplugged mid-recording
=================  =====================================================  ===============================================

The knobs act per night (one draw for the whole recording), as real recording conditions do.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import numpy as np
from scipy import signal as ssig
from sleeplm.encoder.io.records import Signal
from sleeplm.encoder.sim._util import slow_noise

#: Electrode channels (µV), effort/flow channels (normalised or file units), the ECG (mV).
ELECTRODES: tuple[str, ...] = ("EEG_C3", "EEG_C4", "EOG_L", "EOG_R", "EMG_CHIN")
EEG_EOG: tuple[str, ...] = ("EEG_C3", "EEG_C4", "EOG_L", "EOG_R")
EEG: tuple[str, ...] = ("EEG_C3", "EEG_C4")
BREATHING: tuple[str, ...] = ("ABD", "THX", "AF")
#: Source rates a recording device may use (Hz).
SOURCE_RATES_HZ: tuple[float, ...] = (50.0, 100.0, 128.0, 200.0, 250.0, 256.0)
MONTAGES: tuple[str, ...] = ("contralateral", "ipsilateral", "swapped", "frontal")


@dataclass(frozen=True)
class Knobs:
    """Probability (``p_*``) and strength range of every randomization (see the module table).

    ``Knobs()`` is the training default; :meth:`none` turns everything off and :meth:`only`
    keeps one knob (probability 1), for tests and ablations.
    """

    p_source_rate: float = 0.4
    source_rates_hz: tuple[float, ...] = SOURCE_RATES_HZ
    p_hardware_filter: float = 0.6
    highpass_eeg_hz: tuple[float, float] = (0.1, 0.5)
    highpass_emg_hz: tuple[float, float] = (5.0, 20.0)
    highpass_ecg_hz: tuple[float, float] = (0.05, 1.0)
    lowpass_hz: tuple[float, float] = (30.0, 100.0)
    p_amplitude: float = 0.8
    electrode_gain: tuple[float, float] = (0.5, 2.0)
    breathing_gain: tuple[float, float] = (0.2, 5.0)
    p_polarity: float = 1.0  # per night; then each channel flips with its own probability below
    p_flip_electrode: float = 0.1
    p_flip_breathing: float = 0.25
    p_impedance_noise: float = 0.5
    impedance_noise_uv: tuple[float, float] = (1.0, 8.0)
    p_mains: float = 0.5
    mains_uv: tuple[float, float] = (0.5, 15.0)
    p_pops: float = 0.4
    pops_per_h: tuple[float, float] = (0.0, 6.0)
    pop_uv: tuple[float, float] = (100.0, 500.0)
    p_movement: float = 0.5
    movement_per_h: tuple[float, float] = (0.0, 10.0)
    movement_uv: tuple[float, float] = (50.0, 300.0)
    p_sweat: float = 0.2
    sweat_episodes: tuple[int, int] = (1, 3)
    sweat_uv: tuple[float, float] = (20.0, 120.0)
    p_ecg_in_eeg: float = 0.4
    ecg_in_eeg_uv_per_mv: tuple[float, float] = (3.0, 25.0)
    p_eog_in_eeg: float = 0.4
    eog_in_eeg_share: tuple[float, float] = (0.05, 0.35)
    p_montage: float = 0.3
    p_airflow_sensor: float = 0.5
    p_effort_sensor: float = 0.3
    p_missing: float = 0.05
    p_flat: float = 0.03

    @classmethod
    def none(cls) -> Knobs:
        """Every knob off (``randomize`` then returns copies of its input)."""
        return cls(**{f.name: 0.0 for f in fields(cls) if f.name.startswith("p_")})

    @classmethod
    def only(cls, knob: str, **ranges) -> Knobs:
        """One knob on (probability 1, per-channel probabilities kept), every other off; ``ranges`` override."""
        name = f"p_{knob}"
        if name not in {f.name for f in fields(cls)}:
            raise ValueError(f"unknown knob {knob!r}; knobs: {KNOB_NAMES}")
        return replace(cls.none(), **({name: 1.0} | ranges))


KNOB_NAMES: tuple[str, ...] = tuple(f.name[2:] for f in fields(Knobs)
                                    if f.name.startswith("p_") and not f.name.startswith("p_flip"))


def _log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def _resample_through(x: np.ndarray, fs_hz: float, src_hz: float) -> np.ndarray:
    """``x`` as a ``src_hz`` device would have recorded it (anti-aliased), back at ``fs_hz``."""
    from fractions import Fraction

    fr = Fraction(src_hz / fs_hz).limit_denominator(64)
    down = ssig.resample_poly(x, fr.numerator, fr.denominator)
    up = ssig.resample_poly(down, fr.denominator, fr.numerator)
    out = np.zeros_like(x)
    m = min(len(x), len(up))
    out[:m] = up[:m]
    return out


def _butter(x: np.ndarray, fs_hz: float, kind: str, cutoff_hz: float, order: int) -> np.ndarray:
    sos = ssig.butter(order, cutoff_hz, kind, fs=fs_hz, output="sos")
    return ssig.sosfilt(sos, x)


def _sine(n: int, fs_hz: float, f_hz: float, amp: float, phase: float) -> np.ndarray:
    return amp * np.sin(2 * np.pi * f_hz * np.arange(n) / fs_hz + phase)


def randomize_with_report(signals: dict[str, Signal], rng: np.random.Generator,
                          knobs: Knobs | None = None) -> tuple[dict[str, Signal], list[dict[str, object]]]:
    """:func:`randomize`, plus one record per applied knob (``knob``, channel, drawn values)."""
    k = knobs or Knobs()
    x = {name: np.array(s.data, dtype=float, copy=True) for name, s in signals.items()}
    fs = {name: float(s.fs_hz) for name, s in signals.items()}
    done: list[dict[str, object]] = []
    have = lambda names: [c for c in names if c in x]

    # Montage first: it decides what the EEG leads are before the amplifier touches them.
    if rng.random() < k.p_montage and len(have(EEG)) == 2:
        kind = str(rng.choice(MONTAGES))
        if kind == "frontal" and len(have(("EOG_L", "EOG_R"))) < 2:
            kind = "contralateral"  # no eye channels to build a frontal substitute from
        if kind == "ipsilateral":
            g = rng.uniform(0.6, 0.8)
            x["EEG_C3"], x["EEG_C4"] = g * x["EEG_C3"], g * x["EEG_C4"]
        elif kind == "swapped":
            x["EEG_C3"], x["EEG_C4"] = x["EEG_C4"], x["EEG_C3"]
        elif kind == "frontal":
            lead = str(rng.choice(EEG))
            eye = 0.5 * (x["EOG_L"] - x["EOG_R"])
            x[lead] = rng.uniform(0.8, 1.2) * x[lead] + rng.uniform(0.3, 0.6) * _match(eye, fs["EOG_L"], fs[lead], len(x[lead]))
        done.append({"knob": "montage", "montage": kind})
    if rng.random() < k.p_eog_in_eeg and len(have(("EOG_L", "EOG_R"))) == 2:
        eye = 0.5 * (x["EOG_L"] - x["EOG_R"])
        for c in have(EEG):
            share = rng.uniform(*k.eog_in_eeg_share)
            x[c] = x[c] + share * _match(eye, fs["EOG_L"], fs[c], len(x[c]))
            done.append({"knob": "eog_in_eeg", "channel": c, "share": float(share)})
    if rng.random() < k.p_ecg_in_eeg and "ECG" in x:
        for c in have(EEG_EOG):
            gain = rng.uniform(*k.ecg_in_eeg_uv_per_mv)
            x[c] = x[c] + gain * _match(x["ECG"], fs["ECG"], fs[c], len(x[c]))
            done.append({"knob": "ecg_in_eeg", "channel": c, "uv_per_mv": float(gain)})
    if rng.random() < k.p_airflow_sensor and "AF" in x:
        kind = str(rng.choice(["nasal_pressure", "thermistor"]))
        f = x["AF"]
        if kind == "nasal_pressure":
            y = np.sign(f) * f ** 2
            x["AF"] = y / (np.std(y) + 1e-12) * np.std(f)
        else:
            tau = rng.uniform(0.5, 1.5)
            vol = np.cumsum(f) / fs["AF"]  # temperature follows the breath's volume, lagged
            vol = vol - _butter(vol, fs["AF"], "lowpass", 0.05, 1)
            y = _butter(vol, fs["AF"], "lowpass", 1.0 / (2 * np.pi * tau), 1)
            x["AF"] = y / (np.std(y) + 1e-12) * np.std(f)
        done.append({"knob": "airflow_sensor", "sensor": kind})
    if rng.random() < k.p_effort_sensor:
        for c in have(("ABD", "THX")):
            hp = rng.uniform(0.05, 0.3)
            x[c] = _butter(x[c], fs[c], "highpass", hp, 1)
            done.append({"knob": "effort_sensor", "channel": c, "sensor": "piezo", "highpass_hz": round(hp, 3)})
    # The recording chain: device rate, then the amplifier's filters.
    if rng.random() < k.p_source_rate:
        for c in have(ELECTRODES + ("ECG",)):
            cands = [r for r in k.source_rates_hz if r < fs[c]]
            if not cands:
                continue
            src = float(rng.choice(cands))
            x[c] = _resample_through(x[c], fs[c], src)
            done.append({"knob": "source_rate", "channel": c, "source_hz": src})
    if rng.random() < k.p_hardware_filter:
        for c in have(ELECTRODES + ("ECG",)):
            lo = {"EMG_CHIN": k.highpass_emg_hz, "ECG": k.highpass_ecg_hz}.get(c, k.highpass_eeg_hz)
            hp = _log_uniform(rng, *lo)
            lp = rng.uniform(*k.lowpass_hz)
            x[c] = _butter(x[c], fs[c], "highpass", hp, 1)
            if lp < 0.45 * fs[c]:
                x[c] = _butter(x[c], fs[c], "lowpass", lp, 2)
            done.append({"knob": "hardware_filter", "channel": c, "highpass_hz": round(hp, 3),
                         "lowpass_hz": round(lp, 1) if lp < 0.45 * fs[c] else None})
    if rng.random() < k.p_amplitude:
        for c in have(ELECTRODES + ("ECG",) + BREATHING):
            g = _log_uniform(rng, *(k.breathing_gain if c in BREATHING else k.electrode_gain))
            x[c] = g * x[c]
            done.append({"knob": "amplitude", "channel": c, "gain": float(g)})
    if rng.random() < k.p_polarity:
        for c in have(ELECTRODES + ("ECG",) + BREATHING):
            if rng.random() < (k.p_flip_breathing if c in BREATHING else k.p_flip_electrode):
                x[c] = -x[c]
                done.append({"knob": "polarity", "channel": c})
    # Trouble during the night.
    if rng.random() < k.p_impedance_noise:
        for c in have(ELECTRODES):
            rms = rng.uniform(*k.impedance_noise_uv)
            n = len(x[c])
            noise = rng.standard_normal(n) + 2.0 * slow_noise(rng, n, fs[c], 2.0)
            x[c] = x[c] + rms * noise / np.sqrt(5.0)
            done.append({"knob": "impedance_noise", "channel": c, "rms_uv": round(rms, 2)})
    if rng.random() < k.p_mains:
        mains = float(rng.choice([50.0, 60.0]))
        for c in have(ELECTRODES):
            if mains >= 0.5 * fs[c]:
                continue
            a = rng.uniform(*k.mains_uv)
            n = len(x[c])
            x[c] = x[c] + _sine(n, fs[c], mains, a, rng.uniform(0, 2 * np.pi))
            if 3 * mains < 0.5 * fs[c]:
                x[c] = x[c] + _sine(n, fs[c], 3 * mains, 0.3 * a, rng.uniform(0, 2 * np.pi))
            done.append({"knob": "mains", "channel": c, "mains_hz": mains, "uv": round(a, 2)})
    if rng.random() < k.p_pops:
        for c in have(EEG_EOG):
            n = len(x[c])
            hours = n / fs[c] / 3600.0
            for _ in range(int(rng.poisson(rng.uniform(*k.pops_per_h) * hours))):
                i0 = int(rng.integers(0, n))
                tau = rng.uniform(0.2, 1.5)
                m = min(int(5 * tau * fs[c]), n - i0)
                amp = rng.choice([-1.0, 1.0]) * rng.uniform(*k.pop_uv)
                x[c][i0:i0 + m] += amp * np.exp(-np.arange(m) / (tau * fs[c]))
                done.append({"knob": "pops", "channel": c, "onset_s": round(i0 / fs[c], 2), "uv": round(amp, 1)})
    if rng.random() < k.p_movement:
        names = have(ELECTRODES + BREATHING)
        if names:
            dur_s = len(x[names[0]]) / fs[names[0]]
            for _ in range(int(rng.poisson(rng.uniform(*k.movement_per_h) * dur_s / 3600.0))):
                t0, length = rng.uniform(0, dur_s), rng.uniform(1.0, 10.0)
                amp = rng.uniform(*k.movement_uv)
                for c in names:
                    i0, i1 = int(t0 * fs[c]), min(int((t0 + length) * fs[c]), len(x[c]))
                    if i1 <= i0:
                        continue
                    win = np.hanning(i1 - i0)
                    if c in BREATHING:
                        x[c][i0:i1] *= 1.0 + rng.uniform(1.0, 4.0) * win
                        x[c][i0:i1] += np.std(x[c]) * win * slow_noise(rng, i1 - i0, fs[c], 0.5)
                    else:
                        burst = _butter(rng.standard_normal(i1 - i0), fs[c], "lowpass", min(20.0, 0.4 * fs[c]), 2)
                        x[c][i0:i1] += amp * win * burst / (np.std(burst) + 1e-12)
                done.append({"knob": "movement", "onset_s": round(t0, 1), "duration_s": round(length, 1)})
    if rng.random() < k.p_sweat:
        for _ in range(int(rng.integers(k.sweat_episodes[0], k.sweat_episodes[1] + 1))):
            chans = have(EEG_EOG)
            if not chans:
                break
            dur_s = len(x[chans[0]]) / fs[chans[0]]
            t0, length = rng.uniform(0, dur_s), rng.uniform(120.0, 600.0)
            amp = rng.uniform(*k.sweat_uv)
            for c in chans:
                i0, i1 = int(t0 * fs[c]), min(int((t0 + length) * fs[c]), len(x[c]))
                if i1 - i0 < 2:
                    continue
                sway = slow_noise(rng, i1 - i0, fs[c], rng.uniform(2.0, 20.0))
                x[c][i0:i1] += amp * np.hanning(i1 - i0) * sway
            done.append({"knob": "sweat", "onset_s": round(t0, 1), "duration_s": round(length, 1),
                         "uv": round(amp, 1)})
    # Channels lost: flat (kept, constant) or missing (removed).
    out: dict[str, Signal] = {}
    for name, s in signals.items():
        if name != "POS" and rng.random() < k.p_missing:
            done.append({"knob": "missing", "channel": name})
            continue
        data = x[name]
        if name != "POS" and rng.random() < k.p_flat:
            data = np.full_like(data, float(data[0]) if len(data) else 0.0)
            done.append({"knob": "flat", "channel": name})
        out[name] = replace(s, data=data)
    return out, done


def randomize(signals: dict[str, Signal], rng: np.random.Generator, knobs: Knobs | None = None) -> dict[str, Signal]:
    """A night's canonical signals as another lab, device and night of trouble would have recorded them.

    Parameters
    ----------
    signals : dict of str to Signal
        Canonical signals keyed by SleepLM channel name (``EEG_C3`` ... ``POS``, and ``SPO2``), e.g.
        ``SimulatedNight.canonical``. Not modified.
    rng : numpy.random.Generator
        The only source of randomness.
    knobs : Knobs, optional
        Probabilities and ranges (default: ``Knobs()``).

    Returns
    -------
    dict of str to Signal
        New signals, same rates and lengths; a channel drawn as missing is absent.
    """
    return randomize_with_report(signals, rng, knobs)[0]


def randomized_file_signals(night, rng: np.random.Generator, knobs: Knobs | None = None) -> list[Signal]:
    """The site's file channels of ``night`` (a :class:`~.night.SimulatedNight`) after :func:`randomize`.

    Channels the randomization removed are left out of the file, as the night's own missing
    channels are; the result can be read like ``night.signals`` (``Recording`` → ``map_channels``).
    """
    from sleeplm.encoder.sim.sites import site_signals

    sigs = randomize(night.canonical, rng, knobs)
    missing = tuple(night.missing_channels) + tuple(c for c in night.canonical if c not in sigs)
    full = {c: sigs.get(c, night.canonical[c]) for c in night.canonical}
    return site_signals(rng, full, night.site, night.duration_s, missing)


def _match(y: np.ndarray, fs_from: float, fs_to: float, n: int) -> np.ndarray:
    """``y`` at ``fs_to``, ``n`` samples (linear interpolation when the rates differ)."""
    if fs_from == fs_to and len(y) >= n:
        return y[:n]
    return np.interp(np.arange(n) / fs_to, np.arange(len(y)) / fs_from, y)
