"""Training data: simulated nights -> model-ready epochs + captions, built once and cached on disk.

Each night follows the same path as a file read by :func:`sleeplm.encoder.io.psg.load_psg`, kept in
memory: the simulator's site-labelled signals -> :func:`~sleeplm.encoder.io.channels.map_channels`
-> :func:`~sleeplm.encoder.signals.preprocess.make_epochs` (model input ``[N, 10, 1920]``), and
:func:`~sleeplm.encoder.signals.features.compute_epoch_features` -> captions (canonical = variant 0, plus
seeded paraphrases) for the five tracks.

A split folder holds

- ``x.npy``           float16 ``[N, 10, 1920]`` (z-scored signals; fp16 halves the disk/page cache),
- ``epochs.parquet``  one row per row of ``x``: ``night_id, epoch, onset_s, stage, phenotype, site,
  rendition, caption_row, lost_channels``,
- ``captions.parquet`` one row per (epoch, track, variant) with ``idx`` (row of ``x``) and ``caption``,
- ``info.json``       seeds, sizes and build time.

With ``n_randomized > 0`` every night is also stored as that many *renditions*: the same simulated
physiology passed through :func:`~sleeplm.encoder.sim.randomize.randomized_file_signals` (a new draw of
the simulator's domain randomization per rendition: device rate, filters, gains, polarity, noise, mains,
pops, movement, sweat, ECG/EOG leaking into the EEG, montage variation, lost channels), then read by the
same ``map_channels`` -> ``make_epochs`` path (whole-recording z-score, as for a real file). Rendition rows
follow the night's clean rows in ``x``; ``rendition`` is 0 for the clean night, ``caption_row`` points to
the clean row whose captions they share (the captions describe the physiology, which randomization leaves
as it was), and ``lost_channels`` marks rows where randomization removed or flattened a channel the clean
night had. Renditions depend on ``(seed, index, rendition)`` only: adding them leaves the clean rows as
they were.

Train and held-out splits use different root seeds, so no held-out night is ever trained on.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sleeplm.encoder.captions.corpus import CorpusNight, night_caption_table
from sleeplm.encoder.io.channels import map_channels
from sleeplm.encoder.io.records import Recording
from sleeplm.encoder.signals.features import compute_epoch_features
from sleeplm.encoder.signals.preprocess import BRAIN_SCALES, make_epochs
from sleeplm.encoder.vocab import CHANNEL_INDEX, MODEL_TRACKS
from tqdm import tqdm

#: The five caption tracks in model modality order (``api.TRACKS``: brain=0 ... stage_event=4).


@dataclass
class SplitSpec:
    """How one split is simulated.

    Attributes
    ----------
    n_nights
        Number of nights (subjects); phenotypes cycle over all 9, sites over all 3 (every pairing).
    seed
        Root seed; night ``i`` depends only on ``(seed, i)``.
    duration_h
        Length of every night in hours.
    n_paraphrases
        Paraphrased captions per epoch and track, besides the canonical one.
    n_randomized
        Domain-randomized renditions per night, besides the clean one (see the module doc).
    brain_scale
        How EEG and EOG are scaled in ``x`` (:data:`~sleeplm.encoder.signals.preprocess.BRAIN_SCALES`): "sd" (the
        whole-recording SD, every split before v6) or "mad" (robust: 1.4826 x the median absolute deviation). A model
        trained on a split reads recordings the same way (``ReCoCaConfig.input_brain_scale``).
    wake_artifacts
        Eye movements, scalp muscle and body movement in the simulated wake EEG (``simulate_night``; off by default).
    duration_h_max
        When set, the nights' lengths spread evenly over ``[duration_h, duration_h_max]`` hours
        (:func:`night_duration_h`): preprocessing scales each recording over its whole length, so a model that is to
        read 30-min excerpts and whole nights alike trains on both (None: every night ``duration_h``).
    """

    n_nights: int
    seed: int
    duration_h: float = 6.0
    n_paraphrases: int = 3
    n_randomized: int = 0
    brain_scale: str = "sd"
    wake_artifacts: bool = False
    duration_h_max: float | None = None

    def __post_init__(self) -> None:
        if self.brain_scale not in BRAIN_SCALES:
            raise ValueError(f"brain_scale must be one of {BRAIN_SCALES}, not {self.brain_scale!r}")
        if self.duration_h_max is not None and self.duration_h_max < self.duration_h:
            raise ValueError(f"duration_h_max ({self.duration_h_max}) is below duration_h ({self.duration_h})")


def night_duration_h(spec: SplitSpec, index: int) -> float:
    """Length (h) of night ``index`` of a split: ``duration_h``, or with ``duration_h_max`` a point of a golden-ratio
    sequence over ``[duration_h, duration_h_max]`` (any number of nights spans the range evenly, and night ``i``'s
    length does not depend on how many there are), rounded to whole 30-s epochs."""
    if spec.duration_h_max is None:
        return spec.duration_h
    u = (0.5 + index * 0.6180339887498949) % 1.0
    hours = spec.duration_h + u * (spec.duration_h_max - spec.duration_h)
    return round(hours * 120) / 120


#: What a split's ``info.json`` means when it lacks a key (it was built before the setting existed).
SPEC_DEFAULTS = {"n_randomized": 0, "brain_scale": "sd", "wake_artifacts": False, "duration_h_max": None}


def spec_differences(info: dict, spec: SplitSpec) -> dict[str, tuple]:
    """The settings in which a built split's ``info.json`` differs from ``spec``: ``{key: (built, wanted)}``."""
    want = asdict(spec)
    return {k: (info.get(k, SPEC_DEFAULTS.get(k)), v) for k, v in want.items()
            if info.get(k, SPEC_DEFAULTS.get(k)) != v}


def _night_rng(seed: int, index: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, index]))


def _present(x: np.ndarray) -> np.ndarray:
    """Channels (not POS) with any non-zero sample, per epoch ``[N, 10]`` (a missing or flat channel is zeros)."""
    present = np.abs(x).max(axis=-1) > 0
    present[:, CHANNEL_INDEX["POS"]] = True
    return present


def process_night(seed: int, index: int, duration_h: float, n_paraphrases: int, n_randomized: int = 0,
                  brain_scale: str = "sd", wake_artifacts: bool = False) -> tuple[np.ndarray, pd.DataFrame, pd.DataFrame]:
    """Simulate night ``index`` of root ``seed`` and return (x fp16, epoch table, caption table).

    ``x`` holds the clean epochs, then ``n_randomized`` renditions of them (see the module doc); the
    caption table's ``epoch`` refers to the clean rows.
    """
    from sleeplm.encoder.sim import PHENOTYPES, SITES, draw_subject, simulate_night
    from sleeplm.encoder.sim.randomize import Knobs, randomized_file_signals

    rng = _night_rng(seed, index)
    # phenotype cycles with period 9 and site with period 3: shift the site every 9 nights so that
    # every phenotype meets every site (the default rotation pairs them rigidly).
    site = SITES[(index + index // len(PHENOTYPES)) % len(SITES)]
    subject = draw_subject(index, rng, site=site)
    night = simulate_night(subject, rng, duration_h, wake_artifacts=wake_artifacts)
    rec = Recording(Path(f"{night.stem}.edf"), night.start_time, night.duration_s, list(night.signals))
    mapped = map_channels(rec)
    ann = night.annotations()
    ep = make_epochs(mapped, ann, brain_scale=brain_scale)
    feats = compute_epoch_features(mapped, ann, ep.onset_s)
    night_id = f"s{seed}-{index:04d}"
    caps = night_caption_table(CorpusNight(night_id, feats, list(ann.events)), n_paraphrases,
                               seed=seed * 100_003 + index)
    n = len(ep.onset_s)
    meta = pd.DataFrame({
        "night_id": night_id, "epoch": np.arange(n, dtype=np.int32), "onset_s": ep.onset_s,
        "stage": [str(s) for s in ep.stages], "phenotype": subject.phenotype, "site": subject.site,
        "rendition": np.int16(0), "caption_row": np.arange(n, dtype=np.int32), "lost_channels": False,
    })
    xs, metas, clean_present = [ep.x], [meta], _present(ep.x)
    for r in range(1, n_randomized + 1):
        r_rng = np.random.default_rng(np.random.SeedSequence([seed, index, r]))
        sigs = randomized_file_signals(night, r_rng, Knobs())
        rec_r = Recording(Path(f"{night.stem}-r{r}.edf"), night.start_time, night.duration_s, list(sigs))
        x_r = make_epochs(map_channels(rec_r), ann, brain_scale=brain_scale).x
        if len(x_r) != n:
            raise ValueError(f"{night_id} rendition {r}: {len(x_r)} epochs, the clean night has {n}")
        lost = (clean_present & ~_present(x_r)).any(axis=1)
        xs.append(x_r)
        metas.append(meta.assign(rendition=np.int16(r), lost_channels=lost))
    x_all = np.concatenate(xs).astype(np.float16)
    return x_all, pd.concat(metas, ignore_index=True), caps[["epoch", "track", "variant", "caption"]]


def build_split(out_dir: str | Path, spec: SplitSpec, workers: int = 1, progress: bool = True) -> Path:
    """Simulate, preprocess and caption ``spec.n_nights`` nights into ``out_dir`` (see module doc)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    args = [(spec.seed, i, night_duration_h(spec, i), spec.n_paraphrases, spec.n_randomized, spec.brain_scale,
             spec.wake_artifacts) for i in range(spec.n_nights)]
    xs, metas, caps, offset = [], [], [], 0
    if workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            results = pool.map(process_night, *zip(*args))
            results = tqdm(results, total=len(args), desc=f"build {out_dir.name}", disable=not progress)
            collected = list(results)
    else:
        collected = [process_night(*a) for a in tqdm(args, desc=f"build {out_dir.name}", disable=not progress)]
    for x, meta, cap in collected:
        cap = cap.assign(idx=cap["epoch"].to_numpy() + offset)
        meta = meta.assign(caption_row=meta["caption_row"].to_numpy() + offset)
        xs.append(x), metas.append(meta), caps.append(cap)
        offset += len(x)
    np.save(out_dir / "x.npy", np.concatenate(xs))
    epochs = pd.concat(metas, ignore_index=True)
    epochs.to_parquet(out_dir / "epochs.parquet", index=False)
    cap_all = pd.concat(caps, ignore_index=True)[["idx", "track", "variant", "caption"]]
    cap_all.astype({"idx": "int32", "variant": "int16"}).to_parquet(out_dir / "captions.parquet", index=False)
    info = {**asdict(spec), "n_epochs": int(offset), "build_seconds": round(time.perf_counter() - t0, 1),
            "workers": workers, "stage_counts": epochs.loc[epochs["rendition"] == 0, "stage"].value_counts().to_dict(),
            "rows_lost_channels": int(epochs["lost_channels"].sum()),
            "phenotypes": sorted(epochs["phenotype"].unique()), "sites": sorted(epochs["site"].unique())}
    (out_dir / "info.json").write_text(json.dumps(info, indent=1) + "\n")
    return out_dir


def build_dataset(root: str | Path, train: SplitSpec, val: SplitSpec, workers: int = 1,
                  rebuild: bool = False) -> Path:
    """Build ``root/train`` and ``root/val`` unless already there (``info.json`` present and matching)."""
    if train.seed == val.seed:
        raise ValueError("train and held-out splits need different root seeds")
    root = Path(root)
    for name, spec in (("train", train), ("val", val)):
        info = root / name / "info.json"
        if not rebuild and info.is_file():
            if not spec_differences(json.loads(info.read_text()), spec):
                continue
        build_split(root / name, spec, workers)
    return root


class EpochCaptions:
    """A built split in memory: signals (memory-mapped) and captions ``[N, 5 tracks, V variants]``.

    Parameters
    ----------
    split_dir
        A folder written by :func:`build_split`.
    """

    def __init__(self, split_dir: str | Path) -> None:
        split_dir = Path(split_dir)
        self.dir = split_dir
        self.x = np.load(split_dir / "x.npy", mmap_mode="r")
        self.epochs = pd.read_parquet(split_dir / "epochs.parquet")
        cap = pd.read_parquet(split_dir / "captions.parquet")
        n, n_var = len(self.x), int(cap["variant"].max()) + 1
        self.captions = np.empty((n, len(MODEL_TRACKS), n_var), dtype=object)
        track_pos = {t: i for i, t in enumerate(MODEL_TRACKS)}
        self.captions[cap["idx"].to_numpy(), cap["track"].map(track_pos).to_numpy(),
                      cap["variant"].to_numpy()] = cap["caption"].to_numpy()
        ep = self.epochs
        rendition = ep["rendition"].to_numpy() if "rendition" in ep else np.zeros(n, np.int16)
        #: Rows of the clean epochs; ``renditions[k]`` = rows of clean row ``clean_rows[k]``'s renditions.
        self.clean_rows = np.flatnonzero(rendition == 0)
        self.lost_channels = ep["lost_channels"].to_numpy(bool) if "lost_channels" in ep else np.zeros(n, bool)
        if "caption_row" in ep and (rendition > 0).any():
            src = ep["caption_row"].to_numpy()
            rand = np.flatnonzero(rendition > 0)
            self.captions[rand] = self.captions[src[rand]]
            order = np.argsort(src[rand], kind="stable")
            per = np.bincount(src[rand], minlength=n)[self.clean_rows]
            if per.min() != per.max():
                raise ValueError(f"{split_dir}: clean epochs have unequal numbers of renditions")
            self.renditions = rand[order].reshape(len(self.clean_rows), per[0]) if len(rand) else None
        else:
            self.renditions = None
        self.stages = ep["stage"].to_numpy()

    def __len__(self) -> int:
        return len(self.x)

    @property
    def n_variants(self) -> int:
        return self.captions.shape[2]

    def signals(self, idx: np.ndarray) -> np.ndarray:
        """float32 ``[len(idx), 10, 1920]``."""
        order = np.argsort(idx)
        out = np.empty((len(idx), *self.x.shape[1:]), np.float32)
        out[order] = self.x[np.asarray(idx)[order]]
        return out

    def caption(self, i: int, track: str, variant: int = 0) -> str:
        return str(self.captions[i, MODEL_TRACKS.index(track), variant])

    def retrieval_text(self, i: int, variant: int = 0) -> str:
        """The contrastive text: stage/event caption + " " + brain caption (the official demo's)."""
        return self.caption(i, "stage_event", variant) + " " + self.caption(i, "brain", variant)

    def all_texts(self) -> list[str]:
        """Every caption of every track and variant (tokenizer training)."""
        return [str(c) for c in self.captions.reshape(-1)]


def main() -> None:  # pragma: no cover - command-line helper
    import argparse

    ap = argparse.ArgumentParser(description="Build the cached simulated training set.")
    ap.add_argument("--root", default="runs/data-v1")
    ap.add_argument("--train-nights", type=int, default=48)
    ap.add_argument("--val-nights", type=int, default=9)
    ap.add_argument("--hours", type=float, default=6.0)
    ap.add_argument("--paraphrases", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--randomized", type=int, default=0, help="domain-randomized renditions per training night")
    ap.add_argument("--workers", type=int, default=2)
    a = ap.parse_args()
    build_dataset(a.root, SplitSpec(a.train_nights, a.seed, a.hours, a.paraphrases, a.randomized),
                  SplitSpec(a.val_nights, a.seed + 1_000_000, a.hours, 0), workers=a.workers)


if __name__ == "__main__":  # pragma: no cover
    main()
