"""Simulate a cohort of nights and write them to a folder (EDF+, NSRR XML, truth, subjects.csv)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tqdm import tqdm

from sleeplm.encoder.sim.night import SimulatedNight, simulate_night
from sleeplm.encoder.sim.phenotypes import draw_subject
from sleeplm.encoder.sim.writers import subject_row, write_edf, write_nsrr_xml, write_subjects_csv, write_truth


def night_rngs(seed: int, n_nights: int) -> list[np.random.Generator]:
    """One independent generator per night; night i depends only on (seed, i)."""
    return [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(n_nights)]


def write_night(night: SimulatedNight, out_dir: Path) -> Path:
    """Write ``<stem>.edf``, ``<stem>-nsrr.xml`` and ``<stem>.truth.npz``; return the EDF path."""
    out_dir = Path(out_dir)
    edf = write_edf(night, out_dir / f"{night.stem}.edf")
    write_nsrr_xml(night, out_dir / f"{night.stem}-nsrr.xml")
    write_truth(night, out_dir / f"{night.stem}.truth.npz")
    return edf


def _simulate_one(out_dir: Path, index: int, seed_seq: np.random.SeedSequence,
                  duration_h: float | None, wake_artifacts: bool = False) -> tuple[Path, dict[str, object]]:
    """Simulate and write night ``index`` (a top-level function, so worker processes can run it)."""
    rng = np.random.default_rng(seed_seq)
    night = simulate_night(draw_subject(index, rng), rng, duration_h, wake_artifacts=wake_artifacts)
    return write_night(night, out_dir), subject_row(night)


def simulate_cohort(out_dir: Path, n_nights: int, seed: int, duration_h: float | None = None,
                    progress: bool = True, workers: int = 1, wake_artifacts: bool = False) -> list[Path]:
    """Simulate ``n_nights`` nights (one per subject) into ``out_dir``.

    Parameters
    ----------
    out_dir : Path
        Created if needed. Receives ``sim-0001.edf``, ``sim-0001-nsrr.xml``,
        ``sim-0001.truth.npz``, ... and ``subjects.csv``.
    n_nights : int
    seed : int
        Same seed, same files (night i depends only on seed and i, whatever ``workers``).
    duration_h : float, optional
        Length of every night in hours; default drawn per night in 7-8.5 h.
    progress : bool
        Show a tqdm progress bar.
    workers : int
        Nights simulated in parallel processes (1: in this process).
    wake_artifacts : bool
        Eye movements, scalp muscle and body movement in the wake EEG (:mod:`sleeplm.encoder.sim.eeg`; off by default).

    Returns
    -------
    list of Path
        The EDF files, in order.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    seqs = np.random.SeedSequence(seed).spawn(n_nights)
    bar = tqdm(total=n_nights, desc="simulate", unit="night", disable=not progress)
    if workers <= 1 or n_nights <= 1:
        results = []
        for i, ss in enumerate(seqs):
            results.append(_simulate_one(out_dir, i, ss, duration_h, wake_artifacts))
            bar.update()
    else:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=min(workers, n_nights)) as pool:
            futures = [pool.submit(_simulate_one, out_dir, i, ss, duration_h, wake_artifacts) for i, ss in enumerate(seqs)]
            results = []
            for f in futures:
                results.append(f.result())
                bar.update()
    bar.close()
    write_subjects_csv([row for _, row in results], out_dir / "subjects.csv")
    return [path for path, _ in results]
