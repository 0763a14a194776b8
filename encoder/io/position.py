"""Body-position channels: vendor codings → SleepLM codes.

SleepLM codes: 0 right, 1 left, 2 supine, 3 prone, 4 upright, −1 unknown.

Supported codings (``position_coding=`` in :func:`sleeplm.encoder.io.channels.map_channels`):

==========  ================================================================  ===========================
name        values                                                            detected when
==========  ================================================================  ===========================
sleeplm     0 right, 1 left, 2 supine, 3 prone, 4 upright                      fallback (with a warning)
shhs        0 right, 1 left, 2 supine, 3 prone (SHHS/NSRR ``POSITION``)        label is ``POSITION``
mesa        0 right, 1 supine, 2 left, 3 prone, 4 upright                      never (name it explicitly)
header      ``N=Name`` pairs written in the transducer or prefilter field,      such pairs are present
            e.g. ``0=Right 1=Supine 2=Left 3=Prone 4=Upright``
angle       degrees of rotation around the body's long axis: 0 supine,         unit is ``deg``/``°``
            +90 left, −90 right, ±180 prone (Nox ``PosAngle``); ±45° bins        or label contains ANGLE
==========  ================================================================  ===========================

Values that a coding does not define map to −1 (unknown).
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


def detect_position_coding(sig: Signal) -> str:
    """Guess the coding of a position signal (see the module table)."""
    unit = sig.unit.strip().lower()
    if unit in ("deg", "degree", "degrees", "°") or "ANGLE" in sig.label.upper():
        return "angle"
    if header_coding(sig) is not None:
        return "header"
    if sig.label.strip() == "POSITION":
        return "shhs"
    return "sleeplm"


def to_sleeplm_codes(values: np.ndarray, coding: str, sig: Signal | None = None) -> np.ndarray:
    """Convert position samples in ``coding`` to SleepLM integer codes (int8)."""
    values = np.asarray(values, dtype=np.float64)
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
        raise ValueError(f"unknown position coding {coding!r}; known: {sorted([*CODINGS, 'angle', 'header'])}")
    rounded = np.rint(np.nan_to_num(values, nan=-999)).astype(np.int64)
    out = np.full(values.shape, POSITION_CODES["unknown"], np.int8)
    for raw, name in table.items():
        out[rounded == raw] = POSITION_CODES[name]
    return out
