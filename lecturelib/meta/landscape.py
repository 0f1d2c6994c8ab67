"""The quiz "Which marker is the best candidate for θ?" in two dimensions.

Three tasks with quadratic losses L_i(θ) = ½ (θ - c_i)ᵀ A_i (θ - c_i) on a 2-D parameter space.
Pretraining on all tasks at once (multi-task learning) minimises Σ_i L_i(θ). MAML (Finn et al. 2017)
minimises the loss *after* one adaptation step,

    Σ_i L_i(θ - α ∇L_i(θ)),

so it looks for the point from which one gradient step lands close to every task's optimum. For a
quadratic the step is θ - α A_i (θ - c_i), and the post-adaptation loss is again a quadratic with
curvature A'_i = (I - α A_i) A_i (I - α A_i): a direction in which a task is steep (α λ ≈ 1) is solved
by the one step from anywhere and stops mattering, so MAML's θ serves the directions that one step
cannot fix. Both optima have closed forms, θ* = (Σ_i B_i)⁻¹ Σ_i B_i c_i with B_i = A_i or A'_i.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["QuadraticTask", "quiz_tasks", "QUIZ_INNER_LR", "quiz_markers", "joint_optimum", "maml_optimum",
           "one_step", "grid_losses"]

QUIZ_INNER_LR = 0.5   # α of the quiz


@dataclass
class QuadraticTask:
    """L(θ) = ½ (θ - center)ᵀ curvature (θ - center); ``curvature`` symmetric positive definite (2, 2)."""

    center: torch.Tensor        # (2,)
    curvature: torch.Tensor     # (2, 2)
    name: str = ""

    def __post_init__(self):
        self.center = torch.as_tensor(self.center, dtype=torch.float64)
        self.curvature = torch.as_tensor(self.curvature, dtype=torch.float64)
        if self.center.shape != (2,) or self.curvature.shape != (2, 2):
            raise ValueError("center must have shape (2,) and curvature (2, 2)")
        if not torch.allclose(self.curvature, self.curvature.T):
            raise ValueError("curvature must be symmetric")

    def loss(self, theta: torch.Tensor) -> torch.Tensor:
        """theta (..., 2) -> loss (...); differentiable."""
        d = theta.to(self.center.dtype) - self.center
        return 0.5 * torch.einsum("...i,ij,...j->...", d, self.curvature, d)


def quiz_tasks() -> list[QuadraticTask]:
    """Three tasks: one steep along θ₁, one steep along θ₂, one round and shallow."""
    return [
        QuadraticTask([-1.5, 1.0], [[2.0, 0.0], [0.0, 0.2]], "task 1"),
        QuadraticTask([1.5, 1.0], [[0.2, 0.0], [0.0, 2.0]], "task 2"),
        QuadraticTask([0.0, -1.5], [[0.5, 0.0], [0.0, 0.5]], "task 3"),
    ]


def one_step(task: QuadraticTask, theta: torch.Tensor, inner_lr: float) -> torch.Tensor:
    """θ - α ∇L(θ) in closed form, θ (..., 2)."""
    d = theta.to(task.center.dtype) - task.center
    return theta - inner_lr * d @ task.curvature.T


def _weighted_optimum(curvatures, centers) -> torch.Tensor:
    total = sum(curvatures)
    return torch.linalg.solve(total, sum(B @ c for B, c in zip(curvatures, centers)))


def joint_optimum(tasks) -> torch.Tensor:
    """argmin_θ Σ_i L_i(θ): what training on all tasks together (no adaptation) finds."""
    return _weighted_optimum([t.curvature for t in tasks], [t.center for t in tasks])


def maml_optimum(tasks, inner_lr: float) -> torch.Tensor:
    """argmin_θ Σ_i L_i(θ - α ∇L_i(θ)), the MAML objective with one inner step."""
    eye = torch.eye(2, dtype=torch.float64)
    mods = [(eye - inner_lr * t.curvature) @ t.curvature @ (eye - inner_lr * t.curvature) for t in tasks]
    return _weighted_optimum(mods, [t.center for t in tasks])


def quiz_markers(tasks=None, inner_lr: float = QUIZ_INNER_LR) -> dict[str, torch.Tensor]:
    """The candidate markers of the quiz, by letter (which one is which is the quiz's question)."""
    tasks = tasks or quiz_tasks()
    centers = torch.stack([t.center for t in tasks])
    return {
        "A": joint_optimum(tasks),
        "B": maml_optimum(tasks, inner_lr),
        "C": centers.mean(0),
        "D": tasks[-1].center.clone(),
    }


def grid_losses(tasks, lim: float = 3.0, n: int = 121):
    """Each task's loss on an n×n grid over [-lim, lim]²: (xs (n,), ys (n,), [L_i (n, n)])."""
    xs = torch.linspace(-lim, lim, n, dtype=torch.float64)
    gx, gy = torch.meshgrid(xs, xs, indexing="xy")
    pts = torch.stack([gx, gy], dim=-1)                       # (n, n, 2)
    return xs, xs, [t.loss(pts) for t in tasks]
