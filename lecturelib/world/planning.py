"""A search-based planner and PaLM-E-style questions with exact answers for the tabletop world.

PaLM-E (Driess et al. 2023) is trained, among other tasks, on visual questions and plans about
tabletop scenes (the lecture's tables):

| task | given | target |
|---|---|---|
| object-table relation | Is the red object left, right, or center of the table? | The red object is in the center of the table. |
| object-object relation | Is the yellow object below the blue object? | No, the yellow object is not below the blue object. |
| plan feasibility | Is it possible to first grasp the blue object, then place it on the yellow object, and then grasp the yellow object? | No, this is not possible. |
| grasping | How to grasp the green object? | First grasp the orange object and place it on the table, then grasp the green object. |
| stacking | How to stack the white object on top of the red object? | First grasp the green object and place it on the table, then grasp the white object and place it on the red object. |

Answers come from the exact :class:`~lecturelib.world.symbolic.Scene` and from a breadth-first
search over stack configurations, so every plan is a shortest one. Ties are broken canonically (the
table before any block, blocks in colour order), so each question has exactly one answer. Each plan
step is also an instruction that the LAVA policy of lesson 07 was trained on.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from .core import COLOURS, WorldState
from .language import Instruction
from .symbolic import REGIONS, Scene, scene_of
from .symbolic import above as _above, below as _below, left_of as _left_of, on as _on, right_of as _right_of

__all__ = ["Move", "moves", "apply_move", "plan", "plan_text", "plan_instructions", "feasible_plan",
           "QA", "QUESTION_KINDS", "ask", "generate_questions", "RELATIONS"]

TABLE = -1
QUESTION_KINDS = ("object_table", "object_object", "plan_feasibility", "grasping", "stacking")
RELATIONS = ("below", "above", "on", "left of", "right of")


@dataclass(frozen=True)
class Move:
    """Grasp ``obj`` and place it on ``dest`` (a block, or ``TABLE`` = -1); ``dest=None``: grasp only."""

    obj: int
    dest: int | None = TABLE

    def text(self) -> str:
        grasp = f"grasp the {COLOURS[self.obj]} object"
        if self.dest is None:
            return grasp
        where = "the table" if self.dest == TABLE else f"the {COLOURS[self.dest]} object"
        return f"{grasp} and place it on {where}"


Stacks = tuple[tuple[int, ...], ...]


def _normal(stacks) -> Stacks:
    return tuple(sorted(tuple(s) for s in stacks if s))


def moves(stacks: Stacks) -> list[Move]:
    """Every legal move, canonical order: objects by colour, the table before blocks, blocks by colour."""
    tops = sorted(s[-1] for s in stacks if s)
    out = []
    for x in tops:
        on_table = any(len(s) == 1 and s[0] == x for s in stacks)
        if not on_table:
            out.append(Move(x, TABLE))
        out.extend(Move(x, y) for y in tops if y != x)
    return out


def apply_move(stacks: Stacks, move: Move) -> Stacks:
    """The stacks after ``move`` (which must be legal)."""
    new = [list(s) for s in stacks]
    src = next(s for s in new if s and s[-1] == move.obj)
    src.pop()
    if move.dest == TABLE:
        new.append([move.obj])
    else:
        next(s for s in new if s and s[-1] == move.dest).append(move.obj)
    return _normal(new)


def _goal(kind: str, a: int, b: int):
    if kind == "grasping":
        return lambda st: any(s and s[-1] == a for s in st)
    if kind == "stacking":
        return lambda st: any(a in s and s.index(a) > 0 and s[s.index(a) - 1] == b for s in st)
    raise ValueError(f"plans exist for 'grasping' and 'stacking', not {kind!r}")


def plan(scene: Scene | Stacks, kind: str, a: int, b: int = -1, max_depth: int = 8) -> list[Move] | None:
    """A shortest plan for ``grasping`` block ``a`` or ``stacking`` ``a`` on ``b`` (None if none exists).

    Grasping plans end with ``Move(a, None)``; stacking plans end with ``a`` placed on ``b``.
    """
    stacks = _normal(scene.stacks if isinstance(scene, Scene) else scene)
    blocks = {k for s in stacks for k in s}
    if a not in blocks or (kind == "stacking" and (b not in blocks or b == a)):
        raise ValueError(f"blocks {a}, {b} are not valid for a {kind!r} plan in this scene")
    if isinstance(scene, Scene) and scene.held >= 0:
        raise ValueError("plans start with an empty gripper")
    goal = _goal(kind, a, b)
    frontier, parent = deque([stacks]), {stacks: None}
    while frontier:
        st = frontier.popleft()
        if goal(st):
            path = []
            while parent[st] is not None:
                st, mv = parent[st]
                path.append(mv)
            path.reverse()
            return path + ([Move(a, None)] if kind == "grasping" else [])
        depth = 0
        node = st
        while parent[node] is not None:
            node = parent[node][0]
            depth += 1
        if depth >= max_depth:
            continue
        for mv in moves(st):
            nxt = apply_move(st, mv)
            if nxt not in parent:
                parent[nxt] = (st, mv)
                frontier.append(nxt)
    return None


def plan_text(steps: list[Move]) -> str:
    """"First ..., then ..." (or a single imperative for a one-step plan), as in PaLM-E's tables."""
    clauses = [m.text() for m in steps]
    if len(clauses) == 1:
        return clauses[0][0].upper() + clauses[0][1:] + "."
    return "First " + ", then ".join(clauses) + "."


def plan_instructions(steps: list[Move]) -> list[Instruction]:
    """The plan as instructions for a language-conditioned policy (families pick / table / stack)."""
    out = []
    for m in steps:
        if m.dest is None:
            out.append(Instruction("pick", m.obj, -1, m.text()))
        elif m.dest == TABLE:
            out.append(Instruction("table", m.obj, -1, m.text()))
        else:
            out.append(Instruction("stack", m.obj, m.dest, m.text()))
    return out


def feasible_plan(scene: Scene | Stacks, steps: list[tuple[str, int]]) -> bool:
    """Can the primitive ``steps`` be executed in order from ``scene`` with an empty gripper?

    Steps are ``("grasp", X)``, ``("place", Y)`` (on block Y) or ``("place", TABLE)``: grasping needs
    an empty gripper and a clear block, placing needs a held block and a clear target.
    """
    stacks = [list(s) for s in (scene.stacks if isinstance(scene, Scene) else scene)]
    holding = scene.held if isinstance(scene, Scene) else -1
    for op, k in steps:
        if op == "grasp":
            src = next((s for s in stacks if s and s[-1] == k), None)
            if holding >= 0 or src is None:
                return False
            src.pop()
            holding = k
        elif op == "place":
            if holding < 0:
                return False
            if k == TABLE:
                stacks.append([holding])
            else:
                dst = next((s for s in stacks if s and s[-1] == k), None)
                if dst is None or k == holding:
                    return False
                dst.append(holding)
            holding = -1
        else:
            raise ValueError(f"plan steps are ('grasp', X) or ('place', Y), got {op!r}")
        stacks = [s for s in stacks if s]
    return True


@dataclass(frozen=True)
class QA:
    """One question about a scene with its exact answer."""

    kind: str
    question: str
    answer: str


_REGION_PHRASE = {0: "on the left side of the table", 1: "in the center of the table", 2: "on the right side of the table"}
_REL_FN = {"below": _below, "above": _above, "on": _on, "left of": _left_of, "right of": _right_of}
_REL_Q = {"below": "below", "above": "above", "on": "on", "left of": "to the left of", "right of": "to the right of"}


def ask(state: WorldState, kind: str, rng: np.random.Generator, b: int = 0) -> QA | None:
    """A random question of ``kind`` about world ``b`` and its answer (None if the scene allows none)."""
    if kind not in QUESTION_KINDS:
        raise ValueError(f"unknown question kind {kind!r}; expected one of {QUESTION_KINDS}")
    sub = state.index(b)
    scene = scene_of(sub)
    if scene.held >= 0:
        return None
    blocks = list(scene.blocks)
    name = {k: COLOURS[k] for k in blocks}
    if kind == "object_table":
        k = blocks[rng.integers(len(blocks))]
        r = dict(scene.regions)[k]
        return QA(kind, f"Is the {name[k]} object left, right, or center of the table?",
                  f"The {name[k]} object is {_REGION_PHRASE[r]}.")
    if kind == "object_object":
        rel = RELATIONS[rng.integers(len(RELATIONS))]
        want = bool(rng.integers(2))          # balance yes and no where the scene allows
        pairs = [(x, y) for x in blocks for y in blocks if x != y]
        truth = {p: bool(_REL_FN[rel](sub, *p)[0]) for p in pairs}
        pool = [p for p in pairs if truth[p] == want] or pairs
        x, y = pool[rng.integers(len(pool))]
        q = f"Is the {name[x]} object {_REL_Q[rel]} the {name[y]} object?"
        if truth[(x, y)]:
            return QA(kind, q, f"Yes, the {name[x]} object is {_REL_Q[rel]} the {name[y]} object.")
        return QA(kind, q, f"No, the {name[x]} object is not {_REL_Q[rel]} the {name[y]} object.")
    if kind == "plan_feasibility":
        want = bool(rng.integers(2))
        for _ in range(50):
            steps = _random_steps(blocks, rng)
            if feasible_plan(scene, steps) == want:
                break
        ok = feasible_plan(scene, steps)
        q = "Is it possible to " + _steps_phrase(steps) + "?"
        return QA(kind, q, "Yes, this is possible." if ok else "No, this is not possible.")
    if kind == "grasping":
        # prefer blocks that need unstacking first (the interesting questions)
        buried = [k for k in blocks if not scene.is_clear(k)]
        pool = buried if buried and rng.random() < 0.75 else blocks
        k = pool[rng.integers(len(pool))]
        return QA(kind, f"How to grasp the {name[k]} object?", plan_text(plan(scene, "grasping", k)))
    # stacking
    pairs = [(x, y) for x in blocks for y in blocks if x != y and scene.support(x) != y]
    if not pairs:
        return None
    x, y = pairs[rng.integers(len(pairs))]
    return QA(kind, f"How to stack the {name[x]} object on top of the {name[y]} object?",
              plan_text(plan(scene, "stacking", x, y)))


def _random_steps(blocks: list[int], rng: np.random.Generator) -> list[tuple[str, int]]:
    n = int(rng.integers(2, 5))
    steps = []
    for i in range(n):
        if i % 2 == 0:
            steps.append(("grasp", int(blocks[rng.integers(len(blocks))])))
        else:
            dest = int(rng.integers(-1, len(blocks)))
            steps.append(("place", TABLE if dest < 0 else int(blocks[dest])))
    return steps


def _steps_phrase(steps) -> str:
    parts = []
    for op, k in steps:
        if op == "grasp":
            parts.append(f"grasp the {COLOURS[k]} object")
        else:
            parts.append("place it on the table" if k == TABLE else f"place it on the {COLOURS[k]} object")
    if len(parts) == 1:
        return parts[0]
    head = "first " + parts[0]
    middle = [", then " + p for p in parts[1:-1]]
    return head + "".join(middle) + ", and then " + parts[-1]


def generate_questions(state: WorldState, rng: np.random.Generator, kinds=QUESTION_KINDS) -> list[QA]:
    """One question per world of ``state`` (kinds drawn uniformly from ``kinds``); skips impossible ones."""
    out = []
    for b in range(state.batch_size):
        qa = ask(state, kinds[rng.integers(len(kinds))], rng, b)
        if qa is not None:
            out.append(qa)
    return out
