"""Widget of lesson 01: how many examples per task, how much sharing — retrain and look."""
from __future__ import annotations

import torch

__all__ = ["sharing_explorer", "run_sharing"]


def run_sharing(n_per_task: int, strength: float, *, steps: int = 300, tasks=None, seed: int = 0, builders=None):
    """Train single-task, hard-sharing and soft-sharing (λ = ``strength``) models on ``n_per_task``
    examples of each task; returns ``(test MSE by model, trained models, training data)``."""
    from ..multitask import (HardSharingModel, SingleTaskModels, SoftSharingModel, TrainConfig, WaveTasks,
                             evaluate, train_multitask)

    if n_per_task < 1:
        raise ValueError(f"n_per_task must be >= 1, got {n_per_task}")
    if strength < 0:
        raise ValueError(f"the sharing strength λ must be >= 0, got {strength}")
    tasks = tasks or WaveTasks()
    n_tasks = tasks.config.n_tasks
    builders = builders or {
        "single task": lambda: SingleTaskModels(n_tasks, hidden=32),
        "hard sharing": lambda: HardSharingModel(n_tasks, hidden=32),
        f"soft sharing (λ={strength:.3g})": lambda: SoftSharingModel(n_tasks, hidden=32, strength=strength),
    }
    data = tasks.sample(n_per_task, generator=torch.Generator().manual_seed(seed + n_per_task))
    errors, models = {}, {}
    for name, build in builders.items():
        torch.manual_seed(seed)
        model = build()
        train_multitask(model, data, TrainConfig(steps=steps, lr=1e-2, seed=seed), device="cpu")
        errors[name], models[name] = evaluate(model, tasks.test), model
    return errors, models, data


def sharing_explorer(tasks=None, steps: int = 300):
    """Sliders for examples per task and the soft-sharing strength λ, a button that retrains (a few
    seconds), a plot of the fits on task 1 and a bar chart of test errors.

    Returns the widget; ``widget.examples`` and ``widget.strength`` are the sliders, ``widget.run()``
    presses "Train", and ``widget.result`` then holds ``{model name: test MSE}``."""
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    from .. import plotting
    from ..multitask import WaveTasks

    tasks = tasks or WaveTasks()
    examples = widgets.SelectionSlider(options=[2, 4, 8, 16, 32, 64], value=4, description="examples / task",
                                       style={"description_width": "initial"}, continuous_update=False)
    strength = widgets.FloatLogSlider(value=1e-2, base=10, min=-4, max=1, step=0.25, description="sharing λ",
                                      style={"description_width": "initial"}, continuous_update=False)
    button = widgets.Button(description="Train", button_style="primary")
    out = widgets.Output()
    box = widgets.VBox([widgets.HBox([examples, strength, button]), out])
    box.examples, box.strength, box.button, box.result = examples, strength, button, None

    def run(*_):
        errors, models, data = run_sharing(examples.value, strength.value, steps=steps, tasks=tasks)
        box.result = errors
        with out:
            out.clear_output(wait=True)
            fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.6))
            x = torch.linspace(-tasks.config.x_range, tasks.config.x_range, 200).unsqueeze(-1)
            task0 = torch.zeros(len(x), dtype=torch.long)
            series = {"truth": (x[:, 0], tasks.f(x, task0)[:, 0])}
            with torch.no_grad():
                for name, m in models.items():
                    series[name] = (x[:, 0], m(x, task0)[:, 0])
            plotting.curves(series, xlabel="x", ylabel="y", title="task 1: fits", ax=ax1, marker=None)
            mask = data.task == 0
            ax1.scatter(data.x[mask, 0], data.y[mask, 0], color="k", zorder=5, s=18, label="training examples")
            ax1.legend(fontsize=7)
            plotting.bar_table(errors, ylabel="test MSE (all tasks)", title=f"{examples.value} examples per task",
                               ax=ax2, fmt="{:.3f}")
            plt.show()

    button.on_click(run)
    box.run = run
    return box
