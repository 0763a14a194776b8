"""Read + map + preprocess an 8-hour 16-channel EDF: seconds and peak memory.

Usage: python bench/bench_read.py [--hours 8] [--out bench/results/read.json]

Writes a synthetic EDF+ (16 channels at typical PSG rates) to a temp folder, then
times each stage of the pipeline the ingestion uses. Prints a table, writes JSON.
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import pyedflib

from sleeplm.encoder.io.channels import apply_plan, needed_labels, plan_channels
from sleeplm.encoder.io.edf import read_recording
from sleeplm.encoder.signals.preprocess import make_epochs
from sleeplm.encoder.io.records import MappedRecording

CHANNELS = [  # label, fs_hz, unit
    ("C3-M2", 256, "uV"), ("C4-M1", 256, "uV"), ("F3-M2", 256, "uV"), ("O1-M2", 256, "uV"),
    ("E1-M2", 256, "uV"), ("E2-M2", 256, "uV"), ("Chin1-Chin2", 256, "uV"), ("ECG II", 256, "mV"),
    ("Leg L", 256, "uV"), ("Leg R", 256, "uV"), ("Thor", 32, "uV"), ("Abdo", 32, "uV"),
    ("NasalP", 32, "cmH2O"), ("Therm", 32, "uV"), ("SpO2", 1, "%"), ("Position", 1, ""),
]


def write_night(path: Path, hours: float, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    seconds = int(hours * 3600)
    w = pyedflib.EdfWriter(str(path), len(CHANNELS), file_type=pyedflib.FILETYPE_EDFPLUS)
    w.setSignalHeaders([
        {"label": lab, "dimension": unit, "sample_frequency": fs, "physical_min": -500.0, "physical_max": 500.0,
         "digital_min": -32768, "digital_max": 32767, "transducer": "", "prefilter": ""}
        for lab, fs, unit in CHANNELS
    ])
    chunk_s = 600  # write 10 minutes at a time to bound memory
    for start in range(0, seconds, chunk_s):
        n = min(chunk_s, seconds - start)
        block = []
        for lab, fs, _ in CHANNELS:
            if lab == "Position":
                block.append(np.full(n * fs, 2.0))
            elif lab == "SpO2":
                block.append(95 + rng.normal(0, 1, n * fs))
            else:
                block.append(np.clip(rng.normal(0, 40, n * fs), -499, 499))
        w.writeSamples(block)
    w.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hours", type=float, default=8.0)
    ap.add_argument("--out", type=Path, default=Path("bench/results/read.json"))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "night.edf"
        t0 = time.perf_counter()
        write_night(path, args.hours)
        t_write = time.perf_counter() - t0
        rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        times = {}
        t0 = time.perf_counter()
        header = read_recording(path, header_only=True)
        sources, unmapped = plan_channels(header)
        times["header + channel plan"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        rec = read_recording(path, labels=needed_labels(sources))
        times["read mapped signals"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        channels, coding = apply_plan(rec, sources)
        times["derive + units + position"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        epochs = make_epochs(MappedRecording(rec, channels, sources, unmapped, coding))
        times["filter + resample + z-score + epoch"] = time.perf_counter() - t0
        rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        size_mb = path.stat().st_size / 2**20
    total = sum(times.values())
    print(f"{args.hours:g}-h EDF+, {len(CHANNELS)} channels, {size_mb:.0f} MB on disk "
          f"(written in {t_write:.1f} s); {len(epochs)} epochs -> x {tuple(epochs.x.shape)}")
    print(f"{'stage':40s} {'seconds':>8s} {'share':>6s}")
    for k, v in times.items():
        print(f"{k:40s} {v:8.2f} {v / total:6.1%}")
    print(f"{'total':40s} {total:8.2f}")
    print(f"peak RSS {rss1:.0f} MB (before reading {rss0:.0f} MB); model input {epochs.x.nbytes / 2**20:.0f} MB")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"hours": args.hours, "channels": len(CHANNELS), "file_mb": size_mb,
                                    "seconds": times, "total_s": total, "peak_rss_mb": rss1,
                                    "epochs": len(epochs)}, indent=2))


if __name__ == "__main__":
    main()
