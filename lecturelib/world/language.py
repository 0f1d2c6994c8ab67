"""Instructions for the tabletop world: families, templated paraphrases, a held-out set of phrasings,
and a success checker for every family.

Interactive Language (Lynch et al. 2022) annotates play with free-form language and tests the policy
on phrasings nobody used for training. Here an instruction is ``(family, obj, arg)`` and many
paraphrases express it: synonyms for colours, verbs, nouns and relations, in several sentence shapes.
The sentence shapes (templates) are split once into a *training* set and a *held-out* set: every
held-out sentence uses a shape never seen in training and contains at least one word that no training
sentence contains, so a model can only follow it by knowing what the words mean. A third split,
``novel_words``, uses the held-out shapes with colour words and nouns that training never uses
("crimson", "brick"): a harder test, reported without a target.

Families (``arg`` in brackets):
- ``pick``   pick up X                 success: X is held with its bottom at least ``LIFT_HEIGHT`` high
- ``stack``  put X on Y   (Y)          success: X rests on Y (and the gripper has let go of X)
- ``table``  put X on the table        success: X rests on the table (X started on another block)
- ``region`` move X to a side (0/1/2)  success: X rests on the table in the left/center/right third
"""
from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

import numpy as np

from .core import BLOCK, COLOURS, LIFT_HEIGHT, WorldState, clear_mask, free_slots
from .symbolic import REGION_SLOTS, REGIONS, scene_of

__all__ = ["FAMILIES", "SPLITS", "Instruction", "COLOUR_WORDS", "NOUNS", "TEMPLATES", "phrasings",
           "instruction_text", "success", "success_many", "feasible", "sample_instructions", "vocabulary",
           "all_instruction_texts", "tokenize", "caption"]

FAMILIES = ("pick", "stack", "table", "region")
SPLITS = ("train", "heldout", "novel_words")

# Colour words, nouns and side names. The held-out split changes the sentence shapes and keeps the
# training words; ``novel_words`` also swaps in colour words and nouns that no training sentence uses.
COLOUR_WORDS = {
    "train": {"red": ["red", "scarlet"], "orange": ["orange", "tangerine"], "yellow": ["yellow", "lemon"],
              "green": ["green", "lime"], "blue": ["blue", "navy"], "white": ["white", "ivory"]},
    "novel_words": {"red": ["crimson"], "orange": ["amber"], "yellow": ["golden"],
                    "green": ["emerald"], "blue": ["azure"], "white": ["snowy"]},
}
COLOUR_WORDS["heldout"] = COLOUR_WORDS["train"]
NOUNS = {"train": ["block", "cube"], "heldout": ["block", "cube"], "novel_words": ["brick"]}
REGION_WORDS = {
    "train": {"left": ["left"], "center": ["center", "middle"], "right": ["right"]},
    "novel_words": {"left": ["left-hand"], "center": ["central"], "right": ["right-hand"]},
}
REGION_WORDS["heldout"] = REGION_WORDS["train"]

# {c}: the object's colour, {d}: the second object's colour, {n}: a noun, {r}: a side
TEMPLATES = {
    "train": {
        "pick": ["pick up the {c} {n}", "lift the {c} {n}", "grab the {c} {n} and lift it",
                 "grasp the {c} object", "raise the {c} {n}", "take the {c} {n}", "pick the {c} {n} up",
                 "lift up the {c} {n}"],
        "stack": ["put the {c} {n} on the {d} {n}", "place the {c} {n} on top of the {d} {n}",
                  "stack the {c} {n} on the {d} {n}", "move the {c} {n} onto the {d} {n}",
                  "grasp the {c} object and place it on the {d} object", "set the {c} {n} on the {d} {n}",
                  "put the {c} {n} on top of the {d} {n}", "stack the {c} {n} onto the {d} {n}"],
        "table": ["put the {c} {n} on the table", "place the {c} {n} on the table",
                  "take the {c} {n} off the stack", "unstack the {c} {n}",
                  "grasp the {c} object and place it on the table", "move the {c} {n} to the table",
                  "set the {c} {n} down on the table", "put the {c} {n} down"],
        "region": ["move the {c} {n} to the {r} of the table", "put the {c} {n} on the {r} side",
                   "place the {c} {n} at the {r} of the table", "slide the {c} {n} to the {r}",
                   "bring the {c} {n} to the {r} side of the table"],
    },
    "heldout": {
        "pick": ["could you hoist the {c} {n}", "elevate the {c} {n} into the air",
                 "i want the {c} {n} held up high"],
        "stack": ["pile the {c} {n} upon the {d} {n}", "the {c} {n} should sit atop the {d} {n}",
                  "deposit the {c} {n} over the {d} {n}"],
        "table": ["return the {c} {n} to the tabletop", "the {c} {n} belongs on the tabletop",
                  "lower the {c} {n} onto the bare tabletop"],
        "region": ["shift the {c} {n} toward the {r} edge", "the {c} {n} belongs at the {r} edge",
                   "relocate the {c} {n} over to the {r} part"],
    },
}
TEMPLATES["novel_words"] = TEMPLATES["heldout"]


@dataclass(frozen=True)
class Instruction:
    """What to do (``family``, ``obj``, ``arg``) and how it was said (``text``)."""

    family: str
    obj: int
    arg: int = -1
    text: str = ""

    def __post_init__(self):
        if self.family not in FAMILIES:
            raise ValueError(f"unknown instruction family {self.family!r}; expected one of {FAMILIES}")
        if not 0 <= self.obj < len(COLOURS):
            raise ValueError(f"obj must be a block index in [0, {len(COLOURS)}), got {self.obj}")
        if self.family == "stack" and not (0 <= self.arg < len(COLOURS) and self.arg != self.obj):
            raise ValueError(f"a stack instruction needs a second, different block as arg, got {self.arg}")
        if self.family == "region" and not 0 <= self.arg < len(REGIONS):
            raise ValueError(f"a region instruction needs arg in 0..2 (left/center/right), got {self.arg}")

    @property
    def task(self) -> tuple[str, int, int]:
        return (self.family, self.obj, self.arg)


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")


def phrasings(family: str, obj: int, arg: int = -1, split: str = "train") -> list[str]:
    """Every sentence of ``split`` that expresses the instruction ``(family, obj, arg)``."""
    _check_split(split)
    Instruction(family, obj, arg)       # validates the arguments
    words = COLOUR_WORDS[split]
    c_words = words[COLOURS[obj]]
    d_words = words[COLOURS[arg]] if family == "stack" else [""]
    r_words = REGION_WORDS[split][REGIONS[arg]] if family == "region" else [""]
    out = []
    for template in TEMPLATES[split][family]:
        for c, d, r, n in itertools.product(c_words, d_words, r_words, NOUNS[split]):
            out.append(template.format(c=c, d=d, r=r, n=n))
    return sorted(set(out))


def instruction_text(family: str, obj: int, arg: int = -1, rng: np.random.Generator | None = None,
                     split: str = "train") -> str:
    """One paraphrase of ``(family, obj, arg)`` from ``split``, drawn with ``rng`` (the first if None)."""
    options = phrasings(family, obj, arg, split)
    return options[0] if rng is None else options[rng.integers(len(options))]


def all_instruction_texts(split: str = "train", families=FAMILIES) -> list[str]:
    """Every sentence of ``split`` for the given families (the finite instruction set)."""
    texts = set()
    for family in families:
        for obj in range(len(COLOURS)):
            args = {"stack": [a for a in range(len(COLOURS)) if a != obj],
                    "region": list(range(len(REGIONS)))}.get(family, [-1])
            for arg in args:
                texts.update(phrasings(family, obj, arg, split))
    return sorted(texts)


def tokenize(text: str) -> list[str]:
    """Lower-case word tokens (hyphenated words stay whole)."""
    return re.findall(r"[a-z]+(?:-[a-z]+)*", text.lower())


def vocabulary(split: str = "train", families=FAMILIES) -> set[str]:
    """The words used by ``split``'s sentences."""
    return {w for t in all_instruction_texts(split, families) for w in tokenize(t)}


def success(instruction: Instruction | tuple, state: WorldState) -> np.ndarray:
    """(B,) bool: does each world of ``state`` satisfy the instruction (the family's checker)?"""
    family, obj, arg = instruction.task if isinstance(instruction, Instruction) else instruction
    if family not in FAMILIES:
        raise ValueError(f"unknown instruction family {family!r}; expected one of {FAMILIES}")
    b = state.batch_size
    return success_many(state, np.full(b, FAMILIES.index(family)), np.full(b, obj), np.full(b, arg))


def success_many(state: WorldState, family: np.ndarray, obj: np.ndarray, arg: np.ndarray) -> np.ndarray:
    """(B,) bool: world ``b`` satisfies instruction ``(FAMILIES[family[b]], obj[b], arg[b])``."""
    b = state.batch_size
    family, obj, arg = (np.asarray(v, int).reshape(b) for v in (family, obj, arg))
    k = state.present.shape[1]
    if np.any((obj < 0) | (obj >= k)):
        raise ValueError(f"obj must hold block indices in [0, {k})")
    rows = np.arange(b)
    resting = state.present & ~(np.arange(k)[None, :] == state.held[:, None])     # (B, K)
    xo, yo = state.x[rows, obj], state.y[rows, obj]
    a = np.clip(arg, 0, k - 1)
    xa, ya = state.x[rows, a], state.y[rows, a]
    rest_o = resting[rows, obj]
    picked = (state.held == obj) & (yo >= LIFT_HEIGHT - 1e-9)
    stacked = (rest_o & resting[rows, a] & (arg >= 0) & (arg != obj)
               & (np.abs(yo - ya - BLOCK) < 1e-6) & (np.abs(xo - xa) < BLOCK - 1e-6))
    tabled = rest_o & (np.abs(yo) < 1e-6)
    sided = tabled & (np.digitize(xo, [1 / 3, 2 / 3]) == arg)
    out = np.select([family == 0, family == 1, family == 2, family == 3], [picked, stacked, tabled, sided], False)
    if np.any((family < 0) | (family >= len(FAMILIES))):
        raise ValueError(f"family indices must be in [0, {len(FAMILIES)})")
    return out


def feasible(state: WorldState, b: int = 0, families=FAMILIES, max_height: int = 3) -> list[tuple[str, int, int]]:
    """Instructions that one pick-and-place can achieve in world ``b`` and that do not hold already.

    The gripper must be empty; the object must be clear; a stack target must be clear and its column
    lower than ``max_height`` blocks; ``table`` needs an object that sits on another block; ``region``
    needs a free table slot on that side.
    """
    unknown = set(families) - set(FAMILIES)
    if unknown:
        raise ValueError(f"unknown instruction families {sorted(unknown)}; expected some of {FAMILIES}")
    sub = state.index(b)
    if sub.held[0] >= 0:
        return []
    scene = scene_of(sub)
    clear = clear_mask(sub)[0]
    height = {k: len(s) for s in scene.stacks for k in s}
    out = []
    for obj in scene.blocks:
        if not clear[obj]:
            continue
        if "pick" in families:
            out.append(("pick", obj, -1))
        if "stack" in families:
            for tgt in scene.blocks:
                if tgt != obj and clear[tgt] and height[tgt] < max_height and scene.support(obj) != tgt:
                    out.append(("stack", obj, tgt))
        if "table" in families and scene.support(obj) != "table":
            out.append(("table", obj, -1))
        if "region" in families:
            free = free_slots(sub, np.array([obj]))[0]
            for r in range(len(REGIONS)):
                if free[REGION_SLOTS[r]].any() and not success(("region", obj, r), sub)[0]:
                    out.append(("region", obj, r))
    return out


def sample_instructions(state: WorldState, rng: np.random.Generator, families=FAMILIES,
                        split: str = "train") -> list[Instruction | None]:
    """One feasible instruction per world: a family uniformly, then its arguments, then a paraphrase.

    None where no instruction of ``families`` is feasible.
    """
    out = []
    for b in range(state.batch_size):
        options = feasible(state, b, families)
        fams = sorted({f for f, _, _ in options}, key=FAMILIES.index)
        if not fams:
            out.append(None)
            continue
        family = fams[rng.integers(len(fams))]
        choices = [o for o in options if o[0] == family]
        _, obj, arg = choices[rng.integers(len(choices))]
        out.append(Instruction(family, obj, arg, instruction_text(family, obj, arg, rng, split)))
    return out


def caption(state: WorldState, b: int = 0, rng: np.random.Generator | None = None) -> str:
    """A one-sentence description of world ``b``: every stack from left to right, for mini-CLIP."""
    scene = scene_of(state.index(b))
    parts = []
    for stack in scene.stacks:
        names = [COLOURS[k] for k in stack]
        if len(names) == 1:
            parts.append(f"{names[0]} alone")
        else:
            parts.append(" on ".join(reversed(names)))
    if scene.held >= 0:
        parts.append(f"{COLOURS[scene.held]} in the gripper")
    return ", then ".join(parts)
