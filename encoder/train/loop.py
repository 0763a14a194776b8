"""Training loop: AdamW, warmup + cosine schedule, clipping, safetensors checkpoints, resume.

Everything random is a function of ``(seed, step)``: the batch (epochs, tracks, caption variants)
comes from ``numpy.random.default_rng([seed, step])`` and dropout from ``torch.manual_seed``
re-seeded each step, so a resumed run continues exactly as an uninterrupted one would.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from tqdm import tqdm

from sleeplm.encoder.model.checkpoint import load_checkpoint, read_safetensors_config, save_checkpoint
from sleeplm.encoder.model.config import ReCoCaConfig
from sleeplm.encoder.model.recoca import ReCoCa
from sleeplm.encoder.captions.render import event_gist
from sleeplm.encoder.train.data import MODEL_TRACKS, EpochCaptions
from sleeplm.encoder.train.losses import LossWeights, pretraining_loss
from sleeplm.encoder.vocab import CHANNEL_INDEX, EEG_CHANNELS


@dataclass
class TrainConfig:
    """Optimisation and sampling settings (stored as ``train_config.json`` in the run folder).

    Every setting that changes the weights has no default: a recipe
    (``encoder/train/recipes/*.json``, :mod:`sleeplm.encoder.train.recipe`) states them all, so no
    run silently trains with values other than the ones written down. The settings with defaults
    only change how a run is carried out (threads, checkpoints, validation, logging), never the weights.
    """

    steps: int
    batch_size: int
    lr: float
    #: Cosine decay ends at ``lr * min_lr_ratio``.
    min_lr_ratio: float
    warmup_steps: int
    weight_decay: float
    betas: tuple[float, float]
    grad_clip: float
    seed: int
    #: Probability that the contrastive text is the stage/event caption alone (else stage/event + brain).
    p_stage_only: float
    #: Contrastive text always the canonical (variant 0) caption; paraphrases still train the decoder.
    canonical_contrastive: bool
    #: Identical contrastive texts in a batch are shared positives (losses.contrastive_loss).
    dedupe_texts: bool
    #: Probability that an example loses channels (see ``drop_channels``): teaches the model that real
    #: recordings miss channels (a missing channel is zeros, POS -1, exactly as preprocessing writes it).
    p_channel_drop: float
    #: Contrastive stage_event texts without event times/nadirs (captions.render.event_gist).
    contrastive_gist: bool
    #: Sampling weights of the caption tracks, in ``MODEL_TRACKS`` order (brain ... stage_event).
    track_weights: tuple[float, ...]
    #: Probability that a sampled epoch is replaced by one of its domain-randomized renditions (a split
    #: built with ``SplitSpec.n_randomized`` > 0; ``data.py``): the same physiology and captions as another
    #: lab, device and night of electrode trouble would have recorded it.
    p_randomized: float
    #: Whose texts the contrastive objective aligns: ``"stage_event"`` (the stage/event text only, as up to
    #: v4) or ``"all"`` (each of the five tracks' canonical captions, one InfoNCE per track, averaged:
    #: see :func:`sleeplm.encoder.train.losses.contrastive_loss_tracks`).
    contrastive_tracks: str
    #: Keep the text tower as it is (no gradient; contrastive text embeddings computed once per distinct
    #: text and cached): the fine-tune moves signal vectors into the existing text space.
    frozen_text: bool
    weights: LossWeights
    #: Start from these weights (a fine-tune) instead of a random init; ignored when resuming.
    init_from: str | None = None
    threads: int = 2
    checkpoint_every: int = 50
    keep_checkpoints: int = 2
    log_every: int = 1
    #: Held-out batches scored at each checkpoint (they do not touch the weights or the training batches).
    val_batches: int = 1

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainConfig":
        d = dict(d)
        if isinstance(d.get("weights"), dict):
            d["weights"] = LossWeights(**d["weights"])
        for k in ("betas", "track_weights"):
            if k in d:
                d[k] = tuple(d[k])
        return cls(**d)


class Schedule(Protocol):
    """What the learning-rate schedule reads from a config (:class:`TrainConfig`, an adaptation's config)."""

    steps: int
    lr: float
    min_lr_ratio: float
    warmup_steps: int


def lr_at(step: int, cfg: Schedule) -> float:
    """Linear warmup to ``lr`` then cosine decay to ``lr * min_lr_ratio`` at ``steps``."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    t = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    lo = cfg.lr * cfg.min_lr_ratio
    return lo + 0.5 * (cfg.lr - lo) * (1 + math.cos(math.pi * min(t, 1.0)))


#: Channel indices (SLEEPLM_CHANNELS order) kept in an "EEG only" recording, and the POS index.
_EEG = tuple(CHANNEL_INDEX[c] for c in EEG_CHANNELS)
_POS = CHANNEL_INDEX["POS"]


def drop_channels(x: np.ndarray, rng: np.random.Generator, p: float) -> np.ndarray:
    """Remove channels from a fraction ``p`` of the examples, as missing channels look after preprocessing.

    A dropped example keeps either one or both central EEG leads only (half of the drops: the
    single-EEG recordings of sleep-EDF/DREAMS style data) or loses each channel with probability 0.3
    (at least one EEG lead kept, at least one channel lost). Returns a boolean [B] of the examples changed.
    """
    changed = np.zeros(len(x), bool)
    for i in np.flatnonzero(rng.random(len(x)) < p):
        if rng.random() < 0.5:
            keep = np.zeros(x.shape[1], bool)
            keep[list(rng.choice(_EEG, size=rng.integers(1, 3), replace=False))] = True
        else:
            keep = rng.random(x.shape[1]) >= 0.3
            if not keep[list(_EEG)].any():
                keep[rng.choice(_EEG)] = True
            if keep.all():
                keep[rng.choice([c for c in range(x.shape[1]) if c not in _EEG])] = False
        x[i, ~keep] = 0.0
        if not keep[_POS]:
            x[i, _POS] = -1.0
        changed[i] = True
    return changed


_STAGE_EVENT = MODEL_TRACKS.index("stage_event")


def make_batch(data: EpochCaptions, tokenizer: Any, rng: np.random.Generator, batch_size: int,
               p_stage_only: float, track_weights: tuple[float, ...], canonical: bool = False,
               canonical_contrastive: bool = False, p_channel_drop: float = 0.0,
               contrastive_gist: bool = False, p_randomized: float = 0.0,
               contrastive_tracks: str = "stage_event", with_clean: bool = False) -> dict[str, torch.Tensor]:
    """Sample a batch: epochs, one caption track and one caption variant per epoch.

    Epochs are drawn from the clean rows; with ``p_randomized`` each is replaced, with that probability,
    by one of its randomized renditions (``data.renditions``). ``canonical`` uses variant 0 (the
    evaluation captions) and never the stage-only text. With ``contrastive_tracks="all"``,
    ``contrastive_ids`` is ``[B, 5, L]`` (every track's canonical caption, ``MODEL_TRACKS`` order) and
    ``contrastive_mask`` ``[B, 5]`` says which of them describe signals the example still has.
    ``with_clean`` adds ``x_clean`` (the clean epochs, before randomization and channel-drop) and ``kept``
    ``[B]`` (the example kept every channel: its captions describe what it shows).
    """
    if contrastive_tracks not in ("stage_event", "all"):
        raise ValueError(f"contrastive_tracks must be 'stage_event' or 'all', not {contrastive_tracks!r}")
    idx = rng.choice(data.clean_rows, size=min(batch_size, len(data.clean_rows)), replace=False)
    tw = np.asarray(track_weights, float)
    tracks = rng.choice(len(MODEL_TRACKS), size=len(idx), p=tw / tw.sum())
    variants = np.zeros(len(idx), int) if canonical else rng.integers(0, data.n_variants, len(idx))
    stage_only = np.zeros(len(idx), bool) if canonical else rng.random(len(idx)) < p_stage_only
    x_clean = np.array(data.signals(idx), dtype=np.float32) if with_clean else None
    if p_randomized > 0 and data.renditions is not None:
        pos = np.searchsorted(data.clean_rows, idx)
        swap = rng.random(len(idx)) < p_randomized
        pick = rng.integers(0, data.renditions.shape[1], len(idx))
        idx = np.where(swap, data.renditions[pos, pick], idx)
    x = np.array(data.signals(idx), dtype=np.float32)
    dropped = drop_channels(x, rng, p_channel_drop) if p_channel_drop > 0 else np.zeros(len(idx), bool)
    # the reference captions describe every channel: an example that lost channels (dropped here, or lost by
    # the randomization) trains the stage/event track only, so the decoder never learns to describe signals
    # it cannot see
    dropped |= data.lost_channels[idx]
    tracks = np.where(dropped, _STAGE_EVENT, tracks)
    con_texts, cap_texts = [], []
    for i, t, v, s in zip(idx, tracks, variants, stage_only):
        cv = 0 if canonical_contrastive else v
        con_texts.append(data.caption(i, "stage_event", cv) if s else data.retrieval_text(i, cv))
        if contrastive_gist:
            con_texts[-1] = event_gist(con_texts[-1])
        cap_texts.append(data.caption(i, MODEL_TRACKS[t], v))
    batch = {
        "x": torch.from_numpy(x),
        "caption_ids": tokenizer(cap_texts),
        "modality": torch.as_tensor(tracks, dtype=torch.long),
    }
    if with_clean:
        batch["x_clean"] = torch.from_numpy(x_clean)
        batch["kept"] = torch.from_numpy(~dropped)
    if contrastive_tracks == "stage_event":
        batch["contrastive_ids"] = tokenizer(con_texts)
        return batch
    texts = []
    for i, con in zip(idx, con_texts):
        texts += [con if k == _STAGE_EVENT else data.caption(i, track, 0) for k, track in enumerate(MODEL_TRACKS)]
    batch["contrastive_ids"] = tokenizer(texts).reshape(len(idx), len(MODEL_TRACKS), -1)
    mask = np.ones((len(idx), len(MODEL_TRACKS)), bool)
    mask[dropped] = False
    mask[:, _STAGE_EVENT] = True
    batch["contrastive_mask"] = torch.from_numpy(mask)
    return batch


class CachedTextEmbeddings:
    """Unit text embeddings of a frozen text tower, computed once per distinct token sequence.

    The tower must not change while the cache lives (``TrainConfig.frozen_text``); embeddings are computed
    in eval mode without gradient, so a cached text is exactly what ``encode_text`` gives at inference.
    """

    def __init__(self, model: ReCoCa) -> None:
        self.model = model
        self.cache: dict[bytes, torch.Tensor] = {}

    def __call__(self, ids: torch.Tensor) -> torch.Tensor:
        keys = [row.cpu().numpy().tobytes() for row in ids]
        todo = [i for i, k in enumerate(keys) if k not in self.cache]
        if todo:
            was_training = self.model.training
            self.model.eval()
            with torch.no_grad():
                new = self.model.encode_text(ids[todo])
            self.model.train(was_training)
            for i, e in zip(todo, new):
                self.cache.setdefault(keys[i], e)
        return torch.stack([self.cache[k] for k in keys])


def load_init(model: ReCoCa, path: str | Path) -> None:
    """Load the weights a fine-tune starts from.

    A model with ``track_heads`` may start from weights without them (the bundled sleeplm-tiny): every shared
    tensor is loaded with the strict check, and each track head starts as a copy of the main embedding's
    pooling and projection (``ReCoCa.init_track_heads``), so that every track's vector starts as the main one.
    """
    stored = read_safetensors_config(path) if str(path).endswith(".safetensors") else None
    if not model.cfg.track_heads or (stored or {}).get("track_heads", False):
        load_checkpoint(model, path)
        return
    base = ReCoCa(replace(model.cfg, track_heads=False))
    load_checkpoint(base, path)
    missing, unexpected = model.load_state_dict(base.state_dict(), strict=False)
    if unexpected or not all(k.startswith(("track_pools.", "track_projs.")) for k in missing):
        raise ValueError(f"{path}: does not fit the model beside its track heads ({unexpected or missing})")
    model.init_track_heads()


def autocast_dtype(device: str | torch.device) -> torch.dtype | None:
    """Mixed precision of a training device: bf16 autocast on a GPU, ``None`` (plain fp32) on a CPU."""
    return torch.bfloat16 if torch.device(device).type == "cuda" else None


def training_device(device: str | torch.device) -> torch.device:
    """``device`` checked: ``cpu`` or ``cuda[:k]`` with a GPU present (a clear error otherwise)."""
    try:
        dev = torch.device(device)
    except RuntimeError as exc:
        raise ValueError(f"unknown training device {str(device)!r}: use cpu or cuda") from exc
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"unsupported training device {str(device)!r}: use cpu or cuda")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"training device {str(device)!r}: no CUDA GPU is available here (use --device cpu)")
    return dev


def _teacher(model_cfg: ReCoCaConfig, cfg: TrainConfig) -> ReCoCa | None:
    """The frozen teacher of a distilling fine-tune: the weights it starts from (``init_from``)."""
    if cfg.weights.distillation <= 0:
        return None
    if not cfg.init_from:
        raise ValueError("distillation needs a teacher: a fine-tune with init_from (a recipe stage after the first)")
    teacher = ReCoCa(model_cfg)
    load_init(teacher, cfg.init_from)
    teacher.eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    return teacher


def param_groups(model: ReCoCa, weight_decay: float) -> list[dict[str, Any]]:
    """Decay matrices; no decay for biases, norms, embeddings, ``logit_scale`` and prefix tokens."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        skip = p.ndim < 2 or "embedding" in name or name.endswith(("cls_emb", "logit_scale")) or "freqs" in name
        (no_decay if skip else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def _checkpoints(folder: Path) -> list[tuple[int, Path]]:
    out = []
    for p in folder.glob("step_*.pt"):
        if p.with_suffix(".safetensors").is_file():
            out.append((int(p.stem.split("_")[1]), p))
    return sorted(out)


def latest_checkpoint(out_dir: str | Path) -> tuple[int, Path] | None:
    """``(step, path of step_XXXXXX.pt)`` of the newest complete checkpoint, or ``None``."""
    found = _checkpoints(Path(out_dir) / "checkpoints")
    return found[-1] if found else None


def save_training_state(model: ReCoCa, opt: torch.optim.Optimizer, step: int, out_dir: Path, keep: int) -> Path:
    """``checkpoints/step_XXXXXX.safetensors`` (weights + config) and ``.pt`` (optimizer, step)."""
    folder = out_dir / "checkpoints"
    folder.mkdir(parents=True, exist_ok=True)
    stem = folder / f"step_{step:06d}"
    save_checkpoint(model, stem.with_suffix(".safetensors"), model.cfg.to_dict())
    torch.save({"optimizer": opt.state_dict(), "step": step}, stem.with_suffix(".tmp"))
    stem.with_suffix(".tmp").replace(stem.with_suffix(".pt"))  # the .pt marks the checkpoint complete
    for _, old in _checkpoints(folder)[:-keep]:
        old.unlink()
        old.with_suffix(".safetensors").unlink(missing_ok=True)
    return stem.with_suffix(".safetensors")


@torch.no_grad()
def validation_loss(model: ReCoCa, data: EpochCaptions, tokenizer: Any, cfg: TrainConfig) -> dict[str, float]:
    """Mean loss terms on fixed held-out batches (canonical captions, tracks sampled), on the model's device."""
    device = model.logit_scale.device
    model.eval()
    sums: dict[str, float] = {}
    for b in range(cfg.val_batches):
        batch = make_batch(data, tokenizer, np.random.default_rng([cfg.seed, 10**9 + b]), cfg.batch_size,
                           1.0 if cfg.p_stage_only >= 1.0 else 0.0, cfg.track_weights, canonical=True,
                           contrastive_gist=cfg.contrastive_gist, contrastive_tracks=cfg.contrastive_tracks)
        batch = {k: v.to(device) for k, v in batch.items()}
        _, parts = pretraining_loss(model, batch["x"], batch["contrastive_ids"], batch["caption_ids"],
                                    batch["modality"], cfg.weights, cfg.dedupe_texts, batch.get("contrastive_mask"))
        parts.pop("distillation", None)
        for k, v in parts.items():
            sums[k] = sums.get(k, 0.0) + v / cfg.val_batches
    model.train()
    return sums


def _read_history(path: Path, upto: int) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r for r in rows if r["step"] <= upto]


def _write_history(path: Path, rows: list[dict[str, Any]]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(r) + "\n" for r in rows))
    tmp.replace(path)


def run_training(
    model_cfg: ReCoCaConfig,
    cfg: TrainConfig,
    train_data: EpochCaptions,
    tokenizer: Any,
    out_dir: str | Path,
    val_data: EpochCaptions | None = None,
    resume: bool = False,
    progress: bool = True,
    plot: bool = True,
    device: str | torch.device = "cpu",
) -> Path:
    """Train ``model_cfg`` from scratch (or from the last checkpoint with ``resume``).

    ``device``: ``cpu`` (plain fp32) or ``cuda`` (bf16 autocast of the forward pass and losses; weights,
    gradients and optimizer state stay fp32). It changes how a run is carried out, not its settings: a run may
    be resumed on another device. Written to ``device.json`` (device, precision) in ``out_dir``.

    Writes ``train_config.json``, ``history.jsonl`` (one row per step: loss terms, lr, grad norm,
    wall time; ``val_*`` rows at checkpoints), ``loss_curves.png`` / ``loss_curves.json``,
    checkpoints, and ``model.safetensors`` (final fp32 weights + config). Returns that path.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    dev = training_device(device)
    amp = autocast_dtype(dev)
    model = ReCoCa(model_cfg)
    model.train()
    start, elapsed = 0, 0.0
    last = latest_checkpoint(out_dir) if resume else None
    if last is None and cfg.init_from:
        load_init(model, cfg.init_from)
    if last is not None:
        start, pt = last
        stored = read_safetensors_config(pt.with_suffix(".safetensors"))
        if stored is not None and ReCoCaConfig.from_dict(stored) != model_cfg:
            raise ValueError(f"{pt}: checkpoint config differs from the requested model config")
        load_checkpoint(model, pt.with_suffix(".safetensors"))
    teacher = _teacher(model_cfg, cfg)
    model.to(dev)
    if teacher is not None:
        teacher.to(dev)
    opt = torch.optim.AdamW(param_groups(model, cfg.weight_decay), lr=cfg.lr, betas=cfg.betas, eps=1e-6)
    if last is not None:
        state = torch.load(last[1], map_location="cpu", weights_only=True)
        opt.load_state_dict(state["optimizer"])
        start = int(state["step"])
    if cfg.frozen_text:
        for p in model.text.parameters():
            p.requires_grad_(False)
    text_cache = CachedTextEmbeddings(model) if cfg.frozen_text else None
    (out_dir / "device.json").write_text(
        json.dumps({"device": str(dev), "precision": "bf16 autocast" if amp is not None else "fp32"}) + "\n")
    history = _read_history(out_dir / "history.jsonl", start) if start else []
    if history:
        elapsed = float(history[-1].get("time_s", 0.0))
    (out_dir / "train_config.json").write_text(json.dumps(asdict(cfg), indent=1) + "\n")

    bar = tqdm(range(start, cfg.steps), initial=start, total=cfg.steps, desc="train", disable=not progress)
    t_last = time.perf_counter()
    for step in bar:
        lr = lr_at(step, cfg)
        for group in opt.param_groups:
            group["lr"] = lr
        batch = make_batch(train_data, tokenizer, np.random.default_rng([cfg.seed, step]), cfg.batch_size,
                           cfg.p_stage_only, cfg.track_weights, canonical_contrastive=cfg.canonical_contrastive,
                           p_channel_drop=cfg.p_channel_drop, contrastive_gist=cfg.contrastive_gist,
                           p_randomized=cfg.p_randomized, contrastive_tracks=cfg.contrastive_tracks,
                           with_clean=teacher is not None)
        batch = {k: v.to(dev) for k, v in batch.items()}
        torch.manual_seed(cfg.seed * 1_000_003 + step)
        with torch.autocast(dev.type, dtype=amp or torch.float32, enabled=amp is not None):
            targets = None
            if teacher is not None:
                with torch.no_grad():
                    t_emb, t_mem = teacher.encode_biosignals(batch["x_clean"])
                targets = (t_emb, t_mem, batch["kept"])
            loss, parts = pretraining_loss(model, batch["x"], batch["contrastive_ids"], batch["caption_ids"],
                                           batch["modality"], cfg.weights, cfg.dedupe_texts,
                                           batch.get("contrastive_mask"), encode_text=text_cache, teacher=targets)
        if not math.isfinite(parts["loss"]):
            raise FloatingPointError(f"non-finite loss at step {step}: {parts}")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = float(torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip))
        opt.step()
        now = time.perf_counter()
        elapsed += now - t_last
        t_last = now
        row = {"step": step + 1, **{k: round(v, 5) for k, v in parts.items()}, "lr": lr,
               "grad_norm": round(grad_norm, 4), "time_s": round(elapsed, 2)}
        done = step + 1
        if done % cfg.checkpoint_every == 0 or done == cfg.steps:
            if val_data is not None and cfg.val_batches > 0:
                row |= {f"val_{k}": round(v, 5) for k, v in validation_loss(model, val_data, tokenizer, cfg).items()}
            save_training_state(model, opt, done, out_dir, cfg.keep_checkpoints)
            history.append(row)
            _write_history(out_dir / "history.jsonl", history)
            if plot:
                from sleeplm.encoder.train.curves import plot_history

                plot_history(history, out_dir / "loss_curves.png", out_dir / "loss_curves.json")
            t_last = time.perf_counter()  # do not count checkpoint/validation time as training time
        else:
            history.append(row)
        bar.set_postfix(loss=f"{parts['loss']:.3f}", con=f"{parts['contrastive']:.3f}",
                        cap=f"{parts.get('caption', float('nan')):.3f}", lr=f"{lr:.1e}")
    _write_history(out_dir / "history.jsonl", history)
    final = out_dir / "model.safetensors"
    save_checkpoint(model, final, model.cfg.to_dict())
    return final


def export_weights(src: str | Path, dst: str | Path, dtype: torch.dtype = torch.float16) -> Path:
    """Copy a checkpoint with floating-point tensors stored as ``dtype`` (``load_model`` upcasts)."""
    from safetensors.torch import load_file, save_file

    from sleeplm.encoder.model.checkpoint import CONFIG_METADATA_KEY

    sd = load_file(str(src))
    cfg = read_safetensors_config(src)
    sd = {k: (v.to(dtype) if v.is_floating_point() else v).contiguous() for k, v in sd.items()}
    save_file(sd, str(dst), metadata={CONFIG_METADATA_KEY: json.dumps(cfg)} if cfg is not None else None)
    return Path(dst)


def resolve_tokenizer(model_cfg: ReCoCaConfig, train_data: EpochCaptions, out_dir: Path) -> tuple[ReCoCaConfig, Any]:
    """The tokenizer named by ``model_cfg.tokenizer`` (trained into ``out_dir`` from the training
    captions if it is neither ``"clip"`` nor a bundled file), and the config with its vocabulary."""
    from dataclasses import replace

    from sleeplm.encoder.model.tokenizer import get_tokenizer
    from sleeplm.encoder.train.domain_tokenizer import train_domain_tokenizer

    n_ctx = model_cfg.text_cfg.context_length
    try:
        tok = get_tokenizer(model_cfg.tokenizer, n_ctx)
        name = model_cfg.tokenizer
    except ValueError:
        path = out_dir / f"{model_cfg.tokenizer}.json"
        if not path.is_file():
            train_domain_tokenizer(train_data.all_texts(), path)
        name = str(path.resolve())
        tok = get_tokenizer(name, n_ctx)
    text_cfg = replace(model_cfg.text_cfg, vocab_size=tok.vocab_size)
    cfg = replace(model_cfg, text_cfg=text_cfg, tokenizer=name, sot_token_id=tok.sot_token_id,
                  eot_token_id=tok.eot_token_id)
    return cfg, tok
