"""Widgets of lesson 00: a learning-rate explorer for gradient descent on a line."""
from __future__ import annotations

import numpy as np


def gradient_descent_line(x, y, lr: float, steps: int):
    """Fit y ≈ w·x + b by plain gradient descent on the mean squared error; returns (w, b, losses)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    w = b = 0.0
    losses = []
    for _ in range(steps):
        err = w * x + b - y
        loss = float(np.mean(err**2))
        if loss > 1e12:   # diverged: stop before the numbers overflow
            losses.append(float("inf"))
            break
        losses.append(loss)
        w -= lr * 2 * np.mean(err * x)
        b -= lr * 2 * np.mean(err)
    return w, b, losses


def learning_rate_explorer(x, y, steps: int = 60):
    """A slider for the learning rate; the plot shows the loss curve and the fitted line.

    Returns the widget; ``widget.children[0]`` is the slider and ``widget.result`` holds the last
    (w, b, losses) so that what is drawn can be checked.
    """
    import ipywidgets as widgets
    import matplotlib.pyplot as plt
    from IPython.display import display

    from .. import plotting

    slider = widgets.FloatLogSlider(value=0.05, base=10, min=-3, max=0, step=0.1, description="learning rate",
                                    style={"description_width": "initial"}, continuous_update=False)
    out = widgets.Output()
    box = widgets.VBox([slider, out])

    def redraw(*_):
        w, b, losses = gradient_descent_line(x, y, slider.value, steps)
        box.result = (w, b, losses)
        with out:
            out.clear_output(wait=True)
            fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.2))
            finite = [l if np.isfinite(l) else np.nan for l in losses]
            plotting.curves({"training loss": (range(len(finite)), finite)}, xlabel="step", ylabel="MSE",
                            title=f"lr = {slider.value:.3g}", logy=True, ax=ax1, marker=None)
            ax2.scatter(x, y, s=8, label="data")
            xs = np.linspace(np.min(x), np.max(x), 2)
            ax2.plot(xs, w * xs + b, color="C1", label=f"fit: {w:.2f}·x + {b:.2f}" if np.isfinite(w) else "diverged")
            ax2.set(title="fitted line", xlabel="x", ylabel="y")
            ax2.legend()
            plt.show()

    slider.observe(redraw, names="value")
    redraw()
    return box
