"""Training a GPT language model: AdamW, linear warm-up then cosine decay of the learning rate,
gradient clipping, and a held-out loss in nats per token (Radford et al. 2018; recipe as in nanoGPT).

``train_gpt`` runs a fixed number of steps (so a run is repeatable), with an optional wall-clock cap
``max_seconds`` that ends training early on a slow machine: the cosine schedule is then stretched
over the time actually available, so a capped run still ends at the small final learning rate.
On a CPU, ``cpu_threads="auto"`` keeps one intra-op thread when that is faster (a machine shared with
other busy processes), else the default.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import torch
from tqdm.auto import tqdm

from .data import random_batch
from .gpt import GPT

__all__ = ["CPUThreads", "TrainConfig", "TrainResult", "lr_schedule", "evaluate_nats", "evaluate_nats_full", "train_gpt"]


@dataclass
class TrainConfig:
    steps: int = 2000
    batch_size: int = 32
    lr: float = 3e-3
    min_lr: float = 3e-4
    warmup_steps: int = 100
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    eval_every: int = 250
    eval_batches: int = 8
    eval_batch_size: int = 64
    max_seconds: float | None = None   # optional wall-clock cap on the training loop
    cpu_threads: int | str | None = "auto"   # CPU only: a thread count, "auto" (see CPUThreads) or None
    seed: int = 0
    progress: bool = True


@dataclass
class TrainResult:
    steps: list = field(default_factory=list)        # steps at which the losses below were measured
    train_loss: list = field(default_factory=list)   # nats/token on training windows
    val_loss: list = field(default_factory=list)     # nats/token on held-out windows
    steps_done: int = 0
    seconds: float = 0.0
    tokens_per_second: float = 0.0
    cpu_threads: int = 0                             # the intra-op threads training used

    @property
    def final_val_loss(self) -> float:
        return self.val_loss[-1]


def lr_schedule(progress: float, cfg: TrainConfig) -> float:
    """Learning rate at ``progress`` = step / steps in [0, 1]: linear warm-up, then cosine to min_lr."""
    warm = cfg.warmup_steps / max(cfg.steps, 1)
    if progress < warm:
        return cfg.lr * (progress / warm)
    decay = min(1.0, (progress - warm) / max(1e-9, 1 - warm))
    return cfg.min_lr + 0.5 * (1 + math.cos(math.pi * decay)) * (cfg.lr - cfg.min_lr)


@torch.no_grad()
def evaluate_nats(model: GPT, ids: torch.Tensor, *, batches: int = 8, batch_size: int = 64,
                  seed: int = 1234, device=None) -> float:
    """Mean next-token loss (nats/token) over fixed random windows of ``ids`` (the same windows each call)."""
    device = device or next(model.parameters()).device
    gen = torch.Generator().manual_seed(seed)
    was_training = model.training
    model.eval()
    total = 0.0
    for _ in range(batches):
        x, y = random_batch(ids, batch_size, model.config.block_size, generator=gen, device=device)
        total += float(model(x, y)[1])
    model.train(was_training)
    return total / batches


@torch.no_grad()
def evaluate_nats_full(model: GPT, ids: torch.Tensor, *, batch_size: int = 64, device=None) -> float:
    """Loss (nats/token) over *every* token of ``ids`` after the first, in non-overlapping windows.

    Each window starts without context, so this is slightly pessimistic; it covers the whole split.
    """
    device = device or next(model.parameters()).device
    T = model.config.block_size
    n = (len(ids) - 1) // T
    x_all = ids[: n * T].view(n, T)
    y_all = ids[1: n * T + 1].view(n, T)
    was_training = model.training
    model.eval()
    total = 0.0
    for i in range(0, n, batch_size):
        x, y = x_all[i:i + batch_size].to(device), y_all[i:i + batch_size].to(device)
        total += float(model(x, y)[1]) * x.numel()
    model.train(was_training)
    return total / (n * T)


def train_gpt(model: GPT, train_ids: torch.Tensor, val_ids: torch.Tensor, cfg: TrainConfig,
              device=None) -> TrainResult:
    """Train ``model`` on random windows of ``train_ids``; record train and held-out losses."""
    device = torch.device(device) if device is not None else next(model.parameters()).device
    model.to(device).train()
    opt = model.configure_optimizer(cfg.lr, cfg.weight_decay)
    gen = torch.Generator().manual_seed(cfg.seed)
    result = TrainResult()
    T = model.config.block_size
    threads = CPUThreads(cfg.cpu_threads if device.type == "cpu" else None)
    start = time.perf_counter()
    bar = tqdm(total=cfg.steps, desc="training GPT", disable=not cfg.progress)
    step, loss = 0, None
    result.steps.append(0)   # the untrained model: about ln(vocab_size)
    result.train_loss.append(evaluate_nats(model, train_ids, batches=2, batch_size=cfg.eval_batch_size, device=device))
    result.val_loss.append(evaluate_nats(model, val_ids, batches=2, batch_size=cfg.eval_batch_size, device=device))
    try:
        while step < cfg.steps:
            progress = (step + 1) / cfg.steps
            if cfg.max_seconds is not None:   # follow the clock when it is the tighter limit
                progress = max(progress, (time.perf_counter() - start) / cfg.max_seconds)
                if progress >= 1.0:
                    break
            lr = lr_schedule(progress, cfg)
            for group in opt.param_groups:
                group["lr"] = lr
            threads.before_step(step)
            x, y = random_batch(train_ids, cfg.batch_size, T, generator=gen, device=device)
            _, loss = model(x, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            opt.step()
            threads.after_step(step)
            step += 1
            bar.update(1)
            if step % cfg.eval_every == 0 or step == cfg.steps:
                _log(result, model, val_ids, cfg, device, step, loss)
                bar.set_postfix(train=f"{result.train_loss[-1]:.3f}", val=f"{result.val_loss[-1]:.3f}", lr=f"{lr:.1e}")
    finally:
        threads.restore()
        bar.close()
    result.seconds = time.perf_counter() - start
    result.steps_done = step
    if step and (not result.steps or result.steps[-1] != step):   # stopped by the clock: log the last step
        _log(result, model, val_ids, cfg, device, step, loss)
    result.tokens_per_second = step * cfg.batch_size * T / max(result.seconds, 1e-9)
    result.cpu_threads = threads.chosen
    model.eval()
    return result


def _log(result: TrainResult, model, val_ids, cfg: TrainConfig, device, step: int, loss) -> None:
    result.steps.append(step)
    result.train_loss.append(float(loss.detach()))
    result.val_loss.append(evaluate_nats(model, val_ids, batches=cfg.eval_batches, batch_size=cfg.eval_batch_size,
                                         device=device))


class CPUThreads:
    """On a CPU shared with other busy processes, several intra-op threads can be many times *slower*
    than one (they wait for each other). With ``cpu_threads="auto"`` the first steps are timed with the
    current thread count and with one thread, and the faster is kept for the rest of training."""

    PROBE = 4   # timed steps per candidate, after 2 warm-up steps

    def __init__(self, setting):
        self.original = torch.get_num_threads()
        self.chosen = self.original
        self.auto = setting == "auto" and self.original > 1
        if isinstance(setting, int):
            if setting < 1:
                raise ValueError("cpu_threads must be >= 1, 'auto' or None")
            torch.set_num_threads(setting)
            self.chosen = setting
        elif setting not in (None, "auto"):
            raise ValueError(f"cpu_threads must be an int, 'auto' or None, got {setting!r}")
        self.times = {self.original: 0.0, 1: 0.0}
        self._t0 = 0.0

    def _candidate(self, step: int):
        k = step - 2
        if not self.auto or k < 0 or k >= 2 * self.PROBE:
            return None
        return self.original if k < self.PROBE else 1

    def before_step(self, step: int) -> None:
        n = self._candidate(step)
        if n is not None:
            torch.set_num_threads(n)
            self._t0 = time.perf_counter()

    def after_step(self, step: int) -> None:
        n = self._candidate(step)
        if n is None:
            return
        self.times[n] += time.perf_counter() - self._t0
        if step - 2 == 2 * self.PROBE - 1:
            self.chosen = min(self.times, key=self.times.get)
            torch.set_num_threads(self.chosen)

    def restore(self) -> None:
        torch.set_num_threads(self.original)
