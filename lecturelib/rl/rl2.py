"""Black-box meta-RL: RL² (Duan et al., 2016; Wang et al., 2016) on Bernoulli bandits.

A recurrent policy π_θ(a_t | h_t) reads, at every step, the current observation together with the
previous action, reward and done flag:

    x_t = [s_t, onehot(a_{t-1}), r_{t-1}, d_{t-1}]        h_t = GRU(h_{t-1}, x_t)

so its hidden state can summarise everything it has experienced in the current task. Trained with a
policy gradient (REINFORCE with a baseline: for each step, the mean return of the other tasks in the
batch at that step) to maximise the return of a whole *trial* (many pulls of one bandit) across many
sampled tasks, the weights θ become a learning algorithm: at meta-test the network explores and
exploits a bandit it has never seen, without any gradient step.

The task family is the one of Duan et al.: K-armed bandits with arm probabilities p_k ~ U(0, 1); each
pull is an episode of one step (done = 1), a trial is T pulls. The baselines are the classic
algorithms: random, UCB1 (Auer et al., 2002) and Thompson sampling (Thompson, 1933). Performance is the
(pseudo-)regret Σ_t (max_k p_k − p_{a_t}), averaged over held-out bandits.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from .threads import adam_kernel, cpu_threads

__all__ = ["BernoulliBandits", "rl2_input", "RL2Policy", "RL2Config", "train_rl2", "rollout_rl2", "returns_to_go",
           "random_regret", "ucb_regret", "thompson_regret", "RL2Result"]


class BernoulliBandits:
    """A batch of B K-armed Bernoulli bandits (one task each), arm probabilities p ~ U(0, 1)."""

    def __init__(self, n_tasks: int, n_arms: int, rng: np.random.Generator, probs: np.ndarray | None = None):
        if n_tasks < 1 or n_arms < 2:
            raise ValueError(f"need n_tasks >= 1 and n_arms >= 2, got {n_tasks}, {n_arms}")
        self.probs = rng.random((n_tasks, n_arms)) if probs is None else np.asarray(probs, dtype=float)  # (B, K)
        if self.probs.shape != (n_tasks, n_arms):
            raise ValueError(f"probs must be ({n_tasks}, {n_arms}), got {self.probs.shape}")
        self.rng = rng

    @property
    def n_tasks(self) -> int:
        return self.probs.shape[0]

    @property
    def n_arms(self) -> int:
        return self.probs.shape[1]

    def pull(self, arms: np.ndarray) -> np.ndarray:
        """arms (B,) -> rewards (B,) in {0, 1}."""
        p = self.probs[np.arange(self.n_tasks), arms]
        return (self.rng.random(self.n_tasks) < p).astype(np.float32)

    def regret(self, arms: np.ndarray) -> np.ndarray:
        """Pseudo-regret of one step per task: max_k p_k − p_{a}; arms (B,) -> (B,)."""
        return self.probs.max(axis=1) - self.probs[np.arange(self.n_tasks), arms]


def rl2_input(obs: torch.Tensor, prev_action: torch.Tensor, prev_reward: torch.Tensor, prev_done: torch.Tensor,
              n_actions: int) -> torch.Tensor:
    """RL²'s per-step input x_t = [s_t, onehot(a_{t-1}), r_{t-1}, d_{t-1}].

    obs (B, d) float; prev_action (B,) long with -1 meaning "no previous action" (the first step of a
    trial), which gives an all-zero one-hot; prev_reward, prev_done (B,) -> (B, d + n_actions + 2).
    """
    if prev_action.dim() != 1 or obs.shape[0] != prev_action.shape[0]:
        raise ValueError(f"obs (B, d) and prev_action (B,) must share B, got {tuple(obs.shape)}, {tuple(prev_action.shape)}")
    one_hot = torch.zeros(prev_action.shape[0], n_actions, device=obs.device)
    has_prev = prev_action >= 0
    one_hot[has_prev, prev_action[has_prev]] = 1.0
    return torch.cat([obs.float(), one_hot, prev_reward.float()[:, None], prev_done.float()[:, None]], dim=1)


class RL2Policy(nn.Module):
    """A GRU over RL² inputs with a linear policy head: π(a_t | x_1 … x_t)."""

    def __init__(self, input_dim: int, n_actions: int, hidden: int = 64):
        super().__init__()
        self.gru = nn.GRU(input_dim, hidden, batch_first=True)
        self.policy = nn.Linear(hidden, n_actions)

    def forward(self, x: torch.Tensor, h: torch.Tensor | None = None):
        # x (B, T, input_dim), h (1, B, H) -> logits (B, T, A), h (1, B, H)
        out, h = self.gru(x, h)
        return self.policy(out), h


@dataclass
class RL2Config:
    """Every hyperparameter of RL² (REINFORCE with a batch baseline) on K-armed Bernoulli bandits."""

    n_arms: int = 5
    horizon: int = 30  # pulls per trial (T)
    hidden: int = 64
    tasks_per_batch: int = 128  # bandits rolled out in parallel per update
    updates: int = 300
    lr: float = 1e-2
    gamma: float = 0.9  # discount of the return-to-go (the trial itself is never cut)
    entropy_start: float = 0.05  # entropy bonus, annealed linearly to 0
    max_grad_norm: float = 1.0
    seed: int = 0


@dataclass
class RL2Result:
    config: RL2Config
    policy: RL2Policy
    updates: list = field(default_factory=list)
    mean_regret: list = field(default_factory=list)  # training-batch regret per trial, per update
    wall_time: float = 0.0


def rollout_rl2(policy: RL2Policy, bandits: BernoulliBandits, horizon: int, device, input_fn: Callable = rl2_input,
                greedy: bool = False, generator: torch.Generator | None = None) -> dict:
    """Run one trial of ``horizon`` pulls on every bandit; returns inputs, actions, rewards and regrets (B, T)."""
    with cpu_threads(1):
        return _rollout(policy, bandits, horizon, device, input_fn, greedy, generator)


@torch.no_grad()
def _rollout(policy, bandits, horizon, device, input_fn, greedy, generator) -> dict:
    B, K = bandits.n_tasks, bandits.n_arms
    obs = torch.ones(B, 1, device=device)  # a bandit has no state: a constant observation
    prev_a = torch.full((B,), -1, dtype=torch.long, device=device)
    prev_r = torch.zeros(B, device=device)
    prev_d = torch.zeros(B, device=device)
    h = None
    inputs, actions, rewards, regrets = [], [], [], []
    for _ in range(horizon):
        x = input_fn(obs, prev_a, prev_r, prev_d, K)  # (B, 1 + K + 2)
        logits, h = policy(x[:, None], h)
        if greedy:
            a = logits[:, 0].argmax(dim=-1)
        else:
            a = torch.multinomial(torch.softmax(logits[:, 0], dim=-1), 1, generator=generator)[:, 0]
        a_np = a.cpu().numpy()
        r = bandits.pull(a_np)
        inputs.append(x)
        actions.append(a_np)
        rewards.append(r)
        regrets.append(bandits.regret(a_np))
        prev_a, prev_r = a, torch.as_tensor(r, device=device)
        prev_d = torch.ones(B, device=device)  # every pull ends a one-step episode
    return {"inputs": torch.stack(inputs, dim=1), "actions": np.stack(actions, 1), "rewards": np.stack(rewards, 1),
            "regret": np.stack(regrets, 1)}


def returns_to_go(rewards: torch.Tensor, gamma: float) -> torch.Tensor:
    """G_t = Σ_{t' ≥ t} γ^{t'-t} r_{t'} within a trial: rewards (B, T) -> (B, T)."""
    G = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[:, 0])
    for t in reversed(range(rewards.shape[1])):
        running = rewards[:, t] + gamma * running
        G[:, t] = running
    return G


def train_rl2(config: RL2Config, device="cpu", *, input_fn: Callable = rl2_input, progress: bool = True) -> RL2Result:
    """Meta-train the RL² policy by policy gradient across freshly sampled bandits (new tasks every update)."""
    if config.n_arms < 2 or config.horizon < 1 or config.updates < 1:
        raise ValueError("need n_arms >= 2, horizon >= 1 and updates >= 1")
    device = torch.device(device)
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    gen = torch.Generator(device=device).manual_seed(config.seed)
    K = config.n_arms
    policy = RL2Policy(1 + K + 2, K, config.hidden).to(device)
    opt = torch.optim.Adam(policy.parameters(), lr=config.lr, **adam_kernel(device))
    result = RL2Result(config=config, policy=policy)
    start = time.perf_counter()
    with cpu_threads(1):
        for update in tqdm(range(config.updates), desc="RL² meta-training", disable=not progress, leave=False):
            bandits = BernoulliBandits(config.tasks_per_batch, K, rng)
            trial = rollout_rl2(policy, bandits, config.horizon, device, input_fn, generator=gen)
            # replay the whole trial through the GRU in one call, now with gradients
            logits, _ = policy(trial["inputs"])  # (B, T, K)
            actions = torch.as_tensor(trial["actions"], device=device)
            rewards = torch.as_tensor(trial["rewards"], device=device)
            logp_all = torch.log_softmax(logits, dim=-1)
            logp = logp_all.gather(2, actions[..., None]).squeeze(-1)  # (B, T)
            entropy = -(logp_all.exp() * logp_all).sum(-1).mean()
            G = returns_to_go(rewards, config.gamma)  # (B, T)
            adv = G - G.mean(dim=0, keepdim=True)  # baseline: the batch's mean return at step t
            adv = adv / (adv.std() + 1e-8)
            ent_coef = config.entropy_start * (1.0 - update / config.updates)
            loss = -(logp * adv).mean() - ent_coef * entropy
            opt.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(policy.parameters(), config.max_grad_norm)
            opt.step()
            result.updates.append(update)
            result.mean_regret.append(float(trial["regret"].sum(1).mean()))
    result.wall_time = time.perf_counter() - start
    return result


# --- classic bandit algorithms (vectorised over tasks) -------------------------------------------

def random_regret(bandits: BernoulliBandits, horizon: int) -> np.ndarray:
    """Per-task cumulative regret curve (B, T) of pulling arms uniformly at random."""
    regrets = [bandits.regret(bandits.rng.integers(0, bandits.n_arms, bandits.n_tasks)) for _ in range(horizon)]
    return np.cumsum(np.stack(regrets, 1), axis=1)


def ucb_regret(bandits: BernoulliBandits, horizon: int, c: float = 2.0) -> np.ndarray:
    """UCB1: pull every arm once, then argmax mean + sqrt(c ln t / n). Returns (B, T) cumulative regret."""
    B, K = bandits.n_tasks, bandits.n_arms
    counts, sums = np.zeros((B, K)), np.zeros((B, K))
    regrets = []
    for t in range(horizon):
        if t < K:
            arms = np.full(B, t)
        else:
            bonus = np.sqrt(c * np.log(t) / counts)
            arms = np.argmax(sums / counts + bonus, axis=1)
        r = bandits.pull(arms)
        counts[np.arange(B), arms] += 1
        sums[np.arange(B), arms] += r
        regrets.append(bandits.regret(arms))
    return np.cumsum(np.stack(regrets, 1), axis=1)


def thompson_regret(bandits: BernoulliBandits, horizon: int) -> np.ndarray:
    """Thompson sampling with Beta(1, 1) priors: pull the argmax of one posterior sample per arm. (B, T)."""
    B, K = bandits.n_tasks, bandits.n_arms
    wins, losses = np.ones((B, K)), np.ones((B, K))
    regrets = []
    for _ in range(horizon):
        arms = np.argmax(bandits.rng.beta(wins, losses), axis=1)
        r = bandits.pull(arms)
        wins[np.arange(B), arms] += r
        losses[np.arange(B), arms] += 1 - r
        regrets.append(bandits.regret(arms))
    return np.cumsum(np.stack(regrets, 1), axis=1)
