"""Attention as a meta-optimiser: one layer of linear self-attention (LSA) can perform exactly one
step of gradient descent on the examples in its context (von Oswald et al. 2023, "Transformers learn
in-context by gradient descent"; Dai et al. 2023, "Why can GPT learn in-context? Language models
implicitly perform gradient descent as meta-optimizers").

Tokens are e_i = (x_i, y_i) ∈ R^{d+1} for the N context examples and e_q = (x_q, 0) for the query.
LSA (no softmax) updates every token j by

    e_j <- e_j + (1/N) P W_V Σ_{i<=N} e_i (e_iᵀ W_Kᵀ W_Q e_j)            (*)

One GD step on L(w) = 1/(2N) Σ_i (wᵀx_i - y_i)² from w_0 = 0 with step size η gives
w_1 = (η/N) Σ_i y_i x_i. With W_K = W_Q = [[I_d, 0], [0, 0]] (compare x's only) and
P W_V = [[0, 0], [0, -η]] (move the y coordinate), (*) turns the query's last coordinate into
0 - w_1ᵀx_q = -ŷ_GD(x_q), and every context token's into the residual y_i - w_1ᵀx_i: the layer holds the
updated linear model's residuals. The sum in (*) is a weight update in disguise (the "dual form" of
Dai et al.): Δe_j = ΔW e_j with ΔW = (1/N) P W_V (Σ_i e_i e_iᵀ) W_Kᵀ W_Q, which
:func:`implicit_weight_update` returns; for the construction its last row is -w_1ᵀ.
"""
from __future__ import annotations

import torch
import torch.nn as nn
from tqdm.auto import tqdm

from .training import CPUThreads

__all__ = [
    "lsa_tokens",
    "linear_self_attention",
    "implicit_weight_update",
    "gd_lsa_weights",
    "LinearSelfAttention",
    "train_lsa",
]


def lsa_tokens(support_x: torch.Tensor, support_y: torch.Tensor, query_x: torch.Tensor) -> torch.Tensor:
    """Z (B, N + 1, d + 1): rows (x_i, y_i) for the N support examples, then (x_q, 0) for the query."""
    if support_x.dim() != 3 or support_y.shape != support_x.shape[:2] or query_x.shape != (support_x.shape[0], support_x.shape[2]):
        raise ValueError("need support_x (B, N, d), support_y (B, N), query_x (B, d)")
    ctx = torch.cat([support_x, support_y[..., None]], dim=-1)                      # (B, N, d+1)
    q = torch.cat([query_x, torch.zeros_like(query_x[:, :1])], dim=-1)[:, None]       # (B, 1, d+1)
    return torch.cat([ctx, q], dim=1)


def _check_weights(Z, mats):
    D = Z.shape[-1]
    for name, M in mats.items():
        if M.shape != (D, D):
            raise ValueError(f"{name} must be ({D}, {D}) for tokens of size {D}, got {tuple(M.shape)}")


def linear_self_attention(Z: torch.Tensor, W_K: torch.Tensor, W_Q: torch.Tensor, W_V: torch.Tensor,
                          P: torch.Tensor, n_context: int | None = None) -> torch.Tensor:
    """Equation (*): Z (B, T, D) -> (B, T, D). The first ``n_context`` tokens (default: all but the last)
    are the keys and values; every token is updated as a query."""
    if Z.dim() != 3:
        raise ValueError(f"Z must be (B, T, D), got {tuple(Z.shape)}")
    _check_weights(Z, {"W_K": W_K, "W_Q": W_Q, "W_V": W_V, "P": P})
    N = Z.shape[1] - 1 if n_context is None else n_context
    if not 1 <= N <= Z.shape[1]:
        raise ValueError(f"n_context must be in 1..{Z.shape[1]}, got {N}")
    ctx = Z[:, :N]                                                   # (B, N, D)
    K, V = ctx @ W_K.T, ctx @ W_V.T                                  # (B, N, D)
    Q = Z @ W_Q.T                                                    # (B, T, D)
    scores = Q @ K.transpose(1, 2) / N                               # (B, T, N): no softmax
    return Z + scores @ V @ P.T


def implicit_weight_update(Z: torch.Tensor, W_K: torch.Tensor, W_Q: torch.Tensor, W_V: torch.Tensor,
                           P: torch.Tensor, n_context: int | None = None) -> torch.Tensor:
    """ΔW (B, D, D) with linear_self_attention(Z) = Z + Z ΔWᵀ: what the context "writes into" the layer."""
    _check_weights(Z, {"W_K": W_K, "W_Q": W_Q, "W_V": W_V, "P": P})
    N = Z.shape[1] - 1 if n_context is None else n_context
    ctx = Z[:, :N]
    return P @ W_V @ (ctx.transpose(1, 2) @ ctx) @ W_K.T @ W_Q / N


def gd_lsa_weights(d: int, eta: float, dtype=torch.float32):
    """A reference construction (W_K, W_Q, W_V, P) of (d+1, d+1) matrices for one GD step of size ``eta``."""
    if d < 1:
        raise ValueError("d must be >= 1")
    D = d + 1
    W_K = torch.zeros(D, D, dtype=dtype)
    W_K[:d, :d] = torch.eye(d, dtype=dtype)
    W_Q = W_K.clone()
    W_V = torch.zeros(D, D, dtype=dtype)
    W_V[d, d] = -1.0
    P = eta * torch.eye(D, dtype=dtype)
    return W_K, W_Q, W_V, P


class LinearSelfAttention(nn.Module):
    """One trainable LSA layer (full (d+1)x(d+1) matrices); predicts ŷ_q = -(output at the query)[-1]."""

    def __init__(self, d: int, init_std: float = 0.05):
        super().__init__()
        D = d + 1
        self.d = d
        self.W_K = nn.Parameter(init_std * torch.randn(D, D))
        self.W_Q = nn.Parameter(init_std * torch.randn(D, D))
        self.W_V = nn.Parameter(init_std * torch.randn(D, D))
        self.P = nn.Parameter(torch.eye(D))

    def forward(self, Z: torch.Tensor) -> torch.Tensor:
        return linear_self_attention(Z, self.W_K, self.W_Q, self.W_V, self.P)

    def predict(self, support_x: torch.Tensor, support_y: torch.Tensor, query_x: torch.Tensor) -> torch.Tensor:
        return -self(lsa_tokens(support_x, support_y, query_x))[:, -1, -1]          # (B,)


def train_lsa(model: LinearSelfAttention, tasks, *, n_context: int, steps: int = 1000, batch_size: int = 256,
              lr: float = 1e-2, seed: int = 0, device=None, progress: bool = True,
              cpu_threads="auto") -> list[float]:
    """Fit the LSA layer to predict the query's y from ``n_context`` examples of fresh tasks (MSE)."""
    device = torch.device(device) if device is not None else next(model.parameters()).device
    model.to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps, eta_min=lr / 20)
    gen = torch.Generator().manual_seed(seed)
    losses = []
    threads = CPUThreads(cpu_threads if device.type == "cpu" else None)
    try:
        for step in tqdm(range(steps), desc="training linear self-attention", disable=not progress):
            threads.before_step(step)
            xs, ys, _ = tasks.sample(batch_size, n_context + 1, generator=gen, device=device)
            pred = model.predict(xs[:, :-1], ys[:, :-1], xs[:, -1])
            loss = ((pred - ys[:, -1]) ** 2).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            losses.append(float(loss.detach()))
            threads.after_step(step)
    finally:
        threads.restore()
    model.eval()
    return losses
