"""Zero every GPU code image in a library's ``.nv_fatbin`` except the SASS of the architectures kept.

The faiss-gpu wheel's ``libfaiss.so`` carries machine code for sm_70..sm_90 plus compute_90 PTX (180 MB);
the device machine is an sm_90 H200 and a call carries at most 64 MiB. Zeroed images keep their headers
and sizes (the ELF layout is unchanged), so the file compresses to a fraction; the driver loads the sm_90
image it picks and never reads the others. Benchmark tooling only: the project installs the wheel as is.

    python bench/gpu_faiss/thin_fatbin.py IN.so                 # list images by (kind, arch)
    python bench/gpu_faiss/thin_fatbin.py IN.so OUT.so --keep 90
"""

from __future__ import annotations

import argparse
import collections
import struct
import subprocess
from pathlib import Path

FATBIN_MAGIC = 0xBA55ED50
KIND = {1: "ptx", 2: "sass"}


def fatbin_section(path: Path) -> tuple[int, int]:
    """(file offset, size) of ``.nv_fatbin``, read with ``readelf``."""
    out = subprocess.run(["readelf", "-S", "-W", str(path)], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        if ".nv_fatbin" in line:
            fields = line.split("]", 1)[1].split()
            return int(fields[3], 16), int(fields[4], 16)
    raise SystemExit(f"{path}: no .nv_fatbin section")


def images(data: bytes | bytearray, offset: int, size: int) -> list[tuple[int, int, int, int, int]]:
    """Every code image as (entry offset, kind, sm, header size, padded payload size)."""
    out, pos, end = [], offset, offset + size
    while pos < end:
        magic, _version, header, fat_size = struct.unpack_from("<IHHQ", data, pos)
        if magic != FATBIN_MAGIC:  # alignment padding between fat binaries
            pos += 8
            continue
        entry, stop = pos + header, pos + header + fat_size
        while entry < stop:
            kind, _v, entry_header, payload = struct.unpack_from("<HHII", data, entry)
            sm = struct.unpack_from("<I", data, entry + 28)[0]
            out.append((entry, kind, sm, entry_header, payload))
            entry += entry_header + payload
        pos = stop
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("src", type=Path)
    ap.add_argument("dst", type=Path, nargs="?")
    ap.add_argument("--keep", default="90", help="comma-separated SASS architectures to keep (default 90)")
    a = ap.parse_args()
    data = bytearray(a.src.read_bytes())
    found = images(data, *fatbin_section(a.src))
    sizes = collections.Counter()
    for _, kind, sm, _, payload in found:
        sizes[(KIND.get(kind, kind), sm)] += payload
    for (kind, sm), n in sorted(sizes.items(), key=str):
        print(f"{kind} sm_{sm}: {n / 1e6:.1f} MB")
    if a.dst:
        keep = {int(s) for s in a.keep.split(",")}
        zeroed = 0
        for entry, kind, sm, header, payload in found:
            if not (kind == 2 and sm in keep):
                data[entry + header: entry + header + payload] = bytes(payload)
                zeroed += payload
        a.dst.write_bytes(data)
        print(f"zeroed {zeroed / 1e6:.1f} MB of {len(found)} images; kept SASS for sm_{sorted(keep)}")


if __name__ == "__main__":
    main()
