"""Map real-world PSG channel labels to the ten SleepLM inputs (plus SpO2).

How a channel is found, in order (first hit wins):

1. **Direct** — a label in the channel's alias list (matching ignores case, spaces,
   ``:``/``/``/``_`` versus ``-``, a leading ``EEG``/``EOG``/``EMG`` word, and treats
   mastoid ``M1``/``M2`` and auricular ``A1``/``A2`` references alike).
2. **Bipolar** — the two referential electrodes of the derivation (e.g. ``C3`` and
   ``M2`` → ``C3 − M2``), when both exist at the same rate.
3. **Substitute** — a neighbouring derivation (``C3-A1`` or ``Fpz-Cz`` for C3-A2,
   ``Pz-Oz`` for C4-A1, a horizontal EOG for the left EOG, ...). Substitutions are
   recorded in ``ChannelSource.note`` and reported by ``sleeplm inspect``.

Labels that look like impedance, rate or quality traces (``Imp``, ``Impedance``,
``Rate``, ``Cal``) are never used as signals.

Alias table (normalised spellings; the source of truth is :data:`ALIASES`):

=========  =============================================================================
ECG        ECG, EKG, ECG II, ECG1, ECG2, ECG I, ECG L, ECG LA-RA, EKG1-EKG2
ABD        ABD, ABDO, ABDOMEN, ABDO RES, ABDOMINAL, ABD EFFORT, RIP ABD, EFFORT ABD
THX        THX, THOR, THORAX, THOR RES, THORACIC, CHEST, RIP THOR, EFFORT THO
AF         AIRFLOW, FLOW, NASALP, NASAL PRESSURE, NASAL, PFLOW, CANNULA, THERM, THERMISTOR
EOG_L      E1-M2, LOC, LOC-M2, EOG(L), EOG-L, EOGL, EOG LEFT, L-EOG, E1
EOG_R      E2-M1, E2-M2, ROC, ROC-M1, EOG(R), EOG-R, EOGR, EOG RIGHT, R-EOG, E2
EEG_C3     C3-M2, EEG(SEC), EEG2, EEG 2;   bipolar C3 − M2;  substitutes C3-M1, C3, CZ-M1, FPZ-CZ, F3-M2
EEG_C4     C4-M1, EEG, EEG1, EEG 1;        bipolar C4 − M1;  substitutes C4-M2, C4, CZ-M2, PZ-OZ, F4-M1
EMG_CHIN   CHIN1-CHIN2, CHIN, CHIN EMG, EMG, EMG CHIN, SUBMENTAL, 1-2 (Nox); bipolar CHIN1 − CHIN2
POS        POSITION, POS, BODY POSITION, BODY, POSANGLE, POS ANGLE
SPO2       SPO2, SAO2, SATURATION, OSAT, OXYGEN SATURATION, SPO2 B-B
=========  =============================================================================

(``A1``/``A2`` spellings of every derivation match too.)
"""

from __future__ import annotations

import re
from dataclasses import replace

import numpy as np

from sleeplm.encoder.io.position import detect_position_coding, to_sleeplm_codes
from sleeplm.encoder.io.records import AUX_CHANNELS, SLEEPLM_CHANNELS, ChannelSource, MappedRecording, PSGError, Recording, Signal

#: Direct aliases per channel, in order of preference (normalised spellings).
ALIASES: dict[str, tuple[str, ...]] = {
    "ECG": ("ECG", "EKG", "ECG II", "ECGII", "ECG1", "ECG2", "ECG I", "ECG L", "ECG LA-RA", "EKG1-EKG2", "ECG1-ECG2"),
    "ABD": ("ABD", "ABDO", "ABDOMEN", "ABDO RES", "ABDOMINAL", "ABD EFFORT", "RIP ABD", "EFFORT ABD", "ABDOMEN CAL",
            "INDUCTANCE ABDOM"),
    "THX": ("THX", "THOR", "THORAX", "THOR RES", "THORACIC", "CHEST", "RIP THOR", "EFFORT THO", "EFFORT THOR",
            "INDUCTANCE THORA"),
    "AF": ("AIRFLOW", "AIR FLOW", "FLOW", "NASALP", "NASAL PRESSURE", "NASAL PRES", "NASAL", "PFLOW", "CANNULA",
           "CANNULA FLOW", "THERM", "THERMISTOR", "ORONASAL THERM", "NEW AIR"),
    "EOG_L": ("E1-M2", "LOC-M2", "LOC", "EOG(L)", "EOG-L", "EOGL", "EOG LEFT", "L-EOG", "LEFT EOG", "EOG1"),
    "EOG_R": ("E2-M1", "E2-M2", "ROC-M1", "ROC", "EOG(R)", "EOG-R", "EOGR", "EOG RIGHT", "R-EOG", "RIGHT EOG", "EOG2"),
    "EEG_C3": ("C3-M2", "EEG(SEC)", "EEG2", "EEG 2"),
    "EEG_C4": ("C4-M1", "EEG", "EEG1", "EEG 1"),
    "EMG_CHIN": ("CHIN1-CHIN2", "CHIN", "CHIN EMG", "EMG CHIN", "CHIN-EMG", "EMG", "SUBMENTAL", "EMG SUBMENTAL",
                 "CHIN1-CHIN3", "CHIN2-CHIN3", "1-2"),
    "POS": ("POSITION", "POS", "BODY POSITION", "BODY", "POSANGLE", "POS ANGLE", "POSITION SENSOR"),
    "SPO2": ("SPO2", "SAO2", "SATURATION", "OSAT", "OXYGEN SATURATION", "SPO2 B-B"),
}

#: Referential electrode pairs a bipolar derivation is built from: (active, reference).
BIPOLAR: dict[str, tuple[tuple[str, str], ...]] = {
    "EEG_C3": (("C3", "M2"),),
    "EEG_C4": (("C4", "M1"),),
    "EOG_L": (("E1", "M2"), ("LOC", "M2")),
    "EOG_R": (("E2", "M1"), ("E2", "M2"), ("ROC", "M1")),
    "EMG_CHIN": (("CHIN1", "CHIN2"), ("CHIN1", "CHIN3"), ("CHIN2", "CHIN3")),
}

#: Substitutes, in order of preference, with the reason printed by ``inspect``.
SUBSTITUTES: dict[str, tuple[str, ...]] = {
    "EEG_C3": ("C3-M1", "CZ-M1", "CZ-M2", "FPZ-CZ", "F3-M2", "C3"),
    "EEG_C4": ("C4-M2", "CZ-M2", "PZ-OZ", "F4-M1", "C4", "O2-M1"),
    "EOG_L": ("EOG HORIZONTAL", "HEOG", "E1"),
    "EOG_R": ("E2",),
}

#: Labels that are never signals (impedance, derived rates, calibrations).
_EXCLUDE = re.compile(r"IMP|IMPEDANCE|\bRATE\b|\bHR\b|PULSE|PHASE|LIMITATION|VOLTAGE|AUDIO|LIGHT|SNOR", re.I)

#: Physical units per channel family the mapper converts to.
_UNIT_SCALE = {"V": 1e6, "MV": 1e3, "UV": 1.0, "µV".upper(): 1.0, "MICROV": 1.0}
_ELECTRO = {"EOG_L", "EOG_R", "EEG_C3", "EEG_C4", "EMG_CHIN"}


def normalise_label(label: str) -> str:
    """Canonical spelling for matching: upper case, ``-`` separators, M1/M2 for A1/A2."""
    s = label.strip().upper()
    s = re.sub(r"\s+", " ", s)
    s = re.sub(r"\s*[:/_]\s*|\s+-\s*|\s*-\s+", "-", s)
    # a leading modality word before an electrode derivation: "EEG C3-A2" -> "C3-A2"
    s = re.sub(r"^(EEG|EOG|EMG)\s+(?=[A-Z0-9]+\d*-)", "", s)
    s = re.sub(r"\bA([12])\b", r"M\1", s)
    return s


def _eligible(label: str) -> bool:
    return not _EXCLUDE.search(label)


def plan_channels(rec: Recording) -> tuple[dict[str, ChannelSource], dict[str, str]]:
    """Decide where each SleepLM/aux channel comes from, from labels and rates only.

    Returns
    -------
    sources : dict
        channel -> :class:`ChannelSource`.
    unmapped : dict
        source label -> why it was not used.
    """
    by_norm: dict[str, str] = {}
    for s in rec.signals:
        if _eligible(s.label):
            by_norm.setdefault(normalise_label(s.label), s.label)
    fs = {s.label: s.fs_hz for s in rec.signals}
    used: set[str] = set()
    sources: dict[str, ChannelSource] = {}

    for ch in (*SLEEPLM_CHANNELS, *AUX_CHANNELS):
        src = None
        for alias in ALIASES.get(ch, ()):
            lab = by_norm.get(alias)
            if lab and lab not in used:
                src = ChannelSource(ch, (lab,), "direct")
                break
        if src is None:
            for active, ref in BIPOLAR.get(ch, ()):
                a, r = by_norm.get(active), by_norm.get(ref)
                if a and r and fs[a] == fs[r]:
                    src = ChannelSource(ch, (a, r), "bipolar", f"derived {a} - {r}")
                    break
        if src is None:
            for alias in SUBSTITUTES.get(ch, ()):
                lab = by_norm.get(alias)
                if lab and lab not in used:
                    src = ChannelSource(ch, (lab,), "substitute", f"{lab} used for {ch}")
                    break
        if src is not None:
            sources[ch] = src
            if src.derivation != "bipolar":
                used.update(src.labels)

    taken = {lab for s in sources.values() for lab in s.labels}
    unmapped: dict[str, str] = {}
    for s in rec.signals:
        if s.label in taken:
            continue
        if not _eligible(s.label):
            unmapped[s.label] = "not a signal SleepLM uses (impedance / derived trace)"
        else:
            unmapped[s.label] = "no SleepLM channel for this label"
    return sources, unmapped


def _to_unit(ch: str, sig: Signal) -> tuple[np.ndarray, str]:
    """Electrophysiology in µV (ECG in mV), others as stored."""
    unit = sig.unit.strip().upper().replace("Μ", "U").replace("µ", "U")
    if ch in _ELECTRO and unit in _UNIT_SCALE:
        return sig.data * np.float32(_UNIT_SCALE[unit]), "uV"
    if ch == "ECG" and unit in _UNIT_SCALE:
        return sig.data * np.float32(_UNIT_SCALE[unit] / 1e3), "mV"
    return sig.data, sig.unit


def apply_plan(
    rec: Recording, sources: dict[str, ChannelSource], position_coding: str = "auto"
) -> tuple[dict[str, Signal], str | None]:
    """Build the mapped signals (derivations, unit scaling, position codes)."""
    out: dict[str, Signal] = {}
    coding = None
    for ch, src in sources.items():
        sigs = [rec.signal(lab) for lab in src.labels]
        if any(s.data.size == 0 for s in sigs):
            raise PSGError(rec.path, f"channel {ch}: samples of {src.labels} were not loaded")
        if src.derivation == "bipolar":
            a, r = sigs
            n = min(a.data.size, r.data.size)
            data, unit = _to_unit(ch, replace(a, data=a.data[:n] - r.data[:n]))
            out[ch] = Signal(f"{a.label}-{r.label}", data.astype(np.float32), a.fs_hz, unit)
            continue
        sig = sigs[0]
        if ch == "POS":
            coding = detect_position_coding(sig) if position_coding == "auto" else position_coding
            codes = to_sleeplm_codes(sig.data, coding, sig)
            out[ch] = Signal(sig.label, codes.astype(np.float32), sig.fs_hz, "code")
            continue
        data, unit = _to_unit(ch, sig)
        out[ch] = Signal(sig.label, np.asarray(data, np.float32), sig.fs_hz, unit, sig.transducer, sig.prefilter)
    return out, coding


def map_channels(rec: Recording, position_coding: str = "auto") -> MappedRecording:
    """Map a fully loaded recording's signals to the SleepLM channels (see module doc)."""
    sources, unmapped = plan_channels(rec)
    channels, coding = apply_plan(rec, sources, position_coding)
    return MappedRecording(rec, channels, sources, unmapped, coding)


def needed_labels(sources: dict[str, ChannelSource]) -> set[str]:
    """The source labels a plan reads (to load only those samples)."""
    return {lab for s in sources.values() for lab in s.labels}
