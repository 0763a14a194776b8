"""Reading EDF/EDF+/BDF files, strict and lenient, and refusing bad input clearly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sleeplm.encoder.io.edf import read_recording
from sleeplm.encoder.io.records import PSGError

FS = 128.0


def _sine(seconds: float, fs: float = FS, hz: float = 10.0, amp: float = 50.0) -> np.ndarray:
    t = np.arange(int(seconds * fs)) / fs
    return amp * np.sin(2 * np.pi * hz * t)


@pytest.fixture
def basic_edf(make_edf) -> Path:
    return make_edf(
        "basic.edf",
        {"C3-M2": (_sine(60), FS, "uV"), "ECG": (_sine(60, 256, 1.2, 1.0), 256.0, "mV")},
        annotations=[(0.0, 30.0, "Sleep stage W"), (30.0, 30.0, "Sleep stage N2"), (35.0, 12.0, "Obstructive Apnea")],
    )


def test_reads_signals_rates_units_and_duration(basic_edf: Path) -> None:
    rec = read_recording(basic_edf)
    assert rec.labels == ["C3-M2", "ECG"]
    assert rec.duration_s == pytest.approx(60.0)
    c3 = rec.signal("C3-M2")
    assert c3.fs_hz == FS and c3.unit == "uV" and c3.data.size == 60 * FS
    np.testing.assert_allclose(c3.data, _sine(60), atol=0.05)
    assert rec.repairs == []


def test_reads_edf_plus_annotations(basic_edf: Path) -> None:
    texts = [t for _, _, t in read_recording(basic_edf).annotations_tal]
    assert texts == ["Sleep stage W", "Sleep stage N2", "Obstructive Apnea"]


def test_loads_only_requested_labels(basic_edf: Path) -> None:
    rec = read_recording(basic_edf, labels={"ECG"})
    assert rec.signal("C3-M2").data.size == 0
    assert rec.signal("ECG").data.size == 60 * 256


def test_falls_back_to_lenient_reader_on_non_ascii_label(basic_edf: Path) -> None:
    raw = bytearray(basic_edf.read_bytes())
    ns = int(raw[252:256])
    raw[256 : 256 + 16] = "C3-M2 Épaule".encode().ljust(16)  # UTF-8 in an ASCII field
    basic_edf.write_bytes(bytes(raw))
    rec = read_recording(basic_edf)
    assert ns == 3  # two signals + the EDF Annotations signal
    assert rec.labels[0] == "C3-M2 Épaule"
    assert any("not ASCII" in r for r in rec.repairs)
    np.testing.assert_allclose(rec.signals[0].data, _sine(60), atol=0.05)
    assert [t for _, _, t in rec.annotations_tal][-1] == "Obstructive Apnea"


def test_truncated_last_record_is_dropped_and_reported(basic_edf: Path) -> None:
    raw = basic_edf.read_bytes()
    basic_edf.write_bytes(raw[:-100])
    rec = read_recording(basic_edf)
    assert rec.duration_s == pytest.approx(59.0)
    assert any("complete" in r for r in rec.repairs)


def test_physical_min_equal_max_is_repaired(basic_edf: Path) -> None:
    raw = bytearray(basic_edf.read_bytes())
    ns = int(raw[252:256])
    pmin = 256 + ns * (16 + 80 + 8)
    pmax = pmin + ns * 8
    raw[pmax : pmax + 8] = raw[pmin : pmin + 8]  # signal 0: physical max := physical min
    basic_edf.write_bytes(bytes(raw))
    rec = read_recording(basic_edf)
    assert any("physical min == max" in r for r in rec.repairs)
    assert np.isfinite(rec.signals[0].data).all()


def test_not_an_edf_is_refused_with_file_name(tmp_path: Path) -> None:
    bad = tmp_path / "notes.edf"
    bad.write_text("this is not a recording\n" * 20)
    with pytest.raises(PSGError, match=r"notes\.edf: not an EDF/BDF file"):
        read_recording(bad)


def test_empty_file_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "empty.edf"
    bad.write_bytes(b"")
    with pytest.raises(PSGError, match="empty file"):
        read_recording(bad)


def test_truncated_header_is_refused(basic_edf: Path) -> None:
    basic_edf.write_bytes(basic_edf.read_bytes()[:400])
    with pytest.raises(PSGError, match="truncated"):
        read_recording(basic_edf)


def test_zero_duration_is_refused(basic_edf: Path) -> None:
    raw = basic_edf.read_bytes()
    ns = int(raw[252:256])
    basic_edf.write_bytes(raw[: 256 * (ns + 1)])  # header, no data records
    with pytest.raises(PSGError, match="zero duration"):
        read_recording(basic_edf)


def test_non_finite_samples_are_refused(basic_edf: Path) -> None:
    raw = bytearray(basic_edf.read_bytes())
    ns = int(raw[252:256])
    pmax = 256 + ns * (16 + 80 + 8) + ns * 8
    raw[pmax : pmax + 8] = b"inf     "
    basic_edf.write_bytes(bytes(raw))
    with pytest.raises(PSGError, match=r"basic\.edf: signal 'C3-M2' has \d+ non-finite samples"):
        read_recording(basic_edf)


def test_flat_channel_is_flagged(make_edf) -> None:
    path = make_edf("flat.edf", {"C3-M2": (_sine(30), FS, "uV"), "EMG": (np.zeros(30 * 256), 256.0, "uV")})
    rec = read_recording(path)
    assert any("'EMG' is flat" in w for w in rec.warnings)


def test_discontinuous_edf_is_refused(basic_edf: Path) -> None:
    raw = bytearray(basic_edf.read_bytes())
    raw[192:197] = b"EDF+D"
    basic_edf.write_bytes(bytes(raw))
    with pytest.raises(PSGError, match="discontinuous"):
        read_recording(basic_edf)


def test_bdf_is_read(tmp_path: Path) -> None:
    import pyedflib

    path = tmp_path / "x.bdf"
    w = pyedflib.EdfWriter(str(path), 1, file_type=pyedflib.FILETYPE_BDFPLUS)
    w.setSignalHeaders([{"label": "C4-M1", "dimension": "uV", "sample_frequency": 256, "physical_min": -100,
                         "physical_max": 100, "digital_min": -8388608, "digital_max": 8388607,
                         "transducer": "", "prefilter": ""}])
    w.writeSamples([_sine(30, 256)])
    w.close()
    rec = read_recording(path)
    assert rec.file_type.startswith("BDF")
    np.testing.assert_allclose(rec.signals[0].data, _sine(30, 256), atol=1e-3)


def test_real_nox_file_is_read_leniently(shared_data: Path) -> None:
    rec = read_recording(shared_data / "real/nox-a1-2min/subject1.edf", header_only=True)
    assert rec.duration_s == pytest.approx(120.0)
    assert len(rec.signals) == 89
    assert any("lenient" in r for r in rec.repairs)


def test_text_signal_rate_from_duration(tmp_path: Path) -> None:
    path = tmp_path / "excerpt9.txt"
    path.write_text("[C3-A1]\n" + "\n".join(f"{v:.3f}" for v in _sine(1800, 50)) + "\n")
    rec = read_recording(path)
    assert rec.file_type == "text" and rec.labels == ["C3-A1"]
    assert rec.signals[0].fs_hz == 50.0 and rec.duration_s == 1800.0


def test_real_dreams_excerpt_with_its_hypnogram(shared_data: Path) -> None:
    from sleeplm.encoder.io.psg import load_psg

    psg = load_psg(shared_data / "real/dreams-eeg/excerpt6.txt")
    assert psg.mapped.sources["EEG_C3"].is_substitute
    assert psg.mapped.channels["EEG_C3"].fs_hz == 200.0
    assert any("+140 samples" in r for r in psg.mapped.recording.repairs)
    assert psg.annotations is not None and len(psg.annotations.stages) == 60
    codes = (shared_data / "real/dreams-eeg/Hypnogram_excerpt6.txt").read_text().split()[1:]
    codes = ["1" if c == "0" else c for c in codes]  # R&K S4 and S3 are one stage (N3)
    mixed = sum(len(set(codes[k:k + 6])) > 1 for k in range(0, 360, 6))  # 30-s epochs whose six 5-s stages differ
    assert any("Hypnogram_excerpt6.txt: the stages are scored in 5-s steps" in w
               and f"{mixed} of 60 epochs span more than one stage" in w for w in psg.mapped.recording.warnings)


def _pyedflib_samples(path: Path) -> list[np.ndarray]:
    import pyedflib

    reader = pyedflib.EdfReader(str(path))
    try:
        return [reader.readSignal(i).astype(np.float32) for i in range(reader.signals_in_file)]
    finally:
        reader.close()


def test_samples_equal_pyedflibs_own_sample_for_sample_in_edf_plus(basic_edf: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import pyedflib

    expected = _pyedflib_samples(basic_edf)

    def slow_path(*args, **kwargs):
        raise AssertionError("a well-formed file is read from its data records, not with readSignal")

    monkeypatch.setattr(pyedflib.EdfReader, "readSignal", slow_path)
    rec = read_recording(basic_edf)
    assert len(rec.signals) == len(expected)
    for sig, ref in zip(rec.signals, expected):
        assert np.array_equal(sig.data, ref)


def test_samples_equal_pyedflibs_own_sample_for_sample_in_bdf(tmp_path: Path) -> None:
    import pyedflib

    path = tmp_path / "odd-calibration.bdf"
    w = pyedflib.EdfWriter(str(path), 2, file_type=pyedflib.FILETYPE_BDFPLUS)
    w.setSignalHeaders([
        {"label": "C4-M1", "dimension": "uV", "sample_frequency": 256, "physical_min": -187.5,
         "physical_max": 312.25, "digital_min": -8388608, "digital_max": 8388607, "transducer": "", "prefilter": ""},
        {"label": "SpO2", "dimension": "%", "sample_frequency": 1, "physical_min": 0, "physical_max": 100,
         "digital_min": -1000, "digital_max": 3000, "transducer": "", "prefilter": ""},
    ])
    rng = np.random.default_rng(3)
    w.writeSamples([rng.uniform(-180, 300, 30 * 256), rng.uniform(80, 100, 30)])
    w.close()
    expected = _pyedflib_samples(path)
    rec = read_recording(path)
    for sig, ref in zip(rec.signals, expected):
        assert np.array_equal(sig.data, ref)
