"""Shared pytest fixtures."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from testdata import MINI_CHECKPOINT, SHARED_DATA

if TYPE_CHECKING:
    import numpy as np



@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The read-only ../shared/data folder; tests that need it skip when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"{SHARED_DATA} is absent (real-data tests need ../shared beside the repo)")
    return SHARED_DATA


def write_edf(
    path: Path,
    signals: dict[str, tuple["np.ndarray", float, str]],
    annotations: list[tuple[float, float, str]] = (),
    transducers: dict[str, str] | None = None,
) -> Path:
    """Write a small EDF+ file with pyedflib: ``signals`` maps label -> (data, fs_hz, unit)."""
    import numpy as np
    import pyedflib

    transducers = transducers or {}
    headers = []
    for label, (data, fs, unit) in signals.items():
        lo, hi = float(np.min(data)), float(np.max(data))
        if hi == lo:
            lo, hi = lo - 1, hi + 1
        pad = 0.01 * (hi - lo)
        headers.append(
            {
                "label": label,
                "dimension": unit,
                "sample_frequency": fs,
                "physical_min": round(lo - pad, 3),
                "physical_max": round(hi + pad, 3),
                "digital_min": -32768,
                "digital_max": 32767,
                "transducer": transducers.get(label, ""),
                "prefilter": "",
            }
        )
    w = pyedflib.EdfWriter(str(path), len(signals), file_type=pyedflib.FILETYPE_EDFPLUS)
    try:
        w.setSignalHeaders(headers)
        w.writeSamples([np.asarray(d, dtype=np.float64) for d, _, _ in signals.values()])
        for onset, duration, text in annotations:
            w.writeAnnotation(onset, duration, text)
    finally:
        w.close()
    return path


@pytest.fixture
def make_edf(tmp_path: Path):
    """Factory fixture: ``make_edf(name, signals, annotations=(), transducers=None) -> Path``."""

    def factory(name: str, signals, annotations=(), transducers=None) -> Path:
        return write_edf(tmp_path / name, signals, annotations, transducers)

    return factory




@pytest.fixture(scope="session")
def sim_cohort_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three simulated 30-min nights (EDF + NSRR XML + subjects.csv + truth), written once per test session."""
    from sleeplm.encoder.sim import simulate_cohort

    out = tmp_path_factory.mktemp("sim-cohort")
    simulate_cohort(out, n_nights=3, seed=7, duration_h=0.5, progress=False)
    return out


@pytest.fixture(scope="session")
def sim_workspace(sim_cohort_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """:func:`sim_cohort_dir` ingested with the parity-mini model, once per test session (treat as read-only)."""
    from sleeplm.index.ingest import ingest

    ws = tmp_path_factory.mktemp("sim-ws")
    report = ingest(sim_cohort_dir, ws, model=str(MINI_CHECKPOINT), progress=False)
    assert len(report.ingested) == 3
    return ws
