"""lecturelib.widgets.multitask: the examples-per-task / sharing-strength explorer."""
import matplotlib

matplotlib.use("Agg")

import pytest
import torch

from lecturelib import multitask as mt
from lecturelib.widgets.multitask import run_sharing, sharing_explorer


@pytest.fixture(scope="module")
def small_tasks():
    return mt.WaveTasks(mt.WaveTasksConfig(n_tasks=4, n_test=20))


def test_explorer_retrains_with_the_chosen_settings(small_tasks):
    box = sharing_explorer(small_tasks, steps=15)
    assert box.result is None, "nothing is trained before the button is pressed"
    box.examples.value = 8
    box.strength.value = 0.1
    box.button.click()
    assert set(box.result) == {"single task", "hard sharing", "soft sharing (λ=0.1)"}
    expected, _, data = run_sharing(8, 0.1, steps=15, tasks=small_tasks)
    assert len(data) == 8 * 4
    for name, value in expected.items():
        assert box.result[name] == pytest.approx(value, rel=1e-5), name


def test_sharing_strength_changes_only_soft_sharing(small_tasks):
    weak, weak_models, _ = run_sharing(4, 1e-4, steps=15, tasks=small_tasks)
    strong, strong_models, _ = run_sharing(4, 10.0, steps=15, tasks=small_tasks)
    assert weak["single task"] == pytest.approx(strong["single task"])
    assert weak["hard sharing"] == pytest.approx(strong["hard sharing"])
    assert weak["soft sharing (λ=0.0001)"] != pytest.approx(strong["soft sharing (λ=10)"])

    def spread(model):
        return sum(float(((p.detach() - p.detach().mean(0)) ** 2).sum()) for p in model.nets.parameters())

    assert spread(strong_models["soft sharing (λ=10)"]) < 0.2 * spread(weak_models["soft sharing (λ=0.0001)"]), \
        "a strong penalty keeps the task networks together"


def test_bad_settings_are_refused(small_tasks):
    with pytest.raises(ValueError):
        run_sharing(0, 0.1, tasks=small_tasks)
    with pytest.raises(ValueError):
        run_sharing(4, -1.0, tasks=small_tasks)
