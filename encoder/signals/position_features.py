"""Body position per epoch from the ``POS`` channel (already SleepLM codes).

Columns:

- ``position_code`` (SleepLM code): the most frequent known code in the epoch
  (0 right, 1 left, 2 supine, 3 prone, 4 upright); -1 when only unknown; NaN without a channel.
- ``position`` (str): its name (``"right"``, ..., ``"unknown"``; ``""`` without a channel).
- ``position_changes`` (str): changes between known positions inside the epoch,
  ``"2>1@12.3"`` = supine to left at 12.3 s into the epoch (comma separated).
"""

from __future__ import annotations

import numpy as np

from sleeplm.encoder.signals._common import epoch_matrix
from sleeplm.encoder.io.records import EPOCH_S, POSITION_CODES, Signal

POSITION_NAMES: dict[int, str] = {v: k for k, v in POSITION_CODES.items()}


def position_features(sig: Signal | None, onset_s: np.ndarray,
                      epoch_s: float = EPOCH_S) -> dict[str, np.ndarray]:
    """Position columns; NaN/empty without a POS channel."""
    n = len(onset_s)
    if sig is None or len(sig.data) == 0 or sig.fs_hz <= 0:
        return {"position_code": np.full(n, np.nan),
                "position": np.array([""] * n, dtype=object),
                "position_changes": np.array([""] * n, dtype=object)}
    mat = epoch_matrix(np.asarray(sig.data, dtype=np.float64), sig.fs_hz, onset_s, epoch_s)
    codes = np.where(np.isnan(mat), -1, np.round(mat)).astype(np.int64)
    codes[(codes < 0) | (codes > 4)] = -1
    counts = np.stack([(codes == c).sum(axis=1) for c in range(5)], axis=1)
    mode = np.where(counts.sum(axis=1) > 0, np.argmax(counts, axis=1), -1)
    names = np.array([POSITION_NAMES[int(c)] for c in mode], dtype=object)
    changes = np.array([""] * n, dtype=object)
    multi = (counts > 0).sum(axis=1) > 1
    for e in np.flatnonzero(multi):
        c = codes[e]
        known = np.flatnonzero(c >= 0)
        kc = c[known]
        sw = np.flatnonzero(np.diff(kc) != 0) + 1
        changes[e] = ",".join(f"{kc[i - 1]}>{kc[i]}@{known[i] / sig.fs_hz:.1f}" for i in sw)
    return {"position_code": mode.astype(np.float64), "position": names,
            "position_changes": changes}
