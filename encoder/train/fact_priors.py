"""Give the fact reader measured priors for the values its input holds exactly (a training stage, from a recipe).

The shipped reader reads the EEG theta and alpha relative powers to within the captions' tolerance for about 0.69 of
fresh simulated epochs, while the same Welch computation the captions use, run on the model's 64-Hz input, is within
it for 0.94-0.99; it reads RMSSD to 0.32 while the captions' own R-peak code on the input's ECG gives 0.88. Here the
recipe's groups of values (:data:`PRIOR_GROUPS`) get those measurements as priors
(:mod:`sleeplm.encoder.model.fact_priors`): every relative band power of the brain track (``brain_band_powers``, built
from the caption features' band constants, measured inside the reader) and the beat rate, RMSSD and heart rate of
the cardiac track (``cardiac_beats``, measured by the caller with the caption features' R-peak code:
:func:`sleeplm.encoder.pipeline.read_facts`). A small residual head, trained on the frozen reader's head inputs,
learns what the input lost (the EOG's slow power under its filtering). Every other value, the position and the event
head are left exactly as they were.

The record compares, on the calibration nights (never trained on), each prior value's error for the reader before,
the measurement alone, and the measurement with its residual.

Run: ``python -m sleeplm.encoder.train.fact_priors tiny-facts-priors --data DIR --out OUT.facts.safetensors``.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from sleeplm.encoder.captions.facts import TRACK_SECTIONS
from sleeplm.encoder.model.fact_priors import BandPrior, MeasuredPrior, Prior
from sleeplm.encoder.model.facts import FactModel, FactReader, save_fact_reader
from sleeplm.encoder.pipeline import fact_measurements
from sleeplm.encoder.signals.cardiac import EPOCH_CARDIAC_COLUMNS
from sleeplm.encoder.signals.eeg import EEG_BANDS_HZ, EEG_TOTAL_HZ, EEG_WELCH_S
from sleeplm.encoder.signals.eog import (
    EOG_REM_HZ,
    EOG_SEM_HZ,
    EOG_TOTAL_HZ,
    EOG_WELCH_S,
)
from sleeplm.encoder.train.data import EpochCaptions, SplitSpec
from sleeplm.encoder.train.fact_heads import head_inputs
from sleeplm.encoder.train.facts import (
    HeadRecipe,
    calibrate_values,
    calibration_split,
    file_record,
    fit_cached,
    reader_stage_recipe,
    shipped_reader,
    stage_record,
    stage_values,
)
from sleeplm.encoder.train.recipe import (
    RecipeError,
    recipe_cli,
    recipe_split,
    start_weights,
)
from sleeplm.encoder.vocab import SLEEPLM_CHANNELS


@dataclass
class PriorRecipe(HeadRecipe):
    reader_sha256: str
    epochs: int
    calibration_nights: int
    priors: tuple[str, ...]


#: The groups of values a recipe may give measured priors.
PRIOR_GROUPS: tuple[str, ...] = ("brain_band_powers", "cardiac_beats")


def load_prior_recipe(name_or_path: str | Path) -> PriorRecipe:
    need = {"epochs", "batch_size", "lr", "weight_decay", "warmup_frac", "grad_clip", "seed", "calibration_nights",
            "priors"}
    path, raw, body, t = reader_stage_recipe(name_or_path, "a fact-prior", need)
    unknown = [g for g in t["priors"] if g not in PRIOR_GROUPS]
    if unknown or not t["priors"]:
        raise RecipeError(f"{path}: priors must name some of {PRIOR_GROUPS} (unknown: {unknown})")
    t["priors"] = tuple(t["priors"])
    return PriorRecipe(name=body["name"], source=path, sha256=hashlib.sha256(raw).hexdigest(),
                       start_from=body["start_from"], reader_sha256=body["reader"]["sha256"],
                       data=SplitSpec(**body["data"]), steps=0, **t)


def band_prior_specs(names: list[str], fs_hz: float = 64.0) -> tuple[BandPrior, ...]:
    """A :class:`BandPrior` for every relative-power value of the brain track among ``names``, with the bands,
    totals and Welch segments of the caption features (``encoder/signals/eeg.py``, ``eog.py``)."""
    out = []
    for name in names:
        track, _, rest = name.partition(":")
        section, _, field = rest.partition(".")
        if track != "brain" or not field.endswith("_rel_pct"):
            continue
        channel = SLEEPLM_CHANNELS.index(section.upper())  # "eeg_c3" -> "EEG_C3"
        band = field.removesuffix("_rel_pct")
        if section.startswith("eeg_") and band in EEG_BANDS_HZ:
            lo, hi = EEG_BANDS_HZ[band]
            out.append(BandPrior(name, channel, EEG_WELCH_S, lo, min(hi, fs_hz / 2), EEG_TOTAL_HZ[0],
                                 min(EEG_TOTAL_HZ[1], fs_hz / 2)))
        elif section.startswith("eog_") and band in ("sem", "rem"):
            lo, hi = EOG_SEM_HZ if band == "sem" else EOG_REM_HZ
            out.append(BandPrior(name, channel, EOG_WELCH_S, lo, hi, EOG_TOTAL_HZ[0], min(EOG_TOTAL_HZ[1], fs_hz / 2)))
        else:
            raise RecipeError(f"{name}: a brain relative power with no band the caption features define")
    return tuple(out)


def cardiac_prior_specs(names: list[str]) -> tuple[MeasuredPrior, ...]:
    """A :class:`MeasuredPrior` for every cardiac value among ``names`` that the R peaks of one epoch's ECG give
    (:data:`~sleeplm.encoder.signals.cardiac.EPOCH_CARDIAC_COLUMNS`: beat rate, RMSSD, heart rate min / mean / max),
    named by the caption field's feature column."""
    column = {f"cardiac:{sec.key}.{f.key}": f.column for sec in TRACK_SECTIONS["cardiac"] for f in sec.fields}
    return tuple(MeasuredPrior(n, column[n]) for n in names if column.get(n) in EPOCH_CARDIAC_COLUMNS)


def prior_specs(names: list[str], groups: tuple[str, ...], fs_hz: float = 64.0) -> tuple[Prior, ...]:
    """The priors of the recipe's ``groups`` (:data:`PRIOR_GROUPS`) among the value ``names``."""
    out: tuple[Prior, ...] = ()
    if "brain_band_powers" in groups:
        out += band_prior_specs(names, fs_hz)
    if "cardiac_beats" in groups:
        out += cardiac_prior_specs(names)
    return out


def with_priors(old: FactReader, names: list[str], quantiles: np.ndarray,
                groups: tuple[str, ...] = ("brain_band_powers",)) -> FactReader:
    """A copy of ``old`` with measured priors for the values of ``groups`` (quantiles ``[Q, V]`` of the value space)
    and an untrained (zero) residual: it reads every value as ``old`` does except the priors' values, which it
    measures."""
    specs = prior_specs(names, groups, old.tower.cfg.signal_length / 30.0)
    index = tuple(names.index(p.value) for p in specs)
    new = FactReader(old.tower.cfg, old.tower.proj_to_embed.out_features, len(names), old.values[0].out_features,
                     spectral=old.spectral, spectral_width=old.spec[0].out_features if old.spectral else 256,
                     event_types=old.event_types, priors=specs, prior_index=index)
    missing, unexpected = new.load_state_dict(old.state_dict(), strict=False)
    assert not unexpected and all(k.startswith(("prior_", "prior_residual.")) for k in missing), (missing, unexpected)
    new.prior_quantiles.copy_(torch.from_numpy(quantiles[:, list(index)]).float())
    return new.eval()


@torch.no_grad()
def _measured_z(reader: FactReader, x: np.ndarray, measured: dict[str, np.ndarray] | None = None,
                batch_size: int = 256) -> torch.Tensor:
    """The priors' measurements of epochs ``x`` as normal scores ``[N, P]`` (:func:`fact_measurements` taken here
    unless given)."""
    measured = fact_measurements(reader, x) if measured is None else measured
    return torch.cat([reader.measured_priors(torch.from_numpy(np.asarray(x[s:s + batch_size], dtype=np.float32)),
                                             {k: v[s:s + batch_size] for k, v in measured.items()})
                      for s in range(0, len(x), batch_size)])


def _rms(err: np.ndarray) -> list[float]:
    """Each column's RMS over its finite rows."""
    ok = np.isfinite(err)
    return np.round(np.sqrt((np.where(ok, err, 0.0) ** 2).sum(0) / np.maximum(ok.sum(0), 1)), 4).tolist()


def train_fact_priors(recipe: str | Path, data_dir: str | Path, out: str | Path, start_from: str | Path | None = None,
                      progress: bool = True) -> dict:
    """Add measured priors and train their residual on the shipped reader; save to ``out``."""
    rec = load_prior_recipe(recipe)
    weights = start_weights(rec, start_from)  # type: ignore[arg-type]
    assert weights is not None
    fm = shipped_reader(rec.source, weights, rec.reader_sha256)
    if fm.reader.priors:
        raise RecipeError(f"{rec.source}: the reader already has measured priors")
    space = fm.space
    torch.manual_seed(rec.seed)  # before the residual is made: its first layer's initial weights are drawn
    reader = with_priors(fm.reader, space.names, space.quantiles, rec.priors)
    idx = reader.prior_index.numpy()
    # A band power is measured on the filtered model input, which changes it (the EOG's slow power below the
    # high-pass): a residual learns that. An R-peak measurement keeps the beat timing the preprocessing leaves intact,
    # and a residual learned on simulated nights moved a right one on a real recording (the Nox file's heart rate
    # 66 -> 46 bpm): a caller-measured prior is the measurement alone.
    reader.prior_use_residual.copy_(torch.tensor([float(isinstance(p, BandPrior)) for p in reader.priors]))
    data = EpochCaptions(recipe_split(data_dir, rec.data, rec.source, progress))
    held, calib, train = calibration_split(data, rec.calibration_nights)
    z, _ = stage_values(data, space, rec.source)
    t0 = time.time()
    xt = data.signals(train)
    tower, spec = head_inputs(reader, xt)
    prior = _measured_z(reader, xt)
    zt = torch.from_numpy(np.nan_to_num(z[train][:, idx])).float()
    mask = torch.from_numpy(np.isfinite(z[train][:, idx])).float() * torch.isfinite(prior).float()

    def batch_loss(b: torch.Tensor) -> torch.Tensor:
        pred = reader.heads(tower[b], spec[b], prior[b])[0][:, reader.prior_index]
        return ((pred - zt[b]) ** 2 * mask[b]).sum() / mask[b].sum().clamp(min=1)

    losses = fit_cached(reader, list(reader.prior_residual.parameters()), len(train), rec, rec.epochs, batch_loss,
                        "fact priors", progress)
    reader.eval()
    record = {**stage_record(rec, rec.reader_sha256, t0, losses, held), "steps": len(losses),
              "priors": [p.value for p in reader.priors]}
    if len(calib):
        xc = data.signals(calib)
        zc = z[calib][:, idx]
        mc = fact_measurements(reader, xc)
        before = FactModel(fm.reader, space, {}).read(xc)[0][:, idx]
        measured = _measured_z(reader, xc, mc).numpy()
        after = FactModel(reader, space, {}).read(xc, mc)[0][:, idx]
        record["prior_rms_error_z"] = {k: dict(zip(record["priors"], _rms(v - zc))) for k, v in (
            ("reader_before", before), ("measured_alone", measured), ("measured_with_residual", after))}
        record["calibration"] = calibrate_values(reader, space, xc, z[calib], np.full(len(calib), -1), mc)
    meta = {k: fm.meta[k] for k in ("run", "events_run", "heads_run") if k in fm.meta}
    save_fact_reader(reader, space, out, {**meta, "priors_run": record})
    return {**record, "out": file_record(out)}


def main(argv: list[str] | None = None) -> None:  # pragma: no cover - command-line helper
    recipe_cli("Give the fact reader measured priors (brain band powers, ECG beat values).", train_fact_priors, argv)


if __name__ == "__main__":  # pragma: no cover
    main()
