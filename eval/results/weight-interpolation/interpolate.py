"""Weight-space interpolation between two sleeplm-tiny fine-tunings of the same start weights (WiSE-FT, Wortsman et
al. 2022; a uniform "model soup" of seeds is the special case alpha = 0.5 with both ends from one recipe).

    python eval/results/weight-interpolation/interpolate.py A.safetensors B.safetensors ALPHA OUT.safetensors

writes ``(1 - alpha) * A + alpha * B`` for every parameter both files hold. When only B has the spectral summary
(``biosignals.spectral_summary.*``; A is a model without one, such as v8), A is read as "A plus B's summary with its
output layer at zero", which computes exactly A's function (the summary's output layer is zero-initialised for that
reason): the summary's hidden layer is B's and its output layer is ``alpha`` times B's. The path's ends are then A's
and B's functions, and every point on it is a model of B's architecture. The text tower and decoder are copied when
equal in both files (the fine-tunings trained the signal tower only) and interpolated otherwise. The config metadata
is B's.
"""

from __future__ import annotations

import sys

import torch
from safetensors import safe_open
from safetensors.torch import save_file

SUMMARY = "biosignals.spectral_summary."
SUMMARY_OUT = SUMMARY + "mlp.2."


def interpolate(path_a: str, path_b: str, alpha: float, out: str) -> dict:
    """Write the interpolated weights; return counts of what was interpolated, copied and scaled."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must lie in [0, 1], got {alpha}")
    with safe_open(path_a, "pt") as fa, safe_open(path_b, "pt") as fb:
        keys_a, keys_b = set(fa.keys()), set(fb.keys())
        only_b = keys_b - keys_a
        if keys_a - keys_b:
            raise ValueError(f"{path_a} has parameters {path_b} lacks: {sorted(keys_a - keys_b)[:5]}")
        if only_b and not all(k.startswith(SUMMARY) for k in only_b):
            raise ValueError(f"{path_b} has parameters beyond the spectral summary that {path_a} lacks: "
                             f"{sorted(k for k in only_b if not k.startswith(SUMMARY))[:5]}")
        counts = {"interpolated": 0, "equal": 0, "summary hidden (B's)": 0, "summary output (alpha x B's)": 0}
        tensors = {}
        for k in sorted(keys_b):
            b = fb.get_tensor(k)
            if k in only_b:
                if k.startswith(SUMMARY_OUT):
                    tensors[k] = (alpha * b.float()).to(b.dtype)
                    counts["summary output (alpha x B's)"] += 1
                else:
                    tensors[k] = b
                    counts["summary hidden (B's)"] += 1
                continue
            a = fa.get_tensor(k)
            if a.shape != b.shape:
                raise ValueError(f"{k}: shape {tuple(a.shape)} in {path_a}, {tuple(b.shape)} in {path_b}")
            if torch.equal(a, b):
                tensors[k] = b
                counts["equal"] += 1
            else:
                tensors[k] = ((1.0 - alpha) * a.float() + alpha * b.float()).to(b.dtype)
                counts["interpolated"] += 1
        save_file({k: v.contiguous() for k, v in tensors.items()}, out, metadata=fb.metadata())
    return counts


if __name__ == "__main__":
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    print(interpolate(sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]))
