"""A fuzz corpus for ingest and ``inspect``: good nights next to many kinds of broken or odd input.

:func:`write_corpus` copies a few small simulated nights and derives from them, byte by byte,
recordings and annotation files that are broken in one way each (the failures of issue 11 and
what a careful reviewer adds: truncations, header fields that lie, non-finite numbers, times far
beyond a night, invalid UTF-8, links that loop, folders named like recordings, names at the
file-system limit...). Every case is classified:

* ``good``: must be stored as a night (its name given);
* ``bad``: must be listed in ``ingest_errors`` with a message naming it;
* ``odd``: may be stored or listed (a lenient reader may repair it), but never both, never a crash.

Run it by hand to look at the files: ``python tests/fuzz/corpus.py OUT_DIR``.
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass
class Case:
    """One kind of input: the entry ingest meets (``path``), what must happen, and why it is there."""

    kind: str  # good | bad | odd
    path: Path
    why: str
    name: str | None = None  # the night's name when good


@dataclass
class Corpus:
    root: Path
    cases: list[Case] = field(default_factory=list)

    def add(self, kind: str, path: Path, why: str, name: str | None = None) -> None:
        self.cases.append(Case(kind, path, why, name))

    @property
    def good(self) -> list[Case]:
        return [c for c in self.cases if c.kind == "good"]

    @property
    def bad(self) -> list[Case]:
        return [c for c in self.cases if c.kind == "bad"]


def _patch(data: bytes, offset: int, width: int, text: str | bytes) -> bytes:
    raw = text.encode("latin-1") if isinstance(text, str) else text
    raw = raw[:width].ljust(width, b" ")
    return data[:offset] + raw + data[offset + width:]


def _ns(data: bytes) -> int:
    return int(data[252:256].decode().strip())


def _signal_field(data: bytes, i: int, field_offset: int, width: int, text: str) -> bytes:
    """Patch signal ``i``'s header field that starts at ``256 + ns * field_offset``."""
    ns = _ns(data)
    return _patch(data, 256 + ns * field_offset + i * width, width, text)


# per-signal field offsets (in units of ns): label 0, transducer 16, dimension 96, physical min 104,
# physical max 112, digital min 120, digital max 128, prefilter 136, samples per record 216
_PHYS_MIN, _PHYS_MAX, _DIG_MIN, _DIG_MAX, _SAMPLES = 104, 112, 120, 128, 216


def _link_or_copy(src: Path, dst: Path) -> Path:
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)
    return dst


def _write_1hz_edf(path: Path, seconds: int = 120) -> None:
    import pyedflib

    labels = ["ECG", "EEG C3-A2", "EEG C4-A1", "EOG(L)", "EOG(R)", "EMG", "THOR RES", "ABDO RES", "AIRFLOW", "SaO2"]
    rng = np.random.default_rng(0)
    w = pyedflib.EdfWriter(str(path), len(labels), file_type=pyedflib.FILETYPE_EDFPLUS)
    try:
        w.setSignalHeaders([{"label": lab, "dimension": "uV", "sample_frequency": 1, "physical_min": -500.0,
                             "physical_max": 500.0, "digital_min": -32768, "digital_max": 32767,
                             "transducer": "", "prefilter": ""} for lab in labels])
        w.writeSamples([rng.normal(0, 50, seconds) for _ in labels])
    finally:
        w.close()


def _write_edf_plus(path: Path, annotations: list[tuple[float, float, str]], seconds: int = 120) -> None:
    import pyedflib

    rng = np.random.default_rng(1)
    w = pyedflib.EdfWriter(str(path), 1, file_type=pyedflib.FILETYPE_EDFPLUS)
    try:
        w.setSignalHeaders([{"label": "EEG C3-A2", "dimension": "uV", "sample_frequency": 100,
                             "physical_min": -500.0, "physical_max": 500.0, "digital_min": -32768,
                             "digital_max": 32767, "transducer": "", "prefilter": ""}])
        w.writeSamples([rng.normal(0, 30, seconds * 100)])
        for onset, duration, text in annotations:
            w.writeAnnotation(onset, duration, text)
    finally:
        w.close()


def _stage_xml(stages: list[tuple[str, str, str]], epoch_length: str = "30", extra: str = "") -> str:
    events = "".join(
        f"<ScoredEvent><EventType>Stages|Stages</EventType><EventConcept>{c}</EventConcept>"
        f"<Start>{s}</Start><Duration>{d}</Duration></ScoredEvent>" for c, s, d in stages)
    return (f"<?xml version='1.0' encoding='UTF-8'?><PSGAnnotation><EpochLength>{epoch_length}</EpochLength>"
            f"<ScoredEvents>{events}{extra}</ScoredEvents></PSGAnnotation>")


def write_corpus(out: Path, seed: int = 11, minutes: float = 1.0) -> Corpus:
    """Write the corpus into ``out`` (created); returns every case with what must happen to it."""
    from sleeplm.encoder.sim import simulate_cohort

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    src = out.with_name(f"{out.name}-source")
    good_paths = simulate_cohort(src, n_nights=3, seed=seed, duration_h=minutes / 60, progress=False)
    c = Corpus(out)
    base = good_paths[0]
    edf = base.read_bytes()
    xml = (base.with_name(f"{base.stem}-nsrr.xml")).read_text()
    n_epochs = round(minutes * 2)

    # --- good nights: simulated ones, one without any scoring (sorting first), odd but valid names
    for p in good_paths:
        _link_or_copy(p, out / p.name)
        _link_or_copy(p.with_name(f"{p.stem}-nsrr.xml"), out / f"{p.stem}-nsrr.xml")
        c.add("good", out / p.name, "a simulated night with NSRR XML", p.stem)
    shutil.copyfile(src / "subjects.csv", out / "subjects.csv")
    _link_or_copy(good_paths[1], out / "000-unscored.edf")
    c.add("good", out / "000-unscored.edf", "no annotation file at all, name sorts first (issue 11)", "000-unscored")
    long_stem = "n" * 244
    _link_or_copy(good_paths[2], out / f"{long_stem}.edf")
    c.add("good", out / f"{long_stem}.edf", "a 248-byte file name (ENAMETOOLONG probing sidecars)", long_stem)
    odd_name = out / "deep" / "a" / "b" / "Nuit d'été 1.EDF"
    _link_or_copy(good_paths[1], odd_name)
    c.add("good", odd_name, "four folders down; spaces, quote, accents; upper-case suffix", "Nuit d'été 1")
    for sub in ("site-a", "site-b"):
        _link_or_copy(good_paths[0], out / sub / "night.edf")
        _link_or_copy(base.with_name(f"{base.stem}-nsrr.xml"), out / sub / "night-nsrr.xml")
        c.add("good", out / sub / "night.edf", "same file name in two folders: both stored", f"{sub}/night")
    events_only = out / "events-only.edf"
    _link_or_copy(base, events_only)
    (out / "events-only-nsrr.xml").write_text(
        "<?xml version='1.0'?><PSGAnnotation><EpochLength>30</EpochLength><ScoredEvents><ScoredEvent>"
        "<EventType>Respiratory|Respiratory</EventType><EventConcept>Obstructive apnea|Obstructive Apnea"
        "</EventConcept><Start>40</Start><Duration>15</Duration></ScoredEvent></ScoredEvents></PSGAnnotation>")
    c.add("good", events_only, "events but no stages: a night without stage scoring", "events-only")

    # --- recordings that are not usable
    def bad_edf(name: str, data: bytes, why: str, kind: str = "bad") -> None:
        (out / name).write_bytes(data)
        c.add(kind, out / name, why)

    bad_edf("text.edf", b"this is not a recording\n", "plain text with an .edf name")
    bad_edf("empty.edf", b"", "0 bytes")
    bad_edf("cut-100.edf", edf[:100], "truncated inside the main header")
    bad_edf("cut-256.edf", edf[:256], "main header only")
    bad_edf("cut-signal-header.edf", edf[:256 + 300], "truncated inside the signal headers")
    bad_edf("cut-data.edf", edf[: len(edf) // 2 + 7], "truncated in the middle of the data", kind="odd")
    bad_edf("random.edf", np.random.default_rng(seed).integers(0, 256, 4096, dtype=np.uint8).tobytes(),
            "random bytes")
    bad_edf("zeros.edf", bytes(4096), "4 kB of zero bytes")
    bad_edf("spaces.edf", b" " * 4096, "a header of spaces")
    bad_edf("ns-abc.edf", _patch(edf, 252, 4, "abc"), "signal count is not a number")
    bad_edf("ns-0.edf", _patch(edf, 252, 4, "0"), "zero signals")
    bad_edf("ns-9999.edf", _patch(edf, 252, 4, "9999"), "more signals announced than the header holds")
    bad_edf("nrec-0.edf", _patch(edf, 236, 8, "0"), "zero data records")
    bad_edf("nrec-neg.edf", _patch(edf, 236, 8, "-5"), "negative data records", kind="odd")
    bad_edf("nrec-huge.edf", _patch(edf, 236, 8, "99999999"), "far more records announced than present", kind="odd")
    bad_edf("recdur-0.edf", _patch(edf, 244, 8, "0"), "data-record duration 0")
    bad_edf("recdur-nan.edf", _patch(edf, 244, 8, "nan"), "data-record duration NaN")
    bad_edf("recdur-inf.edf", _patch(edf, 244, 8, "inf"), "data-record duration inf")
    bad_edf("recdur-huge.edf", _patch(edf, 244, 8, "1e15"), "data-record duration 1e15 s", kind="odd")
    bad_edf("recdur-neg.edf", _patch(edf, 244, 8, "-1"), "negative data-record duration")
    bad_edf("hdrbytes-lie.edf", _patch(edf, 184, 8, "12"), "header-bytes field lies", kind="odd")
    bad_edf("edf-plus-d.edf", _patch(edf, 192, 44, "EDF+D"), "discontinuous EDF+D")
    bad_edf("bad-date.edf", _patch(_patch(edf, 168, 8, "99.99.99"), 176, 8, "xx.yy.zz"),
            "start date and time are garbage", kind="odd")
    bad_edf("label-bytes.edf", _signal_field(edf, 0, 0, 16, "\xff\xfe\x00\x01EEG"), "non-ASCII label bytes",
            kind="odd")
    bad_edf("phys-equal.edf", _signal_field(_signal_field(edf, 0, _PHYS_MIN, 8, "5"), 0, _PHYS_MAX, 8, "5"),
            "physical min == max", kind="odd")
    bad_edf("dig-equal.edf", _signal_field(_signal_field(edf, 0, _DIG_MIN, 8, "7"), 0, _DIG_MAX, 8, "7"),
            "digital min == max", kind="odd")
    bad_edf("phys-nan.edf", _signal_field(edf, 1, _PHYS_MIN, 8, "nan"), "physical min NaN", kind="odd")
    bad_edf("phys-inf.edf", _signal_field(edf, 1, _PHYS_MAX, 8, "inf"), "physical max inf", kind="odd")
    bad_edf("samples-0.edf", _signal_field(edf, 0, _SAMPLES, 8, "0"), "a signal with 0 samples per record")
    bad_edf("samples-abc.edf", _signal_field(edf, 0, _SAMPLES, 8, "abc"), "samples per record not a number")
    bad_edf("samples-huge.edf", _signal_field(edf, 0, _SAMPLES, 8, "99999999"), "samples per record absurd")
    bad_edf("version-x.edf", _patch(edf, 0, 8, "X"), "version field is not 0")
    _link_or_copy(base, out / "edf-named.bdf")
    c.add("odd", out / "edf-named.bdf", "an EDF file with a .bdf name")
    bad_edf("junk.rec", b"REC" * 100, "a .rec file that is not a recording")
    short = _patch(edf, 236, 8, "10")
    bad_edf("short-10s.edf", short[: 256 + _ns(edf) * 256 + (len(edf) - 256 - _ns(edf) * 256) // int(
        edf[236:244].decode().strip()) * 10], "10 s long: shorter than one epoch", kind="bad")
    _write_1hz_edf(out / "all-1hz.edf")
    c.add("odd", out / "all-1hz.edf", "every channel at 1 Hz (neurokit2 TypeError, issue 11)")
    _write_edf_plus(out / "tal-1e15.edf", [(0, 30, "Sleep stage W"), (1e9, 30, "Sleep stage N2")])
    c.add("bad", out / "tal-1e15.edf", "EDF+ stage far beyond the recording")
    _write_edf_plus(out / "tal-events-late.edf", [(0, 30, "Sleep stage W"), (5000, 10, "Obstructive Apnea")])
    c.add("bad", out / "tal-events-late.edf", "EDF+ event after the end of the recording")
    _write_edf_plus(out / "tal-dur-huge.edf", [(0, 1e12, "Sleep stage W")])
    c.add("bad", out / "tal-dur-huge.edf", "EDF+ stage lasting 10^12 s")

    # --- entries that are not files
    (out / "folder.edf").mkdir()
    c.add("bad", out / "folder.edf", "a folder named like a recording")
    loop = out / "loop.edf"
    os.symlink(loop.name, loop)
    c.add("bad", loop, "a symbolic link to itself")
    os.symlink("nowhere.edf", out / "dangling.edf")
    c.add("bad", out / "dangling.edf", "a link to nothing")

    # --- a good recording with a broken annotation file
    def bad_ann(stem: str, suffix: str, content: str | bytes, why: str, kind: str = "bad") -> None:
        rec = _link_or_copy(base, out / f"{stem}.edf")
        ann = out / f"{stem}{suffix}"
        (ann.write_bytes if isinstance(content, bytes) else ann.write_text)(content)
        c.add(kind, rec, why)

    ok_stages = [("Wake|0", str(30.0 * k), "30.0") for k in range(n_epochs)]
    bad_ann("xml-garbled", "-nsrr.xml", xml[: len(xml) // 2], "XML cut in half")
    bad_ann("xml-empty", "-nsrr.xml", "", "empty XML file")
    bad_ann("xml-root", "-nsrr.xml", "<?xml version='1.0'?><Something/>", "XML of an unknown format")
    bad_ann("xml-epoch0", "-nsrr.xml", _stage_xml(ok_stages, "0"), "EpochLength 0 (ZeroDivisionError, issue 11)")
    bad_ann("xml-epochneg", "-nsrr.xml", _stage_xml(ok_stages, "-30"), "EpochLength -30")
    bad_ann("xml-epochabc", "-nsrr.xml", _stage_xml(ok_stages, "abc"), "EpochLength not a number")
    bad_ann("xml-epochnan", "-nsrr.xml", _stage_xml(ok_stages, "nan"), "EpochLength NaN")
    bad_ann("xml-dur-inf", "-nsrr.xml", _stage_xml(ok_stages[:2] + [("Wake|0", "60", "inf")]),
            "stage Duration inf (OverflowError, issue 11)")
    bad_ann("xml-dur-nan", "-nsrr.xml", _stage_xml(ok_stages[:2] + [("Wake|0", "60", "nan")]), "stage Duration NaN")
    bad_ann("xml-dur-neg", "-nsrr.xml", _stage_xml(ok_stages[:2] + [("Wake|0", "60", "-30")]),
            "negative stage Duration", kind="odd")
    bad_ann("xml-start-1e15", "-nsrr.xml", _stage_xml(ok_stages[:2] + [("Wake|0", "1e15", "30")]),
            "a stage at 1e15 s (MemoryError, issue 11)")
    bad_ann("xml-start-missing", "-nsrr.xml", _stage_xml(ok_stages[:2] + [("Wake|0", "", "30")]),
            "a stage without Start (NaN, issue 11)")
    bad_ann("xml-start-abc", "-nsrr.xml", _stage_xml(ok_stages[:2] + [("Wake|0", "abc", "30")]), "Start not a number")
    bad_ann("xml-start-neg", "-nsrr.xml", _stage_xml([("Wake|0", "-90", "30")] + ok_stages[:2]),
            "a stage before the recording starts", kind="odd")
    bad_ann("xml-stage-unknown", "-nsrr.xml", _stage_xml(ok_stages[:2] + [("Stage 9 sleep|9x", "60", "30")]),
            "an unknown stage concept")
    bad_ann("xml-too-long", "-nsrr.xml", _stage_xml([("Wake|0", str(30.0 * k), "30") for k in range(400)]),
            "stages covering 3 h of a 3-min recording")
    bad_ann("xml-latin1", "-nsrr.xml", _stage_xml(ok_stages).replace("Wake|0", "Wake|0", 1).encode("utf-8")
            .replace(b"<EpochLength>", b"<!-- \xe9\xff --><EpochLength>"), "invalid UTF-8 inside the XML")
    bad_ann("xml-nadir-abc", "-nsrr.xml", _stage_xml(ok_stages, extra=(
        "<ScoredEvent><EventType>Respiratory|Respiratory</EventType><EventConcept>SpO2 desaturation|SpO2 "
        "desaturation</EventConcept><Start>40</Start><Duration>20</Duration><SpO2Nadir>abc</SpO2Nadir>"
        "</ScoredEvent>")), "SpO2Nadir not a number")
    bad_ann("xml-event-inf", "-nsrr.xml", _stage_xml(ok_stages, extra=(
        "<ScoredEvent><EventType>Respiratory|Respiratory</EventType><EventConcept>Hypopnea|Hypopnea"
        "</EventConcept><Start>40</Start><Duration>inf</Duration></ScoredEvent>")), "event Duration inf")
    bad_ann("xml-deep", "-nsrr.xml", "<a>" * 100_000 + "</a>" * 100_000, "XML nested 100,000 deep", kind="odd")
    bad_ann("prof-epoch0", ".xml", "<?xml version='1.0'?><CMPStudyConfig><EpochLength>0</EpochLength>"
            "<SleepStages>" + "<SleepStage>0</SleepStage>" * n_epochs + "</SleepStages></CMPStudyConfig>",
            "Profusion XML with EpochLength 0")
    bad_ann("prof-start-abc", ".xml", "<?xml version='1.0'?><CMPStudyConfig><EpochLength>30</EpochLength>"
            "<ScoredEvents><ScoredEvent><Name>Hypopnea</Name><Start>abc</Start><Duration>10</Duration>"
            "</ScoredEvent></ScoredEvents><SleepStages>" + "<SleepStage>0</SleepStage>" * n_epochs
            + "</SleepStages></CMPStudyConfig>", "Profusion event Start not a number")
    bad_ann("csv-bigfield", ".csv", "onset,duration,label\n0,30,\"" + "W" * 200_000 + "\"\n",
            "a CSV field over 128 kB (_csv.Error, issue 11)")
    bad_ann("csv-empty", ".csv", "", "an empty CSV file")
    bad_ann("csv-nocols", ".csv", "a,b,c\n1,2,3\n", "a CSV without onset/label columns")
    bad_ann("csv-onset-abc", ".csv", "onset,duration,label\nabc,30,W\n", "CSV onset not a number")
    bad_ann("csv-onset-inf", ".csv", "onset,duration,label\n0,30,W\ninf,30,N2\n", "CSV onset inf")
    bad_ann("csv-onset-1e15", ".csv", "onset,duration,label\n0,30,W\n1e15,30,N2\n", "CSV stage at 1e15 s")
    bad_ann("csv-dur-inf", ".csv", "onset,duration,label\n0,inf,W\n", "CSV stage duration inf")
    bad_ann("csv-nul", ".csv", b"onset,duration,label\n0,30,W\x00\x00\n", "NUL bytes in a CSV", kind="odd")
    bad_ann("csv-binary", ".csv", np.random.default_rng(3).integers(0, 256, 2048, dtype=np.uint8).tobytes(),
            "random bytes named .csv")
    bad_ann("txt-badline", ".txt", "W\nN2\nbanana\n", "a hypnogram line that is not a stage")
    bad_ann("txt-empty", ".txt", "# nothing scored\n", "an empty hypnogram")
    bad_ann("txt-too-long", ".txt", "W\n" * 5000, "a hypnogram far longer than the recording")
    shutil.rmtree(src)  # the corpus holds hard links (or copies) of what it needs
    return c


if __name__ == "__main__":  # pragma: no cover - a tool for looking at the corpus
    corpus = write_corpus(Path(sys.argv[1]))
    for case in corpus.cases:
        print(f"{case.kind:4s}  {case.path.relative_to(corpus.root)}  — {case.why}")
    print(f"{len(corpus.cases)} cases: {len(corpus.good)} good, {len(corpus.bad)} bad, "
          f"{len(corpus.cases) - len(corpus.good) - len(corpus.bad)} odd")
