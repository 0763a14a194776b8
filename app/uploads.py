"""Uploaded recordings: type and size checks, then staging into the workspace for ingestion.

A browser upload arrives as temporary files. :func:`check_uploads` refuses anything that is not a
recording (``.edf``/``.bdf``), an annotation file (``.xml``/``.csv``/``.txt``), or a subjects CSV, and
anything larger than the size limit. :func:`stage_uploads` copies the accepted files into
``WORKSPACE/uploads/<batch>/`` (they must outlive the request: the agent reads signals from them
later), pairing a lone annotation file with a lone recording by renaming it to the recording's
sidecar name.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sleeplm.index.cohort_files import SUBJECTS_CSV

RECORDING_TYPES = (".edf", ".bdf")
ANNOTATION_TYPES = (".xml", ".csv", ".txt")
ALLOWED_TYPES = RECORDING_TYPES + ANNOTATION_TYPES
DEFAULT_MAX_UPLOAD_BYTES = 2 * 1024**3  # 2 GiB per file
MAX_FILES = 16


class UploadError(ValueError):
    """An upload that is refused (type, size, count, or nothing to ingest)."""


@dataclass
class StagedUpload:
    """Files copied into the workspace, ready for ingestion."""

    folder: Path
    recordings: list[Path] = field(default_factory=list)
    annotations: list[Path] = field(default_factory=list)
    subjects_csv: Path | None = None


def _safe_name(name: str) -> str:
    """The file's base name with anything but letters, digits, ``._-`` replaced (no paths, no dotfiles)."""
    base = Path(name.replace("\\", "/")).name
    base = re.sub(r"[^A-Za-z0-9._-]", "_", base).lstrip(".")
    if not base:
        raise UploadError(f"{name!r} is not a usable file name")
    return base


def check_uploads(paths: list[Path], max_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
                  names: list[str] | None = None) -> None:
    """Raise :class:`UploadError` unless every file has an allowed type and size, and one is a recording.

    ``names`` are the original file names (default: the paths' names).
    """
    if not paths:
        raise UploadError("no file uploaded")
    if len(paths) > MAX_FILES:
        raise UploadError(f"{len(paths)} files uploaded; at most {MAX_FILES} at once")
    names = names or [Path(p).name for p in paths]
    for path, name in zip(paths, names):
        suffix = Path(name).suffix.lower()
        if suffix not in ALLOWED_TYPES:
            raise UploadError(f"{name}: file type {suffix or '(none)'} refused; allowed: {', '.join(ALLOWED_TYPES)}")
        size = Path(path).stat().st_size
        if size > max_bytes:
            raise UploadError(f"{name}: {size:,} bytes is over the upload limit of {max_bytes:,} bytes")
    if not any(Path(n).suffix.lower() in RECORDING_TYPES for n in names):
        raise UploadError("no recording among the files: upload an .edf or .bdf file (and its annotation file)")


def stage_uploads(paths: list[Path], workspace: Path, max_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
                  names: list[str] | None = None) -> StagedUpload:
    """Check, then copy the files into a new ``uploads/<batch>`` folder of the workspace."""
    paths = [Path(p) for p in paths]
    names = names or [p.name for p in paths]
    check_uploads(paths, max_bytes, names)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    folder = Path(workspace) / "uploads" / stamp
    folder.mkdir(parents=True, exist_ok=False)
    staged = StagedUpload(folder)
    for path, name in zip(paths, names):
        dest = folder / _safe_name(name)
        shutil.copyfile(path, dest)
        if dest.name.lower() == SUBJECTS_CSV:
            staged.subjects_csv = dest
        elif dest.suffix.lower() in RECORDING_TYPES:
            staged.recordings.append(dest)
        else:
            staged.annotations.append(dest)
    _pair_lone_annotation(staged)
    return staged


def _pair_lone_annotation(staged: StagedUpload) -> None:
    """One recording + one annotation file with another stem: give the annotation the sidecar name."""
    if len(staged.recordings) != 1 or len(staged.annotations) != 1:
        return
    rec, ann = staged.recordings[0], staged.annotations[0]
    if ann.name.lower().startswith(rec.stem.lower()):
        return
    target = ann.with_name(f"{rec.stem}{ann.suffix.lower()}")
    ann.rename(target)
    staged.annotations[0] = target
