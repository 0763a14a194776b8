"""A failed file in words: which file (the recording or its annotation file), at what stage of
work, and what is wrong — for ``ingest_errors``, the command line and the page."""

from __future__ import annotations

import csv
import errno
from pathlib import Path

from sleeplm.encoder.io.records import PSGError

#: What each stage of work is, in words ("while ...").
STAGE_WORDS = {
    "scanning": "looking for recordings",
    "pairing": "pairing annotation files with recordings",
    "hashing": "reading the file to fingerprint it",
    "naming": "naming the night",
    "reading": "reading the recording",
    "annotations": "reading the annotations",
    "scoring": "scoring automatically what nobody scored",
    "epochs": "cutting and preprocessing 30-s epochs",
    "features": "computing epoch features",
    "captions": "writing reference captions",
    "metrics": "computing night metrics",
    "embedding": "embedding the epochs with the model",
    "writing": "writing the night into the workspace",
    "subjects": "reading the subjects table",
}


def _problem(exc: BaseException) -> str:
    """What an unexpected exception means, as a sentence fragment a person understands."""
    text = str(exc).strip()
    if isinstance(exc, MemoryError):
        return ("it needs more memory than this machine has (usually a time or size in the file far beyond "
                "one night, e.g. an event or stage at 10^15 s)")
    if isinstance(exc, OverflowError):
        return f"a number in it is too large or infinite ({text or 'overflow'})"
    if isinstance(exc, ZeroDivisionError):
        return "a zero where a length, duration or rate is needed (e.g. an epoch length of 0)"
    if isinstance(exc, UnicodeDecodeError):
        return f"it is not valid UTF-8 text (byte 0x{exc.object[exc.start]:02x} at position {exc.start})"
    if isinstance(exc, csv.Error):
        return f"it is not a readable CSV file ({text})"
    if isinstance(exc, IsADirectoryError):
        return "it is a folder, not a file"
    if isinstance(exc, PermissionError):
        return "it cannot be read (permission denied)"
    if isinstance(exc, OSError):
        if exc.errno == errno.ELOOP:
            return "it is a symbolic link that loops back on itself"
        if exc.errno == errno.ENAMETOOLONG:
            return "its name is too long for this file system"
        if exc.errno == errno.ENOENT:
            return "it disappeared or is a link to nothing"
        return f"it cannot be read ({exc.strerror or text})"
    if "NaN" in text or "nan" in text.split():
        return f"a value in it is missing or not a number ({type(exc).__name__}: {text})"
    return f"unexpected {type(exc).__name__}: {text}" if text else f"unexpected {type(exc).__name__}"


def describe_failure(path: Path, stage: str, exc: BaseException, annotation_path: Path | None = None) -> str:
    """``FILE: problem (while STAGE)``, naming the annotation file when the annotations are at fault."""
    where = STAGE_WORDS.get(stage, stage)
    if isinstance(exc, PSGError):
        return f"{exc} (while {where})"
    if stage == "annotations":
        target = str(annotation_path) if annotation_path else f"{path} (its EDF+ annotations)"
    else:
        target = str(path)
    return f"{target}: {_problem(exc)} (while {where})"
