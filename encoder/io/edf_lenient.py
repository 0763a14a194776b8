"""A lenient EDF/BDF reader for files that strict readers refuse.

The EDF header is fixed-width ASCII; real files break it in many small ways
(UTF-8 or Latin-1 labels, numbers wider than their field, dates like
``06.02.1801.36.50``, physical min == max, a record count of -1, a file cut in
the middle of a record). This module parses the header field by field, repairs
what can be repaired and says so in ``Recording.repairs``; samples are read with
numpy straight from the file (little-endian int16 for EDF, int24 for BDF).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np

from sleeplm.encoder.io.records import PSGError, Recording, Signal

#: How the repair begins when the file holds fewer data records than its header announces (a cut-short file).
FEWER_RECORDS = "header announces"
_FIELDS = (
    ("label", 16),
    ("transducer", 80),
    ("unit", 8),
    ("phys_min", 8),
    ("phys_max", 8),
    ("dig_min", 8),
    ("dig_max", 8),
    ("prefilter", 80),
    ("n_samples", 8),
    ("reserved", 32),
)


@dataclass
class EDFHeader:
    """The parsed header of an EDF/BDF file, with the repairs its parsing needed."""

    file_type: str  # "EDF", "EDF+C", "BDF", "BDF+C"
    header_bytes: int
    n_records: int
    record_duration_s: float
    start_time: datetime | None
    labels: list[str]
    transducers: list[str]
    units: list[str]
    phys_min: np.ndarray
    phys_max: np.ndarray
    dig_min: np.ndarray
    dig_max: np.ndarray
    prefilters: list[str]
    n_samples: np.ndarray  # samples per record, per signal
    repairs: list[str] = field(default_factory=list)

    @property
    def bytes_per_sample(self) -> int:
        return 3 if self.file_type.startswith("BDF") else 2

    @property
    def record_bytes(self) -> int:
        return int(self.n_samples.sum()) * self.bytes_per_sample


def sniff_file_type(path: Path) -> str:
    """Return "EDF" or "BDF" from the first bytes, or raise PSGError."""
    with open(path, "rb") as f:
        head = f.read(256)
    if len(head) == 0:
        raise PSGError(path, "empty file (0 bytes)")
    if head[:1] == b"\xff" and head[1:8] == b"BIOSEMI":
        kind = "BDF"
    elif head[:8].strip() == b"0":
        kind = "EDF"
    else:
        shown = head[:8].decode("latin-1", errors="replace")
        raise PSGError(path, f"not an EDF/BDF file (version field is {shown!r}, expected '0' or BIOSEMI)")
    if len(head) < 256:
        raise PSGError(path, f"truncated: {len(head)} bytes, shorter than the 256-byte EDF header")
    return kind


def _text(raw: bytes) -> tuple[str, bool]:
    """Decode a header field: ASCII as it should be, else UTF-8, else Latin-1 (flagged)."""
    try:
        return raw.decode("ascii").strip(), False
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("utf-8").strip(), True
    except UnicodeDecodeError:
        return raw.decode("latin-1").strip(), True


def _number(raw: str) -> float | None:
    txt = raw.strip().replace(",", ".")
    try:
        return float(txt)
    except ValueError:
        m = re.match(r"[-+]?\d*\.?\d+(e[-+]?\d+)?", txt, re.I)
        return float(m.group(0)) if m else None


def _start_time(date: str, time: str) -> datetime | None:
    parts_d = re.findall(r"\d+", date)
    parts_t = re.findall(r"\d+", time)
    if len(parts_d) < 3 or len(parts_t) < 3:
        return None
    dd, mm, yy = (int(p) for p in parts_d[:3])
    year = yy if yy >= 1000 else (1900 + yy if yy >= 85 else 2000 + yy)
    try:
        return datetime(year, mm, dd, int(parts_t[0]), int(parts_t[1]), int(parts_t[2]))
    except ValueError:
        return None


def parse_header(path: Path) -> EDFHeader:
    """Parse an EDF/BDF header leniently; raise PSGError for what cannot be used."""
    kind = sniff_file_type(path)
    size = path.stat().st_size
    with open(path, "rb") as f:
        main = f.read(256)
        repairs: list[str] = []
        ns_val = _number(main[252:256].decode("latin-1"))
        if ns_val is None or ns_val <= 0:
            raise PSGError(path, f"header gives no valid signal count ({main[252:256]!r})")
        ns = int(ns_val)
        raw = f.read(ns * 256)
    if len(raw) < ns * 256:
        raise PSGError(path, f"truncated: header announces {ns} signals but the file ends inside the header")

    reserved = main[192:236].decode("latin-1").strip()
    if reserved.startswith(("EDF+D", "BDF+D")):
        raise PSGError(
            path,
            "discontinuous EDF+D/BDF+D recordings are not supported (the data records have gaps); "
            "export the recording as continuous EDF+C",
        )
    file_type = kind + ("+C" if reserved.startswith(("EDF+C", "BDF+C")) else "")

    cols: dict[str, list[str]] = {}
    offset = 0
    for name, width in _FIELDS:
        values, odd_values = [], []
        for i in range(ns):
            txt, odd = _text(raw[offset + i * width : offset + (i + 1) * width])
            if odd:
                odd_values.append(txt)
            values.append(txt)
        if odd_values:
            shown = ", ".join(repr(v) for v in odd_values[:3]) + (", ..." if len(odd_values) > 3 else "")
            repairs.append(f"{len(odd_values)} {name} field(s) not ASCII, decoded as UTF-8/Latin-1: {shown}")
        cols[name] = values
        offset += ns * width

    def numbers(name: str, default: float) -> np.ndarray:
        out = np.empty(ns)
        for i, txt in enumerate(cols[name]):
            v = _number(txt)
            if v is None:
                repairs.append(f"signal {i} ('{cols['label'][i]}') {name} {txt!r} unreadable; using {default}")
                v = default
            out[i] = v
        return out

    full_scale = 2**23 if kind == "BDF" else 2**15
    phys_min, phys_max = numbers("phys_min", -full_scale), numbers("phys_max", full_scale - 1)
    dig_min, dig_max = numbers("dig_min", -full_scale), numbers("dig_max", full_scale - 1)
    n_samples = numbers("n_samples", 0).astype(np.int64)

    header_bytes_val = _number(main[184:192].decode("latin-1"))
    header_bytes = 256 * (ns + 1)
    if header_bytes_val is None or int(header_bytes_val) != header_bytes:
        repairs.append(f"header size field {main[184:192]!r} is wrong; using {header_bytes} bytes")
    duration_val = _number(main[244:252].decode("latin-1"))
    if duration_val is None or duration_val <= 0:
        raise PSGError(path, f"header gives no valid data-record duration ({main[244:252]!r})")
    if (n_samples <= 0).any():
        bad = [cols["label"][i] for i in np.flatnonzero(n_samples <= 0)]
        raise PSGError(path, f"signals with no samples per record: {bad}")

    header = EDFHeader(
        file_type=file_type,
        header_bytes=header_bytes,
        n_records=0,
        record_duration_s=float(duration_val),
        start_time=_start_time(main[168:176].decode("latin-1"), main[176:184].decode("latin-1")),
        labels=cols["label"],
        transducers=cols["transducer"],
        units=cols["unit"],
        phys_min=phys_min,
        phys_max=phys_max,
        dig_min=dig_min,
        dig_max=dig_max,
        prefilters=cols["prefilter"],
        n_samples=n_samples,
        repairs=repairs,
    )
    if header.start_time is None:
        repairs.append(f"start date/time {main[168:184]!r} unreadable; clock unknown")

    stated_val = _number(main[236:244].decode("latin-1"))
    stated = int(stated_val) if stated_val is not None else -1
    available = (size - header_bytes) // header.record_bytes
    if available <= 0:
        raise PSGError(path, "zero duration: the file holds no complete data record")
    if stated != available:
        if stated > available or stated < 0:
            repairs.append(
                f"{FEWER_RECORDS} {stated} data records but the file holds {available} complete ones "
                "(truncated or unknown count); reading those"
            )
        else:
            repairs.append(f"file has {available - stated} data records beyond the {stated} announced; ignoring them")
            available = stated
    if (size - header_bytes) % header.record_bytes and stated > available:
        repairs.append("the last data record is incomplete; dropped")
    header.n_records = int(available)
    return header


def _gain_offset(h: EDFHeader, i: int) -> tuple[float, float]:
    dig_span = h.dig_max[i] - h.dig_min[i]
    phys_span = h.phys_max[i] - h.phys_min[i]
    if dig_span == 0 or phys_span == 0:
        h.repairs.append(
            f"signal '{h.labels[i]}' has physical min == max or digital min == max; using raw digital values"
        )
        return 1.0, 0.0
    gain = phys_span / dig_span
    return gain, h.phys_min[i] - gain * h.dig_min[i]


def _tal(raw: bytes) -> list[tuple[float, float, str]]:
    """Parse EDF+ time-stamped annotation lists (skips the per-record time keeping)."""
    out = []
    for tal in raw.split(b"\x00"):
        if not tal.strip(b"\x00"):
            continue
        parts = tal.split(b"\x14")
        head = parts[0].decode("latin-1")
        onset_txt, _, dur_txt = head.partition("\x15")
        onset = _number(onset_txt)
        if onset is None:
            continue
        duration = _number(dur_txt) if dur_txt else 0.0
        for text in parts[1:]:
            t = text.decode("utf-8", errors="replace").strip()
            if t:
                out.append((onset, duration or 0.0, t))
    return out


def read_lenient(
    path: Path, header: EDFHeader, wanted: set[str] | None, header_only: bool
) -> Recording:
    """Read samples with numpy after :func:`parse_header`."""
    bps = header.bytes_per_sample
    n_total = int(header.n_samples.sum())
    n_rec = header.n_records
    ends = np.cumsum(header.n_samples)
    starts = ends - header.n_samples
    ann_idx = [i for i, lab in enumerate(header.labels) if lab in ("EDF Annotations", "BDF Annotations")]
    need = [
        i
        for i in range(len(header.labels))
        if i not in ann_idx and not header_only and (wanted is None or header.labels[i] in wanted)
    ]
    block = None
    if need or ann_idx:
        raw = np.memmap(path, dtype=np.uint8, mode="r", offset=header.header_bytes, shape=(n_rec * n_total * bps,))
        block = raw.reshape(n_rec, n_total * bps)

    def digital(i: int) -> np.ndarray:
        assert block is not None
        b = block[:, starts[i] * bps : ends[i] * bps]
        if bps == 2:
            return np.ascontiguousarray(b).view("<i2").reshape(-1).astype(np.float32)
        b3 = np.ascontiguousarray(b).reshape(-1, 3).astype(np.int32)
        v = b3[:, 0] | (b3[:, 1] << 8) | (b3[:, 2] << 16)
        return np.where(v >= 2**23, v - 2**24, v).astype(np.float32)

    signals = []
    for i, label in enumerate(header.labels):
        if i in ann_idx:
            continue
        data = np.zeros(0, np.float32)
        if i in need:
            gain, offset = _gain_offset(header, i)
            data = (digital(i) * np.float32(gain) + np.float32(offset)).astype(np.float32)
        signals.append(
            Signal(
                label=label,
                data=data,
                fs_hz=float(header.n_samples[i]) / header.record_duration_s,
                unit=header.units[i],
                transducer=header.transducers[i],
                prefilter=header.prefilters[i],
            )
        )
    tal: list[tuple[float, float, str]] = []
    for i in ann_idx:
        assert block is not None
        tal.extend(_tal(bytes(block[:, starts[i] * bps : ends[i] * bps].reshape(-1))))
    return Recording(
        path=path,
        start_time=header.start_time,
        duration_s=n_rec * header.record_duration_s,
        signals=signals,
        file_type=header.file_type,
        repairs=[*header.repairs, "read with the lenient reader (pyedflib refused the file)"],
        annotations_tal=tal,
    )
