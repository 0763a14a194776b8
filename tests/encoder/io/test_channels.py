"""Mapping real-world channel labels to the ten SleepLM inputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sleeplm.encoder.io.channels import map_channels, normalise_label, plan_channels
from sleeplm.encoder.io.position import to_sleeplm_codes
from sleeplm.encoder.io.psg import inspect_psg, load_psg
from sleeplm.encoder.io.records import SLEEPLM_CHANNELS, Recording, Signal


def _rec(labels: dict[str, float], units: dict[str, str] | None = None, seconds: float = 60) -> Recording:
    units = units or {}
    rng = np.random.default_rng(0)
    sigs = [Signal(lab, rng.standard_normal(int(fs * seconds)).astype(np.float32), fs, units.get(lab, "uV"))
            for lab, fs in labels.items()]
    return Recording(Path("x.edf"), None, seconds, sigs)


@pytest.mark.parametrize(
    ("label", "expected"),
    [("EEG C3-A2", "C3-M2"), ("C3:A2", "C3-M2"), ("C3/A2", "C3-M2"), ("EEG C4 - A1", "C4-M1"),
     ("EEG(sec)", "EEG(SEC)"), ("Chin1-Chin2", "CHIN1-CHIN2"), ("EEG Fpz-Cz", "FPZ-CZ"), ("ECG II", "ECG II")],
)
def test_normalise_label_spellings(label: str, expected: str) -> None:
    assert normalise_label(label) == expected


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        (["EEG C3-A2", "C4-M1", "LOC", "ROC", "EMG", "EKG", "Thor", "Abdo", "Airflow", "Position"],
         ["EEG_C3", "EEG_C4", "EOG_L", "EOG_R", "EMG_CHIN", "ECG", "THX", "ABD", "AF", "POS"]),
        (["EEG(sec)", "EEG", "EOG(L)", "EOG(R)", "EMG", "ECG", "THOR RES", "ABDO RES", "AIRFLOW", "POSITION"],
         ["EEG_C3", "EEG_C4", "EOG_L", "EOG_R", "EMG_CHIN", "ECG", "THX", "ABD", "AF", "POS"]),
        (["C3-M2", "C4-M1", "E1-M2", "E2-M2", "Chin1-Chin2", "ECG II", "Thor", "Abdo", "NasalP", "Position"],
         ["EEG_C3", "EEG_C4", "EOG_L", "EOG_R", "EMG_CHIN", "ECG", "THX", "ABD", "AF", "POS"]),
    ],
)
def test_site_conventions_map_all_ten(labels: list[str], expected: list[str]) -> None:
    sources, _ = plan_channels(_rec({lab: 64.0 for lab in labels}))
    for lab, ch in zip(labels, expected):
        assert sources[ch].labels == (lab,), ch
        assert sources[ch].derivation == "direct"


def test_bipolar_pairs_are_derived_from_referential_channels() -> None:
    rec = _rec({"C3": 256.0, "C4": 256.0, "M1": 256.0, "M2": 256.0, "E1": 256.0, "E2": 256.0,
                "Chin1": 256.0, "Chin2": 256.0})
    mapped = map_channels(rec)
    assert mapped.sources["EEG_C3"].labels == ("C3", "M2")
    assert mapped.sources["EEG_C3"].derivation == "bipolar"
    np.testing.assert_allclose(mapped.channels["EEG_C3"].data,
                               rec.signal("C3").data - rec.signal("M2").data, rtol=1e-6)
    assert mapped.sources["EMG_CHIN"].labels == ("Chin1", "Chin2")
    assert mapped.sources["EOG_L"].labels == ("E1", "M2")


def test_substitution_is_recorded() -> None:
    sources, _ = plan_channels(_rec({"EEG Fpz-Cz": 100.0, "EEG Pz-Oz": 100.0, "EOG horizontal": 100.0}))
    assert sources["EEG_C3"].is_substitute and "Fpz-Cz" in sources["EEG_C3"].note
    assert sources["EEG_C4"].is_substitute and "Pz-Oz" in sources["EEG_C4"].note


def test_impedance_and_rate_traces_are_not_used() -> None:
    sources, unmapped = plan_channels(_rec({"ECG Impédance": 1.0, "Heart Rate": 1.0, "ECG": 256.0}))
    assert sources["ECG"].labels == ("ECG",)
    assert "impedance" in unmapped["ECG Impédance"]


def test_volts_are_converted_to_microvolts() -> None:
    rec = _rec({"C3-M2": 64.0, "ECG": 64.0}, units={"C3-M2": "V", "ECG": "V"})
    mapped = map_channels(rec)
    np.testing.assert_allclose(mapped.channels["EEG_C3"].data, rec.signal("C3-M2").data * 1e6, rtol=1e-5)
    assert mapped.channels["EEG_C3"].unit == "uV" and mapped.channels["ECG"].unit == "mV"


@pytest.mark.parametrize(
    ("coding", "values", "expected"),
    [
        ("shhs", [0, 1, 2, 3], [0, 1, 2, 3]),
        ("mesa", [0, 1, 2, 3, 4], [0, 2, 1, 3, 4]),
        ("sleeplm", [0, 4, 7], [0, 4, -1]),
        ("angle", [0.0, 90.0, -90.0, 180.0, -170.0, 30.0], [2, 1, 0, 3, 3, 2]),
    ],
)
def test_position_codings(coding: str, values: list[float], expected: list[int]) -> None:
    assert to_sleeplm_codes(np.array(values), coding).tolist() == expected


def test_position_coding_from_header_text() -> None:
    sig = Signal("Position", np.array([0.0, 1, 2, 3, 4], np.float32), 1.0, "", "0=Right 1=Supine 2=Left 3=Prone 4=Upright")
    rec = Recording(Path("x.edf"), None, 5, [sig])
    mapped = map_channels(rec)
    assert mapped.position_coding == "header"
    assert mapped.channels["POS"].data.tolist() == [0, 2, 1, 3, 4]


def test_real_nox_file_maps_all_ten_channels(shared_data: Path) -> None:
    report = inspect_psg(shared_data / "real/nox-a1-2min/subject1.edf")
    assert report["missing"] == []
    assert set(SLEEPLM_CHANNELS) <= set(report["sleeplm_channels"])
    assert report["sleeplm_channels"]["EEG_C3"]["labels"] == ["C3-M2"]
    assert report["sleeplm_channels"]["EMG_CHIN"]["labels"] == ["1-2"]
    assert report["position_coding"] == "angle"
    psg = load_psg(shared_data / "real/nox-a1-2min/subject1.edf")
    assert psg.mapped.channels["EEG_C3"].data.size == 120 * 200


def test_a_label_naming_two_signals_is_a_warning_that_says_which_was_used() -> None:
    rec = _rec({"EEG C3-A2": 128.0, "ECG": 256.0})
    rec.signals.append(Signal("EEG C3-A2", np.zeros(128 * 60, np.float32), 128.0, "uV"))
    mapped = map_channels(rec)
    (warning,) = [w for w in rec.warnings if "EEG C3-A2" in w]
    assert "names 2 signals" in warning and "the first was used for EEG_C3" in warning
    assert np.array_equal(mapped.channels["EEG_C3"].data, rec.signals[0].data)
    assert not any("ECG" in w for w in rec.warnings)


def test_an_edf_with_two_signals_of_one_label_reads_the_first_and_warns(make_edf) -> None:
    rng = np.random.default_rng(1)
    first = rng.standard_normal(128 * 60) * 20
    path = make_edf("dup.edf", {"EEG C3-A2": (first, 128.0, "uV"), "EEG C3-A9": (np.full(128 * 60, 5.0), 128.0, "uV")})
    raw = path.read_bytes()
    path.write_bytes(raw.replace(b"EEG C3-A9", b"EEG C3-A2", 1))
    psg = load_psg(path)
    assert [w for w in psg.mapped.recording.warnings if "names 2 signals" in w and "EEG_C3" in w]
    assert np.allclose(psg.mapped.channels["EEG_C3"].data, first, atol=0.05)


def test_left_out_labels_say_what_they_are() -> None:
    _, unmapped = plan_channels(_rec({"C3-M2": 128.0, "F3-M2": 128.0, "Pulse": 1.0, "Snore": 128.0,
                                      "C3 Impedance": 1.0}))
    assert unmapped["F3-M2"].startswith("a stand-in for EEG_C3 used only when EEG_C3 is not recorded")
    assert "derived rate" in unmapped["Pulse"] and "sound channel" in unmapped["Snore"]
    assert "impedance" in unmapped["C3 Impedance"]
