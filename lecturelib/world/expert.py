"""Scripted behaviour in the tabletop world: a pick-and-place expert and a play agent.

The expert is *reactive*: its action is a function of the current state and the instruction only
(no hidden phase), which is what makes behaviour cloning from single frames well posed. It moves the
palm straight to the object's top (the arm slides over whatever is in the way), closes, then carries
the object straight to the destination (the target block, the nearest free spot on the table, or the
nearest free spot on a side of the table) and opens. It moves in half or whole steps (:data:`MOTION_LEVELS`), so its actions are
"discrete-ish" and a policy can imitate them by classification. It is vectorised over a batch.

The play agent imitates the human operators of Interactive Language's play dataset (Lynch et al.
2022): it chains randomly chosen pick-and-place behaviours, with action noise (random moves now and then) and
occasional aimless wandering, forever and without resets. It keeps no record of what it meant to do: the labels are
recovered afterwards from what happened (see :mod:`lecturelib.world.events`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .core import BLOCK, LATTICE, SLOTS, STEP, X_MAX, X_MIN, Y_MAX, WorldState, clear_mask, free_slots
from .language import FAMILIES, feasible, success_many
from .symbolic import REGION_SLOTS, scene_of

__all__ = ["MOTION_LEVELS", "expert_action", "free_spot", "PlayConfig", "PlayAgent"]

_ALIGN = 0.03      # close enough horizontally to descend (keeps correcting on the way down)
_ARRIVE = 0.03     # close enough vertically to close or open the gripper (> half the finest move)
_LIFT_PALM = 12 * LATTICE   # where the palm lifts a picked block to (its bottom then clears LIFT_HEIGHT)


def free_spot(state: WorldState, ignore: np.ndarray, region: np.ndarray | None = None) -> np.ndarray:
    """(B,) x of the free table slot nearest to the palm (NaN if none), optionally within a region.

    A slot is free when no resting block other than ``ignore`` (B,) overlaps it. Ties go left.
    ``region`` (B,) restricts the slots to the left (0), center (1) or right (2) third; -1 means any.
    """
    b = state.batch_size
    rows = np.arange(b)
    blocked = ~free_slots(state, ignore)
    allowed = np.ones((b, len(SLOTS)), bool)
    if region is not None:
        for r in range(3):
            rows_r = region == r
            allowed[rows_r] = False
            allowed[np.ix_(rows_r, REGION_SLOTS[r])] = True
    dist = np.where(blocked | ~allowed, np.inf, np.abs(SLOTS[None, :] - state.gripper[:, :1]))
    best = dist.argmin(1)
    return np.where(np.isfinite(dist[rows, best]), SLOTS[best], np.nan)


MOTION_LEVELS = np.array([-1.0, -0.5, 0.0, 0.5, 1.0])   # the expert moves in half or whole steps


def _quantise(v: np.ndarray) -> np.ndarray:
    """Nearest of :data:`MOTION_LEVELS` to ``v`` (clipped to [-1, 1])."""
    v = np.clip(v, -1.0, 1.0) * 2.0
    return np.sign(v) * np.floor(np.abs(v) + 0.5) / 2.0      # halves round away from zero


def expert_action(state: WorldState, family: np.ndarray, obj: np.ndarray, arg: np.ndarray) -> np.ndarray:
    """(B, 3) expert actions (palm motion, grip) for the instructions ``(family[b], obj[b], arg[b])``.

    ``family`` holds indices into :data:`FAMILIES`. Once the instruction holds, the expert stays
    still (holding the block for ``pick``, open otherwise).
    """
    b = state.batch_size
    family, obj, arg = (np.asarray(v, int).reshape(b) for v in (family, obj, arg))
    if np.any((family < 0) | (family >= len(FAMILIES))):
        raise ValueError(f"family indices must be in [0, {len(FAMILIES)})")
    rows = np.arange(b)
    gx, gy = state.gripper[:, 0], state.gripper[:, 1]
    carry = state.held == obj
    holding_other = (state.held >= 0) & ~carry

    # where the palm must end up in this phase: on the object's top, or where the object is put down
    tx = state.x[rows, obj].copy()
    ty = state.y[rows, obj] + BLOCK
    is_pick, is_stack = family == 0, family == 1
    is_table, is_region = family == 2, family == 3
    tgt = np.maximum(arg, 0)
    stack_c = carry & is_stack
    tx[stack_c] = state.x[rows, tgt][stack_c]
    ty[stack_c] = state.y[rows, tgt][stack_c] + 2 * BLOCK
    place = carry & (is_table | is_region)
    if place.any():
        spot = free_spot(state, obj, np.where(is_region, arg, -1))
        spot = np.where(np.isnan(spot), gx, spot)
        tx[place] = spot[place]
        ty[place] = BLOCK
    pick_c = carry & is_pick
    tx[pick_c] = gx[pick_c]
    ty[pick_c] = np.maximum(_LIFT_PALM, state.y[rows, obj][pick_c] + BLOCK + LATTICE)

    # straight towards the goal (the arm slides up over anything in the way)
    dx = _quantise((tx - gx) / STEP)
    dy = _quantise((ty - gy) / STEP)
    arrived = (np.abs(tx - gx) < _ALIGN) & (np.abs(ty - gy) < _ARRIVE)

    # grip: close on arrival at the object, keep closed while carrying, open on arrival at the goal
    grip = np.where(carry, 1.0, np.where(arrived, 1.0, -1.0))
    grip = np.where(carry & arrived & ~is_pick, -1.0, grip)
    grip = np.where(holding_other, -1.0, grip)
    done = success_many(state, family, obj, arg)
    stay = (arrived & ~carry) | done           # about to close, or finished: do not move
    dx, dy = np.where(stay, 0.0, dx), np.where(stay, 0.0, dy)
    grip = np.where(done, np.where(is_pick, 1.0, -1.0), grip)
    return np.stack([dx, dy, grip], 1)


@dataclass
class PlayConfig:
    """The play agent's habits."""

    families: tuple = ("pick", "stack", "table")   # which behaviours it chains (a pick is followed by a place)
    noise: float = 0.05         # chance per step that the palm motion is replaced by a random one
    p_wander: float = 0.0       # chance that a new behaviour is aimless wandering (its steps end up in
                                # the next event's window, so hindsight labels get noisier)
    max_height: int = 3         # never stack on a column this tall
    timeout: int = 80           # give up a behaviour after this many steps

    def __post_init__(self):
        bad = set(self.families) - {"pick", "stack", "table", "region"}
        if bad or not self.families:
            raise ValueError(f"play families must be a non-empty subset of pick/stack/table/region, got {self.families}")
        if not 0 <= self.noise <= 1 or not 0 <= self.p_wander <= 1:
            raise ValueError("noise and p_wander are probabilities")


class PlayAgent:
    """Chains random pick-and-place behaviours with noise in ``n`` worlds; call :meth:`act` each step."""

    def __init__(self, n: int, rng: np.random.Generator, config: PlayConfig | None = None):
        self.n, self.rng, self.config = n, rng, config or PlayConfig()
        self.family = np.full(n, -1)       # -1: needs a new behaviour, -2: wandering
        self.obj = np.zeros(n, int)
        self.arg = np.full(n, -1)
        self.age = np.zeros(n, int)
        self.wander_to = np.zeros((n, 2))

    def _somewhere(self) -> np.ndarray:
        """A random palm position on the lattice."""
        lo, hi = int(np.ceil(X_MIN / LATTICE)), int(X_MAX / LATTICE)
        return np.array([self.rng.integers(lo, hi + 1), self.rng.integers(5, int(Y_MAX / LATTICE) + 1)]) * LATTICE

    def _choose(self, state: WorldState, b: int) -> None:
        cfg, rng = self.config, self.rng
        self.age[b] = 0
        held = int(state.held[b])
        if held < 0 and rng.random() < cfg.p_wander:
            self.family[b] = -2
            self.wander_to[b] = self._somewhere()
            return
        if held >= 0:
            # finish what is in the hand: put it on a clear block or on the table
            sub = state.index(b)
            scene = scene_of(sub)
            height = {k: len(s) for s in scene.stacks for k in s}
            clear = clear_mask(sub)[0]
            targets = [k for k in scene.blocks if k != held and clear[k] and height.get(k, 9) < cfg.max_height]
            options = [("stack", held, t) for t in targets] + [("table", held, -1)]
        else:
            options = feasible(state, b, cfg.families, cfg.max_height)
        if not options:
            self.family[b] = -2
            self.wander_to[b] = self._somewhere()
            return
        fams = sorted({o[0] for o in options})
        fam = fams[rng.integers(len(fams))]
        choices = [o for o in options if o[0] == fam]
        family, obj, arg = choices[rng.integers(len(choices))]
        self.family[b], self.obj[b], self.arg[b] = FAMILIES.index(family), obj, arg

    def act(self, state: WorldState) -> np.ndarray:
        """(n, 3) the next actions; behaviours that finished or timed out are replaced first."""
        cfg, rng = self.config, self.rng
        placing = self.family >= 0
        fam = np.maximum(self.family, 0)
        finished = placing & ((state.held < 0) | (fam == 0)) & success_many(state, fam, self.obj, self.arg)
        wandering = self.family == -2
        reached = wandering & (np.abs(state.gripper - self.wander_to).max(1) < LATTICE / 2)
        renew = (self.family == -1) | finished | reached | (self.age >= cfg.timeout)
        for b in np.flatnonzero(renew):
            self._choose(state, int(b))
        self.age += 1

        action = np.zeros((self.n, 3))
        placing = self.family >= 0
        if placing.any():
            action[placing] = expert_action(state.index(np.flatnonzero(placing)), self.family[placing],
                                            self.obj[placing], self.arg[placing])
        wandering = self.family == -2
        if wandering.any():
            action[wandering, :2] = _quantise((self.wander_to[wandering] - state.gripper[wandering]) / STEP)
            action[wandering, 2] = -1.0
        # noise: now and then the motion is replaced by a random one (of the same half/whole steps)
        jolt = rng.random(self.n) < cfg.noise
        action[jolt, :2] = rng.choice(MOTION_LEVELS, (int(jolt.sum()), 2))
        return action
