"""The channel labels of public PSG sources, each as its own documentation lists them (montages.json)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sleeplm.encoder.io.channels import plan_channels, recognised_montage
from sleeplm.encoder.io.montages import MONTAGES_JSON, load_montages, normalise_label
from sleeplm.encoder.io.psg import inspect_psg
from sleeplm.encoder.io.records import Recording, Signal

SOURCES = json.loads(MONTAGES_JSON.read_text())["sources"]


def _rec(labels: dict[str, float]) -> Recording:
    sigs = [Signal(lab, np.zeros(int(fs * 30), np.float32), fs, "uV") for lab, fs in labels.items()]
    return Recording(Path("x.edf"), None, 30.0, sigs)


def _source_rec(name: str) -> Recording:
    return _rec({lab: float(spec.get("fs_hz", 128.0)) for lab, spec in SOURCES[name]["labels"].items()})


def _expected_primary(name: str) -> dict[str, tuple[str, dict]]:
    """channel -> (label, spec) the documentation says fills it: first direct entry, else first substitute."""
    out: dict[str, tuple[str, dict]] = {}
    for substitutes in (False, True):
        for lab, spec in SOURCES[name]["labels"].items():
            ch = spec.get("use")
            if ch and ch not in out and bool(spec.get("substitute")) == substitutes:
                out[ch] = (lab, spec)
    return out


def test_at_least_eight_sources_each_say_where_they_are_documented() -> None:
    assert len(SOURCES) >= 8
    for name, src in SOURCES.items():
        assert src["documented_in"].strip(), name
        assert src["labels"], name


def test_no_label_fills_two_channels_within_a_source() -> None:
    for name, src in SOURCES.items():
        seen: dict[str, str] = {}
        for lab, spec in src["labels"].items():
            ch = spec.get("use") or spec.get("alternate")
            key = normalise_label(lab)
            if ch:
                assert seen.setdefault(key, ch) == ch, (name, lab)


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_each_documented_label_is_used_as_its_source_documents(name: str) -> None:
    sources, _ = plan_channels(_source_rec(name))
    for ch, (lab, spec) in _expected_primary(name).items():
        assert ch in sources, f"{name}: {lab} should fill {ch}"
        got = sources[ch]
        assert got.labels[0] == lab, f"{name}: {ch} from {got.labels}, documented {lab}"
        if spec.get("minus"):
            assert got.labels == (lab, spec["minus"]) and got.derivation == "bipolar"
        assert got.is_substitute == bool(spec.get("substitute")), (name, ch, got)
        if spec.get("lead"):
            assert got.lead == spec["lead"]


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_every_label_left_out_says_why(name: str) -> None:
    sources, unmapped = plan_channels(_source_rec(name))
    used = {lab for s in sources.values() for lab in s.labels}
    for lab in SOURCES[name]["labels"]:
        if lab not in used:
            assert unmapped.get(lab), f"{name}: {lab} left out without a reason"
            assert unmapped[lab] != "no SleepLM channel for this label", f"{name}: {lab}"


@pytest.mark.parametrize("name", sorted(n for n, s in SOURCES.items() if s.get("recognise")))
def test_cohort_montages_are_recognised_from_their_label_sets(name: str) -> None:
    assert recognised_montage(_source_rec(name))[0] == name


def test_mesa_eeg3_is_c4_m1_and_eeg1_is_not_a_central_lead() -> None:
    # MESA montage page: EEG1 = Fz/Cz, EEG2 = Cz/Oz, EEG3 = C4/M1.
    sources, unmapped = plan_channels(_source_rec("mesa"))
    assert sources["EEG_C4"].labels == ("EEG3",) and not sources["EEG_C4"].is_substitute
    assert sources["EEG_C3"].labels == ("EEG1",) and sources["EEG_C3"].is_substitute
    assert sources["EEG_C3"].lead == "Fz-Cz"
    assert "EEG2" in unmapped


def test_cfs_central_leads_are_stored_referenced_but_mros_ones_are_not() -> None:
    # CFS: C3 is recorded as C3/A2; MrOS: C3 against Fpz, so C3 - A2 must be derived.
    cfs, _ = plan_channels(_source_rec("cfs"))
    mros, _ = plan_channels(_source_rec("mros"))
    assert cfs["EEG_C3"].labels == ("C3",) and cfs["EEG_C3"].derivation == "direct"
    assert mros["EEG_C3"].labels == ("C3", "A2") and mros["EEG_C3"].derivation == "bipolar"


def test_shhs_eeg_labels_name_their_derivations() -> None:
    sources, _ = plan_channels(_source_rec("shhs"))
    assert (sources["EEG_C3"].labels, sources["EEG_C3"].lead) == (("EEG(sec)",), "C3-A2")
    assert (sources["EEG_C4"].labels, sources["EEG_C4"].lead) == (("EEG",), "C4-A1")


def test_a_one_hz_emg_envelope_is_not_used_as_chin_emg() -> None:
    sources, unmapped = plan_channels(_source_rec("sleep_edf"))
    assert "EMG_CHIN" not in sources
    assert "1 Hz" in unmapped["EMG submental"]


def test_a_c3_a1_lead_is_a_named_substitute() -> None:
    sources, _ = plan_channels(_rec({"C3-A1": 100.0}))
    assert sources["EEG_C3"].is_substitute and sources["EEG_C3"].lead == "C3-A1"


def _hea_labels(path: Path) -> list[str]:
    lines = [ln for ln in path.read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    return [" ".join(ln.split()[8:]) for ln in lines[1:]]


def test_real_slpdb_headers_map_their_documented_signals(shared_data: Path) -> None:
    headers = sorted((shared_data / "real/slpdb-labels").glob("*.hea"))
    assert len(headers) >= 18
    expect = {"ECG": "ECG", "EEG (C4-A1)": "EEG_C4", "Resp (nasal)": "AF", "Resp (chest)": "THX",
              "Resp (abdominal)": "ABD", "EOG (right)": "EOG_R", "EMG": "EMG_CHIN", "SO2": "SPO2"}
    for hea in headers:
        labels = _hea_labels(hea)
        sources, unmapped = plan_channels(_rec(dict.fromkeys(labels, 250.0)))
        for lab in labels:
            if lab in expect:
                assert sources[expect[lab]].labels == (lab,), (hea.name, lab)
        if "BP" in labels:
            assert "blood pressure" in unmapped["BP"]
        if "EEG (C3-O1)" in labels:
            assert sources["EEG_C3"].is_substitute


def test_inspect_reports_every_label_recognised_substituted_or_left_out_with_a_reason(shared_data: Path) -> None:
    report = inspect_psg(shared_data / "real/nox-a1-2min/subject1.edf")
    statuses = {c["label"]: c for c in report["channels"]}
    assert statuses["C4-M1"]["status"] == "recognised" and statuses["C4-M1"]["maps_to"] == "EEG_C4"
    assert statuses["Inductance Abdom"]["status"] == "left out"
    assert "ABD" in statuses["Inductance Abdom"]["reason"]
    for c in report["channels"]:
        assert c["status"] in ("recognised", "substituted", "reference", "left out")
        if c["status"] == "left out":
            assert c["reason"], c["label"]


def test_every_source_loads_as_a_montage() -> None:
    montages = load_montages()
    assert set(montages) == set(SOURCES)
    assert all(m.entries for m in montages.values())
