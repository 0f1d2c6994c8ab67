"""The non-meta-learning baselines of lesson 02's comparison table.

- *From scratch*: a freshly initialised regressor trained on the task's few support examples only.
- *Transfer* ("solve T_b by transferring knowledge from T_a", the lecture's transfer-learning slide):
  pretrain one regressor on data pooled from all meta-training operators (it learns the family's
  average operator, since it is never told which operator produced an example), then fine-tune it on
  the new task's support set with the same gradient steps MAML uses at meta-test time.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
import torch.nn as nn
from tqdm.auto import tqdm

from .maml import adapt_and_predict
from .tasks import OperatorFamily, TaskBatch

__all__ = ["BaselineConfig", "train_from_scratch", "pretrain_on_family", "fine_tune_and_predict"]


@dataclass
class BaselineConfig:
    scratch_steps: int = 1000     # Adam steps on the four support examples (to convergence)
    scratch_lr: float = 1e-2
    pretrain_steps: int = 1500    # Adam steps on pooled meta-training data
    pretrain_lr: float = 2e-3
    pretrain_batch: int = 256     # examples per step, each from a random operator


def train_from_scratch(model: nn.Module, task: TaskBatch, config: BaselineConfig | None = None,
                       device=None) -> torch.Tensor:
    """Fit ``model`` (freshly initialised) to one task's support set; return its answers (1, Q, 1)."""
    config = config or BaselineConfig()
    device = torch.device(device) if device is not None else next(model.parameters()).device
    model.to(device)
    task = task.to(device)
    if len(task) != 1:
        raise ValueError(f"train_from_scratch fits one task, got a batch of {len(task)}")
    opt = torch.optim.Adam(model.parameters(), lr=config.scratch_lr)
    for _ in range(config.scratch_steps):
        loss = ((model(task.support_x[0]) - task.support_y[0]) ** 2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    with torch.no_grad():
        return model(task.query_x)


def pretrain_on_family(model: nn.Module, family: OperatorFamily, config: BaselineConfig | None = None,
                       device=None, seed: int = 0, progress: bool = True) -> list[float]:
    """Ordinary supervised pretraining on examples pooled over the meta-training operators."""
    config = config or BaselineConfig()
    device = torch.device(device) if device is not None else next(model.parameters()).device
    model.to(device)
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=config.pretrain_lr)
    history = []
    for _ in tqdm(range(config.pretrain_steps), desc="pretraining on the family", disable=not progress,
                  leave=False):
        batch = family.sample(config.pretrain_batch, 1, 0, generator=gen).to(device)   # one example per operator draw
        loss = ((model(batch.support_x[:, 0]) - batch.support_y[:, 0]) ** 2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        history.append(loss.item())
    return history


def fine_tune_and_predict(model: nn.Module, task: TaskBatch, *, inner_lr: float, steps: int) -> torch.Tensor:
    """Fine-tune a copy of ``model`` on each task's support set with plain gradient steps; (T, Q, 1)."""
    return adapt_and_predict(copy.deepcopy(model), task, inner_lr=inner_lr, steps=steps)
