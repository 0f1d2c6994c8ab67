"""Training LAVA: auxiliary pre-training of the conv trunk, behaviour cloning, and the whole recipe.

:class:`LavaTrainConfig` is the one place the recipe's numbers live: lesson 07 (and lesson 08, when it
has no lesson-07 policy) uses :data:`LESSON_RECIPE`, ``course train lava`` and the benchmarks use
:data:`LONG_RECIPE`; :func:`train_recipe` runs either one from play to a trained policy.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..world.events import PlayData, generate_play
from .actions import bc_loss
from .data import BCData, build_bc_data, event_windows, precompute_levels
from .model import LavaConfig, pyramid_levels
from .policy import LavaPolicy, make_policy
from .text import make_encoder

__all__ = ["LavaTrainConfig", "LESSON_RECIPE", "LONG_RECIPE", "pretrain_trunk", "train_lava", "train_recipe"]


@dataclass(frozen=True)
class LavaTrainConfig:
    """Every number of a LAVA training run, from play to behaviour cloning."""

    streams: int = 150              # parallel play streams ...
    play_steps: int = 200           # ... of this many steps each
    pretrain_steps: int = 400       # auxiliary pre-training of the conv trunk (0: keep it random)
    pretrain_batch: int = 128
    steps: int = 1800               # behaviour-cloning updates
    batch_size: int = 64
    lr: float = 2e-3
    text_noise: float = 0.0         # Gaussian noise on the frozen text features (in their std) while cloning
    grounding: float = 0.0          # weight of the auxiliary "where are the named blocks" loss
    frames: int = 1                 # frames of temporal context
    trunk: str = "conv"             # "conv" (strided 3x3) or "patch" (4x4 patches, 2x2 merges): LavaConfig.trunk
    encoder: str = "minilm"         # a name of lecturelib.lava.text.ENCODERS
    seed: int = 0

    def model_config(self) -> LavaConfig:
        """The architecture this recipe trains (its text size is set from the encoder by make_policy)."""
        channels = (32, 64) if self.trunk == "patch" else (16, 32, 64)
        return LavaConfig(frames=self.frames, trunk=self.trunk, channels=channels)


# a strong grounding loss: the language queries then learn to find the named block in every seed, not in some
LESSON_RECIPE = LavaTrainConfig(streams=300, steps=2400, grounding=6.0, text_noise=0.3, encoder="minilm_tokens")
LONG_RECIPE = replace(LESSON_RECIPE, streams=384, pretrain_steps=1000, steps=6000)


def _fused(device: torch.device) -> bool | None:
    """AdamW's fused kernel: one pass over all parameters instead of a loop of small ops (CPU and CUDA)."""
    return True if device.type in ("cpu", "cuda") else None


def _update(opt, sched, loss: torch.Tensor, clip=None) -> None:
    """One optimiser step on ``loss`` (gradient norm clipped to 1 over ``clip`` when given), then the schedule."""
    opt.zero_grad(set_to_none=True)
    loss.backward()
    if clip is not None:
        torch.nn.utils.clip_grad_norm_(clip, 1.0)
    opt.step()
    sched.step()


def pretrain_trunk(policy: LavaPolicy, play: PlayData, steps: int = 300, batch_size: int = 128,
                   lr: float = 2e-3, device=None, seed: int = 0, progress: bool = True,
                   log_every: int = 25) -> list[tuple[int, float]]:
    """Cheap auxiliary pre-training of the conv trunk on play frames, then freeze it.

    LAVA starts from a pre-trained ResNet; a *random* trunk passes on where things are only vaguely.
    Here the trunk learns, from single play frames, to make the exact state readable: a linear read-out
    of its top feature map regresses the state vector (palm x, y, grip, holding, then every block's
    presence, x and y; :meth:`WorldState.as_vector`), which the simulator gives for free. The read-out
    is thrown away; with ``freeze_trunk`` (the default) the trunk then stays fixed, so
    :func:`precompute_levels` can follow; otherwise behaviour cloning fine-tunes it.
    Returns the loss curve [(update, mean squared error)].
    """
    if steps < 1 or batch_size < 1:
        raise ValueError(f"steps and batch_size must be >= 1, got {steps}, {batch_size}")
    if play.frames is None:
        raise ValueError("pre-training the trunk needs play data with frames (image_size set)")
    device = torch.device(device) if device is not None else next(policy.parameters()).device
    trunk = policy.model.vision.trunk.to(device)
    trunk.requires_grad_(True)
    n, t1 = play.frames.shape[:2]
    with torch.no_grad():
        probe = pyramid_levels(trunk, torch.from_numpy(play.frames[:1, 0]).to(device), 1)[0]
    dim = 4 + 3 * play.present.shape[1]
    readout = nn.Linear(probe[0].numel(), dim).to(device)
    opt = torch.optim.AdamW(list(trunk.parameters()) + list(readout.parameters()), lr=lr, weight_decay=1e-4,
                            fused=_fused(device))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.1)
    rng = np.random.default_rng(seed)
    it = range(steps)
    if progress:
        from tqdm.auto import tqdm
        it = tqdm(it, desc="trunk pre-training", leave=False)
    history, running = [], None
    try:
        for step_i in it:
            s, t = rng.integers(0, n, batch_size), rng.integers(0, t1, batch_size)
            x = torch.from_numpy(play.frames[s, t]).to(device)
            y = torch.from_numpy(4.0 * play.states(s, t).as_vector()).to(device)   # x4: unit-ish scale
            feat = pyramid_levels(trunk, x, 1)[0]
            loss = F.mse_loss(readout(feat.flatten(1)), y)
            _update(opt, sched, loss)
            running = loss.item() if running is None else 0.9 * running + 0.1 * loss.item()
            if step_i % log_every == 0 or step_i == steps - 1:
                history.append((step_i + 1, running))
                if progress:
                    it.set_postfix(mse=f"{running:.3f}")
    finally:
        trunk.requires_grad_(not policy.model.config.freeze_trunk)
    return history



def train_lava(policy: LavaPolicy, data: BCData, steps: int, batch_size: int = 64, lr: float = 1e-3,
               device=None, loss_fn=bc_loss, seed: int = 0, progress: bool = True, log_every: int = 25,
               text_noise: float = 0.0, grounding: float = 0.0):
    """Behaviour cloning with AdamW and a one-cycle learning-rate schedule; returns the loss curve.

    ``loss_fn(pred, target)`` is the imitation objective (default :func:`bc_loss`). ``text_noise`` adds
    Gaussian noise of that standard deviation to a frozen encoder's features while training: the policy
    then cannot key on the exact vector of each training sentence, only on directions that survive the
    noise, which is what a new phrasing of the same instruction keeps. It is relative: in units of the
    features' standard deviation. ``grounding`` > 0 adds that weight times an auxiliary loss: from the same
    embedding the action comes from, regress where the palm and the blocks the instruction names are
    (:meth:`BCData.grounding`, free in simulation), so the language queries learn to find the named block.
    """
    if steps < 1 or batch_size < 1:
        raise ValueError(f"steps and batch_size must be >= 1, got {steps}, {batch_size}")
    device = torch.device(device) if device is not None else torch.device("cpu")
    policy.to(device).train()
    frames = policy.model.config.frames
    params = [p for p in policy.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=1e-4, fused=_fused(device))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.1)
    rng = np.random.default_rng(seed)
    table = None
    if not policy.encoder.trainable:
        table = policy.encoder.embed(data.texts).to(device)              # (n_texts, [L,] D), computed once
        real_rows = table.reshape(-1, table.shape[-1])
        feature_std = real_rows[real_rows.abs().sum(-1) > 0].std().item()    # the noise's unit
    history = []
    it = range(steps)
    if progress:
        from tqdm.auto import tqdm
        it = tqdm(it, desc="LAVA behaviour cloning", leave=False)
    running = None
    for step_i in it:
        idx = rng.integers(0, len(data), batch_size)
        fr, act, tid = data.batch(idx, frames)
        fr = [torch.from_numpy(f).to(device) for f in fr] if isinstance(fr, list) else torch.from_numpy(fr).to(device)
        act = torch.from_numpy(act).to(device)
        if table is not None:
            text = table[torch.from_numpy(tid).to(device)]
            if text_noise > 0:             # noise on real features only: all-zero rows mark padding tokens
                real = (text.abs().sum(-1, keepdim=True) > 0).to(text.dtype)
                text = text + text_noise * feature_std * torch.randn_like(text) * real
        else:
            uniq, inv = np.unique(tid, return_inverse=True)
            text = policy.encoder.embed([data.texts[i] for i in uniq])[torch.from_numpy(inv).to(device)]
        if grounding > 0:
            h = policy.model.embed(fr, text)
            where = torch.from_numpy(4.0 * data.grounding(idx)).to(device)       # x4: unit-ish scale
            loss = loss_fn(policy.model.head(h), act) + grounding * F.mse_loss(policy.model.grounding(h), where)
        else:
            loss = loss_fn(policy.model(fr, text), act)
        _update(opt, sched, loss, clip=params)
        running = loss.item() if running is None else 0.9 * running + 0.1 * loss.item()
        if step_i % log_every == 0 or step_i == steps - 1:
            history.append((step_i + 1, running))
            if progress:
                it.set_postfix(loss=f"{running:.3f}")
    return history


def train_recipe(cfg: LavaTrainConfig = LESSON_RECIPE, device=None, progress: bool = True, log=print,
                 play: PlayData | None = None):
    """Play -> event windows -> pre-trained frozen trunk -> behaviour cloning, as ``cfg`` says.

    Returns ``(policy, data, seconds)``: the trained :class:`LavaPolicy`, its :class:`BCData` and the wall
    time of each part. ``play`` reuses play data generated before.
    """
    seconds = {}
    t0 = time.perf_counter()
    if play is None:
        play = generate_play(cfg.streams, cfg.play_steps, seed=cfg.seed, progress=progress)
    data = build_bc_data(play, event_windows(play, seed=cfg.seed))
    seconds["play and windows"] = time.perf_counter() - t0
    torch.manual_seed(cfg.seed)
    policy = make_policy(make_encoder(cfg.encoder, data.texts), cfg.model_config())
    t0 = time.perf_counter()
    if cfg.pretrain_steps > 0:
        pretrain_trunk(policy, play, cfg.pretrain_steps, cfg.pretrain_batch, device=device, seed=cfg.seed,
                       progress=progress)
    precompute_levels(policy, data, device=device, progress=progress)
    seconds["trunk"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    train_lava(policy, data, cfg.steps, cfg.batch_size, cfg.lr, device, seed=cfg.seed, progress=progress,
               text_noise=cfg.text_noise, grounding=cfg.grounding)
    seconds["behaviour cloning"] = time.perf_counter() - t0
    if log:
        log("LAVA trained: " + ", ".join(f"{k} {v:.0f} s" for k, v in seconds.items()))
    return policy, data, seconds
