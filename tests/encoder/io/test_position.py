"""Body position is decoded only when the channel's values are a coding we can read."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sleeplm.encoder.io.channels import map_channels
from sleeplm.encoder.io.position import detect_position_coding
from sleeplm.encoder.io.records import Recording, Signal


def _analog_trace(n: int = 3600) -> np.ndarray:
    """An analog sensor voltage like the real file's POS channel: values around 0.18 that drift."""
    rng = np.random.default_rng(3)
    return (0.18 + 0.02 * np.sin(np.arange(n) / 300.0) + 0.004 * rng.standard_normal(n)).astype(np.float32)


def test_an_analog_position_trace_becomes_unknown_with_a_warning_naming_the_channel() -> None:
    sig = Signal("POS", _analog_trace(), 1.0, "V")
    rec = Recording(Path("x.edf"), None, 3600.0, [sig])
    mapped = map_channels(rec)
    assert mapped.position_coding == "unknown"
    assert set(mapped.channels["POS"].data.tolist()) == {-1.0}
    assert any("'POS'" in w and "analog" in w and "0.1" in w for w in rec.warnings), rec.warnings


def test_an_analog_trace_yields_no_position_changes() -> None:
    rec = Recording(Path("x.edf"), None, 3600.0, [Signal("Position", _analog_trace(), 1.0, "")])
    codes = map_channels(rec).channels["POS"].data
    assert np.all(np.diff(codes) == 0)


def test_shhs_position_codes_are_decoded() -> None:
    sig = Signal("POSITION", np.repeat(np.array([2, 0, 1, 3], np.float32), 100), 1.0, "")
    assert detect_position_coding(sig) == ("shhs", None)


def test_integer_codes_without_a_documented_coding_are_unknown() -> None:
    sig = Signal("Pos", np.repeat(np.array([0, 1, 2, 4], np.float32), 50), 1.0, "")
    coding, warning = detect_position_coding(sig)
    assert coding == "unknown" and "'Pos'" in warning and "does not say" in warning


def test_codes_outside_the_header_coding_are_unknown() -> None:
    sig = Signal("Position", np.array([0, 1, 7, 7], np.float32), 1.0, "", "0=Right 1=Supine 2=Left 3=Prone")
    coding, warning = detect_position_coding(sig)
    assert coding == "unknown" and "[7]" in warning


def test_an_angle_channel_is_an_angle() -> None:
    sig = Signal("PosAngle", np.array([0.0, 85.0, -95.0, 179.0], np.float32), 1.0, "°")
    assert detect_position_coding(sig) == ("angle", None)


def test_an_angle_channel_with_impossible_values_is_unknown() -> None:
    sig = Signal("PosAngle", np.array([0.0, 1500.0], np.float32), 1.0, "deg")
    assert detect_position_coding(sig)[0] == "unknown"
