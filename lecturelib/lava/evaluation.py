"""Evaluating LAVA in the tabletop world: closed-loop success and open-loop agreement with the expert.

Both run many worlds at once (:class:`lecturelib.world.TabletopBatch`) and feed the policy the last
``k`` frames through one :class:`FrameHistory`, as the closed loop of lesson 08 does.
"""
from __future__ import annotations

import numpy as np
import torch

from ..world.env import TabletopBatch
from ..world.expert import expert_action
from ..world.language import FAMILIES
from .policy import LavaPolicy

__all__ = ["FrameHistory", "rollout", "evaluate", "action_agreement"]


class FrameHistory:
    """The last ``k`` frames of ``n`` worlds, (n, k, H, W, 3); it starts as ``k`` copies of the first frame."""

    def __init__(self, first: np.ndarray, k: int):
        self.frames = np.repeat(first[:, None], k, axis=1)

    def push(self, frame: np.ndarray) -> np.ndarray:
        """Append the newest frames (n, H, W, 3), dropping the oldest; returns the history."""
        self.frames = np.concatenate([self.frames[:, 1:], frame[:, None]], 1)
        return self.frames


def _per_family(batch: TabletopBatch, values: np.ndarray, weights: np.ndarray | None, families) -> dict[str, float]:
    """The (weighted) mean of ``values`` over each family's worlds and over all of them."""
    w = np.ones_like(values, dtype=float) if weights is None else weights
    out = {}
    for f in families:
        rows = batch.family == FAMILIES.index(f)
        if rows.any():
            out[f] = float((values * w)[rows].sum() / max(w[rows].sum(), 1))
    out["all"] = float((values * w).sum() / max(w.sum(), 1))
    return out


@torch.no_grad()
def rollout(policy: LavaPolicy, batch: TabletopBatch, max_steps: int = 60, device=None,
            record: int = 0, temperature: float = 0.5, seed: int = 0) -> list[np.ndarray]:
    """Run ``policy`` in closed loop on every world of ``batch`` until success or ``max_steps``.

    Actions are sampled at ``temperature`` (seeded by ``seed``; 0: always the most likely action, which
    can leave the arm stuck in a state where it chose to stay still). Returns the first ``record``
    worlds' frames (each (steps+1, H, W, 3)) for animations.
    """
    rng = np.random.default_rng(seed)
    if device is not None:
        policy.to(device)
    frame = batch.observe()
    hist = FrameHistory(frame, policy.model.config.frames)
    texts = [i.text for i in batch.instructions]
    movies = [[frame[j]] for j in range(record)]
    for _ in range(max_steps):
        if batch.success.all():
            break
        batch.step(policy.act(hist.frames, texts, temperature, rng))
        frame = batch.observe()
        hist.push(frame)
        for j in range(record):
            movies[j].append(frame[j])
    return [np.stack(m) for m in movies]


def evaluate(policy: LavaPolicy, n_episodes: int = 150, split: str = "train", families=("pick", "stack", "table"),
             seed: int = 10_000, max_steps: int = 60, device=None, temperature: float = 0.5) -> dict[str, float]:
    """Closed-loop success on fresh scenes (seeds never used for play): per family and ``"all"``.

    ``split`` chooses the phrasings: ``"train"`` (seen), ``"heldout"`` or ``"novel_words"``; actions are
    sampled at ``temperature`` (see :func:`rollout`).
    """
    batch = TabletopBatch.sample(n_episodes, seed, families, split, image_size=policy.model.config.image_size)
    rollout(policy, batch, max_steps, device, temperature=temperature, seed=seed)
    return _per_family(batch, batch.success.astype(float), None, families)


@torch.no_grad()
def action_agreement(policy: LavaPolicy, n_episodes: int = 60, split: str = "train",
                     families=("pick", "stack", "table"), seed: int = 20_000, max_steps: int = 40,
                     device=None) -> dict[str, float]:
    """Open-loop check: how often the policy's most likely action equals the expert's, on the expert's
    own trajectories in fresh scenes (``split`` chooses the phrasings). Per family and ``"all"``.

    An action agrees when dx, dy and the grip all match. Cheaper and less noisy than closed-loop success,
    it measures the imitation itself, without the compounding errors of acting in closed loop.
    """
    if device is not None:
        policy.to(device)
    batch = TabletopBatch.sample(n_episodes, seed, families, split, image_size=policy.model.config.image_size)
    hist = FrameHistory(batch.observe(), policy.model.config.frames)
    texts = [i.text for i in batch.instructions]
    hits = np.zeros(n_episodes)
    counts = np.zeros(n_episodes)
    for _ in range(max_steps):
        live = ~batch.success
        if not live.any():
            break
        expert = expert_action(batch.state, batch.family, batch.obj, batch.arg)   # (n, 3)
        pred = policy.act(hist.frames, texts)
        same = (np.abs(pred[:, :2] - expert[:, :2]) < 1e-6).all(1) & ((pred[:, 2] > 0) == (expert[:, 2] > 0))
        hits += same & live
        counts += live
        batch.step(expert)
        hist.push(batch.observe())
    return _per_family(batch, hits / np.maximum(counts, 1), counts, families)
