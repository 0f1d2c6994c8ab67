"""LAVA's action distribution: dx and dy each over the 5 motion levels, and a binary grip.

pi(a | o, l) = pi(dx) pi(dy) pi(grip), so behaviour cloning's -log pi(a) is two cross-entropies and one
binary cross-entropy (:func:`bc_loss`); acting takes the arg-max (:func:`action_from_logits`) or samples
(:func:`sample_action`).
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..world.expert import MOTION_LEVELS

__all__ = ["N_LEVELS", "MOTION_LEVELS", "action_bins", "action_from_logits", "sample_action", "bc_loss"]

N_LEVELS = len(MOTION_LEVELS)


def action_bins(actions: torch.Tensor) -> torch.Tensor:
    """(B, 3) world actions -> (B, 2) long indices of the nearest motion levels for dx and dy."""
    levels = torch.as_tensor(MOTION_LEVELS, dtype=actions.dtype, device=actions.device)
    return (actions[:, :2, None] - levels).abs().argmin(-1)


def action_from_logits(logits: torch.Tensor) -> torch.Tensor:
    """(B, 11) logits -> (B, 3) the most likely world action (dx, dy, grip = +-1)."""
    levels = torch.as_tensor(MOTION_LEVELS, dtype=logits.dtype, device=logits.device)
    dx = levels[logits[:, :N_LEVELS].argmax(1)]
    dy = levels[logits[:, N_LEVELS:2 * N_LEVELS].argmax(1)]
    grip = torch.where(logits[:, -1] > 0, 1.0, -1.0).to(logits.dtype)
    return torch.stack([dx, dy, grip], 1)


def sample_action(logits: torch.Tensor, temperature: float = 0.5,
                  rng: np.random.Generator | None = None) -> np.ndarray:
    """(B, 11) logits -> (B, 3) world actions *sampled* from pi(dx) pi(dy) pi(grip) at ``temperature``.

    A deterministic (arg-max) policy in a deterministic world can get stuck for good: once it picks
    "stay, open" in some state, nothing ever changes. Sampling, as from any behaviour-cloned
    distribution, breaks such fixed points; a temperature below 1 keeps it close to the arg-max.
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    rng = rng if rng is not None else np.random.default_rng()
    z = logits.detach().double().cpu().numpy() / temperature
    out = np.empty((z.shape[0], 3))
    for j, part in enumerate((z[:, :N_LEVELS], z[:, N_LEVELS:2 * N_LEVELS])):
        p = np.exp(part - part.max(1, keepdims=True))
        cdf = np.cumsum(p / p.sum(1, keepdims=True), 1)
        pick = (rng.random((z.shape[0], 1)) > cdf).sum(1).clip(0, N_LEVELS - 1)
        out[:, j] = MOTION_LEVELS[pick]
    p_close = 0.5 * (1.0 + np.tanh(z[:, -1] / 2))          # the sigmoid, without overflow
    out[:, 2] = np.where(rng.random(z.shape[0]) < p_close, 1.0, -1.0)
    return out


def bc_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Behaviour cloning: the negative log-likelihood of the demonstrated action.

    logits (B, 11): 5 for dx, 5 for dy, 1 for the grip; target (B, 3) demonstrated (dx, dy, grip)
    with dx, dy among :data:`MOTION_LEVELS` and grip > 0 meaning closed. The policy factorises as
    pi(dx) pi(dy) pi(grip), so -log pi(a) is a sum of two cross-entropies and one binary one.
    """
    bins = action_bins(target)
    nll_dx = F.cross_entropy(logits[:, :N_LEVELS], bins[:, 0])
    nll_dy = F.cross_entropy(logits[:, N_LEVELS:2 * N_LEVELS], bins[:, 1])
    nll_grip = F.binary_cross_entropy_with_logits(logits[:, -1], (target[:, 2] > 0).to(logits.dtype))
    return nll_dx + nll_dy + nll_grip
