"""Map real-world PSG channel labels to the ten SleepLM inputs (plus SpO2).

How a channel is found, in order (first hit wins):

0. **Documented montage** — when the file's label set is that of a cohort whose labels only make
   sense with its documentation (SHHS, MESA, MrOS, CFS, CHAT, CCSHS, WSC: ``C3`` is C3-A2 in CFS
   but C3-Fpz in MrOS), the montage is recognised (:func:`~sleeplm.encoder.io.montages.identify_montage`)
   and its documented entries are used, with the derivation each label actually records.
1. **Direct** — a label in the channel's alias list (matching ignores case, spaces,
   ``:``/``/``/``_`` versus ``-``, a modality word around a derivation, and treats
   mastoid ``M1``/``M2`` and auricular ``A1``/``A2`` references alike; ``EMG Chin1`` also matches
   ``CHIN1``).
2. **Bipolar** — the two referential electrodes of the derivation (e.g. ``C3`` and
   ``M2`` → ``C3 − M2``), when both exist at the same rate. A bare electrode label that is also
   an alias (``LOC``) is only used alone when its reference is absent.
3. **Substitute** — a neighbouring derivation (``C3-A1`` or ``Fpz-Cz`` for C3-A2,
   ``Pz-Oz`` for C4-A1, a horizontal EOG for the left EOG, a second airflow sensor...). Substitutions
   are recorded in ``ChannelSource.note`` and reported by ``sleeplm inspect``.

The alias table is :data:`BASE_ALIASES` (common spellings) plus the labels of the documented
sources in ``montages.json`` (Sleep-EDF, MASS, MIT-BIH slpdb, NSRR harmonized names, Nox, clinical
exports, DREAMS); see :mod:`sleeplm.encoder.io.montages`. Every label left out gets a reason:
impedance / derived traces, documented non-SleepLM sensors (leg EMG, snore, light...), a second
sensor for a channel already filled, the reference electrode of a derived pair, or a rate too low
for the signal (a 1-Hz EMG envelope is not an EMG).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import replace

import numpy as np
from sleeplm.encoder.io.montages import (
    Montage,
    generic_tables,
    identify_montage,
    normalise_label,
)
from sleeplm.encoder.io.position import detect_position_coding, to_sleeplm_codes
from sleeplm.encoder.io.records import (
    AUX_CHANNELS,
    SLEEPLM_CHANNELS,
    ChannelSource,
    MappedRecording,
    PSGError,
    Recording,
    Signal,
)

__all__ = ["ALIASES", "BIPOLAR", "SUBSTITUTES", "apply_plan", "map_channels", "needed_labels", "normalise_label",
           "plan_channels"]

#: Common spellings per channel, in order of preference (normalised).
BASE_ALIASES: dict[str, tuple[str, ...]] = {
    "ECG": ("ECG", "EKG", "ECG II", "ECGII", "ECG1", "ECG2", "ECG I", "ECG LA-RA", "EKG1-EKG2", "ECG1-ECG2", "ECGI"),
    "ABD": ("ABD", "ABDO", "ABDOMEN", "ABDO RES", "ABDOMINAL", "ABD EFFORT", "ABDO EFFORT", "RIP ABD", "EFFORT ABD",
            "ABDOMEN CAL", "RESP (ABDOMINAL)", "RESP (ABDOMEN)"),
    "THX": ("THX", "THOR", "THORAX", "THOR RES", "THORACIC", "CHEST", "RIP THOR", "EFFORT THO", "EFFORT THOR",
            "THOR EFFORT", "RESP (CHEST)", "RIBCAGE"),
    "AF": ("AIRFLOW", "AIR FLOW", "FLOW", "NASALP", "NASAL PRESSURE", "NASAL PRES", "NASAL", "PFLOW", "CANNULA",
           "CANNULA FLOW", "THERM", "THERMISTOR", "ORONASAL THERM", "NEW AIR", "RESP (NASAL)", "NAS-PRES"),
    "EOG_L": ("E1-M2", "LOC-M2", "LOC", "EOG(L)", "EOG-L", "EOGL", "EOG LEFT", "L-EOG", "LEFT EOG", "EOG1", "LEFTEYE"),
    "EOG_R": ("E2-M1", "E2-M2", "ROC-M1", "ROC-M2", "ROC", "EOG(R)", "EOG-R", "EOGR", "EOG RIGHT", "R-EOG",
              "RIGHT EOG", "EOG2", "EOG(RIGHT)", "RIGHTEYE"),
    "EEG_C3": ("C3-M2", "EEG(SEC)"),
    "EEG_C4": ("C4-M1", "EEG"),
    "EMG_CHIN": ("CHIN1-CHIN2", "CHIN", "CHIN EMG", "EMG CHIN", "CHIN-EMG", "EMG", "SUBMENTAL", "EMG SUBMENTAL",
                 "CHIN1-CHIN3", "CHIN2-CHIN3", "CCHIN-L"),
    "POS": ("POSITION", "POS", "BODY POSITION", "BODY", "POSANGLE", "POS ANGLE", "POSITION SENSOR", "BODYPOS"),
    "SPO2": ("SPO2", "SAO2", "SATURATION", "OSAT", "OXYGEN SATURATION", "SO2"),
}

#: Referential electrode pairs a bipolar derivation is built from: (active, reference).
BASE_BIPOLAR: dict[str, tuple[tuple[str, str], ...]] = {
    "EEG_C3": (("C3", "M2"),),
    "EEG_C4": (("C4", "M1"),),
    "EOG_L": (("E1", "M2"), ("LOC", "M2")),
    "EOG_R": (("E2", "M1"), ("E2", "M2"), ("ROC", "M1"), ("ROC", "M2")),
    "EMG_CHIN": (("CHIN1", "CHIN2"), ("CHIN1", "CHIN3"), ("CHIN2", "CHIN3"), ("LCHIN", "CCHIN"), ("RCHIN", "CCHIN"),
                 ("L CHIN", "R CHIN"), ("EMG1", "EMG2")),
    "ECG": (("ECG L", "ECG R"), ("ECG1", "ECG2")),
}

#: Substitutes, in order of preference, with the reason printed by ``inspect``.
BASE_SUBSTITUTES: dict[str, tuple[str, ...]] = {
    "EEG_C3": ("C3-M1", "CZ-M1", "CZ-M2", "FPZ-CZ", "F3-M2", "C3-O1", "C3"),
    "EEG_C4": ("C4-M2", "CZ-M2", "PZ-OZ", "F4-M1", "C4", "O2-M1"),
    "EOG_L": ("EOG HORIZONTAL", "HEOG", "E1"),
    "EOG_R": ("E2",),
    "ECG": ("ECG L", "ECG R"),
}


def _merge(base: dict[str, tuple], extra: dict[str, tuple]) -> dict[str, tuple]:
    out = {k: tuple(v) for k, v in base.items()}
    for k, v in extra.items():
        out[k] = tuple(dict.fromkeys((*out.get(k, ()), *v)))
    return out


_GENERIC = generic_tables()
#: Direct aliases per channel: the common spellings, then the documented sources' labels.
ALIASES: dict[str, tuple[str, ...]] = _merge(BASE_ALIASES, _GENERIC.aliases)
BIPOLAR: dict[str, tuple[tuple[str, str], ...]] = _merge(BASE_BIPOLAR, _GENERIC.bipolar)
SUBSTITUTES: dict[str, tuple[str, ...]] = _merge(BASE_SUBSTITUTES, _GENERIC.substitutes)
#: Active electrodes of bipolar pairs: as direct aliases they are tried only after the pair.
_BARE = {a for pairs in BIPOLAR.values() for a, _ in pairs}

#: Labels that are never signals (impedance, derived rates, calibrations).
_EXCLUDE = re.compile(r"IMP|IMPEDANCE|\bRATE\b|\bHR\b|\bDHR\b|PULSE|PHASE|LIMITATION|VOLTAGE|AUDIO|LIGHT|SNOR|\bCAL\b",
                      re.IGNORECASE)
#: Families of labels SleepLM has no input for, and what they are.
_FAMILIES: tuple[tuple[str, str], ...] = (
    (r"LEG|TIBIAL|\bPLM", "leg EMG (limb movements are read from annotations, not a SleepLM input)"),
    (r"^(FP[12Z]?|F[3478Z]|T[3-6]|P[34Z]|O[12Z])(-|$)", "another EEG site (SleepLM uses the central leads)"),
    (r"PLETH", "plethysmogram"), (r"STAT", "oximeter status flag"), (r"ETCO2|\bCAP\b|CO2", "capnography"),
    (r"\bSUM\b", "sum of the RIP belts"), (r"TEMP", "temperature"), (r"MARKER|EVENT", "event marker"),
    (r"^(X|Y|Z) AXIS|ACTIVITY|ELEVATION", "accelerometer trace"), (r"\bBP\b", "blood pressure"),
)

#: Physical units per channel family the mapper converts to.
_UNIT_SCALE = {"V": 1e6, "MV": 1e3, "UV": 1.0, "µV".upper(): 1.0, "MICROV": 1.0}
_ELECTRO = {"EOG_L", "EOG_R", "EEG_C3", "EEG_C4", "EMG_CHIN"}
#: Electrophysiology sampled below this is an envelope or a trend, not the signal (Hz).
MIN_ELECTRO_FS_HZ = 32.0
_MODALITY_WORD = re.compile(r"^(EEG|EOG|EMG|ECG|RESP)\s+")


def _eligible(label: str) -> bool:
    return not _EXCLUDE.search(label)


def _keys(label: str) -> list[str]:
    """Normalised spellings a label answers to: itself, then without a leading modality word."""
    k = normalise_label(label)
    stripped = _MODALITY_WORD.sub("", k)
    return [k] if stripped == k or not re.search(r"[A-Z]", stripped) else [k, stripped]


def _lead(ch: str, labels: tuple[str, ...], derivation: str) -> str:
    """The derivation actually recorded, as the caption should name it."""
    known = _GENERIC.leads.get(normalise_label(labels[0]))
    if known:
        return known
    if derivation == "bipolar":
        return f"{labels[0]}-{labels[1]}"
    lab = labels[0].strip()
    if ch in _ELECTRO and "-" in lab:  # the derivation as the file writes it, without a modality word
        return re.sub(r"^(EEG|EOG|EMG)\s*\(?\s*(.*?)\)?$", r"\2", lab, flags=re.IGNORECASE).strip() or lab
    return lab


def _plan_montage(m: Montage, by_norm: dict[str, str], fs: dict[str, float]) -> dict[str, ChannelSource]:
    """Sources from a recognised montage's documented entries (primary entries first, then alternates)."""
    sources: dict[str, ChannelSource] = {}
    tag = f"{m.title} montage"
    for pick_alternates in (False, True):
        for key, e in m.entries.items():
            lab = by_norm.get(key)
            ch = e.alternate if pick_alternates else e.use
            if lab is None or ch is None or ch in sources:
                continue
            if ch in _ELECTRO and fs[lab] < MIN_ELECTRO_FS_HZ:
                continue
            lead = e.lead or _lead(ch, (lab,), "direct")
            if e.minus:
                ref = by_norm.get(normalise_label(e.minus))
                if ref is None or fs[ref] != fs[lab]:
                    continue  # the generic rules will try the channel
                sources[ch] = ChannelSource(ch, (lab, ref), "bipolar", f"derived {lab} - {ref} ({tag})", lead=lead)
            elif pick_alternates and ch not in _ELECTRO:  # a second sensor of the same kind
                sources[ch] = ChannelSource(ch, (lab,), "direct", f"{lab} ({tag}; {e.note or 'alternate sensor'})",
                                            lead=lead)
            elif e.substitute or pick_alternates:
                why = e.note or "documented alternative"
                sources[ch] = ChannelSource(ch, (lab,), "substitute", f"{lab} ({lead}) used for {ch} ({tag}; {why})",
                                            lead=lead)
            else:
                sources[ch] = ChannelSource(ch, (lab,), "direct", f"{lab} is {lead} ({tag})" if e.lead else "", lead=lead)
    return sources


def plan_channels(rec: Recording) -> tuple[dict[str, ChannelSource], dict[str, str]]:
    """Decide where each SleepLM/aux channel comes from, from labels and rates only.

    Returns
    -------
    sources : dict
        channel -> :class:`ChannelSource` (``note`` says why a substitute or montage entry was used,
        ``lead`` the derivation actually recorded).
    unmapped : dict
        source label -> why it was not used.
    """
    full: dict[str, str] = {}
    stripped: dict[str, str] = {}  # the same labels without a leading modality word ("EMG CHIN1" -> "CHIN1")
    for s in rec.signals:
        if _eligible(s.label):
            keys = _keys(s.label)
            full.setdefault(keys[0], s.label)
            for k in keys[1:]:
                stripped.setdefault(k, s.label)
    by_norm = {**stripped, **full}
    fs = {s.label: s.fs_hz for s in rec.signals}
    too_slow = {lab for lab, f in fs.items() if f < MIN_ELECTRO_FS_HZ}

    found = identify_montage(set(by_norm))
    montage = found[0] if found else None
    sources: dict[str, ChannelSource] = _plan_montage(montage, by_norm, fs) if montage else {}
    used: set[str] = {lab for s in sources.values() if s.derivation != "bipolar" for lab in s.labels}

    def free(lab: str | None, ch: str) -> bool:
        return bool(lab) and lab not in used and not (ch in _ELECTRO and lab in too_slow)

    for ch in (*SLEEPLM_CHANNELS, *AUX_CHANNELS):
        if ch in sources:
            continue
        src = None
        aliases = ALIASES.get(ch, ())
        for table in (full, stripped):  # whole labels before labels stripped of their modality word
            for alias in (a for a in aliases if a not in _BARE):
                lab = table.get(alias)
                if src is None and free(lab, ch):
                    src = ChannelSource(ch, (lab,), "direct", lead=_lead(ch, (lab,), "direct"))
        if src is None:
            for active, ref in BIPOLAR.get(ch, ()):
                a, r = by_norm.get(active), by_norm.get(ref)
                if a and r and a != r and fs[a] == fs[r] and free(a, ch):
                    src = ChannelSource(ch, (a, r), "bipolar", f"derived {a} - {r}", lead=_lead(ch, (a, r), "bipolar"))
                    break
        if src is None:
            for alias in (a for a in aliases if a in _BARE):
                lab = by_norm.get(alias)
                if free(lab, ch):
                    src = ChannelSource(ch, (lab,), "direct", lead=_lead(ch, (lab,), "direct"))
                    break
        for table in (full, stripped):
            for alias in SUBSTITUTES.get(ch, ()):
                lab = table.get(alias)
                if src is None and free(lab, ch):
                    lead = _lead(ch, (lab,), "substitute")
                    src = ChannelSource(ch, (lab,), "substitute", f"{lab} used for {ch}" +
                                        (f" ({lead})" if lead != lab else ""), lead=lead)
        if src is not None:
            sources[ch] = src
            if src.derivation != "bipolar":
                used.update(src.labels)

    return sources, _reasons(rec, sources, montage, by_norm, too_slow)


def _candidate_channel(key: str) -> str | None:
    for table in (ALIASES, SUBSTITUTES):
        for ch, labels in table.items():
            if key in labels:
                return ch
    for ch, pairs in BIPOLAR.items():
        if any(key == a for a, _ in pairs):
            return ch
    return None


def _excluded_reason(key: str) -> str:
    """Why a label :func:`_eligible` turns away is not used, by what it is."""
    if re.search(r"IMP", key):
        return "not a signal SleepLM uses (an electrode impedance)"
    if re.search(r"\bRATE\b|\bHR\b|\bDHR\b|PULSE", key):
        return "a derived rate (heart rate or pulse), not a waveform: SleepLM reads the ECG itself"
    if re.search(r"SNOR|AUDIO", key):
        return "a sound channel (snore or audio): not a SleepLM input"
    if "LIGHT" in key:
        return "ambient light: not a SleepLM input"
    return "not a signal SleepLM uses (a device or derived trace)"


def _reasons(rec: Recording, sources: dict[str, ChannelSource], montage: Montage | None,
             by_norm: dict[str, str], too_slow: set[str]) -> dict[str, str]:
    """Why each label that no channel uses was left out."""
    taken = {lab: ch for ch, s in sources.items() for lab in s.labels}
    refs = {s.labels[1]: ch for ch, s in sources.items() if s.derivation == "bipolar"}
    out: dict[str, str] = {}
    for s in rec.signals:
        lab = s.label
        if lab in taken:
            continue
        key = normalise_label(lab)
        entry = montage.entries.get(key) if montage else None
        ch = (entry.channel if entry else None) or _candidate_channel(key)
        if not _eligible(lab):
            out[lab] = _excluded_reason(key)
        elif ch in _ELECTRO and lab in too_slow:
            out[lab] = (f"sampled at {s.fs_hz:g} Hz: too slow for {ch} (an envelope, not the signal; "
                        f"needs >= {MIN_ELECTRO_FS_HZ:g} Hz)")
        elif entry is not None and entry.ignore:
            out[lab] = f"{entry.ignore} ({montage.name} montage)"
        elif entry is not None and entry.reference:
            out[lab] = f"reference electrode ({montage.name} montage)"
        elif ch is not None and ch in sources and key in SUBSTITUTES.get(ch, ()) and key not in ALIASES.get(ch, ()):
            out[lab] = (f"a stand-in for {ch} used only when {ch} is not recorded; {ch} comes from "
                        f"{' - '.join(sources[ch].labels)}")
        elif ch is not None and ch in sources:
            out[lab] = f"a second source for {ch}, which comes from {' - '.join(sources[ch].labels)}"
        elif key in _GENERIC.ignore:
            out[lab] = _GENERIC.ignore[key]
        elif lab in refs:
            out[lab] = f"reference of {refs[lab]}"
        else:
            fam = next((why for pat, why in _FAMILIES if re.search(pat, key)), None)
            out[lab] = fam or "no SleepLM channel for this label"
    return out


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
    """Build the mapped signals (derivations, unit scaling, position codes).

    A position channel whose coding cannot be told from its values becomes unknown (−1) and a
    warning naming the channel and what was seen is added to ``rec.warnings``.
    """
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
            if position_coding == "auto":
                coding, warning = detect_position_coding(sig)
                if warning:
                    rec.warnings.append(warning)
            else:
                coding = position_coding
            codes = to_sleeplm_codes(sig.data, coding, sig)
            out[ch] = Signal(sig.label, codes.astype(np.float32), sig.fs_hz, "code")
            continue
        data, unit = _to_unit(ch, sig)
        out[ch] = Signal(sig.label, np.asarray(data, np.float32), sig.fs_hz, unit, sig.transducer, sig.prefilter)
    return out, coding


def recognised_montage(rec: Recording) -> tuple[str, float] | None:
    """(source name, share of its documented labels present) when the file's montage is recognised."""
    keys = {k for s in rec.signals if _eligible(s.label) for k in _keys(s.label)}
    found = identify_montage(keys)
    return (found[0].name, found[1]) if found else None


def duplicate_label_warnings(rec: Recording, sources: dict[str, ChannelSource]) -> list[str]:
    """One sentence per label that names several signals of the file and is read for a channel: the first
    signal of that label is used (:meth:`Recording.signal`) and the others are ignored."""
    counts = Counter(sig.label for sig in rec.signals)
    users: dict[str, list[str]] = {}
    for ch, src in sources.items():
        for lab in src.labels:
            if counts.get(lab, 0) > 1:
                users.setdefault(lab, []).append(ch)
    return [f"the label '{lab}' names {counts[lab]} signals of this file: the first was used for {', '.join(chs)} "
            "and the others were ignored (give them distinct labels to choose)" for lab, chs in users.items()]


def map_channels(rec: Recording, position_coding: str = "auto") -> MappedRecording:
    """Map a fully loaded recording's signals to the SleepLM channels (see module doc); a label that names several
    signals is said in ``rec.warnings`` (:func:`duplicate_label_warnings`)."""
    sources, unmapped = plan_channels(rec)
    rec.warnings.extend(w for w in duplicate_label_warnings(rec, sources) if w not in rec.warnings)
    channels, coding = apply_plan(rec, sources, position_coding)
    return MappedRecording(rec, channels, sources, unmapped, coding)


def needed_labels(sources: dict[str, ChannelSource]) -> set[str]:
    """The source labels a plan reads (to load only those samples)."""
    return {lab for s in sources.values() for lab in s.labels}
