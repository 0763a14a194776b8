"""Simulated wake EEG: quiet, active and movement epochs, as real central leads show in wake."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.signal import welch
from sleeplm.encoder.sim.eeg import _wake_artifacts, simulate_eeg
from sleeplm.encoder.sim.events import simulate_events, simulate_position
from sleeplm.encoder.sim.phenotypes import draw_subject

#: R&K codes of the DREAMS hypnograms (5 s each).
_RK = {5: "W", 4: "REM", 3: "N1", 2: "N2", 1: "N3", 0: "N3"}


def _wake_amplitude(x: np.ndarray, stages: np.ndarray, fs_hz: float) -> tuple[np.ndarray, np.ndarray]:
    """Each wake epoch's RMS and 20-30 Hz power, relative to the median N2 epoch of the same recording."""
    spe = round(30 * fs_hz)
    ep = x[: len(stages) * spe].reshape(len(stages), spe)
    f, p = welch(ep, fs=fs_hz, nperseg=int(4 * fs_hz), axis=-1)
    hf = p[:, (f >= 20) & (f < 30)].sum(axis=1)
    rms = ep.std(axis=1)
    n2, w = stages == "N2", stages == "W"
    return rms[w] / np.median(rms[n2]), hf[w] / np.median(hf[n2])


def _real_wake(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    rms, hf = [], []
    for sig_path in sorted(folder.glob("excerpt*.txt")):
        x = np.loadtxt(sig_path, skiprows=1)
        fs_hz = len(x) / 1800.0
        codes = np.loadtxt(folder / f"Hypnogram_{sig_path.name}", skiprows=1).astype(int)
        n = len(codes) // 6
        rows = codes[: n * 6].reshape(n, 6)
        pure = (rows == rows[:, :1]).all(axis=1)
        stages = np.array([_RK.get(int(r[0]), "?") if ok else "?" for r, ok in zip(rows, pure)])
        n = min(n, int(len(x) // round(30 * fs_hz)))
        if not ((stages[:n] == "W").any() and (stages[:n] == "N2").any()):
            continue
        r, h = _wake_amplitude(x, stages[:n], fs_hz)
        rms.append(r)
        hf.append(h)
    return np.concatenate(rms), np.concatenate(hf)


def _simulated_wake(n_nights: int = 4) -> tuple[np.ndarray, np.ndarray]:
    rms, hf = [], []
    for i, ss in enumerate(np.random.SeedSequence(31).spawn(n_nights)):
        rng = np.random.default_rng(ss)
        sub = draw_subject(i, rng)
        # Sleep interrupted by awakenings of 1-10 epochs, as a fragmented night's.
        stages = []
        while len(stages) < 480:
            stages += ["N2"] * int(rng.integers(10, 40)) + ["W"] * int(rng.integers(1, 11))
        stages = np.array(stages[:480], dtype="<U3")
        events = simulate_events(rng, stages, simulate_position(rng, len(stages), sub.params), sub.params)
        c3, _ = simulate_eeg(rng, stages, events, 256.0, sub.params, wake_artifacts=True)
        r, h = _wake_amplitude(c3, stages, 256.0)
        rms.append(r)
        hf.append(h)
    return np.concatenate(rms), np.concatenate(hf)


def test_wake_artifacts_are_confined_to_wake_epochs() -> None:
    stages = np.array(["N2"] * 8 + ["W"] * 8 + ["N3"] * 8 + ["REM"] * 8)
    out = _wake_artifacts(np.random.default_rng(0), stages, 64.0, len(stages) * 30 * 64)
    per_epoch = np.abs(out).reshape(2, len(stages), -1).max(axis=(0, 2))
    assert np.all(per_epoch[stages != "W"] == 0.0)
    assert np.all(per_epoch[stages == "W"] > 0.0)


def test_wake_artifacts_are_off_by_default() -> None:
    stages = np.array(["N2"] * 4 + ["W"] * 8)
    sub = draw_subject(0, np.random.default_rng(1))
    plain = simulate_eeg(np.random.default_rng(2), stages, [], 64.0, sub.params)
    off = simulate_eeg(np.random.default_rng(2), stages, [], 64.0, sub.params, wake_artifacts=False)
    on = simulate_eeg(np.random.default_rng(2), stages, [], 64.0, sub.params, wake_artifacts=True)
    np.testing.assert_array_equal(plain[0], off[0])
    assert not np.allclose(plain[0], on[0])


def test_wake_sd_of_delta_matches_the_real_wake_epochs_only_with_wake_artifacts(shared_data: Path) -> None:
    """The real DREAMS wake epochs' delta share varies twice as much as plain simulated wake's (its SD read from
    the shared statistics file); with wake artifacts the simulated SD is within 25 % of the real one."""
    from sleeplm.encoder.sim.calibration import eeg_calibration

    real_json = shared_data / "real" / "dreams-eeg-bandpower-by-stage.json"
    sd = {flag: next(r for r in eeg_calibration(real_json, 3, 1, 3.0, wake_artifacts=flag)
                     if r["stage"] == "W" and r["band"] == "delta") for flag in (False, True)}
    real_sd = sd[True]["real_sd"]
    assert abs(sd[True]["sim_sd"] - real_sd) <= 0.25 * real_sd
    assert abs(sd[False]["sim_sd"] - real_sd) > 0.25 * real_sd


def test_simulated_wake_amplitudes_match_the_real_dreams_wake_epochs(shared_data: Path) -> None:
    """Share of movement-like wake epochs (RMS above 1.4 x N2 and 20-30 Hz power above 10 x N2) and the median
    wake RMS, simulated against the real DREAMS excerpts' wake epochs (tolerance 0.1 and 0.15)."""
    real_rms, real_hf = _real_wake(shared_data / "real" / "dreams-eeg")
    sim_rms, sim_hf = _simulated_wake()
    assert len(real_rms) >= 30 and len(sim_rms) >= 200

    def movement_share(r: np.ndarray, h: np.ndarray) -> float:
        return float(((r > 1.4) & (h > 10.0)).mean())

    assert abs(movement_share(sim_rms, sim_hf) - movement_share(real_rms, real_hf)) <= 0.1
    assert abs(np.median(sim_rms) - np.median(real_rms)) <= 0.15
