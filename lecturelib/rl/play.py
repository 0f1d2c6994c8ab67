"""Use any state as a goal: unstructured play → goal-conditioned supervised dataset → imitation.

Play data is a long stream of behaviour with no task attached: an operator (here a scripted play
agent) wanders around, doing better than random but pursuing goals nobody wrote down. Actionable
Models (Chebotar et al., 2021) and learning from play (Lynch et al., 2019) turn such data into
goal-conditioned training data by hindsight: *any* state reached later in the stream is a goal that the
intervening actions achieve. Every pair of steps ``t < t + h`` (``1 ≤ h ≤ H``) gives one example

    (state s_t, goal g = s_{t+h}, action a_t),

so a stream of T steps yields about T·H examples, each one "optimal" in the weak sense that following
the data does reach its goal. Goal-conditioned imitation (behaviour cloning, as in GCSL, Ghosh et al.,
2021) then fits π(a | s, g) by maximum likelihood; Actionable Models goes further with offline Q-learning
on the same relabeled goals.

The world is a four-rooms gridworld (after Sutton, Precup and Singh, 1999): four actions (up, down,
left, right), walls that make straight-line moves toward a goal fail, and goals in other rooms that
need a path through the doorways.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from .threads import adam_kernel, cpu_threads

__all__ = ["FOUR_ROOMS", "GridWorld", "collect_play", "relabel_play", "relabel_play_final", "GoalPolicy",
           "ImitationConfig", "train_goal_imitation", "evaluate_goal_reaching", "ACTIONS", "plot_paths"]

FOUR_ROOMS = """
#############
#     #     #
#     #     #
#           #
#     #     #
#     #     #
## ####     #
#     ### ###
#     #     #
#     #     #
#           #
#     #     #
#############
"""

ACTIONS = np.array([[-1, 0], [1, 0], [0, -1], [0, 1]])  # up, down, left, right as (row, col) moves
ACTION_NAMES = ("up", "down", "left", "right")


class GridWorld:
    """A deterministic gridworld from a text map (``#`` = wall). States are (row, col) cells."""

    def __init__(self, layout: str = FOUR_ROOMS):
        rows = [line for line in layout.strip("\n").splitlines()]
        if not rows or len({len(r) for r in rows}) != 1:
            raise ValueError("layout must be a non-empty rectangle of characters")
        self.walls = np.array([[c == "#" for c in r] for r in rows])  # (H, W) bool
        if not (self.walls[0].all() and self.walls[-1].all() and self.walls[:, 0].all() and self.walls[:, -1].all()):
            raise ValueError("the layout's border must be walls ('#'), so that no move leaves the map")
        self.cells = np.argwhere(~self.walls)  # (C, 2) free cells, row-major
        if len(self.cells) < 2:
            raise ValueError("layout needs at least two free cells")
        self.index = -np.ones(self.walls.shape, dtype=np.int64)  # (H, W) cell -> index in self.cells
        self.index[self.cells[:, 0], self.cells[:, 1]] = np.arange(len(self.cells))
        self._dist = None
        self._optimal = None

    @property
    def n_cells(self) -> int:
        return len(self.cells)

    def step(self, pos: np.ndarray, action: np.ndarray) -> np.ndarray:
        """Vectorised move: pos (..., 2), action (...,) -> next pos (..., 2); moves into a wall stay put."""
        pos, action = np.asarray(pos), np.asarray(action)
        nxt = pos + ACTIONS[action]
        blocked = self.walls[nxt[..., 0], nxt[..., 1]]
        return np.where(blocked[..., None], pos, nxt)

    def distances(self) -> np.ndarray:
        """(C, C) shortest-path lengths between free cells (breadth-first search from every cell)."""
        if self._dist is None:
            C = self.n_cells
            dist = np.full((C, C), -1, dtype=np.int64)
            for src in range(C):
                dist[src, src] = 0
                queue = deque([tuple(self.cells[src])])
                while queue:
                    r, c = queue.popleft()
                    d = dist[src, self.index[r, c]]
                    for dr, dc in ACTIONS:
                        j = self.index[r + dr, c + dc]
                        if j >= 0 and dist[src, j] < 0:
                            dist[src, j] = d + 1
                            queue.append((r + dr, c + dc))
            self._dist = dist
        return self._dist

    def next_cells(self) -> np.ndarray:
        """(C, 4) index of the cell reached from each cell by each action."""
        return np.stack([self.index[tuple(self.step(self.cells, np.full(self.n_cells, a)).T)]
                         for a in range(len(ACTIONS))], axis=1)

    def optimal_actions(self) -> np.ndarray:
        """(C, C, 4) bool table: action a from cell i shortens the shortest path to cell j."""
        if self._optimal is None:
            dist = self.distances()  # (C, C)
            nxt = self.next_cells()  # (C, 4)
            self._optimal = dist[nxt].transpose(0, 2, 1) < dist[:, :, None]  # (C, C, 4): d(next_a(i), j) < d(i, j)
        return self._optimal

    def random_cells(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return self.cells[rng.integers(0, self.n_cells, size=size)]  # (size, 2)


def collect_play(world: GridWorld, n_steps: int, rng: np.random.Generator, noise: float = 0.3):
    """A play stream with no resets: the agent walks to a random waypoint along a shortest path, taking
    a random action with probability ``noise``, then picks a new waypoint, and so on. The waypoints are
    thrown away: what remains is unlabeled.

    Returns states (n_steps+1, 2) and actions (n_steps,).
    """
    if n_steps < 1 or not 0.0 <= noise <= 1.0:
        raise ValueError(f"n_steps must be positive and noise in [0, 1], got {n_steps}, {noise}")
    states = np.zeros((n_steps + 1, 2), dtype=np.int64)
    actions = np.zeros(n_steps, dtype=np.int64)
    optimal = world.optimal_actions()  # (C, C, 4)
    next_cell = world.next_cells()  # (C, 4)
    cell, waypoint = rng.integers(0, world.n_cells, size=2)
    cells = np.zeros(n_steps + 1, dtype=np.int64)
    cells[0] = cell
    coins, random_actions, tie_breaks = rng.random(n_steps), rng.integers(0, 4, n_steps), rng.random(n_steps)
    for t in range(n_steps):
        while cell == waypoint:
            waypoint = rng.integers(0, world.n_cells)
        if coins[t] < noise:
            a = random_actions[t]
        else:  # a shortest-path action, ties broken at random
            good = np.flatnonzero(optimal[cell, waypoint])
            a = good[int(tie_breaks[t] * len(good))]
        cell = next_cell[cell, a]
        cells[t + 1], actions[t] = cell, a
    states[:] = world.cells[cells]
    return states, actions


def relabel_play(states: np.ndarray, actions: np.ndarray, max_horizon: int):
    """Every state within ``max_horizon`` steps ahead is a goal: the examples (s_t, s_{t+h}, a_t), 1 ≤ h ≤ H.

    states (T+1, d), actions (T,) -> (s (M, d), g (M, d), a (M,)) with M = Σ_h (T - h + 1), ordered by h then t.
    """
    states, actions = np.asarray(states), np.asarray(actions)
    T = len(actions)
    if len(states) != T + 1:
        raise ValueError(f"states must have len(actions) + 1 = {T + 1} rows, got {len(states)}")
    if max_horizon < 1:
        raise ValueError(f"max_horizon must be >= 1, got {max_horizon}")
    s, g, a = [], [], []
    for h in range(1, min(max_horizon, T) + 1):
        s.append(states[: T - h + 1])  # s_t for t = 0 … T-h
        g.append(states[h:])  # s_{t+h}
        a.append(actions[: T - h + 1])
    return np.concatenate(s), np.concatenate(g), np.concatenate(a)


def relabel_play_final(states: np.ndarray, actions: np.ndarray, segment: int):
    """The baseline that only uses the *final* state: cut the stream into segments of ``segment`` steps and
    label each step of a segment with the segment's last state as its goal (about T examples)."""
    states, actions = np.asarray(states), np.asarray(actions)
    T = len(actions)
    if segment < 1:
        raise ValueError(f"segment must be >= 1, got {segment}")
    t = np.arange(T)
    end = np.minimum((t // segment + 1) * segment, T)  # index of the segment's final state
    return states[t], states[end], actions[t]


class GoalPolicy(nn.Module):
    """π(a | s, g): an MLP on one-hot state and goal cells, returning action logits (B, 4).

    The first layer on a one-hot input is a table lookup, so it is written as two embeddings that are
    added (the same function as a linear layer on the concatenated one-hots, without the zeros).
    """

    def __init__(self, n_cells: int, hidden: int = 256, n_actions: int = 4):
        super().__init__()
        self.n_cells = n_cells
        self.state_embed = nn.Embedding(n_cells, hidden)
        self.goal_embed = nn.Embedding(n_cells, hidden)
        self.head = nn.Sequential(nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, n_actions))

    def forward(self, state_idx: torch.Tensor, goal_idx: torch.Tensor) -> torch.Tensor:
        # state_idx, goal_idx: (B,) cell indices -> hidden (B, H) -> logits (B, A)
        return self.head(self.state_embed(state_idx) + self.goal_embed(goal_idx))


@dataclass
class ImitationConfig:
    """Goal-conditioned behaviour cloning on relabeled play."""

    hidden: int = 128
    lr: float = 2e-3
    batch_size: int = 512
    updates: int = 1000
    seed: int = 0


@dataclass
class ImitationResult:
    policy: GoalPolicy
    losses: list = field(default_factory=list)


def train_goal_imitation(world: GridWorld, states: np.ndarray, goals: np.ndarray, actions: np.ndarray,
                         config: ImitationConfig, device="cpu", progress: bool = True) -> ImitationResult:
    """Fit π(a | s, g) to the examples by cross-entropy (maximum likelihood of the play actions)."""
    if not (len(states) == len(goals) == len(actions)) or len(actions) == 0:
        raise ValueError("states, goals and actions must be non-empty and equally long")
    device = torch.device(device)
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    s_idx = torch.as_tensor(world.index[states[:, 0], states[:, 1]], device=device)  # (M,)
    g_idx = torch.as_tensor(world.index[goals[:, 0], goals[:, 1]], device=device)  # (M,)
    a = torch.as_tensor(actions, device=device)  # (M,)
    policy = GoalPolicy(world.n_cells, config.hidden).to(device)
    opt = torch.optim.Adam(policy.parameters(), lr=config.lr, **adam_kernel(device))
    result = ImitationResult(policy=policy)
    with cpu_threads(1):
        for _ in tqdm(range(config.updates), desc="goal-conditioned imitation", disable=not progress, leave=False):
            idx = torch.as_tensor(rng.integers(0, len(a), size=config.batch_size), device=device)
            loss = nn.functional.cross_entropy(policy(s_idx[idx], g_idx[idx]), a[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            result.losses.append(loss.item())
    return result


@torch.no_grad()
def evaluate_goal_reaching(world: GridWorld, policy, n_episodes: int = 500, max_steps: int = 50, seed: int = 123,
                           device="cpu", greedy: bool = True, return_paths: bool = False):
    """Success rate of a policy on random (start, goal) pairs in other cells; ``policy=None`` is a random walk.

    The policy acts greedily (argmax of its logits) or, with ``greedy=False``, samples from π(a | s, g).
    With ``return_paths`` also returns the (max_steps+1, n_episodes, 2) positions and the goals, for plotting.
    """
    rng = np.random.default_rng(seed)
    gen = torch.Generator(device=device).manual_seed(seed)
    start = world.random_cells(rng, n_episodes)
    goal = world.random_cells(rng, n_episodes)
    same = np.all(start == goal, axis=1)
    while same.any():
        goal[same] = world.random_cells(rng, int(same.sum()))
        same = np.all(start == goal, axis=1)
    with cpu_threads(1):
        pos, reached = start.copy(), np.zeros(n_episodes, dtype=bool)
        paths = [pos.copy()]
        g_idx = torch.as_tensor(world.index[goal[:, 0], goal[:, 1]], device=device)
        for _ in range(max_steps):
            if policy is None:
                act = rng.integers(0, 4, size=n_episodes)
            else:
                s_idx = torch.as_tensor(world.index[pos[:, 0], pos[:, 1]], device=device)
                logits = policy(s_idx, g_idx)
                if greedy:
                    act = logits.argmax(dim=1).cpu().numpy()
                else:
                    act = torch.multinomial(torch.softmax(logits, dim=1), 1, generator=gen)[:, 0].cpu().numpy()
            pos = np.where(reached[:, None], pos, world.step(pos, act))  # stop at the goal
            reached |= np.all(pos == goal, axis=1)
            paths.append(pos.copy())
    success = float(reached.mean())
    if return_paths:
        return success, np.stack(paths), goal
    return success


def plot_paths(world: GridWorld, paths: np.ndarray, goals: np.ndarray | None = None, episodes=(0, 1, 2, 3), *,
               title: str, ax=None):
    """Draw the map (walls dark) and the paths (T+1, E, 2) of some episodes, start ○ and goal ★ (if given)."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(4, 4))
    ax.imshow(world.walls, cmap="Greys", vmin=0, vmax=1.4)
    for k, e in enumerate(episodes):
        colour = plt.cm.tab10(k % 10)
        path = paths[:, e]
        ax.plot(path[:, 1], path[:, 0], "-", color=colour, alpha=0.8, lw=2, label=f"episode {e}")
        ax.plot(path[0, 1], path[0, 0], "o", color=colour, ms=8, mfc="none")
        if goals is not None:
            ax.plot(goals[e, 1], goals[e, 0], "*", color=colour, ms=13)
    ax.set(title=title, xlabel="column", ylabel="row")
    ax.legend(fontsize=7, loc="lower right")
    return ax
