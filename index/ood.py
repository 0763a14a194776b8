"""How far a recording's epochs lie from the data the model was trained on (out-of-distribution score).

The reference is a small asset beside the weights (``<weights stem>.ood.npz``, e.g.
``encoder/assets/sleeplm-tiny.ood.npz``): the mean and the inverse (Ledoit-Wolf shrunk)
covariance of epoch embeddings of held-out simulated nights of the training distribution, and
the 99th percentile of their Mahalanobis distances measured on *other* held-out nights than
those the mean and covariance were fitted on (so the percentile is not flattered by the fit).

Scores
------
* epoch score = Mahalanobis distance of the epoch vector / that 99th percentile. Above
  :data:`THRESHOLD` (1.0), the epoch lies further from the training data than 99 % of held-out
  training-distribution epochs do.
* night score = the median epoch score of the night. Above :data:`THRESHOLD`, the typical epoch
  of the night is beyond what the model was trained on: its model-derived answers (captions,
  search, zero-shot stages, localization) are extrapolations.

The asset records the sha256 of the weights it was made for; another model's vectors get no score
(``None``), never a score against the wrong reference.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: Epoch and night scores above this are out of distribution (see the module docstring).
THRESHOLD = 1.0
#: Percentile of held-out training-distribution distances that a score of 1.0 stands for.
CALIBRATION_PERCENTILE = 99.0


@dataclass(frozen=True)
class OODReference:
    """Reference statistics of one model's epoch embeddings on its training distribution.

    Attributes
    ----------
    model_sha256 : sha256 of the weights file the statistics were computed with.
    mean : ``[D]`` mean epoch vector.
    precision : ``[D, D]`` inverse of the shrunk covariance.
    scale : the calibration percentile of the held-out Mahalanobis distances.
    info : where the statistics come from (nights, seeds, sizes), as written in the asset.
    """

    model_sha256: str
    mean: np.ndarray
    precision: np.ndarray
    scale: float
    info: dict[str, object]

    def epoch_scores(self, vectors: np.ndarray) -> np.ndarray:
        """``[N]`` epoch scores (Mahalanobis distance / the calibration percentile)."""
        return mahalanobis(np.asarray(vectors, np.float64), self.mean, self.precision) / self.scale


def mahalanobis(vectors: np.ndarray, mean: np.ndarray, precision: np.ndarray) -> np.ndarray:
    """Mahalanobis distance of each row of ``vectors`` to ``mean`` under ``precision``."""
    d = np.asarray(vectors, np.float64) - mean
    return np.sqrt(np.maximum(np.einsum("nd,de,ne->n", d, precision, d), 0.0))


def night_score(epoch_scores: np.ndarray) -> float | None:
    """The night's score: the median of its epoch scores (None for a night without epochs)."""
    s = np.asarray(epoch_scores, np.float64)
    return float(np.median(s)) if s.size else None


def fit_reference(fit_vectors: np.ndarray, calibration_vectors: np.ndarray, model_sha256: str,
                  info: dict[str, object]) -> OODReference:
    """Mean and shrunk covariance from ``fit_vectors``; the score scale from ``calibration_vectors``.

    Parameters
    ----------
    fit_vectors : ``[N, D]`` epoch vectors of held-out training-distribution nights.
    calibration_vectors : ``[M, D]`` epoch vectors of *other* such nights (the 99th percentile
        of their distances becomes the unit of the score).
    model_sha256 : the weights' sha256.
    info : provenance written into the asset.
    """
    from sklearn.covariance import LedoitWolf

    fit = np.asarray(fit_vectors, np.float64)
    lw = LedoitWolf().fit(fit)
    mean, precision = lw.location_, lw.precision_
    scale = float(np.percentile(mahalanobis(calibration_vectors, mean, precision), CALIBRATION_PERCENTILE))
    return OODReference(model_sha256, mean, precision, scale,
                        {**info, "shrinkage": float(lw.shrinkage_), "n_fit": len(fit),
                         "n_calibration": len(calibration_vectors), "percentile": CALIBRATION_PERCENTILE})


def save_reference(ref: OODReference, path: Path) -> Path:
    """Write the asset (float32 statistics, provenance as JSON)."""
    path = Path(path)
    with open(path, "wb") as f:
        np.savez_compressed(f, mean=ref.mean.astype(np.float32), precision=ref.precision.astype(np.float32),
                            scale=np.float64(ref.scale), model_sha256=np.str_(ref.model_sha256),
                            info=np.str_(json.dumps(ref.info)))
    return path


def load_reference(path: Path) -> OODReference:
    """Read an asset written by :func:`save_reference`; a damaged file is an error naming it."""
    try:
        with np.load(Path(path), allow_pickle=False) as z:
            return OODReference(str(z["model_sha256"]), z["mean"].astype(np.float64),
                                z["precision"].astype(np.float64), float(z["scale"]), json.loads(str(z["info"])))
    except (OSError, KeyError, ValueError) as exc:
        raise ValueError(f"{path}: not a readable out-of-distribution reference ({exc})") from exc


def reference_path(weights: Path) -> Path:
    """Where the reference of a weights file lives: beside it, ``<stem>.ood.npz``."""
    weights = Path(weights)
    return weights.with_name(f"{weights.stem}.ood.npz")


def reference_for(weights: Path, sha256: str) -> OODReference | None:
    """The reference beside ``weights`` when there is one made for exactly these weights, else None."""
    path = reference_path(weights)
    if not path.is_file():
        return None
    ref = load_reference(path)
    return ref if ref.model_sha256 == sha256 else None


def build_reference(weights: Path, sha256: str, split_dir: Path, config: str | None = None,
                    stride: int = 9) -> OODReference:
    """The reference of a model from a held-out simulated split (``encoder/train/data.build_split``).

    Every ``stride``-th epoch of the split is embedded as simulated (every channel present). The
    split's first half of nights fits the mean and covariance, the second half calibrates the scale.
    Channel-dropped copies are *not* part of the reference: the model's embeddings of EEG-only
    epochs, real or simulated, collapse into one small region (real DREAMS EEG epochs lie at cosine
    distance 0.01 from their nearest simulated EEG-only epoch), so a reference that includes them
    scores real single-lead EEG as in distribution; the score instead measures the distance from the
    full-PSG nights the model reads best (README, "Out of its depth").
    """
    import pandas as pd

    from sleeplm.encoder.model import load_model

    split_dir = Path(split_dir)
    model = load_model(weights, config=config)
    info = split_dir / "info.json"
    split_scale = json.loads(info.read_text()).get("brain_scale", "sd") if info.is_file() else "sd"
    if split_scale != model.brain_scale:
        raise ValueError(f"{split_dir}: its EEG/EOG are scaled by the {split_scale!r} rule, but {Path(weights).name} "
                         f"reads recordings scaled by {model.brain_scale!r}: build the split with "
                         f"SplitSpec(brain_scale={model.brain_scale!r})")
    x = np.load(split_dir / "x.npy", mmap_mode="r")
    nights = pd.read_parquet(split_dir / "epochs.parquet")["night_id"].to_numpy()
    idx = np.arange(0, len(x), stride)
    vectors = model.encode_signal(np.asarray(x[idx], np.float32), batch_size=64)
    return reference_from_vectors(vectors, nights[idx], sha256, split_dir, stride)


def reference_from_vectors(vectors: np.ndarray, nights: np.ndarray, sha256: str, split_dir: Path,
                           stride: int) -> OODReference:
    """:func:`fit_reference` on the first half of the nights, calibrated on the second half."""
    names = sorted(set(nights.tolist()))
    fit_nights = names[: (len(names) + 1) // 2]
    fit = np.isin(nights, fit_nights)
    split_dir = Path(split_dir)
    info = {"nights": len(names), "fit_nights": fit_nights, "stride": stride, "channels": "all (as simulated)",
            "split_info": json.loads((split_dir / "info.json").read_text())
            if (split_dir / "info.json").is_file() else None}
    return fit_reference(vectors[fit], vectors[~fit], sha256, info)


def main(argv: list[str] | None = None) -> None:
    """``python -m sleeplm.index.ood SPLIT_DIR [--model sleeplm-tiny]``: write the reference beside the weights."""
    import argparse

    from .models import resolve_model

    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("split_dir", type=Path, help="held-out split folder (x.npy, epochs.parquet)")
    ap.add_argument("--model", default=None)
    ap.add_argument("--out", type=Path, default=None, help="default: beside the weights")
    a = ap.parse_args(argv)
    ref = resolve_model(a.model)
    out = save_reference(build_reference(ref.weights, ref.sha256, a.split_dir, ref.config), a.out or reference_path(ref.weights))
    print(out)


if __name__ == "__main__":
    main()


def stored_night_scores(con: object, names: list[str]) -> dict[str, float | None]:
    """The stored night scores of the named recordings (None: no reference for the model that built them)."""
    if not names:
        return {}
    rows = con.execute(  # type: ignore[attr-defined]
        "SELECT r.name, v.ood_score FROM recordings r JOIN night_vectors v USING (recording_id) "
        "WHERE r.name IN (SELECT unnest(?))", [list(names)]).fetchall()
    return {str(n): (None if s is None else float(s)) for n, s in rows}
