"""The bit-flipping environment of Hindsight Experience Replay (Andrychowicz et al., 2017, Sec. 3.1).

The state is a vector of ``n`` bits, ``s ∈ {0, 1}^n``; action ``a ∈ {0, …, n-1}`` flips bit ``a``. Each
episode draws a new start state *and* a new goal ``g`` uniformly at random (the goal differs from the
start), so one network must solve 2^n tasks: this is goal-conditioned RL. The reward is the paper's
sparse one,

    r_g(s, a, s') = -[s' ≠ g]        (-1 on every step until the goal is reached, 0 when it is),

which a random policy almost never sees once n grows: with n = 15 a random walk of 15 flips hits a
random goal with probability ~5e-4, so plain DQN learns nothing. Hindsight relabeling fixes that.

Two forms:

* :class:`BitFlippingEnv`: one episode, the exact gymnasium API with a goal-env dict observation
  (``observation`` / ``achieved_goal`` / ``desired_goal``), a vectorised :meth:`~BitFlippingEnv.compute_reward`
  and ``info["is_success"]``; it passes ``gymnasium.utils.env_checker.check_env``. It terminates when
  the goal is reached and truncates after ``max_steps`` (default ``n``) flips.
* :class:`BatchedBitFlipping`: ``n_envs`` synchronous episodes in numpy arrays, for fast collection.
  All episodes start together at :meth:`~BatchedBitFlipping.reset`; an episode that has finished
  ignores further actions until the next reset, so whole episodes can be handed to HER.
"""
from __future__ import annotations

import numpy as np
import gymnasium as gym
from gymnasium import spaces

__all__ = ["bitflip_reward", "BitFlippingEnv", "BatchedBitFlipping", "random_start_and_goal"]


def bitflip_reward(achieved_goal, desired_goal, info=None) -> np.ndarray:
    """The HER paper's sparse reward ``-[achieved ≠ desired]``, vectorised over leading dimensions.

    achieved_goal, desired_goal: (..., n) arrays of bits  ->  (...,) float32 array of 0.0 / -1.0.
    """
    achieved_goal, desired_goal = np.asarray(achieved_goal), np.asarray(desired_goal)
    if achieved_goal.shape != desired_goal.shape:
        raise ValueError(f"achieved_goal {achieved_goal.shape} and desired_goal {desired_goal.shape} must have the same shape")
    return -np.any(achieved_goal != desired_goal, axis=-1).astype(np.float32)


def random_start_and_goal(rng: np.random.Generator, n_bits: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """``size`` start states and goals, uniform over {0,1}^n, with every goal ≠ its start."""
    state = rng.integers(0, 2, size=(size, n_bits), dtype=np.int8)  # (size, n)
    goal = rng.integers(0, 2, size=(size, n_bits), dtype=np.int8)  # (size, n)
    same = np.all(state == goal, axis=1)
    while same.any():  # redraw goals that equal their start (probability 2^-n each)
        goal[same] = rng.integers(0, 2, size=(int(same.sum()), n_bits), dtype=np.int8)
        same = np.all(state == goal, axis=1)
    return state, goal


class BitFlippingEnv(gym.Env):
    """n-bit flipping with a random goal per episode (gymnasium goal-env API).

    >>> env = BitFlippingEnv(n_bits=4)
    >>> obs, info = env.reset(seed=0)
    >>> sorted(obs)
    ['achieved_goal', 'desired_goal', 'observation']
    """

    metadata = {"render_modes": ["ansi"], "render_fps": 4}

    def __init__(self, n_bits: int = 15, max_steps: int | None = None, render_mode: str | None = None):
        if not isinstance(n_bits, (int, np.integer)) or n_bits < 1:
            raise ValueError(f"n_bits must be a positive integer, got {n_bits!r}")
        if max_steps is not None and max_steps < 1:
            raise ValueError(f"max_steps must be a positive integer or None, got {max_steps!r}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']} or None, got {render_mode!r}")
        self.n_bits = int(n_bits)
        self.max_steps = int(max_steps) if max_steps is not None else self.n_bits
        self.render_mode = render_mode
        bits = spaces.MultiBinary(self.n_bits)
        self.observation_space = spaces.Dict(
            {"observation": bits, "achieved_goal": spaces.MultiBinary(self.n_bits),
             "desired_goal": spaces.MultiBinary(self.n_bits)})
        self.action_space = spaces.Discrete(self.n_bits)
        self.state = np.zeros(self.n_bits, dtype=np.int8)  # (n,)
        self.goal = np.ones(self.n_bits, dtype=np.int8)  # (n,)
        self.steps = 0

    def _obs(self) -> dict:
        # the observation *is* the achieved goal in bit flipping; copies so callers cannot alias state
        return {"observation": self.state.copy(), "achieved_goal": self.state.copy(), "desired_goal": self.goal.copy()}

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        state, goal = random_start_and_goal(self.np_random, self.n_bits, 1)
        self.state, self.goal, self.steps = state[0], goal[0], 0
        return self._obs(), {"is_success": False}

    def step(self, action):
        if not self.action_space.contains(action):
            raise ValueError(f"action must be an integer in [0, {self.n_bits}), got {action!r}")
        self.state[int(action)] ^= 1
        self.steps += 1
        obs = self._obs()
        info = {"is_success": bool(np.array_equal(self.state, self.goal))}
        reward = float(self.compute_reward(obs["achieved_goal"], obs["desired_goal"], info))
        terminated = bool(self.compute_terminated(obs["achieved_goal"], obs["desired_goal"], info))
        truncated = bool(self.steps >= self.max_steps and not terminated)
        return obs, reward, terminated, truncated, info

    def compute_reward(self, achieved_goal, desired_goal, info=None):
        """Vectorised reward: (..., n), (..., n) -> (...,) float32 (used by HER to relabel)."""
        return bitflip_reward(achieved_goal, desired_goal, info)

    def compute_terminated(self, achieved_goal, desired_goal, info=None):
        """An episode ends when its goal is reached: (..., n), (..., n) -> (...,) bool."""
        return np.all(np.asarray(achieved_goal) == np.asarray(desired_goal), axis=-1)

    def render(self):
        if self.render_mode == "ansi":
            bits = "".join(map(str, self.state))
            goal = "".join(map(str, self.goal))
            return f"state {bits}\ngoal  {goal}\n      " + "".join("^" if s != g else " " for s, g in zip(self.state, self.goal))
        return None


class BatchedBitFlipping:
    """``n_envs`` synchronous bit-flipping episodes in numpy, for fast data collection.

    ``reset()`` starts every episode; ``step(actions)`` advances those still running and returns the
    same tuple as gymnasium (batched). ``active`` marks the running episodes; a finished episode keeps
    its final state and gets reward 0 (success) or stays at -1 (time out) without changing.
    """

    def __init__(self, n_bits: int, n_envs: int, max_steps: int | None = None, seed: int | None = None,
                 reward_fn=bitflip_reward):
        if n_bits < 1 or n_envs < 1:
            raise ValueError(f"n_bits and n_envs must be positive, got n_bits={n_bits}, n_envs={n_envs}")
        self.n_bits, self.n_envs = int(n_bits), int(n_envs)
        self.max_steps = int(max_steps) if max_steps is not None else self.n_bits
        self.reward_fn = reward_fn
        self.rng = np.random.default_rng(seed)
        self.state = np.zeros((self.n_envs, self.n_bits), dtype=np.int8)  # (E, n)
        self.goal = np.ones((self.n_envs, self.n_bits), dtype=np.int8)  # (E, n)
        self.active = np.zeros(self.n_envs, dtype=bool)  # (E,)
        self.steps = 0

    def _obs(self) -> dict:
        return {"observation": self.state.copy(), "achieved_goal": self.state.copy(), "desired_goal": self.goal.copy()}

    def reset(self, seed: int | None = None, goal: np.ndarray | None = None) -> dict:
        """Start all episodes (``goal`` (E, n) fixes the goals, e.g. for a side-by-side evaluation)."""
        if seed is not None:
            self.rng = np.random.default_rng(seed)
        self.state, self.goal = random_start_and_goal(self.rng, self.n_bits, self.n_envs)
        if goal is not None:
            goal = np.asarray(goal, dtype=np.int8)
            if goal.shape != (self.n_envs, self.n_bits):
                raise ValueError(f"goal must have shape {(self.n_envs, self.n_bits)}, got {goal.shape}")
            self.goal = goal.copy()
        self.active = ~np.all(self.state == self.goal, axis=1)
        self.steps = 0
        return self._obs()

    def step(self, actions):
        actions = np.asarray(actions)
        if actions.shape != (self.n_envs,) or actions.min() < 0 or actions.max() >= self.n_bits:
            raise ValueError(f"actions must be {self.n_envs} integers in [0, {self.n_bits}), got shape {actions.shape}")
        rows = np.flatnonzero(self.active)
        self.state[rows, actions[rows]] ^= 1  # only running episodes move
        self.steps += 1
        obs = self._obs()
        success = np.all(self.state == self.goal, axis=1)  # (E,)
        reward = np.asarray(self.reward_fn(obs["achieved_goal"], obs["desired_goal"]), dtype=np.float32)
        terminated = success & self.active
        truncated = self.active & ~success & (self.steps >= self.max_steps)
        self.active = self.active & ~terminated & ~truncated
        return obs, reward, terminated, truncated, {"is_success": success}
