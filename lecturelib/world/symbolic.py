"""The exact symbolic state of the tabletop world and its predicates.

Predicates (all computed from the continuous state, exactly):
- ``on(X, Y)``: X rests directly on Y; ``on_table(X)``: X rests on the table;
- ``above(X, Y)`` / ``below(X, Y)``: X is higher / lower than Y in the same column (at any distance);
- ``left_of(X, Y)`` / ``right_of(X, Y)``: X lies wholly to the left / right of Y;
- ``region(X)``: ``"left"``, ``"center"`` or ``"right"`` third of the table;
- ``clear(X)``: nothing rests on X; ``held(X)``: X is in the gripper.

A :class:`Scene` is the discrete abstraction the planner and the question generators use: the
stacks (bottom to top) ordered from left to right, the held block, and each block's region.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .core import BLOCK, COLOURS, SLOTS, WorldState, clear_mask

__all__ = ["REGIONS", "REGION_SLOTS", "on", "on_table", "above", "below", "left_of", "right_of", "region",
           "clear", "held", "Scene", "scene_of", "describe"]

REGIONS = ("left", "center", "right")
REGION_SLOTS = [np.flatnonzero(np.digitize(SLOTS, [1 / 3, 2 / 3]) == r) for r in range(3)]  # slots per side
_EPS = 1e-6


def _check(state: WorldState, *blocks: int) -> None:
    for k in blocks:
        if not 0 <= k < state.present.shape[1]:
            raise ValueError(f"block index must be in [0, {state.present.shape[1]}), got {k}")


def _resting(state: WorldState) -> np.ndarray:
    """(B, K) present and not held."""
    rest = state.present.copy()
    rows = np.flatnonzero(state.held >= 0)
    rest[rows, state.held[rows]] = False
    return rest


def on(state: WorldState, x: int, y: int) -> np.ndarray:
    """(B,) bool: block ``x`` rests directly on block ``y``."""
    _check(state, x, y)
    rest = _resting(state)
    return (rest[:, x] & rest[:, y] & (x != y)
            & (np.abs(state.y[:, x] - state.y[:, y] - BLOCK) < _EPS)
            & (np.abs(state.x[:, x] - state.x[:, y]) < BLOCK - _EPS))


def on_table(state: WorldState, x: int) -> np.ndarray:
    """(B,) bool: block ``x`` rests on the table."""
    _check(state, x)
    return _resting(state)[:, x] & (np.abs(state.y[:, x]) < _EPS)


def above(state: WorldState, x: int, y: int) -> np.ndarray:
    """(B,) bool: ``x`` is in the same column as ``y`` and higher (neither held)."""
    _check(state, x, y)
    rest = _resting(state)
    return (rest[:, x] & rest[:, y] & (state.y[:, x] > state.y[:, y] + _EPS)
            & (np.abs(state.x[:, x] - state.x[:, y]) < BLOCK - _EPS))


def below(state: WorldState, x: int, y: int) -> np.ndarray:
    """(B,) bool: ``x`` is in the same column as ``y`` and lower (neither held)."""
    return above(state, y, x)


def left_of(state: WorldState, x: int, y: int) -> np.ndarray:
    """(B,) bool: ``x`` lies wholly to the left of ``y`` (their horizontal extents do not overlap)."""
    _check(state, x, y)
    both = state.present[:, x] & state.present[:, y]
    return both & (state.x[:, x] <= state.x[:, y] - BLOCK + _EPS)


def right_of(state: WorldState, x: int, y: int) -> np.ndarray:
    """(B,) bool: ``x`` lies wholly to the right of ``y``."""
    return left_of(state, y, x)


def region(state: WorldState, x: int) -> np.ndarray:
    """(B,) int: 0 left, 1 center, 2 right third of the table (by the block's centre); -1 if absent."""
    _check(state, x)
    r = np.digitize(state.x[:, x], [1 / 3, 2 / 3])
    return np.where(state.present[:, x], r, -1)


def clear(state: WorldState, x: int) -> np.ndarray:
    """(B,) bool: nothing rests on block ``x``."""
    _check(state, x)
    return clear_mask(state)[:, x]


def held(state: WorldState, x: int) -> np.ndarray:
    """(B,) bool: block ``x`` is in the gripper."""
    _check(state, x)
    return state.held == x


@dataclass(frozen=True)
class Scene:
    """Discrete abstraction of one world: ``stacks`` bottom to top, ordered left to right."""

    stacks: tuple[tuple[int, ...], ...]
    held: int = -1
    regions: tuple[tuple[int, int], ...] = ()     # (block, region index) for the resting blocks

    @property
    def blocks(self) -> tuple[int, ...]:
        found = [k for s in self.stacks for k in s] + ([self.held] if self.held >= 0 else [])
        return tuple(sorted(found))

    def support(self, k: int):
        """``"table"``, the block under ``k``, ``"gripper"``, or None if ``k`` is not in the scene."""
        if k == self.held:
            return "gripper"
        for s in self.stacks:
            if k in s:
                i = s.index(k)
                return "table" if i == 0 else s[i - 1]
        return None

    def is_clear(self, k: int) -> bool:
        return k == self.held or any(s and s[-1] == k for s in self.stacks)

    def canonical(self) -> tuple:
        """Positions ignored: the set of stacks and the held block (for planning)."""
        return (tuple(sorted(self.stacks)), self.held)


def scene_of(state: WorldState, b: int = 0) -> Scene:
    """The :class:`Scene` of world ``b`` of ``state``."""
    if not 0 <= b < state.batch_size:
        raise ValueError(f"world index must be in [0, {state.batch_size}), got {b}")
    rest = _resting(state)[b]
    cols: list[list[int]] = []
    order = sorted(np.flatnonzero(rest).tolist(), key=lambda k: (state.y[b, k], state.x[b, k]))
    for k in order:
        for col in cols:
            top = col[-1]
            if (abs(state.y[b, k] - state.y[b, top] - BLOCK) < _EPS
                    and abs(state.x[b, k] - state.x[b, top]) < BLOCK - _EPS):
                col.append(k)
                break
        else:
            cols.append([k])
    cols.sort(key=lambda c: state.x[b, c[0]])
    regions = tuple((k, int(np.digitize(state.x[b, k], [1 / 3, 2 / 3]))) for k in sorted(order))
    return Scene(tuple(tuple(c) for c in cols), int(state.held[b]), regions)


def describe(state: WorldState, b: int = 0) -> list[str]:
    """Plain-English facts about world ``b`` (one per block), e.g. "the red block is on the blue block"."""
    scene = scene_of(state, b)
    facts = []
    region_of = dict(scene.regions)
    for k in scene.blocks:
        sup = scene.support(k)
        if sup == "gripper":
            facts.append(f"the {COLOURS[k]} block is in the gripper")
        elif sup == "table":
            facts.append(f"the {COLOURS[k]} block is on the table at the {REGIONS[region_of[k]]}")
        else:
            facts.append(f"the {COLOURS[k]} block is on the {COLOURS[sup]} block")
    return facts
