"""What a cohort folder holds: its recordings, their night names, and the subjects table.

:func:`scan` finds the recordings (EDF/BDF, DREAMS-style text signals) and lists the entries that look
like recordings but cannot be read; :func:`night_names` gives each its unique name in a workspace;
:func:`read_subjects` reads ``subjects.csv``. Used by :mod:`sleeplm.index.ingest`.
"""

from __future__ import annotations

import csv
import errno
import math
import os
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from sleeplm.encoder.io.annotations import SIDECAR_PATTERNS, find_annotations
from sleeplm.encoder.io.records import PSGError
from sleeplm.encoder.io.textsig import is_text_signal
from sleeplm.encoder.vocab import BMI_RANGE, MAX_AGE_Y

RECORDING_SUFFIXES = (".edf", ".bdf", ".rec")
SUBJECTS_CSV = "subjects.csv"
#: Files taken for annotation files by their suffix alone, and (for .txt and .csv) by a word in their name.
ANNOTATION_SUFFIXES = (".xml", ".hyp", ".hypno")
_ANNOTATION_WORDS = ("hypno", "annot", "scor", "stage", "event")


def scan(cohort_dir: Path) -> tuple[list[Path], list[tuple[Path, str, str]]]:
    """Recordings under a folder, and the entries that look like recordings but cannot be one.

    Returns
    -------
    (paths, problems)
        ``paths`` sorted; ``problems`` as (path, stage, message): folders named ``x.edf``, links
        that loop or point nowhere, entries that cannot be read.
    """
    cohort_dir = Path(cohort_dir)
    if not cohort_dir.is_dir():
        raise FileNotFoundError(f"{cohort_dir}: no such cohort folder")
    found: list[Path] = []
    problems: list[tuple[Path, str, str]] = []

    def on_error(exc: OSError) -> None:
        problems.append((Path(exc.filename or cohort_dir), "scanning",
                         f"{exc.filename}: this folder cannot be read ({exc.strerror}); its files were not ingested"))

    for root, dirs, files in os.walk(cohort_dir, onerror=on_error):
        base = Path(root)
        for d in dirs:
            p = base / d
            if p.suffix.lower() in RECORDING_SUFFIXES:
                problems.append((p, "scanning", f"{p}: is a folder, not a recording file"))
            elif p.is_symlink():
                problems.append((p, "scanning", f"{p}: is a link to a folder; links to folders are not followed"))
        for f in files:
            p = base / f
            is_rec = p.suffix.lower() in RECORDING_SUFFIXES
            try:
                p.stat()
            except OSError as exc:
                if is_rec or p.is_symlink():
                    why = ("is a symbolic link that loops back on itself" if exc.errno == errno.ELOOP
                           else "is a link to nothing" if exc.errno == errno.ENOENT
                           else f"cannot be read ({exc.strerror})")
                    problems.append((p, "scanning", f"{p}: {why}"))
                continue
            if is_rec:
                found.append(p)
            elif p.suffix.lower() == ".txt":
                try:
                    if is_text_signal(p):
                        found.append(p)
                except (OSError, ValueError):
                    continue  # an annotation .txt that cannot be read is reported with its recording
    return sorted(found), sorted(problems)


def _looks_like_annotations(p: Path, stems: set[str]) -> bool:
    name, suffix = p.name.lower(), p.suffix.lower()
    if suffix in ANNOTATION_SUFFIXES:
        return True
    if suffix not in (".txt", ".csv") or name == SUBJECTS_CSV:
        return False
    return any(w in name for w in _ANNOTATION_WORDS) or any(_named_after(name, s) for s in stems)


def _named_after(name: str, stem: str) -> bool:
    """``name`` is a recording's stem followed by a separator: "n1_scoring.xml" for "n1", not "n10.xml"."""
    name, stem = name.lower(), stem.lower()
    return name.startswith(stem) and len(name) > len(stem) and name[len(stem)] in "-_. "


def unpaired_annotations(cohort_dir: Path, recordings: Iterable[Path]) -> list[tuple[Path, str, str]]:
    """Files under a folder that look like annotation files but that no recording reads, as (path, "pairing",
    message). A night whose scoring sits in such a file is ingested as unscored (or scored by a program), so the
    file is named rather than silently passed over.

    A file counts as annotations by its suffix (:data:`ANNOTATION_SUFFIXES`) or, for ``.txt`` and ``.csv``, by a
    word in its name (hypnogram, annotations, scoring, stages, events) or a name that starts with a recording's stem;
    recordings themselves and ``subjects.csv`` are not. Each recording reads at most one file beside it
    (:func:`~sleeplm.encoder.io.annotations.find_annotations`, the first of :data:`SIDECAR_PATTERNS` present).
    """
    recordings = [Path(r) for r in recordings]
    reads = {r: find_annotations(r) for r in recordings}  # recording -> the annotation file it reads (or None)
    taken = {r.resolve() for r in recordings} | {Path(a).resolve() for a in reads.values() if a is not None}
    by_dir: dict[Path, list[Path]] = {}
    for r in sorted(recordings, key=lambda r: -len(r.stem)):  # the longest stem a name starts with owns it
        by_dir.setdefault(r.parent.resolve(), []).append(r)
    expected = ", ".join(p.format(stem="NAME") for p in SIDECAR_PATTERNS[:4])
    out: list[tuple[Path, str, str]] = []
    for root, _dirs, files in os.walk(cohort_dir):
        base = Path(root)
        beside = by_dir.get(base.resolve(), [])
        stems = {r.stem for r in beside}
        for f in files:
            p = base / f
            try:
                if not p.is_file() or p.resolve() in taken:
                    continue
            except OSError:
                continue
            if not _looks_like_annotations(p, stems):
                continue
            owner = next((r for r in beside if _named_after(f, r.stem)), None)
            if owner is not None and reads[owner] is not None:
                why = (f"beside {owner.name}, which reads {reads[owner].name} instead (one annotation "
                       "file per recording); not used")
            elif owner is not None:
                why = (f"named like {owner.name} but not as its annotation file is named ({expected}, ... with NAME = "
                       f"{owner.stem}); not used, so {owner.name} was ingested as unscored. Rename it and ingest again")
            else:
                why = (f"looks like an annotation file but no recording reads it (a recording NAME.edf reads "
                       f"{expected}, ... beside it); not used")
            out.append((p, "pairing", f"{p}: {why}"))
    return sorted(out)


def discover(cohort_dir: Path) -> list[Path]:
    """Recordings under a folder (EDF/BDF, and DREAMS-style text signals), sorted."""
    return scan(cohort_dir)[0]


def night_names(paths: Iterable[Path], cohort_dir: Path) -> dict[Path, str]:
    """path -> night name: the stem, or the path relative to ``cohort_dir`` (no suffix) when stems collide."""
    paths = list(paths)
    stems = Counter(p.stem for p in paths)
    out = {}
    for p in paths:
        if stems[p.stem] == 1:
            out[p] = p.stem
            continue
        try:
            rel = p.resolve().relative_to(Path(cohort_dir).resolve())
        except ValueError:
            rel = p
        out[p] = rel.with_suffix("").as_posix()
    return out


def _checked_row(row: dict[str, object], line: int, problems: list[str]) -> dict[str, object]:
    """The row with an age or BMI that is not a number, or not a human value, left out (and said in ``problems``)."""
    row = dict(row)
    for col, lo, hi, unit in (("age", 0.0, MAX_AGE_Y, "years"), ("bmi", *BMI_RANGE, "kg/m²")):
        value = row.get(col)
        if value is None or str(value).strip() == "":
            continue
        try:
            x = float(str(value))
        except ValueError:
            x = math.nan
        if not (math.isfinite(x) and lo <= x <= hi):
            problems.append(f"line {line}: {col} {value!r} is not a {col} ({lo:g}–{hi:g} {unit}); left out")
            row[col] = ""
    return row


def read_subjects(path: Path | None, problems: list[str] | None = None) -> dict[str, dict[str, object]]:
    """recording name -> subject attributes, from a CSV with ``subject_id`` and ``recording`` columns.

    Rows that cannot be used as they are go into ``problems`` (one sentence each, with the row's line number): a
    recording named twice (the last row is used), an age or BMI that is not a number or not a human value (left
    out, so unknown, never a wrong band), no ``recording`` or ``subject_id`` column.

    Raises
    ------
    PSGError
        The file is not UTF-8 text or not a readable CSV (naming the file).
    """
    if path is None or not Path(path).is_file():
        return {}
    problems = problems if problems is not None else []
    out: dict[str, dict[str, object]] = {}
    line: dict[str, int] = {}
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            for i, row in enumerate(reader, start=2):
                if i == 2 and not {"recording", "subject_id"} & set(reader.fieldnames or []):
                    problems.append(f"no 'recording' or 'subject_id' column (columns: {', '.join(reader.fieldnames or [])}"
                                    "; a file not separated by commas reads as one column)")
                rec = row.get("recording") or row.get("subject_id")
                if not rec:
                    continue
                if rec in out:
                    problems.append(f"line {i}: recording {rec!r} is also on line {line[rec]}; line {i} is used")
                out[rec], line[rec] = _checked_row(row, i, problems), i
    except UnicodeDecodeError as exc:
        raise PSGError(path, f"the subjects table is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at "
                             f"position {exc.start}); save it as UTF-8. No subject attributes were stored") from exc
    except csv.Error as exc:
        raise PSGError(path, f"the subjects table is not a readable CSV ({exc}); no subject attributes were "
                             "stored") from exc
    return out
