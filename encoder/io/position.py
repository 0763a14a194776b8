"""Body-position channels: vendor codings → SleepLM codes, and only when the values are codes.

SleepLM codes: 0 right, 1 left, 2 supine, 3 prone, 4 upright, −1 unknown.

Supported codings (``position_coding=`` in :func:`sleeplm.encoder.io.channels.map_channels`):

==========  ================================================================  ===============================
name        values                                                            detected when
==========  ================================================================  ===============================
sleeplm     0 right, 1 left, 2 supine, 3 prone, 4 upright                      never (name it explicitly)
shhs        0 right, 1 left, 2 supine, 3 prone (SHHS/NSRR ``POSITION``)        label ``POSITION``, codes 0–3
mesa        0 right, 1 supine, 2 left, 3 prone, 4 upright                      never (name it explicitly)
header      ``N=Name`` pairs written in the transducer or prefilter field,      such pairs are present and the
            e.g. ``0=Right 1=Supine 2=Left 3=Prone 4=Upright``                   values are among their codes
angle       degrees of rotation around the body's long axis: 0 supine,         unit ``deg``/``°`` or label with
            +90 left, −90 right, ±180 prone (Nox ``PosAngle``); ±45° bins        ANGLE, values within ±360
unknown     everything is −1                                                   anything else (see below)
==========  ================================================================  ===============================

Detection looks at the values, not only the label: a trace that is not integer codes (an analog
sensor voltage around 0.18, say), integer codes whose meaning the file does not document, or codes
outside the documented table give ``unknown`` with a warning that names the channel and what was
seen. Position changes are never invented from a trace that is not position.
"""

from __future__ import annotations

import re

import numpy as np
from sleeplm.encoder.io.records import POSITION_CODES, Signal

CODINGS: dict[str, dict[int, str]] = {
    "sleeplm": {0: "right", 1: "left", 2: "supine", 3: "prone", 4: "upright"},
    "shhs": {0: "right", 1: "left", 2: "supine", 3: "prone"},
    "mesa": {0: "right", 1: "supine", 2: "left", 3: "prone", 4: "upright"},
}
#: Share of samples that must be integer codes (within :data:`CODE_TOLERANCE`) for a coded channel.
MIN_CODE_SHARE = 0.99
CODE_TOLERANCE = 0.02

_PAIR = re.compile(r"(-?\d+)\s*=\s*([A-Za-z]+)")
_NAMES = {
    "right": "right", "r": "right", "left": "left", "l": "left", "supine": "supine", "back": "supine",
    "s": "supine", "prone": "prone", "front": "prone", "stomach": "prone", "p": "prone", "upright": "upright",
    "up": "upright", "sitting": "upright", "u": "upright", "unknown": "unknown",
}


def header_coding(sig: Signal) -> dict[int, str] | None:
    """A coding written as ``N=Name`` pairs in the transducer/prefilter field, if any."""
    pairs = _PAIR.findall(f"{sig.transducer} {sig.prefilter}")
    table = {int(v): _NAMES[n.lower()] for v, n in pairs if n.lower() in _NAMES}
    return table if len(table) >= 2 else None


def _describe(values: np.ndarray) -> str:
    """What a trace looks like, for a warning: range and number of distinct values."""
    v = values[np.isfinite(values)]
    if v.size == 0:
        return "no finite samples"
    distinct = np.unique(np.round(v, 4))
    shown = ", ".join(f"{x:g}" for x in distinct[:6]) + (", ..." if distinct.size > 6 else "")
    return f"values {v.min():.3g} to {v.max():.3g}, {distinct.size} distinct ({shown})"


def _integer_codes(values: np.ndarray) -> np.ndarray | None:
    """The distinct integer codes of a coded trace, or None when the values are not integer codes."""
    v = values[np.isfinite(values)]
    if v.size == 0:
        return None
    near = np.abs(v - np.rint(v)) <= CODE_TOLERANCE
    if near.mean() < MIN_CODE_SHARE:
        return None
    return np.unique(np.rint(v[near]).astype(np.int64))


def detect_position_coding(sig: Signal) -> tuple[str, str | None]:
    """The coding of a position channel, judged from its values (and its label/unit/header text).

    Returns
    -------
    coding : str
        One of the module table's names; ``"unknown"`` when the values are not a coding we can read.
    warning : str or None
        Why the position is unknown (names the channel and what was seen), else None.
        A signal without loaded samples is judged from its header alone (no warning).
    """
    unit = sig.unit.strip().lower()
    values = np.asarray(sig.data, dtype=np.float64)
    has_data = values.size > 0
    where = f"position channel {sig.label!r}"
    if unit in ("deg", "degree", "degrees", "°") or "ANGLE" in sig.label.upper():
        finite = values[np.isfinite(values)]
        if has_data and (finite.size == 0 or np.abs(finite).max() > 360.0):
            return "unknown", f"{where}: expected an angle in degrees, saw {_describe(values)}; position unknown"
        return "angle", None
    table = header_coding(sig)
    if not has_data:
        return ("header" if table else "shhs" if sig.label.strip() == "POSITION" else "unknown"), None
    codes = _integer_codes(values)
    if codes is None:
        return "unknown", (f"{where}: not position codes (an analog trace: {_describe(values)}); "
                           "position unknown for the whole night")
    if table is not None:
        extra = sorted(set(codes.tolist()) - set(table))
        if extra:
            return "unknown", (f"{where}: codes {extra} are not in the header's coding {table}; position unknown")
        return "header", None
    if sig.label.strip() == "POSITION" and set(codes.tolist()) <= set(CODINGS["shhs"]):
        return "shhs", None
    return "unknown", (f"{where}: integer codes {codes.tolist()[:8]} but the file does not say what they mean "
                       "(pass position_coding='shhs', 'mesa' or 'sleeplm' if you know); position unknown")


def to_sleeplm_codes(values: np.ndarray, coding: str, sig: Signal | None = None) -> np.ndarray:
    """Convert position samples in ``coding`` to SleepLM integer codes (int8)."""
    values = np.asarray(values, dtype=np.float64)
    if coding == "unknown":
        return np.full(values.shape, POSITION_CODES["unknown"], np.int8)
    if coding == "angle":
        a = (values + 180.0) % 360.0 - 180.0
        out = np.full(a.shape, POSITION_CODES["prone"], np.int8)
        out[np.abs(a) <= 45] = POSITION_CODES["supine"]
        out[(a > 45) & (a <= 135)] = POSITION_CODES["left"]
        out[(a < -45) & (a >= -135)] = POSITION_CODES["right"]
        out[~np.isfinite(values)] = POSITION_CODES["unknown"]
        return out
    if coding == "header":
        if sig is None or (table := header_coding(sig)) is None:
            raise ValueError("coding 'header' needs a signal whose transducer/prefilter field has N=Name pairs")
    elif coding in CODINGS:
        table = CODINGS[coding]
    else:
        raise ValueError(f"unknown position coding {coding!r}; known: {sorted([*CODINGS, 'angle', 'header', 'unknown'])}")
    rounded = np.rint(np.nan_to_num(values, nan=-999)).astype(np.int64)
    out = np.full(values.shape, POSITION_CODES["unknown"], np.int8)
    for raw, name in table.items():
        out[rounded == raw] = POSITION_CODES[name]
    return out
