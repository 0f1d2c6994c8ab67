"""The lesson-00 learning-rate widget: moving the slider refits and redraws."""
import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402

from lecturelib.widgets.basics import gradient_descent_line, learning_rate_explorer  # noqa: E402


def test_gradient_descent_line_converges_and_diverges():
    x = np.linspace(-1, 1, 30)
    y = 3 * x + 1
    w, b, losses = gradient_descent_line(x, y, lr=0.3, steps=300)
    assert abs(w - 3) < 1e-3 and abs(b - 1) < 1e-3 and losses[-1] < losses[0]
    *_, losses = gradient_descent_line(x, y, lr=3.0, steps=300)
    assert not np.isfinite(losses[-1]) or losses[-1] > losses[0]


def test_slider_change_recomputes_the_fit():
    x = np.linspace(-2, 2, 40)
    y = -x + 0.5
    box = learning_rate_explorer(x, y, steps=50)
    slider = box.children[0]
    first = box.result
    slider.value = 0.2
    second = box.result
    assert second[2][-1] < first[2][-1], "a larger (stable) learning rate fits better in 50 steps"
    assert abs(second[0] + 1) < 0.05
