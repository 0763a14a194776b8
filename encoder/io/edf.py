"""Read EDF, EDF+ and BDF recordings.

:func:`read_recording` opens a file with pyedflib. Real clinical files are often
not compliant (bad header fields, odd dates, non-ASCII labels, physical min ==
max, a truncated last record); when pyedflib refuses such a file, a lenient reader
(:mod:`sleeplm.encoder.io.edf_lenient`) parses the header itself, repairs what it can
and lists every repair in ``Recording.repairs``.

Whatever the path, problems that make a file unusable raise :class:`PSGError`
naming the file and the problem: not an EDF, truncated header, zero duration,
discontinuous EDF+D, non-finite samples.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import numpy as np

from sleeplm.encoder.io.edf_lenient import EDFHeader, parse_header, read_lenient, sniff_file_type
from sleeplm.encoder.io.records import PSGError, Recording, Signal
from sleeplm.encoder.io.textsig import is_text_signal, read_text_signal

#: Longest recording accepted (7 days); a longer one means a header field is wrong.
MAX_RECORDING_S = 7 * 24 * 3600.0

#: The reader only loads these labels' samples when asked to (see ``labels=``).
ANNOTATION_LABELS = ("EDF Annotations", "BDF Annotations")


def read_recording(
    path: str | Path,
    labels: Iterable[str] | None = None,
    header_only: bool = False,
) -> Recording:
    """Read a PSG file.

    Parameters
    ----------
    path : str or Path
        An EDF, EDF+ (continuous) or BDF file, or a DREAMS-style text signal
        (see :mod:`sleeplm.encoder.io.textsig`).
    labels : iterable of str, optional
        Source labels whose samples to load (all when None). Other signals are
        listed with empty data, so a caller can map channels first and then load
        only what it needs.
    header_only : bool
        Load no samples at all (channel list, rates and duration only).

    Returns
    -------
    Recording

    Raises
    ------
    PSGError
        When the file cannot be used; the message names the file and the problem.
    """
    path = Path(path)
    if not path.is_file():
        if path.is_dir():
            raise PSGError(path, "is a folder, not a recording file")
        if path.is_symlink():
            raise PSGError(path, "is a symbolic link to nothing (or one that loops back on itself)")
        raise PSGError(path, "no such file")
    if path.suffix.lower() == ".txt" and is_text_signal(path):
        rec = read_text_signal(path)
        if header_only or (labels is not None and not set(labels) & set(rec.labels)):
            for s in rec.signals:
                s.data = np.zeros(0, np.float32)
        return rec
    file_type = sniff_file_type(path)  # raises PSGError for non-EDF content
    header = parse_header(path)  # raises for a truncated header, EDF+D, zero records
    wanted = None if labels is None else set(labels)

    rec = _read_pyedflib(path, file_type, wanted, header_only, header)
    if rec is None:
        rec = read_lenient(path, header, wanted, header_only)
    _validate(rec, header_only)
    return rec


def _physical_block(path: Path, header: EDFHeader, reader) -> Callable[[int], np.ndarray] | None:
    """Physical samples of signal ``i`` straight from the data records, with pyedflib's own arithmetic.

    pyedflib reads a signal by walking every data record once per signal (about 11 M samples/s
    here: 7 s for the 13 signals of a 6.5-h night); the records are one ``(n_records, record)``
    array, so each signal is a strided slice of one memory map. The conversion is edflib's,
    in float64 with the calibration pyedflib parsed: ``bitvalue * (offset + digital)``, with
    ``bitvalue = (phys_max - phys_min) / (dig_max - dig_min)`` and
    ``offset = phys_max / bitvalue - dig_max`` — the same values as ``readSignal`` (tested
    sample for sample). None when the file's size does not match its header (pyedflib's path then).
    """
    bps = header.bytes_per_sample
    n_rec = int(reader.datarecords_in_file)
    per_record = np.array([int(reader.getNSamples()[i]) // max(n_rec, 1) for i in range(reader.signals_in_file)])
    if n_rec <= 0 or n_rec != header.n_records:
        return None
    rec_bytes = header.record_bytes
    if path.stat().st_size < header.header_bytes + n_rec * rec_bytes:
        return None
    # the header's signal list includes the annotation signal pyedflib hides: map pyedflib's index → header's
    visible = [j for j, lab in enumerate(header.labels) if lab not in ANNOTATION_LABELS]
    if len(visible) != reader.signals_in_file or any(
        int(header.n_samples[j]) != int(per_record[i]) for i, j in enumerate(visible)
    ):
        return None
    ends = np.cumsum(header.n_samples) * bps
    starts = ends - header.n_samples * bps
    block = np.memmap(path, dtype=np.uint8, mode="r", offset=header.header_bytes,
                      shape=(n_rec, rec_bytes))

    def physical(i: int) -> np.ndarray:
        j = visible[i]
        raw = np.ascontiguousarray(block[:, starts[j]:ends[j]]).reshape(-1)
        if bps == 2:
            digital = raw.view("<i2").astype(np.float64)
        else:
            b = raw.reshape(-1, 3).astype(np.int32)
            v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
            digital = np.where(v >= 2**23, v - 2**24, v).astype(np.float64)
        pmax, pmin = reader.getPhysicalMaximum(i), reader.getPhysicalMinimum(i)
        dmax, dmin = reader.getDigitalMaximum(i), reader.getDigitalMinimum(i)
        bitvalue = (pmax - pmin) / (dmax - dmin)
        offset = pmax / bitvalue - dmax
        return (bitvalue * (offset + digital)).astype(np.float32)

    return physical


@contextlib.contextmanager
def _c_stdout_to_stderr() -> Iterator[None]:
    """Send what C code prints on file descriptor 1 to stderr meanwhile: pyedflib prints "filesize ... != ..." on
    stdout when it refuses a file, which would corrupt ``sleeplm inspect --json`` (the lenient reader then says in
    its own words what it repaired)."""
    try:
        sys.stdout.flush()
        saved = os.dup(1)
    except (OSError, ValueError, AttributeError):  # no usable fd 1 (e.g. a closed or replaced stdout)
        yield
        return
    try:
        os.dup2(2, 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def _read_pyedflib(
    path: Path, file_type: str, wanted: set[str] | None, header_only: bool, header: EDFHeader
) -> Recording | None:
    """Read with pyedflib; None when pyedflib refuses the file (the caller falls back).

    pyedflib validates the file and reads the header and annotations; the samples of a file whose
    size matches its header are read with :func:`_physical_block` (the same values, ~10× faster).
    """
    import pyedflib

    try:
        with _c_stdout_to_stderr():
            reader = pyedflib.EdfReader(str(path))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    try:
        n = reader.signals_in_file
        duration_s = float(reader.getFileDuration())
        try:
            start = reader.getStartdatetime()
        except (ValueError, OSError):
            start = None
        signals: list[Signal] = []
        fast = None if header_only else _physical_block(path, header, reader)
        for i in range(n):
            label = reader.getLabel(i).strip()
            fs = float(reader.getSampleFrequency(i))
            load = not header_only and (wanted is None or label in wanted)
            if not load:
                data = np.zeros(0, np.float32)
            elif fast is not None:
                data = fast(i)
            else:
                data = reader.readSignal(i, digital=False).astype(np.float32)
            signals.append(
                Signal(
                    label=label,
                    data=data,
                    fs_hz=fs,
                    unit=reader.getPhysicalDimension(i).strip(),
                    transducer=reader.getTransducer(i).strip(),
                    prefilter=reader.getPrefilter(i).strip(),
                )
            )
        onsets, durations, texts = reader.readAnnotations()
        tal = [
            (float(o), float(d) if d is not None and d >= 0 else 0.0, str(t).strip())
            for o, d, t in zip(onsets, durations, texts)
        ]
    finally:
        reader.close()
    return Recording(
        path=path,
        start_time=start,
        duration_s=duration_s,
        signals=signals,
        file_type=file_type,
        annotations_tal=tal,
    )


def _validate(rec: Recording, header_only: bool) -> None:
    """Raise for unusable content; add warnings for suspicious but usable signals."""
    if rec.duration_s <= 0 or not np.isfinite(rec.duration_s):
        raise PSGError(rec.path, f"zero duration (header gives {rec.duration_s} s of data)")
    if rec.duration_s > MAX_RECORDING_S:
        raise PSGError(rec.path, f"the header says the recording lasts {rec.duration_s:.3g} s ({rec.duration_s / 86400:.3g} "
                                 "days), more than 7 days: its data-record duration or record count is wrong")
    bad_fs = [s.label for s in rec.signals if not (np.isfinite(s.fs_hz) and s.fs_hz > 0)]
    if bad_fs:
        raise PSGError(rec.path, f"signals without a usable sampling rate: {bad_fs}")
    if not rec.signals:
        raise PSGError(rec.path, "the file holds no signals")
    if header_only:
        return
    for s in rec.signals:
        if s.data.size == 0:
            continue
        finite = np.isfinite(s.data)
        if not finite.all():
            bad = int((~finite).sum())
            raise PSGError(
                rec.path,
                f"signal '{s.label}' has {bad} non-finite samples (NaN/inf); check the header's "
                "physical/digital ranges",
            )
        if float(np.ptp(s.data)) == 0.0:
            rec.warnings.append(f"signal '{s.label}' is flat (constant {float(s.data[0]):g} {s.unit})")
