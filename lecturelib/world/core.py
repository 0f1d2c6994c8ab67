"""The tabletop world's simulator: a side view of a table, up to six coloured blocks and a gripper.

This is the world of lessons 07 and 08, in the spirit of Language-Table (Lynch et al. 2022,
"Interactive Language: Talking to Robots in Real Time") and of PaLM-E's task-and-motion-planning
scenes (Driess et al. 2023), reduced to what a CPU learns from in minutes.

Geometry (world units, the table spans x in [0, 1], the table top is y = 0):
- every block is a square of side ``BLOCK``; block ``k`` always has colour ``COLOURS[k]``, so a scene
  is a subset of the six colours and a block's index *is* its identity;
- the gripper is a palm whose bottom centre is ``(gx, gy)``; a held block hangs under the palm;
- a block rests on the table or exactly centred on another block (stacks are columns).

Control and physics, deterministic and batched over ``B`` worlds (numpy):
- action ``(dx, dy, grip)`` in ``[-1, 1]^3``: the palm moves by ``STEP * (dx, dy)`` (a velocity
  command: continuous motion); ``grip > 0`` closes the gripper, ``grip <= 0`` opens it;
- opening releases the held block, which falls straight down onto whatever is below it (the table or
  the highest block under it, on which it centres itself);
- a closed, empty gripper whose palm is at the top of a clear block (within ``GRASP_X`` sideways and
  ``GRASP_Y`` up) holds it, and the fingers centre the palm on the block;
- the gripper (with its block) never enters a block: moving down, it stops on the top of what is
  below; moving sideways into a column, it slides up over it (a compliant arm).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "COLOURS", "COLOUR_RGB", "N_COLOURS", "BLOCK", "STEP", "SLOTS", "X_MIN", "X_MAX", "Y_MAX",
    "LIFT_HEIGHT", "LATTICE", "GRASP_X", "GRASP_Y", "WorldConfig", "WorldState", "sample_scenes", "step",
    "support_top", "clear_mask", "free_slots",
]

COLOURS = ("red", "orange", "yellow", "green", "blue", "white")
COLOUR_RGB = np.array(
    [[220, 40, 40], [245, 140, 20], [240, 220, 40], [40, 170, 60], [40, 90, 220], [250, 250, 250]],
    dtype=np.uint8,
)
N_COLOURS = len(COLOURS)

BLOCK = 0.125           # side of a block
STEP = 1.0 / 12.0       # largest palm displacement per step along each axis
LATTICE = STEP / 2      # half steps: slots, block heights and fresh gripper positions lie on this grid
SLOTS = (np.arange(6) + 0.5) / 6.0   # table positions used to lay out fresh scenes (two per third)
X_MIN, X_MAX = BLOCK / 2, 1.0 - BLOCK / 2
Y_MAX = 19 * LATTICE    # highest palm position
LIFT_HEIGHT = 0.3       # a held block whose bottom is this high counts as "picked up"
GRASP_X = BLOCK / 2     # horizontal tolerance between palm and block centres for a grasp
GRASP_Y = 0.04          # vertical tolerance between palm and block top for a grasp
_EPS = 1e-6


@dataclass
class WorldConfig:
    """How fresh scenes are drawn."""

    min_blocks: int = 3
    max_blocks: int = 6
    max_stack: int = 3      # tallest column in a fresh scene
    p_stack: float = 0.5    # chance that each new block goes on top of an existing column

    def __post_init__(self):
        if not 1 <= self.min_blocks <= self.max_blocks <= N_COLOURS:
            raise ValueError(f"need 1 <= min_blocks <= max_blocks <= {N_COLOURS}, "
                             f"got {self.min_blocks}, {self.max_blocks}")
        if self.max_stack < 1:
            raise ValueError(f"max_stack must be >= 1, got {self.max_stack}")
        if not 0.0 <= self.p_stack <= 1.0:
            raise ValueError(f"p_stack must be in [0, 1], got {self.p_stack}")


@dataclass
class WorldState:
    """The exact state of ``B`` worlds; block ``k`` of world ``b`` has colour ``COLOURS[k]``."""

    present: np.ndarray   # (B, K) bool, which colours are in the scene
    x: np.ndarray         # (B, K) float, block centres (meaningless where not present)
    y: np.ndarray         # (B, K) float, block bottoms
    gripper: np.ndarray   # (B, 2) float, palm bottom centre (gx, gy)
    closed: np.ndarray    # (B,) bool
    held: np.ndarray      # (B,) int, index of the held block or -1
    extra: dict = field(default_factory=dict, repr=False)

    @property
    def batch_size(self) -> int:
        return self.present.shape[0]

    def copy(self) -> "WorldState":
        return WorldState(self.present.copy(), self.x.copy(), self.y.copy(), self.gripper.copy(),
                          self.closed.copy(), self.held.copy())

    def index(self, idx) -> "WorldState":
        """The worlds ``idx`` (an int, slice or index array) as a new, independent state."""
        if isinstance(idx, (int, np.integer)):
            idx = [int(idx)]
        return WorldState(self.present[idx].copy(), self.x[idx].copy(), self.y[idx].copy(),
                          self.gripper[idx].copy(), self.closed[idx].copy(), self.held[idx].copy())

    def set(self, idx, other: "WorldState") -> None:
        """Overwrite worlds ``idx`` with ``other`` (used to reset some worlds of a batch)."""
        for name in ("present", "x", "y", "gripper", "closed", "held"):
            getattr(self, name)[idx] = getattr(other, name)

    @staticmethod
    def concatenate(states: list["WorldState"]) -> "WorldState":
        return WorldState(*(np.concatenate([getattr(s, n) for s in states])
                            for n in ("present", "x", "y", "gripper", "closed", "held")))

    def as_vector(self) -> np.ndarray:
        """(B, 4 + 3K) float32: gx, gy, closed, holding, then per block present, x, y."""
        b = self.batch_size
        head = np.stack([self.gripper[:, 0], self.gripper[:, 1], self.closed, self.held >= 0], 1)
        blocks = np.stack([self.present, np.where(self.present, self.x, 0), np.where(self.present, self.y, 0)], 2)
        return np.concatenate([head, blocks.reshape(b, -1)], 1).astype(np.float32)


def sample_scenes(n: int, rng: np.random.Generator, config: WorldConfig | None = None) -> WorldState:
    """``n`` fresh scenes: blocks on the six table slots or stacked, the gripper open above them."""
    config = config or WorldConfig()
    if n < 1:
        raise ValueError(f"need at least one scene, got n={n}")
    present = np.zeros((n, N_COLOURS), bool)
    x = np.full((n, N_COLOURS), -1.0)
    y = np.full((n, N_COLOURS), -1.0)
    for b in range(n):
        count = rng.integers(config.min_blocks, config.max_blocks + 1)
        colours = rng.permutation(N_COLOURS)[:count]
        free_slots = list(rng.permutation(len(SLOTS)))
        columns: list[list[int]] = []   # each column: [slot, height]
        for k in colours:
            stackable = [c for c in columns if c[1] < config.max_stack]
            if stackable and (rng.random() < config.p_stack or not free_slots):
                col = stackable[rng.integers(len(stackable))]
            else:
                col = [free_slots.pop(), 0]
                columns.append(col)
            present[b, k] = True
            x[b, k] = SLOTS[col[0]]
            y[b, k] = col[1] * BLOCK
            col[1] += 1
    gx = rng.integers(int(np.ceil(X_MIN / LATTICE)), int(X_MAX / LATTICE) + 1, n) * LATTICE
    gy = rng.integers(12, 19, n) * LATTICE
    gripper = np.stack([gx, gy], 1)
    return WorldState(present, x, y, gripper, np.zeros(n, bool), np.full(n, -1))


def support_top(state: WorldState, gx: np.ndarray, ignore: np.ndarray | None = None):
    """Top of what lies under an interval of width ``BLOCK`` centred at ``gx`` (B,).

    Returns ``(top (B,), block (B,))``: the height of the highest block overlapping the interval
    (0 for the bare table) and its index (-1 for the table). Held blocks and ``ignore`` (B,) are skipped.
    """
    solid = state.present.copy()
    rows = np.arange(state.batch_size)
    holding = state.held >= 0
    solid[rows[holding], state.held[holding]] = False
    if ignore is not None:
        skip = ignore >= 0
        solid[rows[skip], ignore[skip]] = False
    overlap = solid & (np.abs(state.x - gx[:, None]) < BLOCK - _EPS)       # (B, K)
    tops = np.where(overlap, state.y + BLOCK, 0.0)                           # (B, K)
    block = np.where(overlap.any(1), tops.argmax(1), -1)
    return tops.max(1), block


def clear_mask(state: WorldState) -> np.ndarray:
    """(B, K) bool: block present and nothing rests on it (a held block is clear)."""
    resting = state.present.copy()
    rows = np.arange(state.batch_size)
    holding = state.held >= 0
    resting[rows[holding], state.held[holding]] = False
    # on[b, j, k]: block j rests on block k
    on = (resting[:, :, None] & resting[:, None, :]
          & (np.abs(state.y[:, :, None] - state.y[:, None, :] - BLOCK) < _EPS)
          & (np.abs(state.x[:, :, None] - state.x[:, None, :]) < BLOCK - _EPS))
    return state.present & ~on.any(1)


def free_slots(state: WorldState, ignore: np.ndarray | None = None) -> np.ndarray:
    """(B, len(SLOTS)) bool: no resting block (other than ``ignore`` (B,)) overlaps the table slot."""
    rows = np.arange(state.batch_size)
    solid = state.present.copy()
    holding = state.held >= 0
    solid[rows[holding], state.held[holding]] = False
    if ignore is not None:
        skip = ignore >= 0
        solid[rows[skip], ignore[skip]] = False
    blocked = solid[:, :, None] & (np.abs(state.x[:, :, None] - SLOTS[None, None, :]) < BLOCK - _EPS)
    return ~blocked.any(1)


def _drop(state: WorldState, envs: np.ndarray) -> None:
    """Release the blocks held in worlds ``envs``: each falls onto what is below it."""
    if envs.size == 0:
        return
    sub = state.index(envs)
    blocks = sub.held.copy()
    sub.held[:] = -1
    top, below = support_top(sub, sub.x[np.arange(envs.size), blocks], ignore=blocks)
    new_x = np.where(below >= 0, sub.x[np.arange(envs.size), np.maximum(below, 0)],
                     sub.x[np.arange(envs.size), blocks])
    state.x[envs, blocks] = new_x
    state.y[envs, blocks] = top
    state.held[envs] = -1


def step(state: WorldState, action: np.ndarray) -> WorldState:
    """Advance every world by one control step, in place; returns ``state``.

    ``action``: (B, 3) in [-1, 1] (values outside are clipped): palm motion (dx, dy), grip.
    """
    action = np.asarray(action, dtype=float)
    if action.shape != (state.batch_size, 3):
        raise ValueError(f"action must have shape ({state.batch_size}, 3), got {action.shape}")
    if not np.all(np.isfinite(action)):
        raise ValueError("action contains NaN or infinite values")
    action = np.clip(action, -1.0, 1.0)
    rows = np.arange(state.batch_size)
    close = action[:, 2] > 0

    # 1. opening releases the held block
    _drop(state, np.flatnonzero(~close & (state.held >= 0)))
    state.closed = close.copy()

    holding = state.held >= 0
    hang = np.where(holding, BLOCK, 0.0)     # distance from the palm down to the lowest solid point

    # 2. move; what is below stops a descent, and a sideways move into a column slides up over it
    gx, gy = state.gripper[:, 0], state.gripper[:, 1]
    move = STEP * action[:, :2]                                            # (B, 2)
    gx = np.clip(gx + move[:, 0], X_MIN, X_MAX)
    top_here, _ = support_top(state, gx)
    gy = np.maximum(np.minimum(gy + move[:, 1], Y_MAX), top_here + hang)
    state.gripper = np.stack([gx, gy], 1)
    if holding.any():
        state.x[rows[holding], state.held[holding]] = gx[holding]
        state.y[rows[holding], state.held[holding]] = gy[holding] - BLOCK

    # 4. a closed, empty palm on top of a clear block grasps it
    try_grasp = state.closed & ~holding
    if try_grasp.any():
        reach = (clear_mask(state) & (np.abs(state.x - gx[:, None]) < GRASP_X)
                 & (np.abs(state.y + BLOCK - gy[:, None]) < GRASP_Y))          # (B, K)
        reach &= try_grasp[:, None]
        dist = np.where(reach, np.abs(state.x - gx[:, None]), np.inf)
        got = reach.any(1)
        k = dist.argmin(1)
        state.held = np.where(got, k, state.held)
        # the fingers centre the palm on the block it grasps (the block itself does not move)
        state.gripper[got, 0] = state.x[rows[got], k[got]]
        state.gripper[got, 1] = state.y[rows[got], k[got]] + BLOCK
    return state
