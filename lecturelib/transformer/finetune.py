"""In-context learning vs fine-tuning, measured the way Dai et al. (2023, "Why can GPT learn in-context?
Language models implicitly perform gradient descent as meta-optimizers") do: give one trained model
the same support set in two ways and compare

- the **predictions**: prompted with the support set (ICL, no weight changes) vs fine-tuned on it by
  gradient descent and then asked zero-shot (FT, no support in the prompt);
- the **latent changes**: how each moves the model's hidden state at the query, relative to the zero-shot
  hidden state. Δ_ICL = h_ICL - h_0 and Δ_FT = h_FT - h_0 pointing the same way (cosine near 1) means
  the prompt changed the representation like a weight update would ("attention changes the latent
  space like fine-tuning"). The control pairs Δ_ICL with the Δ_FT of a *different* task.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .icl import ICLTransformer
from .training import CPUThreads

__all__ = ["FinetuneConfig", "finetune_on_support", "icl_vs_finetune"]


@dataclass
class FinetuneConfig:
    steps: int = 30
    lr: float = 1e-3
    params: str = "attention"   # "attention" (the attention projections, as Dai et al.) or "all"


def finetune_on_support(model: ICLTransformer, support_x: torch.Tensor, support_y: torch.Tensor,
                        cfg: FinetuneConfig = FinetuneConfig()) -> ICLTransformer:
    """A copy of ``model`` trained by full-batch Adam on the support set, each example as a zero-shot
    prompt [x_i] -> y_i.  support_x (k, d), support_y (k,)."""
    if cfg.params not in ("attention", "all"):
        raise ValueError(f"params must be 'attention' or 'all', got {cfg.params!r}")
    tuned = copy.deepcopy(model).train()
    for name, p in tuned.named_parameters():
        p.requires_grad_(cfg.params == "all" or "attn.in_proj" in name)
    opt = torch.optim.Adam([p for p in tuned.parameters() if p.requires_grad], lr=cfg.lr)
    xs, ys = support_x[:, None, :], support_y[:, None]                    # k prompts of one example each
    for _ in range(cfg.steps):
        loss = ((tuned(xs, torch.zeros_like(ys))[:, 0] - ys[:, 0]) ** 2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return tuned.eval()


@torch.no_grad()
def _zero_shot(model: ICLTransformer, query_x: torch.Tensor):
    # query_x (q, d) -> predictions (q,), hidden states at the query token (q, C)
    xs = query_x[:, None, :]
    ys = torch.zeros(len(query_x), 1, device=query_x.device)
    return model(xs, ys)[:, 0], model.hidden(xs, ys)[:, 0]


@torch.no_grad()
def _in_context(model: ICLTransformer, support_x, support_y, query_x):
    # support (k, d), (k,); queries (q, d) -> predictions (q,), hidden states at the queries (q, C)
    h = model.query_hidden(support_x[None], support_y[None], query_x[None])[0]
    return model.read_out(h).squeeze(-1), h


def icl_vs_finetune(model: ICLTransformer, tasks, *, n_tasks: int = 16, k: int = 8, n_queries: int = 32,
                    cfg: FinetuneConfig = FinetuneConfig(), seed: int = 0, device=None) -> dict:
    """Compare ICL and FT on ``n_tasks`` fresh tasks with ``k`` support examples each.

    Returns a dict of per-task arrays: mse_zero_shot, mse_icl, mse_ft (vs the true y), pred_corr (the
    correlation of ICL's and FT's predictions over the queries), cos_same (cosine of Δ_ICL and Δ_FT,
    averaged over queries) and cos_other (Δ_ICL vs the FT update of a different task, the control).
    """
    device = torch.device(device) if device is not None else next(model.parameters()).device
    gen = torch.Generator().manual_seed(seed)
    xs, ys, _ = tasks.sample(n_tasks, k + n_queries, generator=gen, device=device)
    model.eval()
    out = {key: [] for key in ("mse_zero_shot", "mse_icl", "mse_ft", "pred_corr", "cos_same", "cos_other")}
    threads = CPUThreads(1 if device.type == "cpu" else None)    # tiny tensors: one thread is fastest
    try:
        tuned = [finetune_on_support(model, xs[t, :k], ys[t, :k], cfg) for t in range(n_tasks)]
    finally:
        threads.restore()
    for t in range(n_tasks):
        sx, sy, qx, qy = xs[t, :k], ys[t, :k], xs[t, k:], ys[t, k:]
        y0, h0 = _zero_shot(model, qx)
        y_icl, h_icl = _in_context(model, sx, sy, qx)
        y_ft, h_ft = _zero_shot(tuned[t], qx)
        _, h_other = _zero_shot(tuned[(t + 1) % n_tasks], qx)
        out["mse_zero_shot"].append(float(((y0 - qy) ** 2).mean()))
        out["mse_icl"].append(float(((y_icl - qy) ** 2).mean()))
        out["mse_ft"].append(float(((y_ft - qy) ** 2).mean()))
        out["pred_corr"].append(float(torch.corrcoef(torch.stack([y_icl, y_ft]))[0, 1]))
        d_icl, d_ft, d_other = h_icl - h0, h_ft - h0, h_other - h0
        out["cos_same"].append(float(F.cosine_similarity(d_icl, d_ft, dim=-1).mean()))
        out["cos_other"].append(float(F.cosine_similarity(d_icl, d_other, dim=-1).mean()))
    return {key: torch.tensor(v) for key, v in out.items()}
