"""Hypnogram generator: NREM-REM cycles of ~90 min with N3 early and REM lengthening.

The night is built cycle by cycle (sleep-onset latency, then ``[N1] N2 N3 N2 REM``
cycles whose N3 share shrinks and REM share grows), then brief awakenings, isolated
N1 shifts and short N2 interruptions of N3 are overlaid according to the phenotype.
"""

from __future__ import annotations

import numpy as np

from sleeplm.encoder.sim.phenotypes import PhenotypeParams
from sleeplm.encoder.vocab import SCORED_STAGES

EPOCHS_PER_MIN = 2
#: Mean N3 and REM minutes of cycle k (k = 0, 1, ...) for a young adult.
N3_MIN_BY_CYCLE = (45.0, 28.0, 12.0, 4.0, 0.0)
REM_MIN_BY_CYCLE = (9.0, 17.0, 24.0, 30.0, 34.0)


def _ep(minutes: float) -> int:
    return max(int(round(minutes * EPOCHS_PER_MIN)), 0)


def simulate_hypnogram(rng: np.random.Generator, n_epochs: int, params: PhenotypeParams) -> np.ndarray:
    """Draw one hypnogram.

    Parameters
    ----------
    rng : numpy.random.Generator
    n_epochs : int
        Number of 30-s epochs (the recording length).
    params : PhenotypeParams
        Latency, awakenings, N3/REM scaling, fragmentation.

    Returns
    -------
    numpy.ndarray of str, shape (n_epochs,)
        Stages among ``W, N1, N2, N3, REM``.
    """
    seq: list[tuple[str, int]] = []
    lat = _ep(params.latency_min)
    # Drowsy wake: a few N1 epochs in the last part of the latency period.
    if lat > 6:
        pre = lat - int(rng.integers(2, 5))
        seq += [("W", pre), ("N1", 1), ("W", lat - pre - 1)]
    else:
        seq.append(("W", lat))
    seq.append(("N1", int(rng.integers(2, 8))))

    k = 0
    total = sum(n for _, n in seq)
    while total < n_epochs:
        cyc = _ep(rng.normal(92.0 if k else 85.0, 10.0))
        kk = min(k, len(N3_MIN_BY_CYCLE) - 1)
        n3 = _ep(params.n3_scale * N3_MIN_BY_CYCLE[kk] * rng.lognormal(0.0, 0.25))
        rem = _ep(params.rem_scale * REM_MIN_BY_CYCLE[kk] * rng.lognormal(0.0, 0.2))
        n1 = int(rng.integers(0, 4)) if k else 0  # a cycle may start straight in N2 (REM -> N2)
        n2 = max(cyc - n3 - rem - n1, 10)
        n2a = int(n2 * (rng.uniform(0.35, 0.6) if n3 > 0 else 0.5))
        seq += [("N1", n1), ("N2", n2a), ("N3", n3), ("N2", n2 - n2a), ("REM", rem)]
        if rng.random() < 0.5:  # REM often ends with a short awakening
            seq.append(("W", int(rng.integers(1, 3))))
        total = sum(n for _, n in seq)
        k += 1
    hyp = np.concatenate([np.full(n, s, dtype="<U3") for s, n in seq if n > 0])[:n_epochs]

    onset = lat + 1
    sleep_period = np.arange(onset, n_epochs)
    hours = len(sleep_period) / 120.0
    if len(sleep_period) == 0:
        return hyp

    def _insert(stage: str, start: int, length: int) -> None:
        hyp[start:min(start + length, n_epochs)] = stage

    # Short N2 interruptions inside N3 (N3 bouts in real data are split by N2).
    n3_idx = np.flatnonzero(hyp == "N3")
    if len(n3_idx):
        for s in rng.choice(n3_idx, size=rng.poisson(len(n3_idx) / 250.0), replace=True):
            _insert("N2", int(s), int(rng.integers(1, 4)))
    # REM periods are interrupted by brief N2 (real REM bouts last minutes, not whole periods).
    rem_idx = np.flatnonzero(hyp == "REM")
    if len(rem_idx):
        for s in rng.choice(rem_idx, size=rng.poisson(len(rem_idx) / 40.0), replace=True):
            if 0 < s < n_epochs - 1 and hyp[s - 1] == "REM":
                _insert("N2", int(s), int(rng.integers(1, 3)))
    # Isolated N1 shifts within N2 / REM.
    cand = np.flatnonzero(np.isin(hyp, ("N2", "REM")))
    cand = cand[cand > onset]
    if len(cand):
        for s in rng.choice(cand, size=rng.poisson(params.n1_shifts_per_h * hours), replace=True):
            _insert("N1", int(s), int(rng.integers(1, 4)))
    # Brief awakenings, each followed by 1-2 N1 epochs.
    for s in rng.choice(sleep_period, size=rng.poisson(params.awakenings_per_h * hours), replace=True):
        length = 1 + rng.geometric(1.0 / max(params.wake_bout_epochs, 1.0)) - 1
        _insert("W", int(s), int(length))
        _insert("N1", int(s) + int(length), int(rng.integers(1, 5)))
    # Long awakenings (insomnia WASO): 10-30 min.
    for s in rng.choice(sleep_period, size=rng.poisson(params.long_wake_per_night), replace=True):
        length = _ep(rng.uniform(10, 30))
        _insert("W", int(s), length)
        _insert("N1", int(s) + length, int(rng.integers(1, 4)))
    # Final awakening before lights on.
    if rng.random() < 0.6:
        _insert("W", n_epochs - _ep(rng.uniform(1, 12)), n_epochs)
    return hyp


def hypnogram_summary(stages: np.ndarray, epoch_s: float = 30.0) -> dict[str, float]:
    """Stage percentages (of the recording), transitions per hour, sleep latency and WASO (min)."""
    stages = np.asarray(stages).astype(str)
    n = len(stages)
    out: dict[str, float] = {f"pct_{s}": 100.0 * float(np.mean(stages == s)) for s in SCORED_STAGES}
    out["transitions_per_h"] = float(np.sum(stages[1:] != stages[:-1])) / (n * epoch_s / 3600.0)
    sleep = np.flatnonzero(stages != "W")
    out["latency_min"] = float(sleep[0] * epoch_s / 60.0) if len(sleep) else float("nan")
    out["waso_min"] = (float(np.sum(stages[sleep[0]:sleep[-1] + 1] == "W") * epoch_s / 60.0)
                       if len(sleep) else float("nan"))
    out["n_rem_periods"] = float(_count_runs(stages == "REM", min_gap=30))
    return out


def _count_runs(mask: np.ndarray, min_gap: int) -> int:
    """Number of runs of True, merging runs separated by fewer than ``min_gap`` epochs."""
    idx = np.flatnonzero(mask)
    if len(idx) == 0:
        return 0
    return 1 + int(np.sum(np.diff(idx) > min_gap))


def read_hypnogram_txt(path) -> np.ndarray:
    """Read a one-stage-per-line hypnogram (YASA style; ints 0-4 or labels), ``#`` comments skipped."""
    code = {"0": "W", "1": "N1", "2": "N2", "3": "N3", "4": "REM", "5": "REM", "R": "REM"}
    out = []
    for line in open(path, encoding="utf-8"):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        out.append(code.get(line, line))
    return np.array(out, dtype="<U3")
