"""The task mixture (PaLM-E, Driess et al. 2023, section 5): embodied tasks with exact answers and plain text.

The world's generators (:func:`lecturelib.world.planning.ask`) ask the slide's five kinds of question
about a scene, with answers from the symbolic state and a search-based planner:

- visual question answering (:data:`VQA_FAMILIES`): object-table relation, object-object relation,
  plan feasibility;
- planning (:data:`PLANNING_FAMILIES`): grasping and stacking plans, whose steps are instructions
  the LAVA policy of lesson 07 follows.

:func:`make_examples` turns fresh scenes into multimodal sentences for one input modality;
:func:`language_examples` adds pydoc text so that the LM keeps its language; :func:`mixture` puts
them together with the weights of a :class:`Mixture`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..transformer.data import load_pydoc_corpus
from ..transformer.tokenizers import word_split
from ..world.core import WorldConfig, WorldState, sample_scenes
from ..world.planning import QUESTION_KINDS, ask
from ..world.render import render
from .encoders import state_features
from .sentences import MODALITIES, Example, make_prompt

__all__ = ["TASK_FAMILIES", "VQA_FAMILIES", "PLANNING_FAMILIES", "observe", "make_examples",
           "language_examples", "Mixture", "mixture"]

TASK_FAMILIES = QUESTION_KINDS                                   # the slide's five tables
VQA_FAMILIES = ("object_table", "object_object", "plan_feasibility")
PLANNING_FAMILIES = ("grasping", "stacking")


def observe(state: WorldState, modality: str, image_size: int = 56) -> np.ndarray:
    """What the encoders of ``modality`` see for every world of ``state``: frames, or exact cell grids."""
    if modality not in MODALITIES:
        raise ValueError(f"modality must be one of {MODALITIES}, got {modality!r}")
    return state_features(state) if modality == "state" else render(state, image_size)


def make_examples(n_scenes: int, kinds: Sequence[str] = TASK_FAMILIES, seed: int = 0, modality: str = "objects",
                  per_scene: int | dict = 1, image_size: int = 56, world: WorldConfig | None = None,
                  progress: bool = False) -> list[Example]:
    """Examples from the world's question generators on ``n_scenes`` fresh scenes, exact answers included.

    Each scene gets ``per_scene`` questions of every kind in ``kinds`` (a dict: how many of each kind;
    fewer where the scene allows none).
    ``modality``: "image" (``<img>``: the whole frame as patch tokens), "objects" (entity referrals to
    object tokens computed from the frame) or "state" (object tokens from the exact state).
    """
    unknown = set(kinds) - set(TASK_FAMILIES)
    if unknown:
        raise ValueError(f"unknown task families {sorted(unknown)}; expected some of {TASK_FAMILIES}")
    counts = per_scene if isinstance(per_scene, dict) else {k: per_scene for k in kinds}
    rng = np.random.default_rng(seed)
    scenes = sample_scenes(n_scenes, rng, world)
    obs = observe(scenes, modality, image_size)
    out = []
    it = range(n_scenes)
    if progress:
        from tqdm.auto import tqdm
        it = tqdm(it, desc="questions", leave=False)
    for b in it:
        for kind in kinds:
            for _ in range(counts.get(kind, 0)):
                qa = ask(scenes, kind, rng, b)
                if qa is not None:
                    prompt, objects = make_prompt(qa.question, modality)
                    out.append(Example(prompt, qa.answer, kind, obs[b], objects))
    return out


def language_examples(n: int, split: str = "train", seed: int = 0, max_tokens: int = 40) -> list[Example]:
    """``n`` passages of pydoc text, ``max_tokens`` word tokens each (language-only, trained on every token)."""
    tokens = word_split(load_pydoc_corpus(split))
    rng = np.random.default_rng(seed)
    starts = rng.integers(0, len(tokens) - max_tokens, n)
    return [Example("", " ".join(tokens[s:s + max_tokens]), "language") for s in starts]


@dataclass
class Mixture:
    """How many questions of each family per scene, and the share of plain text in the whole mixture.

    PaLM-E tunes its mixture's weights; ours asks some families more than once per scene (fresh
    questions on the same scene: a different block, relation or plan).
    """

    per_scene: tuple = (("object_table", 1), ("object_object", 1), ("plan_feasibility", 1),
                        ("grasping", 1), ("stacking", 1))
    language: float = 0.1          # fraction of all sentences that are pydoc text

    def __post_init__(self):
        self.per_scene = tuple((k, int(n)) for k, n in (self.per_scene.items() if isinstance(self.per_scene, dict)
                                                        else self.per_scene))
        unknown = {k for k, _ in self.per_scene} - set(TASK_FAMILIES)
        if unknown or any(n < 0 for _, n in self.per_scene):
            raise ValueError(f"per_scene needs families among {TASK_FAMILIES} with counts >= 0, got {self.per_scene}")
        if not 0.0 <= self.language < 1.0:
            raise ValueError(f"language must be in [0, 1), got {self.language}")


def mixture(n_scenes: int, mix: Mixture | None = None, seed: int = 0, modality: str = "objects",
            image_size: int = 56) -> list[Example]:
    """The training mixture on ``n_scenes`` fresh scenes: each family's questions, then pydoc text."""
    mix = mix or Mixture()
    counts = dict(mix.per_scene)
    out = make_examples(n_scenes, tuple(counts), seed, modality, per_scene=counts, image_size=image_size)
    n_text = int(round(mix.language * len(out) / (1.0 - mix.language)))
    return out + language_examples(n_text, seed=seed)
