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

A recipe whose reader already has priors adds caller-measured ones only (``emg_tone``: the chin EMG's relative tone,
measured against the night's reference, which one epoch cannot tell) and trains nothing (:func:`extended_priors`):
a caller-measured prior takes no residual, so every tensor is kept and only the new values' error SDs are calibrated
again.

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
from sleeplm.encoder.pipeline import fact_measurements, night_emg_reference
from sleeplm.encoder.signals.cardiac import EPOCH_CARDIAC_COLUMNS
from sleeplm.encoder.signals.eeg import EEG_BANDS_HZ, EEG_TOTAL_HZ, EEG_WELCH_S
from sleeplm.encoder.signals.emg import EPOCH_EMG_COLUMNS
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
PRIOR_GROUPS: tuple[str, ...] = ("brain_band_powers", "cardiac_beats", "emg_tone")


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


def somatic_prior_specs(names: list[str]) -> tuple[MeasuredPrior, ...]:
    """A :class:`MeasuredPrior` for the chin EMG's relative tone among ``names`` (``emg_tone_rel_pct``, measured by
    the caller against the night's reference: :data:`~sleeplm.encoder.signals.emg.EPOCH_EMG_COLUMNS`)."""
    column = {f"somatic:{sec.key}.{f.key}": f.column for sec in TRACK_SECTIONS["somatic"] for f in sec.fields}
    return tuple(MeasuredPrior(n, column[n]) for n in names if column.get(n) in EPOCH_EMG_COLUMNS)


def prior_specs(names: list[str], groups: tuple[str, ...], fs_hz: float = 64.0) -> tuple[Prior, ...]:
    """The priors of the recipe's ``groups`` (:data:`PRIOR_GROUPS`) among the value ``names``."""
    out: tuple[Prior, ...] = ()
    if "brain_band_powers" in groups:
        out += band_prior_specs(names, fs_hz)
    if "cardiac_beats" in groups:
        out += cardiac_prior_specs(names)
    if "emg_tone" in groups:
        out += somatic_prior_specs(names)
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


def extended_priors(old: FactReader, names: list[str], quantiles: np.ndarray, groups: tuple[str, ...]) -> FactReader:
    """A copy of ``old``, a reader with measured priors, with caller-measured priors added for the values of
    ``groups`` (quantiles ``[Q, V]`` of the value space). A caller-measured prior takes no residual, so nothing is
    trained: every tensor of ``old`` is kept as it was, the residual's output layer gains a zero row per new prior,
    and the reader reads every other value exactly as ``old`` does."""
    new_specs = tuple(p for p in prior_specs(names, groups, old.tower.cfg.signal_length / 30.0)
                      if p.value not in {q.value for q in old.priors})
    if not new_specs:
        raise RecipeError(f"the reader already has the priors of {groups}")
    needs_residual = [p.value for p in new_specs if not isinstance(p, MeasuredPrior)]
    if needs_residual:
        raise RecipeError(f"{needs_residual}: a prior measured inside the reader needs its residual trained, so it is "
                          "added to a reader without priors (with every other group), not to one that has them")
    specs = old.priors + new_specs
    index = tuple(int(i) for i in old.prior_index) + tuple(names.index(p.value) for p in new_specs)
    new = FactReader(old.tower.cfg, old.tower.proj_to_embed.out_features, len(names), old.values[0].out_features,
                     spectral=old.spectral, spectral_width=old.spec[0].out_features if old.spectral else 256,
                     event_types=old.event_types, priors=specs, prior_index=index)
    state = old.state_dict()
    k = len(new_specs)
    last = len(new.prior_residual.net) - 1
    for name in (f"prior_residual.net.{last}.weight", f"prior_residual.net.{last}.bias"):
        state[name] = torch.cat([state[name], torch.zeros((k, *state[name].shape[1:]), dtype=state[name].dtype)])
    state["prior_index"] = torch.tensor(index, dtype=torch.long)
    state["prior_use_residual"] = torch.cat([state["prior_use_residual"], torch.zeros(k)])
    state["prior_quantiles"] = torch.cat(
        [state["prior_quantiles"], torch.from_numpy(quantiles[:, list(index[-k:])]).float()], 1)
    new.load_state_dict(state, strict=True)
    return new.eval()


def night_references(nights: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Each epoch's night chin-EMG reference (:func:`~sleeplm.encoder.pipeline.night_emg_reference`) over the epochs
    of ``x`` ``[N, 10, L]`` that share its ``nights`` label (pass every epoch of each night)."""
    out = np.full(len(x), np.nan)
    for k in np.unique(nights):
        rows = np.flatnonzero(nights == k)
        out[rows] = night_emg_reference(x[rows])
    return out


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


def _night_labels(data: EpochCaptions, rows: np.ndarray) -> np.ndarray:
    """One label per recording among ``rows``: a night's clean rows and each randomized rendition apart."""
    e = data.epochs.iloc[rows]
    return (e["night_id"].astype(str) + "/" + e["rendition"].astype(str)).to_numpy()


def train_fact_priors(recipe: str | Path, data_dir: str | Path, out: str | Path, start_from: str | Path | None = None,
                      progress: bool = True) -> dict:
    """Add measured priors and train their residual on the shipped reader; save to ``out``. A recipe whose reader
    already has priors adds caller-measured ones only, trained on nothing (:func:`extended_priors`)."""
    rec = load_prior_recipe(recipe)
    weights = start_weights(rec, start_from)  # type: ignore[arg-type]
    assert weights is not None
    fm = shipped_reader(rec.source, weights, rec.reader_sha256)
    space = fm.space
    data = EpochCaptions(recipe_split(data_dir, rec.data, rec.source, progress))
    held, calib, train = calibration_split(data, rec.calibration_nights)
    z, _ = stage_values(data, space, rec.source)
    t0 = time.time()
    if fm.reader.priors:
        if rec.epochs:
            raise RecipeError(f"{rec.source}: the reader already has measured priors, so this stage only adds "
                              "caller-measured ones and trains nothing (epochs 0)")
        reader = extended_priors(fm.reader, space.names, space.quantiles, rec.priors)
        idx = reader.prior_index.numpy()
        losses: list[float] = []
    else:
        torch.manual_seed(rec.seed)  # before the residual is made: its first layer's initial weights are drawn
        reader = with_priors(fm.reader, space.names, space.quantiles, rec.priors)
        idx = reader.prior_index.numpy()
        # A band power is measured on the filtered model input, which changes it (the EOG's slow power below the
        # high-pass): a residual learns that. An R-peak measurement keeps the beat timing the preprocessing leaves
        # intact, and a residual learned on simulated nights moved a right one on a real recording (the Nox file's
        # heart rate 66 -> 46 bpm): a caller-measured prior is the measurement alone.
        reader.prior_use_residual.copy_(torch.tensor([float(isinstance(p, BandPrior)) for p in reader.priors]))
        xt = data.signals(train)
        tower, spec = head_inputs(reader, xt)
        mt = fact_measurements(reader, xt, night_emg_rms=night_references(_night_labels(data, train), xt))
        prior = _measured_z(reader, xt, mt)
        zt = torch.from_numpy(np.nan_to_num(z[train][:, idx])).float()
        mask = torch.from_numpy(np.isfinite(z[train][:, idx])).float() * torch.isfinite(prior).float()

        def batch_loss(b: torch.Tensor) -> torch.Tensor:
            pred = reader.heads(tower[b], spec[b], prior[b])[0][:, reader.prior_index]
            return ((pred - zt[b]) ** 2 * mask[b]).sum() / mask[b].sum().clamp(min=1)

        losses = fit_cached(reader, list(reader.prior_residual.parameters()), len(train), rec, rec.epochs,
                            batch_loss, "fact priors", progress)
    reader.eval()
    record = {**stage_record(rec, rec.reader_sha256, t0, losses, held), "steps": len(losses),
              "priors": [p.value for p in reader.priors]}
    if len(calib):
        xc = data.signals(calib)
        zc = z[calib][:, idx]
        mc = fact_measurements(reader, xc, night_emg_rms=night_references(_night_labels(data, calib), xc))
        before = fm.read(xc, {k: v for k, v in mc.items() if k in fm.reader.measured_quantities})[0]
        before = before[:, idx]
        measured = _measured_z(reader, xc, mc).numpy()
        after = FactModel(reader, space, {}).read(xc, mc)[0][:, idx]
        record["prior_rms_error_z"] = {k: dict(zip(record["priors"], _rms(v - zc))) for k, v in (
            ("reader_before", before), ("measured_alone", measured), ("measured_with_residual", after))}
        kept_sd = space.error_sd.copy()
        record["calibration"] = calibrate_values(reader, space, xc, z[calib], np.full(len(calib), -1), mc)
        if fm.reader.priors:  # an extension recalibrates its new values only: the others read exactly as before
            new_cols = np.isin(np.arange(len(space.names)), idx[len(fm.reader.priors):])
            space.error_sd = np.where(new_cols, space.error_sd, kept_sd)
            record["calibration"]["error_sd"] = {space.names[i]: round(float(space.error_sd[i]), 3)
                                                 for i in np.flatnonzero(new_cols)}
    meta = {k: fm.meta[k] for k in ("run", "events_run", "heads_run", "priors_run") if k in fm.meta}
    key = "priors_extension_run" if fm.reader.priors else "priors_run"
    save_fact_reader(reader, space, out, {**meta, key: record})
    return {**record, "out": file_record(out)}


def main(argv: list[str] | None = None) -> None:  # pragma: no cover - command-line helper
    recipe_cli("Give the fact reader measured priors (brain band powers, ECG beat values).", train_fact_priors, argv)


if __name__ == "__main__":  # pragma: no cover
    main()
