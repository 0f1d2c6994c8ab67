"""Black-box meta-learning with a recurrent network (Santoro et al. 2016, "Meta-Learning with
Memory-Augmented Neural Networks"; the RNN example of Finn's CS330 lecture).

A black-box meta-learner is one network that reads a task's whole support set and answers queries:

    φ_i = f_θ(D_i^support)            a GRU reads the (embedded) support examples one token at a
                                      time and writes task parameters φ_i
    ŷ   = g_{φ_i}(x^query)            here g_φ(x) = φᵀ ψ_θ(x), a linear model on learned query features

Nothing is fine-tuned at meta-test time: "learning" the new task is a forward pass. Meta-training is
ordinary supervised learning over tasks, min_θ Σ_i L(g_{f_θ(D_i^support)}(x_i^query), y_i^query).
For the operator family each support token is the triple (a, b, a ∘ b), rescaled.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
from tqdm.auto import tqdm

from ..rl.threads import cpu_threads
from .tasks import OperatorFamily, TaskBatch

__all__ = ["BlackBoxConfig", "support_tokens", "BlackBoxMetaLearner", "train_blackbox", "mse_loss", "predict"]


@dataclass
class BlackBoxConfig:
    hidden: int = 128          # width of the GRU state and of the MLPs
    phi_dim: int = 32          # size of the task parameters φ_i the RNN writes
    meta_batch: int = 64       # tasks per meta-training step
    k_support: int = 4         # the slide shows four examples
    k_query: int = 16
    steps: int = 2000          # meta-training steps
    lr: float = 3e-3           # peak learning rate of the one-cycle schedule (Adam)
    seed: int = 0


def support_tokens(support_x: torch.Tensor, support_y: torch.Tensor) -> torch.Tensor:
    """The RNN's input sequence: one token (x_k, y_k) per support example, in order.

    support_x (T, K, d), support_y (T, K, 1) -> (T, K, d + 1); for the operators a token is (a, b, a ∘ b)."""
    if support_x.dim() != 3 or support_y.shape != (*support_x.shape[:2], 1):
        raise ValueError(f"expected support_x (T, K, d) and support_y (T, K, 1), got {tuple(support_x.shape)} "
                         f"and {tuple(support_y.shape)}")
    return torch.cat([support_x, support_y], dim=-1)


def _mlp(d_in: int, hidden: int, d_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(d_in, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                         nn.Linear(hidden, d_out))


class BlackBoxMetaLearner(nn.Module):
    """φ_i = f_θ(D_i^support): each support token is embedded by an MLP (so that products like a·b are
    easy to form) and read by a GRU, whose last state is mapped to the task parameters φ_i;
    ŷ = g_{φ_i}(x) = φ_iᵀ ψ_θ(x), a linear model over learned query features (Finn's CS330 form,
    y^ts = g_{φ_i}(x^ts))."""

    def __init__(self, x_dim: int = 2, hidden: int = 128, phi_dim: int = 32):
        super().__init__()
        self.embed = nn.Sequential(nn.Linear(x_dim + 1, hidden), nn.ReLU(), nn.Linear(hidden, hidden))  # token -> (H,)
        self.rnn = nn.GRU(hidden, hidden, batch_first=True)                 # reads the support set
        self.to_phi = nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, phi_dim))
        self.query_features = _mlp(x_dim, hidden, phi_dim)                   # ψ_θ(x)

    def forward(self, support_x: torch.Tensor, support_y: torch.Tensor, query_x: torch.Tensor) -> torch.Tensor:
        """support_x (T, K, 2), support_y (T, K, 1), query_x (T, Q, 2) -> predictions (T, Q, 1)."""
        tokens = self.embed(support_tokens(support_x, support_y))   # (T, K, H)
        _, h = self.rnn(tokens)                                    # h: (1, T, H), the state after the last token
        phi = self.to_phi(h[-1])                                   # (T, m): the task's parameters φ_i
        psi = self.query_features(query_x)                         # (T, Q, m)
        return (psi * phi.unsqueeze(1)).sum(-1, keepdim=True)     # (T, Q, 1)


def mse_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return ((pred - target) ** 2).mean()


def train_blackbox(model: nn.Module, family: OperatorFamily, config: BlackBoxConfig | None = None, device=None,
                   progress: bool = True) -> list[float]:
    """Meta-train any ``model(support_x, support_y, query_x) -> (T, Q, 1)`` on the family's meta-training
    operators; returns the meta-training loss per step. The support order is random, so the learner
    cannot rely on it."""
    config = config or BlackBoxConfig()
    device = torch.device(device) if device is not None else next(model.parameters()).device
    model.to(device).train()
    gen = torch.Generator().manual_seed(config.seed)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=config.lr, total_steps=max(config.steps, 1))
    history = []
    with cpu_threads(1):    # small networks: one CPU thread is as fast as several, and kind to shared machines
        for _ in tqdm(range(config.steps), desc="black-box meta-training", disable=not progress, leave=False):
            batch = family.sample(config.meta_batch, config.k_support, config.k_query, generator=gen).to(device)
            loss = mse_loss(model(batch.support_x, batch.support_y, batch.query_x), batch.query_y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            history.append(loss.item())
    model.eval()
    return history


@torch.no_grad()
def predict(model: nn.Module, task: TaskBatch) -> torch.Tensor:
    """The learner's answers to a task's queries (rescaled), (T, Q, 1)."""
    device = next(model.parameters()).device
    task = task.to(device)
    return model(task.support_x, task.support_y, task.query_x)
