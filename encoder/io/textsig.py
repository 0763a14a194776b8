"""Plain-text single-channel recordings (the DREAMS databases' format).

A first line with the channel label in brackets (``[C3-A1]``), then one sample (µV) per
line. The file does not state its sampling rate: DREAMS excerpts last 30 minutes, so the
rate is the sample count over the duration, rounded to a whole number of Hz when within
0.5 % (excerpt 6 holds 140 samples more than 30 min at 200 Hz: they are dropped, and the
repair is reported).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from sleeplm.encoder.io.records import PSGError, Recording, Signal

DREAMS_DURATION_S = 1800.0
_LABEL = re.compile(r"^\s*\[(.+)\]\s*$")


def is_text_signal(path: Path) -> bool:
    """True when the file starts with a bracketed channel label followed by one sample a line.

    ``[Hypnogram]`` files and the DREAMS spindle scorings (``[vis1_Spindles/C3-A1]`` then
    onset/duration pairs) are not signals.
    """
    with open(path, "rb") as f:
        first = f.readline(200).decode("latin-1", errors="replace")
    m = _LABEL.match(first)
    if not m or m.group(1).strip().lower() == "hypnogram":
        return False
    with open(path, "rb") as f:  # a signal file has one number a line; scoring files have two columns
        f.readline()
        second = f.readline(200).decode("latin-1", errors="replace").split()
    return len(second) == 1


def read_text_signal(path: str | Path, duration_s: float = DREAMS_DURATION_S) -> Recording:
    """Read a DREAMS-style text recording as a one-signal :class:`Recording`."""
    path = Path(path)
    with open(path, errors="replace") as f:
        first = f.readline()
        m = _LABEL.match(first)
        if not m:
            raise PSGError(path, "not a text signal file (first line should be a [LABEL])")
        try:
            data = np.loadtxt(f, dtype=np.float32, ndmin=1)
        except ValueError as exc:
            raise PSGError(path, f"non-numeric sample line ({exc})") from exc
    if data.size == 0:
        raise PSGError(path, "zero duration: no samples")
    if not np.isfinite(data).all():
        raise PSGError(path, f"{int((~np.isfinite(data)).sum())} non-finite samples")
    raw_fs = data.size / duration_s
    fs = float(round(raw_fs))
    repairs = []
    if fs <= 0 or abs(raw_fs - fs) / fs > 0.005:
        raise PSGError(path, f"{data.size} samples over {duration_s:.0f} s is not a whole sampling rate ({raw_fs:.3f} Hz)")
    n = int(fs * duration_s)
    if data.size != n:
        repairs.append(f"{data.size - n:+d} samples beyond {duration_s:.0f} s at {fs:g} Hz; trimmed/padded to {n}")
        data = data[:n] if data.size > n else np.concatenate([data, np.zeros(n - data.size, np.float32)])
    sig = Signal(m.group(1).strip(), data, fs, "uV")
    return Recording(path, None, duration_s, [sig], file_type="text", repairs=repairs)
