"""Hindsight Experience Replay, HER (Andrychowicz et al., 2017).

An episode that failed to reach its goal ``g`` still shows how to reach the states it *did* reach.
HER stores every transition ``(s_t, a_t, s_{t+1})`` a second time (or ``k`` more times) with the goal
replaced by a goal achieved in the same episode, and recomputes the reward with the environment's
``compute_reward``, so the replay buffer is full of successes even when the agent never succeeds.

The strategies of the paper (Sec. 4.5), for the transition at step ``t`` of an episode of ``T`` steps
whose achieved goals are ``ag_0, …, ag_T`` (``ag_{t+1}`` is achieved *by* transition ``t``):

* ``final``:      one new goal, ``ag_T``, the goal achieved at the end of the episode;
* ``future`` (k): ``k`` new goals ``ag_{t'}`` with ``t'`` uniform in ``{t+1, …, T}``: states reached
  *after* this transition, so the episode's own actions are a way to reach them;
* ``episode`` (k): ``k`` new goals ``ag_{t'}`` with ``t'`` uniform in ``{1, …, T}``: any state of the
  episode, including ones visited before step ``t``.

:func:`her_goals` draws the goals; :func:`relabel_episode` turns them into transitions with recomputed
rewards; :class:`HindsightReplayBuffer` stores original and relabeled transitions and samples batches.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

__all__ = ["STRATEGIES", "Episode", "her_goals", "relabel_episode", "ReplayBuffer", "HindsightReplayBuffer",
           "goal_reached"]

STRATEGIES = ("final", "future", "episode")


@dataclass
class Episode:
    """One episode of ``T`` transitions, as collected.

    obs:           (T+1, d)  observations s_0 … s_T
    achieved_goal: (T+1, n)  goals achieved in s_0 … s_T
    desired_goal:  (n,)      the goal the agent was given
    actions:       (T,)      actions a_0 … a_{T-1}
    """

    obs: np.ndarray
    achieved_goal: np.ndarray
    desired_goal: np.ndarray
    actions: np.ndarray

    def __post_init__(self):
        T = len(self.actions)
        if T < 1:
            raise ValueError("an episode needs at least one transition")
        if len(self.obs) != T + 1 or len(self.achieved_goal) != T + 1:
            raise ValueError(f"obs ({len(self.obs)}) and achieved_goal ({len(self.achieved_goal)}) must have "
                             f"len(actions) + 1 = {T + 1} rows")

    def __len__(self) -> int:
        return len(self.actions)


def her_goals(achieved_goals: np.ndarray, strategy: str, k: int, rng: np.random.Generator):
    """Draw hindsight goals for every transition of one episode.

    achieved_goals: (T+1, n) achieved goals ag_0 … ag_T of an episode of T transitions.
    Returns ``(t, goals)``: t (M,) int transition indices and goals (M, n), with M = T for ``final``
    and M = k·T for ``future`` / ``episode`` (k goals per transition, transitions in order).
    """
    achieved_goals = np.asarray(achieved_goals)
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")
    if achieved_goals.ndim != 2 or len(achieved_goals) < 2:
        raise ValueError(f"achieved_goals must be (T+1, n) with T >= 1, got shape {achieved_goals.shape}")
    T = len(achieved_goals) - 1
    if strategy == "final":
        t = np.arange(T)  # (T,)
        return t, np.repeat(achieved_goals[T:T + 1], T, axis=0)
    if k < 1:
        raise ValueError(f"k must be >= 1 for the {strategy!r} strategy, got {k}")
    t = np.repeat(np.arange(T), k)  # (k·T,)  each transition k times
    if strategy == "future":
        t_goal = rng.integers(t + 1, T + 1)  # uniform in {t+1, …, T}
    else:  # episode
        t_goal = rng.integers(1, T + 1, size=t.shape)  # uniform in {1, …, T}
    return t, achieved_goals[t_goal]


def goal_reached(achieved_goal, goal) -> np.ndarray:
    """(…, n), (…, n) -> (…,) bool: the goal is reached exactly (discrete goals such as bits or cells)."""
    return np.all(np.asarray(achieved_goal) == np.asarray(goal), axis=-1)


def relabel_episode(episode: Episode, strategy: str, k: int, rng: np.random.Generator,
                    compute_reward: Callable, goal_fn: Callable = her_goals,
                    terminal_fn: Callable = goal_reached) -> dict:
    """The hindsight transitions of one episode, rewards recomputed with ``compute_reward``.

    Returns a dict of arrays with M rows: obs (M, d), goal (M, n), action (M,), reward (M,),
    next_obs (M, d), done (M,), and t (M,) the step of each transition; ``done`` marks transitions that
    reach their (new) goal, where the return is not bootstrapped.
    """
    t, goals = goal_fn(episode.achieved_goal, strategy, k, rng)
    t = np.asarray(t, dtype=np.int64)
    next_achieved = episode.achieved_goal[t + 1]  # (M, n)
    return {
        "obs": episode.obs[t], "goal": np.asarray(goals), "action": episode.actions[t],
        "reward": np.asarray(compute_reward(next_achieved, goals, None), dtype=np.float32),
        "next_obs": episode.obs[t + 1], "done": terminal_fn(next_achieved, goals), "t": t,
    }


def original_transitions(episode: Episode, compute_reward: Callable, terminal_fn: Callable = goal_reached) -> dict:
    """The episode's own transitions, with the goal it was given."""
    T = len(episode)
    goals = np.repeat(np.asarray(episode.desired_goal)[None], T, axis=0)  # (T, n)
    next_achieved = episode.achieved_goal[1:]
    return {
        "obs": episode.obs[:-1], "goal": goals, "action": episode.actions,
        "reward": np.asarray(compute_reward(next_achieved, goals, None), dtype=np.float32),
        "next_obs": episode.obs[1:], "done": terminal_fn(next_achieved, goals),
    }


class ReplayBuffer:
    """A ring buffer of goal-conditioned transitions in preallocated numpy arrays."""

    FIELDS = ("obs", "goal", "action", "reward", "next_obs", "done")

    def __init__(self, capacity: int, obs_dim: int, goal_dim: int, obs_dtype=np.float32):
        if capacity < 1:
            raise ValueError(f"capacity must be positive, got {capacity}")
        self.capacity, self.size, self.pos = int(capacity), 0, 0
        self.data = {
            "obs": np.zeros((capacity, obs_dim), dtype=obs_dtype),  # (N, d)
            "goal": np.zeros((capacity, goal_dim), dtype=obs_dtype),  # (N, n)
            "action": np.zeros(capacity, dtype=np.int64),  # (N,)
            "reward": np.zeros(capacity, dtype=np.float32),  # (N,)
            "next_obs": np.zeros((capacity, obs_dim), dtype=obs_dtype),  # (N, d)
            "done": np.zeros(capacity, dtype=np.float32),  # (N,)
        }

    def __len__(self) -> int:
        return self.size

    def add(self, transitions: dict) -> None:
        """Append M transitions (a dict of arrays with M rows), overwriting the oldest when full."""
        m = len(transitions["action"])
        if m == 0:
            return
        if m > self.capacity:
            raise ValueError(f"cannot add {m} transitions to a buffer of capacity {self.capacity}")
        idx = (self.pos + np.arange(m)) % self.capacity
        for key in self.FIELDS:
            self.data[key][idx] = transitions[key]
        self.pos = (self.pos + m) % self.capacity
        self.size = min(self.size + m, self.capacity)

    def sample(self, batch_size: int, rng: np.random.Generator) -> dict:
        """A uniform random batch: a dict of arrays with ``batch_size`` rows."""
        if self.size == 0:
            raise ValueError("cannot sample from an empty buffer")
        idx = rng.integers(0, self.size, size=batch_size)
        return {key: value[idx] for key, value in self.data.items()}


class HindsightReplayBuffer(ReplayBuffer):
    """Replay buffer that stores each episode's transitions plus their hindsight relabels.

    ``strategy=None`` stores only the original transitions (plain DQN): the same buffer, no HER.
    """

    def __init__(self, capacity: int, obs_dim: int, goal_dim: int, compute_reward: Callable,
                 strategy: str | None = "future", k: int = 4, goal_fn: Callable = her_goals, seed: int | None = None):
        super().__init__(capacity, obs_dim, goal_dim)
        if strategy is not None and strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {STRATEGIES} or None, got {strategy!r}")
        self.compute_reward, self.strategy, self.k, self.goal_fn = compute_reward, strategy, k, goal_fn
        self.rng = np.random.default_rng(seed)

    def add_episode(self, episode: Episode) -> None:
        self.add(original_transitions(episode, self.compute_reward))
        if self.strategy is not None:
            self.add(relabel_episode(episode, self.strategy, self.k, self.rng, self.compute_reward, self.goal_fn))
