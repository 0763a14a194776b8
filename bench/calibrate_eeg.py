"""Compare simulated EEG relative band powers per stage with the real DREAMS statistics.

Usage::

    python bench/calibrate_eeg.py [--nights 4] [--seed 0] [--real PATH] [--wake-artifacts]

Prints the markdown tables used in docs/calibration.md (EEG band powers; hypnogram
statistics against the real YASA hypnograms), the largest |z|, and the
``CALIBRATION_GAIN`` values one more fixed-point iteration would use.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from sleeplm.encoder.sim.calibration import (eeg_calibration, hypnogram_comparison, hypnogram_markdown,
                                                  markdown_table, suggest_gains)

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "real" / "dreams-eeg-bandpower-by-stage.json"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--nights", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--hours", type=float, default=8.0)
    ap.add_argument("--real", type=Path, default=REAL)
    ap.add_argument("--wake-artifacts", action="store_true", help="simulate wake with eye-movement, muscle and "
                                                                   "movement artifacts (encoder/sim/eeg.py)")
    a = ap.parse_args()
    rows = eeg_calibration(a.real, a.nights, a.seed, a.hours, wake_artifacts=a.wake_artifacts)
    print(markdown_table(rows))
    print(f"\nmax |z| = {max(abs(r['z']) for r in rows):.2f}")
    print("\nsuggested CALIBRATION_GAIN:")
    for s, g in suggest_gains(rows, wake_artifacts=a.wake_artifacts).items():
        print(f'    "{s}": {g},')
    hyp_dir = a.real.parent / "yasa-hypnograms"
    if hyp_dir.is_dir():
        print("\nhypnograms (simulated: mean over nights):")
        print(hypnogram_markdown(hypnogram_comparison(sorted(hyp_dir.glob("*.txt")))))


if __name__ == "__main__":
    main()
