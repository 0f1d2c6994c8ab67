"""The student's LAVA policy as a course artifact: lesson 07 saves it, lesson 08 uses it.

Lesson 07 ends by saving the policy it trained, with its measured figures and the recipe that made it,
to ``<course>/.course/artifacts/lava_policy.pt`` (gitignored). Lesson 08 closes the loop with that
policy when the file is there and valid (its format version, image size and text encoder match what
lesson 08 needs); otherwise, as when the autograder runs lesson 08 on its own, it trains one with
lesson 07's recipe (:data:`lecturelib.lava.training.LESSON_RECIPE`) inside its own budget.
"""
from __future__ import annotations

import os
import time
from dataclasses import asdict
from pathlib import Path

from .policy import LavaPolicy, PolicyFileError, load_policy, save_policy
from .training import LESSON_RECIPE, LavaTrainConfig, train_recipe

__all__ = ["artifact_path", "save_lesson_policy", "check_lesson_policy", "lesson_policy"]

ARTIFACT_NAME = "lava_policy.pt"
IMAGE_SIZE = 64            # what lesson 08's worlds render for the policy


def artifact_path(start: Path | None = None) -> Path:
    """``<course root>/.course/artifacts/lava_policy.pt`` (``$COURSE_ARTIFACTS`` overrides the folder).

    The course root is the first folder upwards from ``start`` (the working directory) that holds
    ``nbgrader_config.py``; outside a course (e.g. a grader's temporary copy) the working directory.
    """
    folder = os.environ.get("COURSE_ARTIFACTS")
    if folder:
        return Path(folder).expanduser() / ARTIFACT_NAME
    here = (start or Path.cwd()).resolve()
    for root in (here, *here.parents):
        if (root / "nbgrader_config.py").is_file():
            return root / ".course" / "artifacts" / ARTIFACT_NAME
    return here / ".course" / "artifacts" / ARTIFACT_NAME


def save_lesson_policy(policy: LavaPolicy, figures: dict, recipe: LavaTrainConfig | dict,
                       path: Path | None = None) -> Path:
    """Save lesson 07's policy with the figures measured in that run and the recipe that made it.

    An existing file is kept as ``lava_policy.previous.pt`` first, so no run overwrites the last one.
    """
    path = Path(path) if path is not None else artifact_path()
    if path.exists():
        path.replace(path.with_name(path.stem + ".previous" + path.suffix))
    recipe = asdict(recipe) if isinstance(recipe, LavaTrainConfig) else dict(recipe)
    return save_policy(policy, path, figures=figures, recipe=recipe, saved=time.strftime("%Y-%m-%d %H:%M"))


def check_lesson_policy(path: Path, device=None) -> LavaPolicy:
    """Load ``path`` and check it can execute lesson 08's plans; :class:`PolicyFileError` says why not."""
    policy = load_policy(path, device)
    if policy.model.config.image_size != IMAGE_SIZE:
        raise PolicyFileError(f"{path} sees {policy.model.config.image_size}-pixel images; lesson 08 renders "
                              f"{IMAGE_SIZE}")
    if policy.encoder.name != LESSON_RECIPE.encoder:
        raise PolicyFileError(f"{path} uses the {policy.encoder.name!r} text encoder; lesson 08 needs "
                              f"{LESSON_RECIPE.encoder!r}, which understands sentences it never saw")
    return policy


def lesson_policy(device=None, seed: int = 0, path: Path | None = None, progress: bool = True,
                  log=print, recipe: LavaTrainConfig = LESSON_RECIPE) -> tuple[LavaPolicy, dict]:
    """The LAVA policy lesson 08 executes its plans with, and where it came from.

    Returns ``(policy, info)``; ``info["source"]`` says in words which policy it is, ``info["figures"]``
    what was measured for it (lesson 07's run, or nothing yet for a policy trained just now). Without a
    usable file it trains with ``recipe`` (lesson 07's) and ``seed``.
    """
    path = Path(path) if path is not None else artifact_path()
    try:
        policy = check_lesson_policy(path, device)
        meta = policy.metadata
        info = {"source": f"your lesson-07 policy ({path}, saved {meta.get('saved', '?')})",
                "figures": meta.get("figures", {}), "recipe": meta.get("recipe", {}), "path": str(path)}
    except PolicyFileError as why:
        if log:
            log(f"no usable lesson-07 policy: {why}. Training one with lesson 07's recipe.")
        t0 = time.perf_counter()
        recipe = LavaTrainConfig(**{**asdict(recipe), "seed": seed})
        policy, _, seconds = train_recipe(recipe, device=device, progress=progress, log=log)
        info = {"source": f"trained now with lesson 07's recipe ({time.perf_counter() - t0:.0f} s)",
                "figures": {}, "recipe": asdict(recipe), "seconds": seconds, "path": None}
    if log:
        log(f"LAVA executor: {info['source']}")
    return policy.to(device or "cpu"), info
