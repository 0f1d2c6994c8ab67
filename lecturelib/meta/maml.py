"""Model-Agnostic Meta-Learning (Finn, Abbeel & Levine 2017, "Model-Agnostic Meta-Learning for Fast
Adaptation of Deep Networks"), written with torch.func.

Find parameters θ from which a few gradient steps on a new task's support set solve that task:

    inner loop (adapt to task i):   φ_i = θ - α ∇_θ L(θ, D_i^support)             (repeated k times)
    outer loop (meta-objective):    min_θ  1/T Σ_i L(φ_i(θ), D_i^query)

*Second-order* MAML differentiates the query loss through the adaptation steps, so the meta-gradient
contains Hessian-vector products, (I - α ∇²L(θ)) ∇L(φ_i). *First-order* MAML (FOMAML) treats the inner
gradients as constants, so dφ_i/dθ = I and the meta-gradient is just ∇_φ L(φ_i, D_i^query).

Implementation: :func:`torch.func.functional_call` runs the model with a dictionary of parameters
instead of its own, :func:`torch.func.grad` differentiates a function of that dictionary (the inner
gradients; autograd differentiates through them again, which gives the second-order terms), and
:func:`torch.func.vmap` maps the per-task computation over the task dimension of a meta-batch, so T tasks cost one vectorised call instead of a Python loop
of T ``clone()``/``adapt()`` calls (learn2learn's API, which tests/test_meta.py uses as an oracle).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import torch
import torch.nn as nn
from torch.func import functional_call, grad, vmap
from tqdm.auto import tqdm

from ..rl.threads import cpu_threads
from .tasks import OperatorFamily, TaskBatch

__all__ = [
    "MAMLConfig",
    "Regressor",
    "make_regressor",
    "mse",
    "adapt",
    "query_loss_after_adaptation",
    "meta_loss",
    "meta_gradient",
    "train_maml",
    "adapt_and_predict",
]

Params = dict  # parameter name -> tensor, as returned by dict(model.named_parameters())


@dataclass
class MAMLConfig:
    hidden: int = 64             # width of the hidden layers of the regressor
    inner_lr: float = 0.05       # α, the adaptation step size
    inner_steps: int = 5         # k, gradient steps on the support set during meta-training
    test_inner_steps: int = 100  # steps at meta-test time (adaptation keeps improving, Finn et al. 2017)
    first_order: bool = False    # FOMAML when True
    meta_batch: int = 16         # T, tasks per outer step
    k_support: int = 4
    k_query: int = 16
    meta_steps: int = 800        # outer steps
    outer_lr: float = 1e-3       # Adam on θ
    seed: int = 0


class Regressor(nn.Module):
    """The model MAML adapts: an MLP from operands (a, b) to the result a ∘ b (all rescaled).

    Three hidden layers with SiLU (a smooth network represents products like a·b more precisely than
    ReLU), on inputs standardised by fixed statistics (a buffer, not a parameter: MAML adapts only the
    weights)."""

    def __init__(self, hidden: int = 64, in_dim: int = 2, depth: int = 3, input_mean: float = 0.5833,
                 input_std: float = 0.2887):
        super().__init__()
        # the operands' mean and spread on the family's scale x = (a, b) / 6
        self.register_buffer("input_mean", torch.full((in_dim,), input_mean))
        self.register_buffer("input_std", torch.full((in_dim,), input_std))
        layers, d = [], in_dim
        for _ in range(depth):
            layers += [nn.Linear(d, hidden), nn.SiLU()]
            d = hidden
        self.net = nn.Sequential(*layers, nn.Linear(d, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (..., in_dim) -> (..., 1)."""
        return self.net((x - self.input_mean) / self.input_std)


def make_regressor(hidden: int = 64, in_dim: int = 2, depth: int = 3) -> Regressor:
    """A freshly initialised :class:`Regressor`."""
    return Regressor(hidden, in_dim, depth)


def mse(model: nn.Module, params: Params, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """L(θ, D) for one task: x (n, d), y (n, 1) -> scalar mean squared error, with θ = ``params``."""
    return ((functional_call(model, params, (x,)) - y) ** 2).mean()


def adapt(model: nn.Module, params: Params, support_x: torch.Tensor, support_y: torch.Tensor, *,
          inner_lr: float, inner_steps: int, first_order: bool = False) -> Params:
    """The inner loop for one task: k steps φ ← φ - α ∇_φ L(φ, D^support), starting from φ = θ.

    With ``first_order=False`` the returned φ stays a differentiable function of θ (second order)."""
    grad_fn = grad(mse, argnums=1)
    phi = params
    for _ in range(inner_steps):
        g = grad_fn(model, phi, support_x, support_y)
        if first_order:
            g = {name: gi.detach() for name, gi in g.items()}
        phi = {name: phi[name] - inner_lr * g[name] for name in phi}
    return phi


def query_loss_after_adaptation(model, params, support_x, support_y, query_x, query_y, *, inner_lr, inner_steps,
                                first_order=False) -> torch.Tensor:
    """L(φ_i(θ), D_i^query) for one task."""
    phi = adapt(model, params, support_x, support_y, inner_lr=inner_lr, inner_steps=inner_steps,
                first_order=first_order)
    return mse(model, phi, query_x, query_y)


def meta_loss(model: nn.Module, params: Params, batch: TaskBatch, *, inner_lr: float, inner_steps: int,
              first_order: bool = False) -> torch.Tensor:
    """The MAML objective on a meta-batch, 1/T Σ_i L(φ_i(θ), D_i^query), vectorised over the T tasks."""
    per_task = partial(query_loss_after_adaptation, model, inner_lr=inner_lr, inner_steps=inner_steps,
                       first_order=first_order)
    losses = vmap(per_task, in_dims=(None, 0, 0, 0, 0))(                         # (T,)
        params, batch.support_x, batch.support_y, batch.query_x, batch.query_y)
    return losses.mean()


def meta_gradient(model: nn.Module, batch: TaskBatch, *, inner_lr: float, inner_steps: int,
                  first_order: bool = False, params: Params | None = None) -> tuple[torch.Tensor, Params]:
    """(meta-loss, ∇_θ meta-loss) at θ = ``params`` (default: the model's own parameters)."""
    if params is None:
        params = {name: p.detach() for name, p in model.named_parameters()}
    # The inner loops (torch.func.grad, vmapped over tasks) are differentiated by ordinary autograd: the
    # same second-order gradient as wrapping meta_loss in torch.func.grad, with one functional transform
    # fewer around every operation, which makes a meta-step about a third faster on a CPU.
    theta = {name: p.detach().requires_grad_() for name, p in params.items()}
    loss = meta_loss(model, theta, batch, inner_lr=inner_lr, inner_steps=inner_steps, first_order=first_order)
    grads = torch.autograd.grad(loss, list(theta.values()))
    return loss.detach(), dict(zip(theta, grads))


def train_maml(model: nn.Module, family: OperatorFamily, config: MAMLConfig | None = None, device=None,
               progress: bool = True) -> list[float]:
    """Meta-train ``model``'s parameters θ with (FO)MAML and Adam; returns the meta-loss per outer step."""
    config = config or MAMLConfig()
    device = torch.device(device) if device is not None else next(model.parameters()).device
    model.to(device)
    gen = torch.Generator().manual_seed(config.seed)
    opt = torch.optim.Adam(model.parameters(), lr=config.outer_lr)
    desc = "FOMAML meta-training" if config.first_order else "MAML meta-training"
    history = []
    # one thread: MAML's many tiny tensor operations run faster without intra-op threads (on a GPU, no effect)
    with cpu_threads(1):
        for _ in tqdm(range(config.meta_steps), desc=desc, disable=not progress, leave=False):
            batch = family.sample(config.meta_batch, config.k_support, config.k_query, generator=gen).to(device)
            loss, grads = meta_gradient(model, batch, inner_lr=config.inner_lr, inner_steps=config.inner_steps,
                                        first_order=config.first_order)
            for name, p in model.named_parameters():
                p.grad = grads[name]
            opt.step()
            history.append(loss.item())
    return history


def adapt_and_predict(model: nn.Module, task: TaskBatch, *, inner_lr: float, steps: int,
                      params: Params | None = None) -> torch.Tensor:
    """Meta-test: adapt θ on each task's support set with ``steps`` plain gradient steps (no graph is
    kept) and answer its queries; returns predictions (T, Q, 1), rescaled."""
    device = next(model.parameters()).device
    task = task.to(device)
    if params is None:
        params = {name: p.detach() for name, p in model.named_parameters()}
    predict = partial(_adapt_then_answer, model, inner_lr=inner_lr, steps=steps)
    return vmap(predict, in_dims=(None, 0, 0, 0))(params, task.support_x, task.support_y, task.query_x).detach()


def _adapt_then_answer(model, params, support_x, support_y, query_x, *, inner_lr, steps):
    phi = adapt(model, params, support_x, support_y, inner_lr=inner_lr, inner_steps=steps, first_order=True)
    return functional_call(model, phi, (query_x,))
