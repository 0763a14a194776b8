"""Adaptation of a SleepLM's signal tower on a lab's own scored epochs (issue 15).

A copy of the model is fine-tuned so that its epoch vectors land on the *training* stage texts of the
scored stages: each epoch's vector is scored against the text embedding of every stage's canonical
stage/event gist caption (the text the model was trained to match for an epoch of that stage with no
event, :func:`stage_texts`), and a cross-entropy over the stages pulls it to its own stage's text. The
text tower never changes (no gradient; its parameters stay bit-identical), so the stage prompts, the
caption texts and every text query keep their embeddings; only the signal vectors move.

An optional regulariser against forgetting (``regulariser``): ``"l2sp"`` adds
``regulariser_weight * sum((theta - theta_start)**2)`` over the trained parameters (L2-SP, a pull
towards the starting weights rather than towards zero); ``"none"`` leaves it out.

Settings live in recipe files (``encoder/train/recipes/*-adapt-*.json``, :func:`load_adapt_recipe`):
:class:`AdaptConfig` has no defaults for what changes the weights.

Input is what ingest makes of a recording (``make_epochs``): ``x`` float32 ``[n, 10, 1920]``, each
channel z-scored per recording, a missing channel zeros (POS ``-1``), and the channel mask that says
which channels were recorded. The model sees absence as zeros; the mask is checked against ``x`` and
the channels present are returned with the result (an adapted model has only seen those channels).
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
from dataclasses import MISSING, asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from sleeplm.encoder.captions.facts import CaptionFacts
from sleeplm.encoder.captions.render import event_gist, render_facts
from sleeplm.encoder.model.api import SleepLM
from sleeplm.encoder.train.augment import (
    EEG_ROWS,
    MAX_FREQUENCY_LOG2,
    MAX_TILT,
    jitter_brain_amplitude,
    jitter_eeg_spectrum,
)
from sleeplm.encoder.train.data import SplitSpec
from sleeplm.encoder.train.loop import lr_at
from sleeplm.encoder.train.losses import MAX_LOGIT_SCALE
from sleeplm.encoder.train.recipe import RECIPES_DIR, RecipeError
from sleeplm.encoder.vocab import CHANNEL_INDEX, SCORED_STAGES, SLEEPLM_CHANNELS
from tqdm import tqdm

#: What :attr:`AdaptConfig.trainable` may name: the whole signal tower, or only its last transformer
#: block and the poolers and projection above it (the patch embedding and first blocks frozen).
TRAINABLE = ("signal_tower", "signal_top")
REGULARISERS = ("none", "l2sp")
TARGETS = ("stage", "caption")
#: What :attr:`AdaptConfig.eeg_spectrum_jitter_on` may name: every epoch, or only those whose one recorded channel is
#: a central EEG lead.
SPECTRUM_JITTER_ON = ("all", "eeg_alone")
_POS = CHANNEL_INDEX["POS"]


@dataclass(frozen=True)
class AdaptConfig:
    """Settings of one adaptation (a recipe's ``adapt`` object states every one without a default).

    ``threads`` only changes how the run is carried out, never the weights.
    """

    #: Optimiser steps, and epochs per step (sampled without replacement within a step).
    steps: int
    batch_size: int
    #: Peak learning rate (AdamW), linear warmup over ``warmup_steps`` then cosine decay to ``lr * min_lr_ratio``.
    lr: float
    min_lr_ratio: float
    warmup_steps: int
    weight_decay: float
    grad_clip: float
    seed: int
    #: One of :data:`TRAINABLE`.
    trainable: str
    #: Draw each batch's epochs with every scored stage equally likely (else in proportion to the data).
    balanced_stages: bool
    #: One of :data:`REGULARISERS`, and its weight.
    regulariser: str
    regulariser_weight: float
    #: Also train on a single-lead copy of every epoch whose central EEG is recorded (:func:`single_lead_copies`).
    single_lead_copies: bool
    #: One of :data:`TARGETS`: "stage" pulls each epoch to its stage's text among the five stage texts; "caption" to
    #: its own stage/event text (``texts``) among every distinct text of the training epochs and the five stage texts.
    target: str
    #: Multiply each training epoch's EEG and EOG channels (one factor per epoch) by ``2 ** u``, ``u`` uniform in
    #: ``[-amplitude_jitter_log2, amplitude_jitter_log2]`` (:func:`jitter_brain_amplitude`): a recording's z-score
    #: depends on its stage mix (a night with little N3 has a small EEG standard deviation, so its N2 looks large),
    #: and a model that reads N3 from z-scored amplitude alone calls such N2 N3. 0 = off (recipes before it).
    amplitude_jitter_log2: float = 0.0
    #: Move each training epoch's EEG rhythms by a factor ``2 ** u``, ``u ~ U(±eeg_frequency_jitter_log2)``, and tilt
    #: its spectrum by an exponent ``~ U(±eeg_tilt_jitter)`` (:func:`~sleeplm.encoder.train.augment.jitter_eeg_spectrum`):
    #: simulated subjects share the simulator's rhythm frequencies and slopes, real people do not. 0 = off.
    eeg_frequency_jitter_log2: float = 0.0
    eeg_tilt_jitter: float = 0.0
    #: Which epochs get that jitter: "all", or "eeg_alone" (epochs whose only recorded channel is one EEG lead, e.g.
    #: the single-lead copies), so that full recordings train as without it.
    eeg_spectrum_jitter_on: str = "all"
    #: Give the signal tower a spectral summary (each channel's relative band powers and RMS, added to the pooled
    #: vector; :class:`~sleeplm.encoder.model.signal_encoder.SpectralSummary`) if the start weights have none; it
    #: starts at zero output and trains with the tower. False = the tower as the start weights have it.
    spectral_summary: bool = False
    #: Peak learning rate of the spectral summary's parameters (same schedule), and with it they are left out of the
    #: L2-SP regulariser (new parameters have no trained value to stay near). 0 = as every other parameter (``lr``,
    #: regularised), as the first spectral-summary recipes ran.
    spectral_summary_lr: float = 0.0
    threads: int = 1

    def __post_init__(self) -> None:
        if self.trainable not in TRAINABLE:
            raise ValueError(f"trainable must be one of {TRAINABLE}, not {self.trainable!r}")
        if self.target not in TARGETS:
            raise ValueError(f"target must be one of {TARGETS}, not {self.target!r}")
        if self.regulariser not in REGULARISERS:
            raise ValueError(f"regulariser must be one of {REGULARISERS}, not {self.regulariser!r}")
        if self.steps < 1 or self.batch_size < 2:
            raise ValueError("steps must be >= 1 and batch_size >= 2")
        if not 0.0 <= self.amplitude_jitter_log2 <= 3.0:
            raise ValueError(f"amplitude_jitter_log2 must be in [0, 3], not {self.amplitude_jitter_log2}")
        if not 0.0 <= self.eeg_frequency_jitter_log2 <= MAX_FREQUENCY_LOG2:
            raise ValueError(f"eeg_frequency_jitter_log2 must be in [0, {MAX_FREQUENCY_LOG2}], "
                             f"not {self.eeg_frequency_jitter_log2}")
        if self.eeg_spectrum_jitter_on not in SPECTRUM_JITTER_ON:
            raise ValueError(f"eeg_spectrum_jitter_on must be one of {SPECTRUM_JITTER_ON}, "
                             f"not {self.eeg_spectrum_jitter_on!r}")
        if not 0.0 <= self.eeg_tilt_jitter <= MAX_TILT:
            raise ValueError(f"eeg_tilt_jitter must be in [0, {MAX_TILT}], not {self.eeg_tilt_jitter}")
        if self.spectral_summary_lr < 0.0 or (self.spectral_summary_lr > 0.0 and not self.spectral_summary):
            raise ValueError("spectral_summary_lr needs spectral_summary on and must be >= 0")


@dataclass(frozen=True)
class AdaptRecipe:
    """A loaded adaptation recipe: its name, version, settings, file and the file's sha256."""

    name: str
    version: str
    config: AdaptConfig
    source: Path
    sha256: str
    #: ``{"weights": NAME_OR_PATH, "sha256": HEX}``: the weights adapted (checked by ``recipe.start_weights``);
    #: None = the model the caller gives.
    start_from: dict[str, str] | None = None
    #: The simulated training split the epochs come from (``sim_adapt``); None = a lab's own scored epochs.
    data: SplitSpec | None = None
    #: How the adapted weights say recordings are to be read (``ReCoCaConfig.input_brain_scale``); None = as the
    #: split was cut. Another scale only where it reads every training night identically (:func:`same_reading`).
    input_brain_scale: str | None = None


@dataclass
class AdaptResult:
    """What :func:`adapt_signal_tower` returns.

    ``model`` is the adapted copy; ``history`` one row per step (``step``, ``loss``, ``stage_ce``,
    ``regulariser``, ``lr``); ``stage_counts`` the training epochs per stage; ``channels_seen`` the channels
    recorded in at least one training epoch; ``trainable_parameters`` how many numbers were trained.
    """

    model: SleepLM
    history: list[dict[str, float]]
    stage_counts: dict[str, int]
    channels_seen: list[str]
    trainable_parameters: int
    texts: dict[str, str]


def stage_texts(stages: tuple[str, ...] = SCORED_STAGES) -> dict[str, str]:
    """stage -> the contrastive text sleeplm-tiny was trained with for an epoch of that stage and no event.

    The canonical stage/event caption (``render_facts``, no paraphrase) with event times removed
    (``event_gist``), as the training data's contrastive texts were made (``contrastive_gist``).
    """
    return {s: event_gist(render_facts(CaptionFacts(track="stage_event", stage=s))) for s in stages}


def channel_presence(x: np.ndarray) -> np.ndarray:
    """``[n, 10]`` bool: which channels carry a signal, read the way preprocessing writes absence
    (an absent channel is all zeros; an absent POS channel is all ``-1``)."""
    x = np.asarray(x)
    present = np.any(x != 0.0, axis=-1)
    present[:, _POS] = np.any(x[:, _POS] != -1.0, axis=-1)
    return present


def check_inputs(x: np.ndarray, stages: np.ndarray, channel_mask: np.ndarray) -> None:
    """Raise ``ValueError`` naming the problem: shapes, non-finite values, unscored stages, or a channel
    the mask calls absent that carries a signal (absence must be zeros, as the model reads it)."""
    if x.ndim != 3 or x.shape[1:] != (len(SLEEPLM_CHANNELS), 1920):
        raise ValueError(f"x must be [n, {len(SLEEPLM_CHANNELS)}, 1920], got {list(x.shape)}")
    if len(stages) != len(x) or channel_mask.shape != x.shape[:2]:
        raise ValueError(f"{len(x)} epochs but {len(stages)} stages and a channel mask of shape {list(channel_mask.shape)}")
    bad = sorted(set(np.asarray(stages, dtype=object).tolist()) - set(SCORED_STAGES))
    if bad:
        raise ValueError(f"stages must be scored stages {SCORED_STAGES}; found {bad}")
    if not np.isfinite(x).all():
        raise ValueError("x contains NaN or inf; a missing channel is zeros")
    leak = ~np.asarray(channel_mask, bool) & channel_presence(x)
    if leak.any():
        names = sorted({SLEEPLM_CHANNELS[c] for c in np.flatnonzero(leak.any(axis=0))})
        raise ValueError(f"channels {names} are marked absent but carry a signal in {int(leak.any(axis=1).sum())} epochs")


def single_lead_copies(x: np.ndarray, stages: np.ndarray, channel_mask: np.ndarray
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The epochs plus a single-lead copy of each epoch with a central EEG lead: one lead (C3 for even rows, C4 for
    odd rows, the other when that one is absent) in the C3 slot, every other channel absent (zeros, POS ``-1``),
    as preprocessing writes a recording of one EEG channel (e.g. the DREAMS excerpts: ``C3-A1`` or ``Cz-A1``).

    Returns
    -------
    (x, stages, channel_mask, rows): the copies appended after the originals; ``rows`` = the original of each copy.
    """
    c3, c4 = CHANNEL_INDEX["EEG_C3"], CHANNEL_INDEX["EEG_C4"]
    mask = np.asarray(channel_mask, bool)
    rows = np.arange(len(x))
    lead = np.where(rows % 2 == 0, c3, c4)
    lead = np.where(mask[rows, lead], lead, np.where(lead == c3, c4, c3))
    keep = rows[mask[rows, lead]]
    copies = np.zeros((len(keep), *x.shape[1:]), np.float32)
    copies[:, _POS] = -1.0
    copies[:, c3] = x[keep, lead[keep]]
    cmask = np.zeros((len(keep), x.shape[1]), bool)
    cmask[:, c3] = True
    return (np.concatenate([x, copies]), np.concatenate([np.asarray(stages, object), np.asarray(stages, object)[keep]]),
            np.concatenate([mask, cmask]), keep)


def _trainable(net: torch.nn.Module, which: str) -> list[tuple[str, torch.nn.Parameter]]:
    """Set ``requires_grad`` on the signal-tower parameters ``which`` names, off everywhere else."""
    for p in net.parameters():
        p.requires_grad_(False)
    tower = net.biosignals
    if which == "signal_tower":
        chosen = dict(tower.named_parameters())
    else:
        last = len(tower.transformer_blocks) - 1
        top = (f"transformer_blocks.{last}.", "ln_final.", "contrastive_pooler.", "decoder_pooler.", "attn_pool.",
               "proj_to_embed.", "spectral_summary.")
        chosen = {n: p for n, p in tower.named_parameters() if n.startswith(top)}
    for p in chosen.values():
        p.requires_grad_(True)
    return [(f"biosignals.{n}", p) for n, p in chosen.items()]


def _batches(labels: np.ndarray, cfg: AdaptConfig) -> list[np.ndarray]:
    """Each step's epoch indices, a function of ``cfg.seed`` and the step only."""
    classes = np.unique(labels)
    out = []
    for step in range(cfg.steps):
        rng = np.random.default_rng([cfg.seed, step])
        size = min(cfg.batch_size, len(labels))
        if cfg.balanced_stages:
            w = np.zeros(len(labels))
            for c in classes:
                w[labels == c] = 1.0 / (labels == c).sum()
            out.append(rng.choice(len(labels), size=size, replace=False, p=w / w.sum()))
        else:
            out.append(rng.choice(len(labels), size=size, replace=False))
    return out


def adapt_signal_tower(model: SleepLM, x: np.ndarray, stages: np.ndarray, channel_mask: np.ndarray,
                       cfg: AdaptConfig, progress: bool = False, desc: str = "adapt",
                       texts_per_epoch: np.ndarray | None = None) -> AdaptResult:
    """Fine-tune a copy of ``model``'s signal tower on scored epochs; ``model`` itself is left untouched.

    Parameters
    ----------
    model
        A loaded SleepLM (CPU, fp32).
    x
        ``[n, 10, 1920]`` float32 epochs preprocessed as ingest does (``make_epochs``).
    stages
        ``[n]`` one scored stage per epoch (W, N1, N2, N3, REM).
    channel_mask
        ``[n, 10]`` the channels recorded (``Epochs.channel_mask``; :func:`channel_presence` reads it from ``x``).
    cfg
        The settings (:func:`load_adapt_recipe`).
    texts_per_epoch
        ``[n]`` each epoch's stage/event text (the event gist of its canonical caption), for ``cfg.target == "caption"``.
    progress
        A tqdm bar over the steps.

    Returns
    -------
    AdaptResult
        The adapted copy (eval mode) and the training history.

    Raises
    ------
    ValueError
        Inputs that do not fit (:func:`check_inputs`), or fewer than two scored stages.
    """
    x = np.asarray(x, np.float32)
    stages = np.asarray(stages, dtype=object)
    channel_mask = np.asarray(channel_mask, bool)
    check_inputs(x, stages, channel_mask)
    texts = stage_texts()
    if cfg.target == "caption":
        if texts_per_epoch is None or len(texts_per_epoch) != len(x):
            raise ValueError("target 'caption' needs the stage/event text of every epoch (texts_per_epoch)")
        own = np.asarray(texts_per_epoch, dtype=object)
    else:
        own = np.asarray([texts[s] for s in stages], dtype=object)
    if cfg.single_lead_copies:
        x, stages, channel_mask, _ = single_lead_copies(x, stages, channel_mask)
        own = np.concatenate([own, np.asarray([texts[s] for s in stages[len(own):]], dtype=object)])
    present = [s for s in SCORED_STAGES if (stages == s).any()]
    if len(present) < 2:
        raise ValueError(f"adaptation needs epochs of at least two stages; has {present}")
    vocab = [texts[s] for s in SCORED_STAGES] + sorted(set(own.tolist()) - set(texts.values()))
    index = {t: i for i, t in enumerate(vocab)}
    targets = np.asarray([index[t] for t in own], np.int64)
    labels = np.asarray([SCORED_STAGES.index(s) for s in stages], np.int64)
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    net = copy.deepcopy(model.model).float().cpu()
    if cfg.spectral_summary and net.biosignals.spectral_summary is None:  # initialised from the seed set above
        net.biosignals.add_spectral_summary()
        tower_cfg = dataclasses.replace(net.cfg.biosignals_cfg, spectral_summary=True)
        net.biosignals.cfg = tower_cfg
        net.cfg = dataclasses.replace(net.cfg, biosignals_cfg=tower_cfg)
    with torch.no_grad():
        text_emb = torch.cat([net.eval().encode_text(model.tokenizer(vocab[i:i + 256])) for i in range(0, len(vocab), 256)])
        scale = net.logit_scale.clamp(max=MAX_LOGIT_SCALE).exp()
    named = _trainable(net, cfg.trainable)
    params = [p for _, p in named]
    own_lr = cfg.spectral_summary_lr > 0.0
    summary = {id(p) for n, p in named if n.startswith("biosignals.spectral_summary.")} if own_lr else set()
    held = [p for p in params if id(p) not in summary]  # what L2-SP holds near its start
    start = [p.detach().clone() for p in held]
    groups = [{"params": [p for p in held if p.ndim >= 2], "weight_decay": cfg.weight_decay, "scale": 1.0},
              {"params": [p for p in held if p.ndim < 2], "weight_decay": 0.0, "scale": 1.0}]
    if own_lr:
        new_params = [p for p in params if id(p) in summary]
        groups += [{"params": [p for p in new_params if p.ndim >= 2], "weight_decay": cfg.weight_decay,
                    "scale": cfg.spectral_summary_lr / cfg.lr},
                   {"params": [p for p in new_params if p.ndim < 2], "weight_decay": 0.0,
                    "scale": cfg.spectral_summary_lr / cfg.lr}]
    opt = torch.optim.AdamW(groups, lr=cfg.lr, betas=(0.9, 0.98), eps=1e-6)
    net.biosignals.train()
    xt = torch.from_numpy(x)
    # one recorded channel, a central EEG lead (a single-lead copy, or a recording of one EEG lead)
    eeg_alone = (channel_mask.sum(axis=1) == 1) & channel_mask[:, list(EEG_ROWS)].any(axis=1)
    yt = torch.from_numpy(targets)
    history = []
    for step, idx in enumerate(tqdm(_batches(labels, cfg), desc=desc, disable=not progress, leave=False)):
        lr = lr_at(step, cfg)
        for g in opt.param_groups:
            g["lr"] = lr * g["scale"]
        batch = jitter_brain_amplitude(xt[idx], np.random.default_rng([cfg.seed, step, 1]), cfg.amplitude_jitter_log2)
        spectrum_rng = np.random.default_rng([cfg.seed, step, 2])
        if cfg.eeg_spectrum_jitter_on == "all":
            batch = jitter_eeg_spectrum(batch, spectrum_rng, cfg.eeg_frequency_jitter_log2, cfg.eeg_tilt_jitter)
        elif (rows := np.flatnonzero(eeg_alone[idx])).size:  # "eeg_alone": the full recordings keep their EEG
            batch = batch.clone()
            batch[rows] = jitter_eeg_spectrum(batch[rows], spectrum_rng, cfg.eeg_frequency_jitter_log2, cfg.eeg_tilt_jitter)
        emb, _ = net.encode_biosignals(batch)
        ce = F.cross_entropy(scale * emb @ text_emb.t(), yt[idx])
        reg = sum(((p - p0) ** 2).sum() for p, p0 in zip(held, start)) if cfg.regulariser == "l2sp" else torch.zeros(())
        loss = ce + cfg.regulariser_weight * reg if cfg.regulariser != "none" else ce
        if not torch.isfinite(loss):
            raise FloatingPointError(f"non-finite adaptation loss at step {step}")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
        opt.step()
        history.append({"step": step + 1, "loss": round(loss.item(), 5), "stage_ce": round(ce.item(), 5),
                        "regulariser": round(float(reg.detach()), 6), "lr": lr})
    for p in net.parameters():
        p.requires_grad_(False)
    adapted = SleepLM(net.eval(), model.tokenizer)
    seen = [SLEEPLM_CHANNELS[c] for c in np.flatnonzero(channel_mask.any(axis=0))]
    return AdaptResult(adapted, history, {s: int((stages == s).sum()) for s in SCORED_STAGES}, seen,
                       int(sum(p.numel() for p in params)), texts)


def stage_loss(model: SleepLM, x: np.ndarray, stages: np.ndarray, batch_size: int = 32) -> float:
    """Mean cross-entropy of the epochs' stages against the training stage texts (the adaptation's
    objective without its regulariser), in eval mode and without gradient."""
    texts = stage_texts()
    labels = torch.as_tensor([SCORED_STAGES.index(s) for s in stages])
    t = torch.from_numpy(model.encode_text([texts[s] for s in SCORED_STAGES]))
    v = torch.from_numpy(model.encode_signal(np.asarray(x, np.float32), batch_size=batch_size))
    scale = model.model.logit_scale.detach().clamp(max=MAX_LOGIT_SCALE).exp()
    return float(F.cross_entropy(scale * v @ t.t(), labels))


def adapt_recipe_path(name_or_path: str | Path) -> Path:
    """The file of a bundled adaptation recipe name, or ``name_or_path`` itself when it is a file."""
    named = RECIPES_DIR / f"{name_or_path}.json"
    if isinstance(name_or_path, str) and "/" not in name_or_path and named.is_file():
        return named
    if Path(name_or_path).is_file():
        return Path(name_or_path)
    raise RecipeError(f"unknown adaptation recipe {str(name_or_path)!r}: not a bundled recipe name and not a file")


def load_adapt_recipe(name_or_path: str | Path) -> AdaptRecipe:
    """Read an adaptation recipe: ``{"name", "version", "adapt": {every AdaptConfig setting}}``, optionally
    ``"start_from"`` (the weights, by sha256) and ``"data"`` (a simulated training split, :class:`SplitSpec`) for
    :mod:`sleeplm.encoder.train.sim_adapt` (keys starting with ``_`` are comments).

    Raises
    ------
    RecipeError
        Unreadable JSON, unknown or missing keys, or settings :class:`AdaptConfig` refuses; the
        message names the file.
    """
    path = adapt_recipe_path(name_or_path)
    try:
        data = path.read_bytes()
        raw = json.loads(data)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RecipeError(f"{path}: not a readable JSON recipe ({exc})") from exc
    if not isinstance(raw, dict):
        raise RecipeError(f"{path}: a recipe is a JSON object")
    body = {k: v for k, v in raw.items() if not k.startswith("_")}
    unknown = sorted(set(body) - {"name", "version", "adapt", "start_from", "data", "input_brain_scale"})
    missing = sorted({"name", "adapt"} - set(body))
    if unknown or missing:
        raise RecipeError(f"{path}: " + "; ".join(([f"unknown keys {unknown}"] if unknown else [])
                                                   + ([f"missing keys {missing}"] if missing else [])))
    settings = body["adapt"]
    if not isinstance(settings, dict):
        raise RecipeError(f"{path}: adapt must be an object of settings")
    known = {f.name for f in fields(AdaptConfig)}
    required = sorted(f.name for f in fields(AdaptConfig) if f.default is MISSING and f.name not in settings)
    extra = sorted(set(settings) - known)
    if extra or required:
        raise RecipeError(f"{path}: adapt: " + "; ".join(([f"unknown settings {extra}"] if extra else [])
                                                         + ([f"missing settings {required} (a recipe states every one)"]
                                                            if required else [])))
    try:
        cfg = AdaptConfig(**settings)
    except (TypeError, ValueError) as exc:
        raise RecipeError(f"{path}: adapt: {exc}") from exc
    start = body.get("start_from")
    if start is not None and (not isinstance(start, dict) or set(start) != {"weights", "sha256"}):
        raise RecipeError(f"{path}: start_from must be {{\"weights\": name or path, \"sha256\": hex}}")
    split = body.get("data")
    if split is not None:
        try:
            split = SplitSpec(**split)
        except TypeError as exc:
            raise RecipeError(f"{path}: data: {exc} (the settings of one simulated split, SplitSpec)") from exc
    reading = body.get("input_brain_scale")
    if reading is not None and (split is None or not same_reading(split, str(reading))):
        raise RecipeError(f"{path}: input_brain_scale {reading!r} must read every night of the recipe's data split as "
                          f"it was cut ({split.brain_scale if split else 'no split'!r}); only 'mad-window' on a 'mad' "
                          "split of nights no longer than its window does")
    return AdaptRecipe(str(body["name"]), str(body.get("version", "")), cfg, path, hashlib.sha256(data).hexdigest(),
                       dict(start) if start else None, split, reading)


def same_reading(split: SplitSpec, brain_scale: str) -> bool:
    """Whether weights that read recordings with ``brain_scale`` see the split's every night exactly as it was cut:
    the same scale, or the widest-stretch scale ("mad-window") on a "mad" split whose nights all fit in the stretch
    (it then scales each night over its whole length, sample for sample)."""
    from sleeplm.encoder.signals.preprocess import SCALE_WINDOW_S

    if brain_scale == split.brain_scale:
        return True
    longest_h = split.duration_h_max if split.duration_h_max is not None else split.duration_h
    return brain_scale == "mad-window" and split.brain_scale == "mad" and longest_h * 3600.0 <= SCALE_WINDOW_S


def config_dict(cfg: AdaptConfig) -> dict[str, Any]:
    """The settings as a JSON-ready dict."""
    return asdict(cfg)
