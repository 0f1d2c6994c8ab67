"""In-context learning (ICL): a transformer that learns a task from examples in its prompt, with no
weight update (Brown et al. 2020, "Language models are few-shot learners"; the regression set-up of
Garg et al. 2022, "What can transformers learn in-context? A case study of simple function classes").

A *task family* gives, per task, a hidden function f and points (x_1, y_1), ..., (x_n, y_n) with
y_i = f(x_i). The prompt interleaves them as tokens

    [x_1, 0], [0, y_1], [x_2, 0], [0, y_2], ..., [x_n, 0]

and the model's output at the token of x_i is its prediction of y_i from the i-1 examples before it,
so one forward pass scores every number of in-context examples k = 0 .. n-1 at once. The model is the
GPT of :mod:`.gpt`, fed these vectors through ``inputs_embeds`` (a linear read-in) with a linear
read-out: nothing but the prompt tells it which task it is solving.

Baselines for linear regression y = wᵀx + ε: least squares on the k examples, one step of gradient
descent from w = 0 (what linear self-attention computes, see :mod:`.lsa`), and the zero predictor.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
from tqdm.auto import tqdm

from .gpt import GPT, GPTConfig
from .training import CPUThreads

__all__ = [
    "LinearRegressionTasks",
    "interleave",
    "ICLTransformer",
    "ICLTrainConfig",
    "train_icl",
    "least_squares_predictions",
    "ridge_predictions",
    "gd_step_predictions",
    "best_gd_step_size",
    "error_by_k",
]


@dataclass
class LinearRegressionTasks:
    """y = wᵀx + ε with x ~ N(0, I_d), w ~ N(0, I_d / d... ) scaled so that Var(wᵀx) = 1, ε ~ N(0, noise_std²)."""

    d: int = 4
    noise_std: float = 0.25

    def sample(self, batch_size: int, n_points: int, *, generator: torch.Generator | None = None, device=None):
        """xs (B, n, d), ys (B, n) and the hidden weights w (B, d)."""
        if batch_size < 1 or n_points < 1:
            raise ValueError("batch_size and n_points must be >= 1")
        xs = torch.randn(batch_size, n_points, self.d, generator=generator)
        w = torch.randn(batch_size, self.d, generator=generator) / self.d ** 0.5
        ys = torch.einsum("bnd,bd->bn", xs, w) + self.noise_std * torch.randn(batch_size, n_points, generator=generator)
        if device is not None:
            xs, ys, w = xs.to(device), ys.to(device), w.to(device)
        return xs, ys, w


def interleave(xs: torch.Tensor, ys: torch.Tensor) -> torch.Tensor:
    """The prompt [x_1, 0], [0, y_1], ..., [x_n, 0], [0, y_n] as (B, 2n, d + 1) token vectors."""
    if xs.dim() != 3 or ys.shape != xs.shape[:2]:
        raise ValueError(f"need xs (B, n, d) and ys (B, n); got {tuple(xs.shape)} and {tuple(ys.shape)}")
    B, n, d = xs.shape
    x_tok = torch.cat([xs, torch.zeros(B, n, 1, device=xs.device, dtype=xs.dtype)], dim=-1)        # (B, n, d+1)
    y_tok = torch.cat([torch.zeros(B, n, d, device=xs.device, dtype=xs.dtype), ys[..., None]], dim=-1)
    return torch.stack([x_tok, y_tok], dim=2).reshape(B, 2 * n, d + 1)


class ICLTransformer(nn.Module):
    """A GPT that reads interleaved (x, y) tokens and predicts each y from the examples before it."""

    def __init__(self, x_dim: int, *, n_layer: int = 3, n_head: int = 4, n_embd: int = 64, max_points: int = 32,
                 attn_impl: str = "sdpa"):
        super().__init__()
        if x_dim < 1:
            raise ValueError("x_dim must be >= 1")
        self.x_dim, self.max_points = x_dim, max_points
        self.read_in = nn.Linear(x_dim + 1, n_embd)
        self.gpt = GPT(GPTConfig(vocab_size=1, block_size=2 * max_points, n_layer=n_layer, n_head=n_head,
                                 n_embd=n_embd, attn_impl=attn_impl, tie_weights=False))
        self.read_out = nn.Linear(n_embd, 1)

    def hidden(self, xs: torch.Tensor, ys: torch.Tensor) -> torch.Tensor:
        """The final residual stream at every token, (B, 2n, n_embd)."""
        if xs.shape[-1] != self.x_dim or xs.shape[1] > self.max_points:
            raise ValueError(f"xs must be (B, n <= {self.max_points}, {self.x_dim}), got {tuple(xs.shape)}")
        return self.gpt.hidden_states(inputs_embeds=self.read_in(interleave(xs, ys)))

    def forward(self, xs: torch.Tensor, ys: torch.Tensor) -> torch.Tensor:
        """Predictions (B, n): entry i predicts ys[:, i] from (x_1, y_1), ..., (x_{i-1}, y_{i-1}), x_i.

        ys[:, i] itself is never seen by prediction i (the causal mask), so ys may hold anything at
        the query's position.
        """
        return self.read_out(self.hidden(xs, ys)[:, 0::2]).squeeze(-1)

    def query_hidden(self, support_x: torch.Tensor, support_y: torch.Tensor, query_x: torch.Tensor) -> torch.Tensor:
        """Hidden states (B, q, n_embd) at q query tokens that all read the same k support examples.

        The prompt is the interleaved support (2k tokens) followed by the q tokens [x_query, 0]; a mask
        lets each query see the support and itself only, and every query sits at position 2k, so each
        answer is exactly what the one-query prompt [support, x_query] would give.
        """
        B, k, _ = support_x.shape
        q = query_x.shape[1]
        if support_y.shape != (B, k) or query_x.shape[0] != B or query_x.shape[-1] != self.x_dim:
            raise ValueError("need support_x (B, k, d), support_y (B, k), query_x (B, q, d)")
        if k + 1 > self.max_points:
            raise ValueError(f"at most {self.max_points - 1} support examples fit this model's context")
        device = query_x.device
        zeros = torch.zeros(B, q, 1, device=device, dtype=query_x.dtype)
        tokens = torch.cat([interleave(support_x, support_y), torch.cat([query_x, zeros], -1)], dim=1)  # (B, 2k+q, d+1)
        T = 2 * k + q
        mask = torch.zeros(T, T, dtype=torch.bool, device=device)
        mask[: 2 * k, : 2 * k] = torch.ones(2 * k, 2 * k, dtype=torch.bool, device=device).tril()
        mask[2 * k:, : 2 * k] = True                                          # queries read the support ...
        mask[torch.arange(2 * k, T), torch.arange(2 * k, T)] = True            # ... and themselves only
        positions = torch.cat([torch.arange(2 * k, device=device), torch.full((q,), 2 * k, device=device)])
        h = self.gpt.hidden_states(inputs_embeds=self.read_in(tokens), attention_mask=mask, position_ids=positions)
        return h[:, 2 * k:]

    def predict(self, support_x: torch.Tensor, support_y: torch.Tensor, query_x: torch.Tensor) -> torch.Tensor:
        """Predict y (B, q) for each query (B, q, d) from the same support set (B, k, d), (B, k) in context."""
        return self.read_out(self.query_hidden(support_x, support_y, query_x)).squeeze(-1)


@dataclass
class ICLTrainConfig:
    steps: int = 2000
    batch_size: int = 64
    n_points: int = 16            # examples per prompt (the model learns every k < n_points at once)
    n_support: int | None = None  # if set: train only on k = n_support, the other points are queries
    lr: float = 1e-3
    warmup_steps: int = 100
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    seed: int = 0
    progress: bool = True
    cpu_threads: int | str | None = "auto"   # CPU only; see lecturelib.transformer.training.CPUThreads


def train_icl(model, tasks, cfg: ICLTrainConfig, device=None) -> list[float]:
    """Train an in-context learner on fresh tasks every step: the mean squared error of every in-context
    prediction (``model(xs, ys)``), or with ``cfg.n_support`` of the queries read from k = n_support
    examples (``model.predict``). Returns the loss per step."""
    device = torch.device(device) if device is not None else next(model.parameters()).device
    model.to(device).train()
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=cfg.steps,
                                                pct_start=min(0.5, max(cfg.warmup_steps, 2) / cfg.steps))
    gen = torch.Generator().manual_seed(cfg.seed)
    losses = []
    threads = CPUThreads(cfg.cpu_threads if device.type == "cpu" else None)
    bar = tqdm(range(cfg.steps), desc="training in-context learner", disable=not cfg.progress)
    try:
        _train_icl_loop(model, tasks, cfg, device, opt, sched, gen, losses, threads, bar)
    finally:
        threads.restore()
    model.eval()
    return losses


def _train_icl_loop(model, tasks, cfg, device, opt, sched, gen, losses, threads, bar):
    for step in bar:
        threads.before_step(step)
        xs, ys = tasks.sample(cfg.batch_size, cfg.n_points, generator=gen, device=device)[:2]
        if cfg.n_support is None:
            loss = ((model(xs, ys) - ys) ** 2).mean()                         # every k at once
        else:
            k = cfg.n_support
            loss = ((model.predict(xs[:, :k], ys[:, :k], xs[:, k:]) - ys[:, k:]) ** 2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        sched.step()
        losses.append(float(loss.detach()))
        threads.after_step(step)
        if step % 100 == 0:
            bar.set_postfix(mse=f"{losses[-1]:.3f}")


def least_squares_predictions(xs: torch.Tensor, ys: torch.Tensor, ridge: float = 0.0) -> torch.Tensor:
    """(B, n): entry i predicts y_i by (ridge) least squares on the first i examples (minimum norm
    when i < d; 0 when i = 0)."""
    B, n, d = xs.shape
    preds = torch.zeros(B, n, dtype=xs.dtype, device=xs.device)
    for i in range(1, n):
        X, y = xs[:, :i], ys[:, :i]                                           # (B, i, d), (B, i)
        if ridge > 0:
            A = X.transpose(1, 2) @ X + ridge * torch.eye(d, dtype=xs.dtype, device=xs.device)
            w = torch.linalg.solve(A, (X.transpose(1, 2) @ y[..., None]))[..., 0]
        else:
            w = (torch.linalg.pinv(X) @ y[..., None])[..., 0]                  # (B, d)
        preds[:, i] = (xs[:, i] * w).sum(-1)
    return preds


def ridge_predictions(xs: torch.Tensor, ys: torch.Tensor, tasks: LinearRegressionTasks) -> torch.Tensor:
    """The Bayes-optimal predictor for :class:`LinearRegressionTasks`: ridge with λ = σ² d."""
    return least_squares_predictions(xs, ys, ridge=tasks.noise_std ** 2 * tasks.d)


def gd_step_predictions(xs: torch.Tensor, ys: torch.Tensor, eta: float) -> torch.Tensor:
    """(B, n): entry i predicts y_i with w_1 = w_0 - η ∇L(w_0), w_0 = 0, L(w) = 1/(2i) Σ_{j<i} (wᵀx_j - y_j)²,
    i.e. w_1 = (η / i) Σ_{j<i} y_j x_j."""
    B, n, d = xs.shape
    csum = torch.cumsum(ys[..., None] * xs, dim=1)                           # (B, n, d): Σ_{j<=i} y_j x_j
    prev = torch.cat([torch.zeros(B, 1, d, dtype=xs.dtype, device=xs.device), csum[:, :-1]], dim=1)
    count = torch.arange(n, dtype=xs.dtype, device=xs.device).clamp(min=1)[None, :, None]
    w1 = eta * prev / count
    return (w1 * xs).sum(-1)


def best_gd_step_size(xs: torch.Tensor, ys: torch.Tensor, k: int, grid=None) -> float:
    """The η from ``grid`` whose one-GD-step prediction at k examples has the lowest mean squared error."""
    grid = torch.linspace(0.05, 2.0, 40) if grid is None else torch.as_tensor(grid)
    errs = [float(((gd_step_predictions(xs, ys, float(eta))[:, k] - ys[:, k]) ** 2).mean()) for eta in grid]
    return float(grid[int(torch.tensor(errs).argmin())])


@torch.no_grad()
def error_by_k(predictions: dict, ys: torch.Tensor, targets: torch.Tensor | None = None) -> dict:
    """{name: (B, n) predictions} -> {name: (n,) mean squared error per number of examples k}.

    Errors are measured against ``targets`` when given (e.g. the noiseless wᵀx), else against ys.
    """
    ref = ys if targets is None else targets
    return {name: ((p - ref) ** 2).mean(0).cpu() for name, p in predictions.items()}
