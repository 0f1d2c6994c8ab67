"""Goal-conditioned double DQN with hindsight experience replay, on bit flipping.

The Q-function takes the goal as an input, Q(s, g, a) (universal value function approximators,
Schaul et al., 2015), so a single network serves every goal; HER (Andrychowicz et al., 2017) fills its
replay buffer with relabeled goals. The target is double DQN's (van Hasselt et al., 2016): the online
network picks the next action, the target network evaluates it,

    y = r + γ (1 - done) Q_target(s', g, argmax_a' Q_online(s', g, a')),

clipped to the range of possible returns [-1/(1-γ), 0] as in the HER paper. Collection runs all
episodes of a cycle at once in :class:`~lecturelib.rl.bitflip.BatchedBitFlipping`; the loop is the
paper's: collect episodes, store them (with relabels), then do a number of optimisation steps.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from .bitflip import BatchedBitFlipping, bitflip_reward
from .her import Episode, HindsightReplayBuffer, her_goals
from .threads import adam_kernel, cpu_threads

__all__ = ["DQNConfig", "GoalQNetwork", "double_dqn_target", "train_goal_dqn", "evaluate_success", "DQNResult",
           "greedy_actions"]


@dataclass
class DQNConfig:
    """Every hyperparameter of goal-conditioned DQN (+ HER) on n-bit flipping."""

    n_bits: int = 15
    her: bool = True  # store hindsight relabels (False: plain DQN, same everything else)
    strategy: str = "future"  # final | future | episode
    k: int = 4  # relabeled goals per transition (future / episode)
    cycles: int = 150  # collect-then-train cycles
    episodes_per_cycle: int = 16  # parallel episodes collected per cycle
    updates_per_cycle: int = 16  # gradient steps per cycle
    batch_size: int = 256
    lr: float = 2e-3
    gamma: float = 0.98
    hidden: int = 256
    epsilon: float = 0.2  # ε-greedy exploration while collecting
    tau: float = 0.05  # Polyak rate of the target network, applied after every update
    buffer_size: int = 200_000
    eval_every: int = 5  # cycles between evaluations
    eval_episodes: int = 200
    seed: int = 0


class GoalQNetwork(nn.Module):
    """Q(s, g, ·): one hidden layer (as in the HER paper's bit flipping) on the concatenated state and
    goal bits, one output per action."""

    def __init__(self, obs_dim: int, goal_dim: int, n_actions: int, hidden: int = 256):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(obs_dim + goal_dim, hidden), nn.ReLU(), nn.Linear(hidden, n_actions))

    def forward(self, obs: torch.Tensor, goal: torch.Tensor) -> torch.Tensor:
        # obs (B, d), goal (B, n) in {0, 1} -> centred to {-1, +1}; returns (B, n_actions)
        return self.net(torch.cat([obs, goal], dim=-1) * 2.0 - 1.0)


def double_dqn_target(q_next_online: torch.Tensor, q_next_target: torch.Tensor, reward: torch.Tensor,
                      done: torch.Tensor, gamma: float) -> torch.Tensor:
    """y = r + γ (1 - done) Q_target(s', argmax_a Q_online(s', a)).

    q_next_online, q_next_target: (B, A); reward, done: (B,) -> y: (B,)
    """
    if q_next_online.shape != q_next_target.shape or q_next_online.dim() != 2:
        raise ValueError(f"Q tables must both be (B, A), got {tuple(q_next_online.shape)} and {tuple(q_next_target.shape)}")
    best = q_next_online.argmax(dim=1, keepdim=True)  # (B, 1) chosen by the online network
    q_best = q_next_target.gather(1, best).squeeze(1)  # (B,) evaluated by the target network
    return reward + gamma * (1.0 - done.float()) * q_best


@torch.no_grad()
def greedy_actions(q_net: nn.Module, obs: np.ndarray, goal: np.ndarray, device) -> np.ndarray:
    o = torch.as_tensor(obs, dtype=torch.float32, device=device)
    g = torch.as_tensor(goal, dtype=torch.float32, device=device)
    return q_net(o, g).argmax(dim=1).cpu().numpy()


def evaluate_success(q_net: nn.Module, n_bits: int, n_episodes: int, device, seed: int = 12345,
                     max_steps: int | None = None) -> float:
    """Fraction of ``n_episodes`` fresh random goals the greedy policy reaches within ``max_steps`` (= n)."""
    env = BatchedBitFlipping(n_bits, n_episodes, max_steps=max_steps, seed=seed)
    obs = env.reset()
    success = np.zeros(n_episodes, dtype=bool)
    with cpu_threads(1):
        for _ in range(env.max_steps):
            if not env.active.any():
                break
            obs, _, terminated, _, _ = env.step(greedy_actions(q_net, obs["observation"], obs["desired_goal"], device))
            success |= terminated
    return float(success.mean())


@dataclass
class DQNResult:
    config: DQNConfig
    q_net: nn.Module
    env_steps: list = field(default_factory=list)  # env steps collected at each evaluation
    success: list = field(default_factory=list)  # greedy success rate at each evaluation
    seconds: list = field(default_factory=list)  # wall time at each evaluation
    wall_time: float = 0.0

    @property
    def final_success(self) -> float:
        return self.success[-1] if self.success else 0.0

    def steps_to(self, level: float):
        """(env steps, seconds) at the first evaluation with success ≥ ``level``, or None."""
        for s, rate, sec in zip(self.env_steps, self.success, self.seconds):
            if rate >= level:
                return s, sec
        return None


def _collect(env: BatchedBitFlipping, q_net, epsilon: float, rng, device) -> tuple[list[Episode], int]:
    """Run one batch of ε-greedy episodes; return them (each cut at its own end) and the env steps used."""
    obs = env.reset()
    E, n = env.n_envs, env.n_bits
    states = [obs["observation"]]
    actions, lengths = [], np.zeros(E, dtype=np.int64)
    for _ in range(env.max_steps):
        if not env.active.any():
            break
        running = env.active.copy()
        a = greedy_actions(q_net, obs["observation"], obs["desired_goal"], device)
        explore = rng.random(E) < epsilon
        a[explore] = rng.integers(0, n, size=int(explore.sum()))
        obs, *_ = env.step(a)
        states.append(obs["observation"])
        actions.append(a)
        lengths += running
    states = np.stack(states, axis=1)  # (E, T_max+1, n)
    actions = np.stack(actions, axis=1) if actions else np.zeros((E, 0), dtype=np.int64)  # (E, T_max)
    episodes = [Episode(obs=states[e, :T + 1], achieved_goal=states[e, :T + 1], desired_goal=env.goal[e],
                        actions=actions[e, :T]) for e, T in enumerate(lengths) if T > 0]
    return episodes, int(lengths.sum())


def train_goal_dqn(config: DQNConfig, device="cpu", *, target_fn: Callable = double_dqn_target,
                   goal_fn: Callable = her_goals, reward_fn: Callable = bitflip_reward, progress: bool = True,
                   desc: str | None = None) -> DQNResult:
    """Train goal-conditioned double DQN (with HER when ``config.her``); returns curves and the network.

    ``target_fn``, ``goal_fn`` and ``reward_fn`` default to this module's reference implementations;
    the lesson passes the student's own versions.
    """
    if config.n_bits < 1 or config.cycles < 1:
        raise ValueError("n_bits and cycles must be positive")
    device = torch.device(device)
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    n = config.n_bits
    q_net = GoalQNetwork(n, n, n, config.hidden).to(device)
    q_target = GoalQNetwork(n, n, n, config.hidden).to(device)
    q_target.load_state_dict(q_net.state_dict())
    opt = torch.optim.Adam(q_net.parameters(), lr=config.lr, **adam_kernel(device))
    buffer = HindsightReplayBuffer(config.buffer_size, n, n, reward_fn, config.strategy if config.her else None,
                                   config.k, goal_fn, seed=config.seed + 1)
    env = BatchedBitFlipping(n, config.episodes_per_cycle, seed=config.seed, reward_fn=reward_fn)
    result = DQNResult(config=config, q_net=q_net)
    low = -1.0 / (1.0 - config.gamma)  # the most negative possible return
    env_steps, start = 0, time.perf_counter()
    label = desc or f"DQN{' + HER' if config.her else ''} n={n}"
    with cpu_threads(1):
        for cycle in tqdm(range(config.cycles), desc=label, disable=not progress, leave=False):
            episodes, used = _collect(env, q_net, config.epsilon, rng, device)
            env_steps += used
            for episode in episodes:
                buffer.add_episode(episode)
            for _ in range(config.updates_per_cycle):
                batch = {k: torch.as_tensor(v, device=device) for k, v in buffer.sample(config.batch_size, rng).items()}
                obs, goal, nxt = batch["obs"], batch["goal"], batch["next_obs"]
                B = obs.shape[0]
                # one forward pass of the online network on [s; s'] gives Q(s, g, ·) and Q(s', g, ·)
                q_both = q_net(torch.cat([obs, nxt]), torch.cat([goal, goal]))  # (2B, A)
                with torch.no_grad():
                    y = target_fn(q_both[B:].detach(), q_target(nxt, goal), batch["reward"], batch["done"], config.gamma)
                    y = y.clamp(low, 0.0)
                q = q_both[:B].gather(1, batch["action"][:, None]).squeeze(1)  # (B,)
                loss = nn.functional.smooth_l1_loss(q, y)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                with torch.no_grad():  # Polyak averaging: θ⁻ ← θ⁻ + τ (θ − θ⁻)
                    for p_target, p in zip(q_target.parameters(), q_net.parameters()):
                        p_target.lerp_(p, config.tau)
            if (cycle + 1) % config.eval_every == 0 or cycle == config.cycles - 1:
                result.env_steps.append(env_steps)
                result.success.append(evaluate_success(q_net, n, config.eval_episodes, device))
                result.seconds.append(time.perf_counter() - start)
    result.wall_time = time.perf_counter() - start
    return result
