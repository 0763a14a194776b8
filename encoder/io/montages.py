"""Documented montages of public PSG sources (``montages.json``) and label normalisation.

``montages.json`` lists, per source (NSRR cohorts, Sleep-EDF, MASS, the MIT-BIH polysomnographic
database, Nox and clinical exports, DREAMS), every channel label its documentation names, where that
documentation is, and what SleepLM makes of each label: the SleepLM channel it fills (directly, as the
active electrode of a bipolar pair, or as a substitute derivation), a second sensor for a channel
already filled, a reference electrode, or a trace SleepLM does not use and why.

Two kinds of source:

* ``recognise: true`` (the NSRR cohorts): the same label means different derivations in different
  cohorts (``C3`` is C3-A2 in CFS but C3-Fpz in MrOS and CCSHS; ``EEG1`` is Fz-Cz in MESA), so the
  montage is identified from the file's label set (:func:`identify_montage`) and its entries are used
  as documented;
* ``recognise: false``: the labels are unambiguous and join the generic alias table of
  :mod:`sleeplm.encoder.io.channels` (:func:`generic_tables`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

MONTAGES_JSON = Path(__file__).with_name("montages.json")

#: A recognised montage needs this share of its documented labels in the file ...
MIN_COVERAGE = 0.6
#: ... and at least this many of its labels that fill a SleepLM channel.
MIN_USED_LABELS = 4


def normalise_label(label: str) -> str:
    """Canonical spelling for matching: upper case, ``-`` separators, M1/M2 for A1/A2.

    ``"EEG C3-A2"``, ``"C3:A2"``, ``"C3_A2"`` and ``"EEG (C3-A2)"`` all become ``"C3-M2"``.
    """
    s = label.strip().upper()
    s = re.sub(r"\s+", " ", s)
    s = re.sub(r"\s*[:/_]\s*|\s+-\s*|\s*-\s+", "-", s)
    s = re.sub(r"\s+\(", "(", s)
    # a modality word around a derivation: "EEG C3-A2" / "EEG(C4-A1)" -> "C3-M2" / "C4-M1"
    s = re.sub(r"^(EEG|EOG|EMG)\((?=[^()]*-[^()]*\)$)(.*)\)$", r"\2", s)
    s = re.sub(r"^(EEG|EOG|EMG)\s+(?=[A-Z0-9]+\d*-)", "", s)
    s = re.sub(r"\bA([12])\b", r"M\1", s)
    return s


@dataclass(frozen=True)
class MontageEntry:
    """What one documented label is (see ``montages.json``'s ``_about``)."""

    label: str
    use: str | None = None  # SleepLM / aux channel it fills
    minus: str | None = None  # reference label: the channel is label - minus
    substitute: bool = False
    lead: str | None = None  # the derivation actually recorded
    alternate: str | None = None  # a second sensor for this channel
    note: str = ""
    reference: bool = False
    ignore: str | None = None  # why SleepLM does not use it
    unusable: str | None = None  # the channel it would be, were it usable
    fs_hz: float | None = None

    @property
    def channel(self) -> str | None:
        """The channel this label fills or could fill."""
        return self.use or self.alternate or self.unusable


@dataclass(frozen=True)
class Montage:
    """One documented source."""

    name: str
    title: str
    documented_in: str
    recognise: bool
    entries: dict[str, MontageEntry] = field(default_factory=dict)  # normalised label -> entry

    @property
    def labels(self) -> list[str]:
        return [e.label for e in self.entries.values()]


@cache
def load_montages(path: Path = MONTAGES_JSON) -> dict[str, Montage]:
    """All sources of ``montages.json`` by name (read once)."""
    raw = json.loads(Path(path).read_text(encoding="utf-8"))
    out: dict[str, Montage] = {}
    for name, src in raw["sources"].items():
        entries = {}
        for label, spec in src["labels"].items():
            entries[normalise_label(label)] = MontageEntry(label=label, **spec)
        out[name] = Montage(name, src["title"], src["documented_in"], bool(src.get("recognise")), entries)
    return out


def identify_montage(normalised_labels: set[str]) -> tuple[Montage, float] | None:
    """The recognisable montage whose documented labels best cover a file's labels, with its coverage.

    None when no montage has at least :data:`MIN_COVERAGE` of its labels present and
    :data:`MIN_USED_LABELS` of its channel-filling labels present.
    """
    best: tuple[Montage, float] | None = None
    for m in load_montages().values():
        if not m.recognise:
            continue
        present = [k for k in m.entries if k in normalised_labels]
        used = [k for k in present if m.entries[k].use]
        coverage = len(present) / len(m.entries)
        if coverage >= MIN_COVERAGE and len(used) >= MIN_USED_LABELS and (best is None or coverage > best[1]):
            best = (m, coverage)
    return best


@dataclass(frozen=True)
class GenericTables:
    """What the non-recognised sources add to the generic mapping rules."""

    aliases: dict[str, tuple[str, ...]]  # channel -> direct labels (normalised)
    substitutes: dict[str, tuple[str, ...]]  # channel -> substitute / fallback labels
    bipolar: dict[str, tuple[tuple[str, str], ...]]  # channel -> (active, reference)
    leads: dict[str, str]  # normalised label -> derivation recorded
    ignore: dict[str, str]  # normalised label -> why it is not used
    sources: dict[str, tuple[str, ...]]  # normalised label -> the sources documenting it


@cache
def generic_tables() -> GenericTables:
    """Alias, substitute, bipolar, lead and ignore tables from the ``recognise: false`` sources."""
    aliases: dict[str, list[str]] = {}
    subs: dict[str, list[str]] = {}
    bip: dict[str, list[tuple[str, str]]] = {}
    leads: dict[str, str] = {}
    ignore: dict[str, str] = {}
    sources: dict[str, list[str]] = {}
    for m in load_montages().values():
        for key, e in m.entries.items():
            sources.setdefault(key, []).append(m.name)
            if m.recognise:
                continue
            if e.lead:
                leads.setdefault(key, e.lead)
            if e.use and e.minus:
                bip.setdefault(e.use, []).append((key, normalise_label(e.minus)))
            elif e.use and not e.substitute:
                aliases.setdefault(e.use, []).append(key)
            elif e.use or e.alternate:
                subs.setdefault(e.channel or "", []).append(key)
            elif e.ignore:
                ignore.setdefault(key, e.ignore)

    def dedup(d: dict) -> dict:
        return {k: tuple(dict.fromkeys(v)) for k, v in d.items()}

    return GenericTables(dedup(aliases), dedup(subs), dedup(bip), leads, ignore,
                         {k: tuple(v) for k, v in sources.items()})
