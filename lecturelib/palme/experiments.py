"""The experiments of lesson 08 that need their own models, each one function of the pretrained LM and
a :class:`~lecturelib.palme.recipe.Recipe`, so that :class:`~lecturelib.palme.side.SideJobs` can run them
on the second core while the main model trains (and :func:`~lecturelib.palme.recipe.run` inline):

- :func:`frozen_lm_experiment`: PaLM-E's first remedy against forgetting, a frozen LM (only the encoders
  and projections learn); its held-out text loss must not move;
- :func:`transfer_experiment`: positive transfer, a few stacking examples alone vs inside the mixture;
- :func:`lava_executor`: the LAVA policy that executes the plans (lesson 07's, or trained with its recipe).
"""
from __future__ import annotations

import copy
from dataclasses import replace
from pathlib import Path

from .decoding import evaluate
from .encoders import pretrain_object_encoder
from .language_model import language_loss, text_ids
from .model import PaLME, PaLMEConfig
from .tasks import make_examples, mixture
from .training import train_palme

__all__ = ["frozen_lm_experiment", "transfer_data", "TRANSFER_ARMS", "transfer_experiment", "lava_executor"]


def frozen_lm_experiment(lm, tokenizer, recipe, device=None) -> dict:
    """Train PaLM-E with the LM frozen for ``recipe.frozen_steps`` on the recipe's mixture.

    Returns ``{"accuracy": {family: exact match}, "language_after": held-out text loss, "steps": ...}``.
    """
    from .. import seed_everything

    seed = recipe.seed
    seed_everything(seed)
    train = mixture(recipe.scenes, recipe.mixture, seed=seed + 1, modality=recipe.modality)
    test = make_examples(recipe.test_scenes, seed=seed + 100, modality=recipe.modality)
    model = PaLME(copy.deepcopy(lm), tokenizer, PaLMEConfig(freeze_lm=True)).to(device or "cpu")
    pretrain_object_encoder(model, recipe.perception_scenes, recipe.perception_steps, seed=seed, device=device)
    train_palme(model, train, replace(recipe.train, steps=recipe.frozen_steps, seed=seed, progress=False), device=device)
    return {"accuracy": evaluate(model, test, device=device), "steps": recipe.frozen_steps,
            "language_after": language_loss(model, text_ids(tokenizer, "val", seed))}


def transfer_data(pool, test, n_few: int):
    """Positive transfer's two training sets and its test: ``n_few`` stacking examples alone, and the same
    inside the other four families (repeated to be half of that mixture: as many stacking steps as alone)."""
    few = [e for e in pool if e.kind == "stacking"][:n_few]
    others = [e for e in pool if e.kind != "stacking"]
    return {"stacking only": few, "inside the mixture": few * max(1, len(others) // max(1, len(few))) + others}, \
        [e for e in test if e.kind == "stacking"]


TRANSFER_ARMS = ("stacking only", "inside the mixture")


def transfer_experiment(lm, tokenizer, recipe, device=None, arms=TRANSFER_ARMS) -> dict:
    """Stacking exact match after ``recipe.transfer_steps`` steps on ``recipe.transfer_examples`` stacking
    examples alone and inside the mixture of the other families (exact state: the question is what the
    *language model* transfers, not perception). Returns ``{"stacking only": ..., "inside the mixture": ...}``.

    ``arms`` picks which of the two models to train (each arm is independent, so two processes can share them).
    """
    from .. import seed_everything

    unknown = set(arms) - set(TRANSFER_ARMS)
    if unknown or not arms:
        raise ValueError(f"arms must be some of {TRANSFER_ARMS}, got {tuple(arms)}")
    seed = recipe.seed
    pool = make_examples(recipe.scenes, seed=seed + 1, modality="state")
    sets, test = transfer_data(pool, make_examples(recipe.test_scenes, seed=seed + 100, modality="state"),
                               recipe.transfer_examples)
    out = {}
    for name, data in ((name, sets[name]) for name in TRANSFER_ARMS if name in arms):
        seed_everything(seed)
        model = PaLME(copy.deepcopy(lm), tokenizer).to(device or "cpu")
        train_palme(model, data, replace(recipe.train, steps=recipe.transfer_steps, seed=seed, progress=False),
                    device=device)
        out[name] = evaluate(model, test, device=device)["all"]
    return out


def lava_executor(path, seed: int = 0, device=None) -> dict:
    """The LAVA policy of :func:`lecturelib.lava.lesson_policy` (the student's lesson-07 policy when its
    file is valid, else one trained now with lesson 07's recipe), saved to ``path`` for the caller to
    load; returns its ``info`` (``info["source"]`` says which policy it is)."""
    from ..experiment import small_budget
    from ..lava import LESSON_RECIPE as LAVA_RECIPE, lesson_policy, save_policy

    recipe = LAVA_RECIPE
    if small_budget():   # the test suite's blank-lesson run, where nothing is asserted: a few steps only
        recipe = replace(LAVA_RECIPE, streams=16, play_steps=60, pretrain_steps=2, steps=3)
    policy, info = lesson_policy(device=device, seed=seed, progress=False, log=None, recipe=recipe)
    save_policy(policy, Path(path), **getattr(policy, "metadata", {}))
    return info
