"""lecturelib.widgets.meta: the pizza guess and the θ quiz, driven like a student would."""
import matplotlib

matplotlib.use("Agg")

from fractions import Fraction

import pytest
import torch

from lecturelib.meta import PIZZA_QUERY, PIZZA_SUPPORT, landscape
from lecturelib.widgets.meta import pizza_guess, rule_for_guess, theta_quiz


def _rule_value(coeffs, a, b):
    return sum(c * m for c, m in zip(coeffs, [1, a, b, a * a, a * b, b * b]))


def test_nothing_is_revealed_before_the_guess():
    box = pizza_guess()
    assert box.guess is None and box.message == ""
    box.text.value = "28"
    assert box.guess is None, "typing alone reveals nothing"
    box.submit()
    assert box.guess == 28 and "28" in box.message and box.text.disabled


def test_a_wrong_guess_gets_a_rule_that_fits_it():
    box = pizza_guess()
    box.text.value = "30"
    box.button.click()
    assert box.guess == 30 and "Most people answer 28" in box.message
    coeffs, text = rule_for_guess(30)
    assert all(_rule_value(coeffs, a, b) == y for a, b, y in PIZZA_SUPPORT)
    assert _rule_value(coeffs, *PIZZA_QUERY) == 30
    assert all(isinstance(c, Fraction) for c in coeffs) and text in box.message


def test_the_pizza_rule_for_28_is_a_times_b_plus_one():
    coeffs, text = rule_for_guess(28)
    assert coeffs == [0, 1, 0, 0, 1, 0] and text == "a + a·b"


def test_not_a_number_is_refused():
    box = pizza_guess()
    box.text.value = "twenty-eight"
    box.submit()
    assert box.guess is None and "not a number" in box.message and not box.text.disabled


@pytest.mark.parametrize("pick", ["A", "B", None])
def test_theta_quiz_reports_the_marker_with_the_lowest_loss_after_one_step(pick):
    box = theta_quiz()
    assert box.result is None
    box.choice.value = pick
    box.check()
    tasks, alpha = landscape.quiz_tasks(), landscape.QUIZ_INNER_LR
    markers = landscape.quiz_markers(tasks, alpha)
    after = {}
    for name, theta in markers.items():        # independent: one explicit autograd step per task
        total = 0.0
        for t in tasks:
            th = theta.clone().requires_grad_(True)
            (g,) = torch.autograd.grad(t.loss(th), th)
            total += float(t.loss(theta - alpha * g))
        after[name] = total / len(tasks)
    assert box.result["chosen"] == pick
    assert box.result["best"] == min(after, key=after.get) == "B"
    for name in markers:
        assert box.result["table"][name]["after one step"] == pytest.approx(after[name])
