"""lecturelib.palme's recipe, side jobs and experiments: one source of the numbers, a worker process that
computes what the calling process would."""

import pytest
import torch

from lecturelib import palme
from lecturelib.palme.recipe import LESSON_RECIPE, LONG_RECIPE, Recipe
from lecturelib.palme.side import SideJobs


def test_train_main_defaults_are_the_long_recipe(capsys):
    with pytest.raises(SystemExit):
        palme.train_main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert f"default {LONG_RECIPE.train.steps}" in text and f"default {LONG_RECIPE.scenes}" in text
    assert LONG_RECIPE.train.steps > LESSON_RECIPE.train.steps and LONG_RECIPE.scenes > LESSON_RECIPE.scenes


def test_small_recipe_is_small_and_bad_modality_is_refused():
    small = LESSON_RECIPE.small()
    assert small.train.steps < 10 and small.scenes < 50 and small.mixture == LESSON_RECIPE.mixture
    with pytest.raises(ValueError, match="modality"):
        Recipe(modality="smell")


def _square(x):
    return x * x


def _fail():
    raise RuntimeError("this job fails")


@pytest.mark.parametrize("workers", [0, 1])
def test_side_jobs_compute_what_the_caller_would(workers):
    with SideJobs(workers) as side:
        job, bad = side.submit(_square, 7), side.submit(_fail)
        assert job.result(timeout=120) == 49
        with pytest.raises(RuntimeError, match="this job fails"):
            bad.result(timeout=120)


def test_transfer_experiment_in_a_worker_equals_inline():
    """A side job is the same computation: the same seed gives the same figures in a worker as inline."""
    tok = palme.build_tokenizer(400)
    recipe = LESSON_RECIPE.small()
    torch.manual_seed(0)
    lm = recipe.lm(tok)
    inline = palme.transfer_experiment(lm, tok, recipe)
    with SideJobs(1) as side:
        remote = side.submit(palme.transfer_experiment, lm, tok, recipe).result(timeout=300)
    assert inline == remote and set(inline) == {"stacking only", "inside the mixture"}


def test_transfer_arms_split_between_processes_equal_one_run():
    """Lesson 08 trains one arm of the transfer experiment in the notebook and the other on the second
    core: each arm alone gives the figure it gives in the full experiment; unknown arms are refused."""
    tok = palme.build_tokenizer(400)
    recipe = LESSON_RECIPE.small()
    torch.manual_seed(0)
    lm = recipe.lm(tok)
    both = palme.transfer_experiment(lm, tok, recipe)
    alone = palme.transfer_experiment(lm, tok, recipe, arms=["stacking only"])
    mixed = palme.transfer_experiment(lm, tok, recipe, arms=["inside the mixture"])
    assert {**alone, **mixed} == both and list(alone) == ["stacking only"]
    with pytest.raises(ValueError, match="arms must be some of"):
        palme.transfer_experiment(lm, tok, recipe, arms=["stacking alone"])
