"""Site channel-label conventions and recording nuisance.

Three conventions the channel mapper supports: ``shhs`` (SHHS-like labels, position
coding 0 right / 1 left / 2 supine / 3 prone), ``aasm`` (AASM derivation labels, MESA
position coding 0 right / 1 supine / 2 left / 3 prone / 4 upright) and ``ref``
(referential electrodes only: C3 = (C3-A2) + M2, E1 = (E1-M2) + M2, Chin1 = Chin2 + EMG;
position as an angle in degrees around the long axis: 0 supine, +90 left, −90 right,
±180 prone).

Nuisance applied to the true (canonical) signals before they are written: per-night
amplitude scale, 50/60 Hz mains, electrode pops, and sometimes a missing channel.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sleeplm.encoder.io.records import Signal
from sleeplm.encoder.sim._util import slow_noise


@dataclass(frozen=True)
class ChannelSpec:
    """How one file channel is derived from the canonical signals."""

    label: str
    source: str  # canonical key (SLEEPLM channel / SPO2) or "M1", "M2", "CHIN2"
    unit: str
    fs_hz: float
    phys_range: tuple[float, float]
    scale: float = 1.0  # canonical unit -> file unit
    plus: str = ""  # referential: add this reference signal (``source + plus``)
    transducer: str = ""
    prefilter: str = ""
    integer: bool = False  # integer-coded (position): digital range = physical range


_EEG_T, _EEG_P = "AgAgCl electrode", "HP:0.3Hz LP:70Hz"
_RIP = "Respiratory inductance plethysmography"
MESA_POSITION_TRANSDUCER = "0=Right 1=Supine 2=Left 3=Prone 4=Upright"

SITE_CHANNELS: dict[str, tuple[ChannelSpec, ...]] = {
    "shhs": (
        ChannelSpec("SaO2", "SPO2", "%", 1, (0, 100), transducer="Pulse oximeter"),
        ChannelSpec("EEG(sec)", "EEG_C3", "uV", 256, (-500, 500), transducer=_EEG_T, prefilter=_EEG_P),
        ChannelSpec("ECG", "ECG", "mV", 256, (-3, 3), transducer="ECG electrode"),
        ChannelSpec("EMG", "EMG_CHIN", "uV", 256, (-500, 500), transducer=_EEG_T, prefilter="HP:10Hz"),
        ChannelSpec("EOG(L)", "EOG_L", "uV", 128, (-1000, 1000), transducer=_EEG_T, prefilter=_EEG_P),
        ChannelSpec("EOG(R)", "EOG_R", "uV", 128, (-1000, 1000), transducer=_EEG_T, prefilter=_EEG_P),
        ChannelSpec("EEG", "EEG_C4", "uV", 256, (-500, 500), transducer=_EEG_T, prefilter=_EEG_P),
        ChannelSpec("THOR RES", "THX", "", 32, (-4, 4), transducer=_RIP),
        ChannelSpec("ABDO RES", "ABD", "", 32, (-4, 4), transducer=_RIP),
        ChannelSpec("POSITION", "POS", "", 1, (0, 3), integer=True),
        ChannelSpec("AIRFLOW", "AF", "", 32, (-8, 8), transducer="Thermistor"),
    ),
    "aasm": (
        ChannelSpec("C3-M2", "EEG_C3", "uV", 256, (-500, 500), transducer=_EEG_T, prefilter=_EEG_P),
        ChannelSpec("C4-M1", "EEG_C4", "uV", 256, (-500, 500), transducer=_EEG_T, prefilter=_EEG_P),
        ChannelSpec("E1-M2", "EOG_L", "uV", 256, (-1000, 1000), transducer=_EEG_T, prefilter=_EEG_P),
        ChannelSpec("E2-M2", "EOG_R", "uV", 256, (-1000, 1000), transducer=_EEG_T, prefilter=_EEG_P),
        ChannelSpec("Chin1-Chin2", "EMG_CHIN", "uV", 256, (-500, 500), transducer=_EEG_T, prefilter="HP:10Hz"),
        ChannelSpec("ECG II", "ECG", "mV", 512, (-5, 5), transducer="ECG electrode"),
        ChannelSpec("NasalP", "AF", "cmH2O", 32, (-3, 3), scale=0.1, transducer="Pressure transducer"),
        ChannelSpec("Thor", "THX", "uV", 32, (-2000, 2000), scale=400.0, transducer=_RIP),
        ChannelSpec("Abdo", "ABD", "uV", 32, (-2000, 2000), scale=400.0, transducer=_RIP),
        ChannelSpec("SpO2", "SPO2", "%", 4, (0, 100), transducer="Pulse oximeter"),
        ChannelSpec("Position", "POS", "", 1, (0, 4), transducer=MESA_POSITION_TRANSDUCER, integer=True),
    ),
    "ref": (
        ChannelSpec("C3", "EEG_C3", "uV", 256, (-1000, 1000), plus="M2", transducer=_EEG_T, prefilter=_EEG_P),
        ChannelSpec("C4", "EEG_C4", "uV", 256, (-1000, 1000), plus="M1", transducer=_EEG_T, prefilter=_EEG_P),
        ChannelSpec("M1", "M1", "uV", 256, (-1000, 1000), transducer=_EEG_T, prefilter=_EEG_P),
        ChannelSpec("M2", "M2", "uV", 256, (-1000, 1000), transducer=_EEG_T, prefilter=_EEG_P),
        ChannelSpec("E1", "EOG_L", "uV", 256, (-1500, 1500), plus="M2", transducer=_EEG_T, prefilter=_EEG_P),
        ChannelSpec("E2", "EOG_R", "uV", 256, (-1500, 1500), plus="M2", transducer=_EEG_T, prefilter=_EEG_P),
        ChannelSpec("Chin1", "EMG_CHIN", "uV", 256, (-1000, 1000), plus="CHIN2", transducer=_EEG_T),
        ChannelSpec("Chin2", "CHIN2", "uV", 256, (-1000, 1000), transducer=_EEG_T),
        ChannelSpec("EKG", "ECG", "mV", 256, (-5, 5), transducer="ECG electrode"),
        ChannelSpec("Airflow", "AF", "uV", 32, (-1500, 1500), scale=150.0, transducer="Thermistor"),
        ChannelSpec("Chest", "THX", "mV", 32, (-10, 10), scale=2.0, transducer=_RIP),
        ChannelSpec("Abdomen", "ABD", "mV", 32, (-10, 10), scale=2.0, transducer=_RIP),
        ChannelSpec("PosAngle", "POS", "deg", 1, (-180, 180), transducer="Accelerometer"),
        ChannelSpec("SpO2", "SPO2", "%", 1, (0, 100), transducer="Pulse oximeter"),
    ),
}
#: Alternative airflow sensor of the aasm site (thermistor instead of nasal pressure).
AASM_FLOW_ALT = ChannelSpec("Flow", "AF", "uV", 32, (-1500, 1500), scale=150.0, transducer="Thermistor")
MAINS_HZ: dict[str, float] = {"shhs": 60.0, "aasm": 60.0, "ref": 50.0}
POSITION_CODING: dict[str, str] = {"shhs": "shhs", "aasm": "mesa", "ref": "angle"}
#: SleepLM position code -> file value per coding (0 right, 1 left, 2 supine, 3 prone, 4 upright).
_POS_MAP: dict[str, np.ndarray] = {
    "shhs": np.array([0, 1, 2, 3, 2]),
    "mesa": np.array([0, 2, 1, 3, 4]),
    "angle": np.array([-90.0, 90.0, 0.0, 180.0, 0.0]),
}
MISSABLE: tuple[str, ...] = ("EEG_C4", "AF")
_ELECTRODE_CHANNELS: tuple[str, ...] = ("EEG_C3", "EEG_C4", "EOG_L", "EOG_R", "EMG_CHIN")


def encode_position(codes: np.ndarray, coding: str, rng: np.random.Generator) -> np.ndarray:
    """SleepLM position codes -> file values (angles get ±15° jitter, prone kept within ±180)."""
    out = _POS_MAP[coding][np.asarray(codes, dtype=int)].astype(float)
    if coding == "angle":
        jitter = 15.0 * np.clip(slow_noise(rng, len(out), 1.0, 60.0), -1.0, 1.0)
        prone = np.where(jitter >= 0, 180.0 - jitter, -180.0 - jitter)  # wraps around ±180
        out = np.where(out == 180.0, prone, out + jitter)
        out = np.clip(out, -180.0, 180.0)
    return out


def apply_nuisance(rng: np.random.Generator, canonical: dict[str, Signal], site: str) -> dict[str, object]:
    """Add amplitude scale, mains and electrode pops to electrode channels (in place).

    Returns a dict describing what was applied (for the truth file).
    """
    scale = float(rng.lognormal(0.0, 0.15))
    mains_hz = MAINS_HZ[site]
    info: dict[str, object] = {"amplitude_scale": scale, "mains_hz": mains_hz, "pops": []}
    noisy = str(rng.choice(_ELECTRODE_CHANNELS)) if rng.random() < 0.3 else ""
    base: dict[tuple[int, float], tuple[np.ndarray, np.ndarray]] = {}
    for key in _ELECTRODE_CHANNELS:
        sig = canonical[key]
        n = len(sig.data)
        x = np.asarray(sig.data, dtype=float)
        x *= scale
        if mains_hz < sig.fs_hz / 2:
            if (n, sig.fs_hz) not in base:
                w = 2 * np.pi * mains_hz * np.arange(n) / sig.fs_hz
                base[n, sig.fs_hz] = (np.sin(w), np.cos(w))
            s_, c_ = base[n, sig.fs_hz]
            a = rng.uniform(0.2, 1.5) * (rng.uniform(8.0, 20.0) if key == noisy else 1.0)
            ph = rng.uniform(0, 2 * np.pi)
            x += (a * np.cos(ph)) * s_ + (a * np.sin(ph)) * c_
        if key != "EMG_CHIN":
            for _ in range(int(rng.poisson(1.5))):
                i0 = int(rng.integers(0, n))
                tau = rng.uniform(0.3, 1.5)
                m = min(int(5 * tau * sig.fs_hz), n - i0)
                x[i0:i0 + m] += rng.choice([-1, 1]) * rng.uniform(100.0, 300.0) * np.exp(-np.arange(m) / (tau * sig.fs_hz))
                info["pops"].append((key, round(i0 / sig.fs_hz, 2)))
        sig.data = x
    info["noisy_channel"] = noisy
    return info


def _references(rng: np.random.Generator, n: int, fs_hz: float, ecg: Signal, mains_hz: float,
                keys: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Referential electrodes' own potentials (µV): slow drift, ECG artefact, common-mode mains."""
    w = 2 * np.pi * mains_hz * np.arange(n) / fs_hz
    s_, c_ = np.sin(w), np.cos(w)
    ecg_r = ecg.data[:n] if ecg.fs_hz == fs_hz else np.interp(
        np.arange(n) / fs_hz, np.arange(len(ecg.data)) / ecg.fs_hz, ecg.data)
    out = {}
    for k in keys:
        a, ph = rng.uniform(5.0, 30.0), rng.uniform(0, 2 * np.pi)
        x = 15.0 * slow_noise(rng, n, fs_hz, 5.0)
        x += rng.uniform(5.0, 20.0) * ecg_r
        x += (a * np.cos(ph)) * s_ + (a * np.sin(ph)) * c_
        x += 2.0 * rng.standard_normal(n, dtype=np.float32)
        out[k] = x
    return out


def resample(x: np.ndarray, fs_in: float, fs_out: float, n_out: int) -> np.ndarray:
    """Resample by decimation (integer ratio) or linear interpolation."""
    if fs_in == fs_out:
        return x[:n_out]
    ratio = fs_in / fs_out
    if ratio > 1 and abs(ratio - round(ratio)) < 1e-9:
        r = int(round(ratio))
        return x[: n_out * r].reshape(n_out, r).mean(axis=1)
    return np.interp(np.arange(n_out) / fs_out, np.arange(len(x)) / fs_in, x)


def site_signals(rng: np.random.Generator, canonical: dict[str, Signal], site: str, duration_s: float,
                 missing: tuple[str, ...] = ()) -> list[Signal]:
    """The channels a site's EDF holds, derived from the canonical signals.

    Parameters
    ----------
    canonical : dict
        SleepLM channel name (and ``SPO2``) -> true signal; ``POS`` in SleepLM codes.
    missing : tuple of str
        Canonical channels left out of the file (and their referential partners kept).
    """
    specs = list(SITE_CHANNELS[site])
    if site == "aasm" and rng.random() < 0.4:
        specs = [AASM_FLOW_ALT if s.label == "NasalP" else s for s in specs]
    refs: dict[str, np.ndarray] = {}
    if site == "ref":
        n = int(duration_s * 256)
        refs = _references(rng, n, 256.0, canonical["ECG"], MAINS_HZ[site], ("M1", "M2", "CHIN2"))
    out = []
    for spec in specs:
        if spec.source in missing:
            continue
        n_out = int(round(duration_s * spec.fs_hz))
        if spec.source in refs:
            x = refs[spec.source][:n_out]
        else:
            src = canonical[spec.source]
            x = src.data
            if spec.source == "POS":
                x = encode_position(x, POSITION_CODING[site], rng)
            x = resample(np.asarray(x, float), src.fs_hz, spec.fs_hz, n_out) * spec.scale
            if spec.plus:
                x = x + refs[spec.plus][:n_out]
        if spec.integer:
            x = np.round(x)
        x = np.clip(x, *spec.phys_range)
        out.append(Signal(label=spec.label, data=x.astype(np.float64), fs_hz=float(spec.fs_hz), unit=spec.unit,
                          transducer=spec.transducer, prefilter=spec.prefilter))
    return out


def channel_spec(site: str, label: str) -> ChannelSpec:
    """The :class:`ChannelSpec` of a file label at a site."""
    for spec in SITE_CHANNELS[site] + (AASM_FLOW_ALT,):
        if spec.label == label:
            return spec
    raise KeyError(f"{site}: no channel {label!r}")
