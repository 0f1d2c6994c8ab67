"""Training PaLM-E on a task mixture: AdamW on the answer-only loss, with the learning-rate schedule of
lesson 05 (:func:`lecturelib.transformer.training.lr_schedule`: linear warm-up, then cosine decay).

What makes a step cheap on a CPU, each giving the same loss and gradient as the plain way:

- the frozen perception step runs once per scene before training (:meth:`PaLME.perceive`), not at
  every step; each sentence is tokenized once, not at every step;
- each minibatch runs as ``length_buckets`` groups of similar length (fewer pad positions), each
  group's loss weighted by its share, with the gradients accumulated (:func:`batch_loss_backward`).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch

from ..rl.threads import adam_kernel
from ..transformer.training import lr_schedule
from .model import PaLME
from .sentences import Example, sentence_length

__all__ = ["TrainConfig", "TrainHistory", "train_palme", "batch_loss_backward"]


@dataclass
class TrainConfig:
    steps: int = 600
    batch_size: int = 64
    lr: float = 2e-3
    min_lr: float = 1e-4
    warmup_steps: int = 30
    encoder_lr_scale: float = 1.0    # the new encoders and projections may learn faster than the pretrained LM
    weighting: str = "example"       # loss per example ("example") or per answer token ("token")
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    seed: int = 0
    max_seconds: float | None = None   # optional wall-clock cap (the schedule follows the clock)
    length_buckets: int = 2          # each minibatch runs as this many groups of similar length (same gradient, fewer pads)
    progress: bool = True

    def __post_init__(self):
        if self.steps < 1 or self.batch_size < 1:
            raise ValueError(f"steps and batch_size must be >= 1, got {self.steps}, {self.batch_size}")
        if self.weighting not in ("example", "token"):
            raise ValueError(f"weighting must be 'example' or 'token', got {self.weighting!r}")


@dataclass
class TrainHistory:
    steps: list = field(default_factory=list)        # steps at which the running loss was logged
    loss: list = field(default_factory=list)         # running answer-token loss (nats/token)
    eval_steps: list = field(default_factory=list)   # steps at which the held-out examples were scored
    accuracy: list = field(default_factory=list)     # per evaluation: {family: exact match}
    seconds: float = 0.0
    steps_done: int = 0


def train_palme(model: PaLME, examples: Sequence[Example], cfg: TrainConfig, device=None,
                eval_examples: Sequence[Example] | None = None, eval_every: int = 0) -> TrainHistory:
    """AdamW on the answer-token loss over random minibatches of the (mixed) examples.

    With ``model.config.freeze_lm`` only the encoders and projections learn. With ``eval_examples``
    and ``eval_every``, the exact match per family is measured along the way (and at the end).
    """
    from .decoding import evaluate

    if not examples:
        raise ValueError("no examples to train on")
    device = torch.device(device) if device is not None else next(model.parameters()).device
    model.to(device).train()
    examples = model.perceive(examples)
    if eval_examples is not None:
        eval_examples = model.perceive(eval_examples)
    tok = model.tokenizer
    encoded = [(tok.encode(ex.prompt), tok.encode(ex.answer) + [tok.eos_id]) for ex in examples]
    lengths = np.array([sentence_length(ex, tok, model.image_tokens) for ex in examples])
    params = [p for p in model.parameters() if p.requires_grad]
    lm_params = {id(p) for p in model.lm.parameters()}
    groups = [{"params": [p for p in params if id(p) in lm_params], "scale": 1.0},
              {"params": [p for p in params if id(p) not in lm_params], "scale": cfg.encoder_lr_scale}]
    opt = torch.optim.AdamW([g for g in groups if g["params"]], lr=cfg.lr, weight_decay=cfg.weight_decay,
                            **adam_kernel(device))
    rng = np.random.default_rng(cfg.seed)
    hist, running = TrainHistory(), None
    start = time.perf_counter()
    bar = None
    it = range(cfg.steps)
    if cfg.progress:
        from tqdm.auto import tqdm
        it = bar = tqdm(it, desc="training PaLM-E", leave=False)
    done = 0
    for step_i in it:
        progress = step_i / cfg.steps
        if cfg.max_seconds is not None:   # follow the clock when it is the tighter limit
            progress = max(progress, (time.perf_counter() - start) / cfg.max_seconds)
            if progress >= 1.0:
                break
        for group in opt.param_groups:
            group["lr"] = lr_schedule(progress, cfg) * group["scale"]
        idx = rng.integers(0, len(examples), cfg.batch_size)
        opt.zero_grad(set_to_none=True)
        loss = batch_loss_backward(model, [examples[i] for i in idx], lengths[idx], cfg, device,
                                   [encoded[i] for i in idx])
        if cfg.grad_clip:
            torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
        opt.step()
        done = step_i + 1
        running = loss.item() if running is None else 0.95 * running + 0.05 * loss.item()
        if step_i % 10 == 0:
            hist.steps.append(done)
            hist.loss.append(running)
            if bar is not None:
                bar.set_postfix(loss=f"{running:.3f}")
        if eval_examples is not None and eval_every and done % eval_every == 0:
            hist.eval_steps.append(done)
            hist.accuracy.append(evaluate(model, eval_examples, device=device))
            model.train()
    hist.steps_done = done
    if eval_examples is not None and (not hist.eval_steps or hist.eval_steps[-1] != done):
        hist.eval_steps.append(done)
        hist.accuracy.append(evaluate(model, eval_examples, device=device))
    hist.seconds = time.perf_counter() - start
    model.eval()
    return hist


def batch_loss_backward(model: PaLME, examples: list, lengths: np.ndarray, cfg: TrainConfig, device,
                        encoded: list | None = None) -> torch.Tensor:
    """The minibatch loss, with its gradient accumulated: the batch is cut into ``cfg.length_buckets``
    groups of similar length (fewer pads to compute), each group's loss weighted by its share of the
    examples (or of the answer tokens), which gives the same loss and gradient as one padded batch."""
    order = np.argsort(lengths, kind="stable")
    groups = [g for g in np.array_split(order, max(1, min(cfg.length_buckets, len(examples)))) if len(g)]
    batches = [model.collate([examples[i] for i in g], encoded=None if encoded is None else [encoded[i] for i in g])
               .to(device) for g in groups]
    if cfg.weighting == "token":
        weights = [float(b.answer_mask[:, 1:].sum()) for b in batches]
    else:
        weights = [float(len(g)) for g in groups]
    total = sum(weights)
    loss = 0.0
    for b, w in zip(batches, weights):
        part = model.loss(b, cfg.weighting) * (w / total)
        part.backward()
        loss = loss + part.detach()
    return loss
