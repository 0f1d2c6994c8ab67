"""Optimisation-based meta-RL: a MAML-meta-trained dynamics model that adapts online, with MPC.

After Nagabandi*, Clavera*, Liu, Fearing, Abbeel, Levine and Finn (2019), "Learning to Adapt in Dynamic,
Real-World Environments through Meta-Reinforcement Learning" (GrBAL). The dynamics of the world change
from episode to episode (a heavier payload, more friction, a damaged actuator). A model
f_θ(s, a) ≈ s' − s is meta-trained with MAML (Finn et al., 2017) so that *one gradient step on the last
K transitions* adapts it to the dynamics at hand:

    θ' = θ − α ∇_θ  (1/K) Σ_{past K} ‖f_θ(s, a) − (s' − s)‖²            (adaptation, every step)
    min_θ  E_tasks  (1/M) Σ_{next M} ‖f_θ'(s, a) − (s' − s)‖²             (meta-training)

A model-predictive controller (random shooting or the cross-entropy method) plans with the adapted
model f_θ' at every step and executes the first action of the best plan. Meta-training sees only
dynamics from the training ranges; meta-test uses values outside them (:data:`TEST_DYNAMICS`).

The world is a 2-D point mass ("puck"), state s = (x, y, v_x, v_y), action a ∈ [-1, 1]² (forces),
time step dt:

    v' = v + dt (R(φ) (g ⊙ a) / m − c v),     p' = p + dt v'

with mass m, friction c and actuator gains g (a damaged actuator has g_i < 1); the force g ⊙ a is
turned by the angle φ of the actuators' mount (a motor that slipped on its mount pushes sideways).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from .threads import adam_kernel, cpu_threads

__all__ = ["Dynamics", "PointMass", "sample_train_dynamics", "TEST_DYNAMICS", "collect_random_transitions",
           "DynamicsModel", "dynamics_loss", "adapt", "MetaDynamicsConfig", "meta_train_dynamics",
           "prediction_errors", "random_shooting", "cem", "MPCConfig", "run_mpc", "reach_cost", "meta_test_dynamics"]

DT = 0.1


@dataclass
class Dynamics:
    """Physical parameters of a batch of E point masses: mass (E,), friction (E,), actuator gains (E, 2)
    and the angle (E,) in radians by which the actuators are turned on their mount (0 = as designed)."""

    mass: np.ndarray
    friction: np.ndarray
    gain: np.ndarray
    angle: np.ndarray | float = 0.0

    def __post_init__(self):
        self.mass = np.atleast_1d(np.asarray(self.mass, dtype=np.float64))
        self.friction = np.atleast_1d(np.asarray(self.friction, dtype=np.float64))
        self.gain = np.atleast_2d(np.asarray(self.gain, dtype=np.float64))
        E = len(self.mass)
        self.angle = np.broadcast_to(np.asarray(self.angle, dtype=np.float64), (E,)).copy()
        if self.friction.shape != (E,) or self.gain.shape != (E, 2):
            raise ValueError(f"mass (E,), friction (E,) and gain (E, 2) must agree, got {self.mass.shape}, "
                             f"{self.friction.shape}, {self.gain.shape}")
        if np.any(self.mass <= 0) or np.any(self.friction < 0):
            raise ValueError("mass must be > 0 and friction >= 0")

    def __len__(self) -> int:
        return len(self.mass)

    def __getitem__(self, i) -> "Dynamics":
        i = np.atleast_1d(np.arange(len(self))[i])
        return Dynamics(self.mass[i], self.friction[i], self.gain[i], self.angle[i])

    def force(self, action: np.ndarray) -> np.ndarray:
        """The force (E, 2) produced by actions (E, 2): gains, then the mount's rotation."""
        f = self.gain * action
        cos, sin = np.cos(self.angle)[:, None], np.sin(self.angle)[:, None]
        return np.concatenate([cos * f[:, :1] - sin * f[:, 1:], sin * f[:, :1] + cos * f[:, 1:]], axis=1)


def sample_train_dynamics(rng: np.random.Generator, n: int) -> Dynamics:
    """Meta-training tasks: m ~ U[0.5, 1.5], c ~ U[0, 0.5], actuators turned by U[-30°, 30°], and half of
    the pucks have one actuator damaged to a gain in U[0.5, 1] (the other gain is 1)."""
    mass = rng.uniform(0.5, 1.5, n)
    friction = rng.uniform(0.0, 0.5, n)
    gain = np.ones((n, 2))
    damaged = rng.random(n) < 0.5
    axis = rng.integers(0, 2, n)
    gain[damaged, axis[damaged]] = rng.uniform(0.5, 1.0, int(damaged.sum()))
    angle = np.deg2rad(rng.uniform(-30.0, 30.0, n))
    return Dynamics(mass, friction, gain, angle)


# Meta-test dynamics: every one has at least one value outside the meta-training ranges.
TEST_DYNAMICS = {
    "heavy payload (m = 2.5)": dict(mass=2.5, friction=0.25, gain=(1.0, 1.0), angle=0.0),
    "damaged actuator (g_x = 0.25)": dict(mass=1.0, friction=0.25, gain=(0.25, 1.0), angle=0.0),
    "sticky floor (c = 1.0)": dict(mass=1.0, friction=1.0, gain=(1.0, 1.0), angle=0.0),
    "turned actuators (60°)": dict(mass=1.0, friction=0.25, gain=(1.0, 1.0), angle=math.radians(60)),
    "turned (-60°) + damaged (g_y = 0.4)": dict(mass=1.2, friction=0.25, gain=(1.0, 0.4), angle=math.radians(-60)),
}


class PointMass:
    """A batch of E point masses with their own dynamics (numpy, vectorised)."""

    def __init__(self, dynamics: Dynamics, dt: float = DT):
        self.dynamics, self.dt = dynamics, dt
        self.state = np.zeros((len(dynamics), 4))  # (E, 4): x, y, vx, vy

    def reset(self, state: np.ndarray) -> np.ndarray:
        state = np.asarray(state, dtype=np.float64)
        if state.shape != self.state.shape:
            raise ValueError(f"state must be {self.state.shape}, got {state.shape}")
        self.state = state.copy()
        return self.state.copy()

    def step(self, action: np.ndarray) -> np.ndarray:
        """action (E, 2), clipped to [-1, 1] -> next state (E, 4)."""
        a = np.clip(np.asarray(action, dtype=np.float64), -1.0, 1.0)
        d = self.dynamics
        p, v = self.state[:, :2], self.state[:, 2:]
        v_next = v + self.dt * (d.force(a) / d.mass[:, None] - d.friction[:, None] * v)
        self.state = np.concatenate([p + self.dt * v_next, v_next], axis=1)
        return self.state.copy()


def collect_random_transitions(dynamics: Dynamics, n_steps: int, rng: np.random.Generator, episode_len: int = 50,
                               hold_prob: float = 0.75):
    """Random-action experience in every task: states (E, n_steps, 4), actions (E, n_steps, 2),
    next_states (E, n_steps, 4). The puck restarts near the origin every ``episode_len`` steps. In
    every other episode each action is held with probability ``hold_prob`` (else redrawn), so the data
    also holds the long pushes and fast motion that a controller produces, not only jitter.
    """
    env = PointMass(dynamics)
    E = len(dynamics)
    S, A, S2 = np.zeros((E, n_steps, 4)), np.zeros((E, n_steps, 2)), np.zeros((E, n_steps, 4))
    action = rng.uniform(-1, 1, (E, 2))
    for t in range(n_steps):
        if t % episode_len == 0:
            env.reset(np.concatenate([rng.uniform(-1, 1, (E, 2)), rng.uniform(-0.5, 0.5, (E, 2))], axis=1))
            held = (t // episode_len) % 2 == 1
        redraw = rng.random(E) >= (hold_prob if held else 0.0)
        action = np.where(redraw[:, None], rng.uniform(-1, 1, (E, 2)), action)
        S[:, t] = env.state
        A[:, t] = action
        S2[:, t] = env.step(action)
    return S, A, S2


class DynamicsModel(nn.Module):
    """f_θ(s, a) -> predicted s' − s, an MLP on standardised inputs with standardised outputs.

    The model is used *functionally*: ``predict(params, s, a)`` runs it with any parameter dict (the
    meta-learned θ or an adapted θ'), via ``torch.func.functional_call``.
    """

    def __init__(self, state_dim: int = 4, action_dim: int = 2, hidden: int = 64):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(state_dim + action_dim, hidden), nn.Tanh(), nn.Linear(hidden, hidden),
                                 nn.Tanh(), nn.Linear(hidden, state_dim))
        self.register_buffer("in_mean", torch.zeros(state_dim + action_dim))
        self.register_buffer("in_std", torch.ones(state_dim + action_dim))
        self.register_buffer("out_mean", torch.zeros(state_dim))
        self.register_buffer("out_std", torch.ones(state_dim))

    def set_normalisation(self, states, actions, next_states) -> None:
        x = torch.cat([states, actions], -1).reshape(-1, self.in_mean.numel())
        y = (next_states - states).reshape(-1, self.out_mean.numel())
        self.in_mean.copy_(x.mean(0)), self.in_std.copy_(x.std(0) + 1e-6)
        self.out_mean.copy_(y.mean(0)), self.out_std.copy_(y.std(0) + 1e-6)

    def forward(self, states: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        # (…, 4), (…, 2) -> standardised Δs (…, 4)
        return self.net((torch.cat([states, actions], -1) - self.in_mean) / self.in_std)

    def params(self) -> dict:
        return dict(self.named_parameters())

    def predict(self, params: dict, states: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """Next states (…, 4) under parameters ``params``."""
        delta = torch.func.functional_call(self, params, (states, actions)) * self.out_std + self.out_mean
        return states + delta


def dynamics_loss(model: DynamicsModel, params: dict, states, actions, next_states) -> torch.Tensor:
    """Mean squared error of the standardised Δs: (K, 4), (K, 2), (K, 4) -> scalar."""
    target = (next_states - states - model.out_mean) / model.out_std
    pred = torch.func.functional_call(model, params, (states, actions))
    return ((pred - target) ** 2).mean()


def adapt(model: DynamicsModel, params: dict, states, actions, next_states, inner_lr: float) -> dict:
    """One gradient step on the past K transitions: θ' = θ − α ∇_θ L(θ; past). Returns the new dict.

    Written with ``torch.func.grad`` so that it can be vmapped over tasks and differentiated again
    (the MAML meta-gradient flows through the step).
    """
    grads = torch.func.grad(lambda p: dynamics_loss(model, p, states, actions, next_states))(params)
    return {name: params[name] - inner_lr * grads[name] for name in params}


@dataclass
class MetaDynamicsConfig:
    """Every hyperparameter of GrBAL-style meta-training of the dynamics model."""

    hidden: int = 64
    n_train_tasks: int = 200  # sampled training dynamics
    steps_per_task: int = 200  # random-action transitions collected per training task
    past_k: int = 16  # K transitions used to adapt
    future_m: int = 16  # M following transitions the adapted model must predict
    inner_lr: float = 0.1  # α
    meta_batch: int = 16  # tasks per meta-update
    meta_lr: float = 1e-3
    iterations: int = 1000
    seed: int = 0


@dataclass
class MetaDynamicsResult:
    config: MetaDynamicsConfig
    model: DynamicsModel
    losses: list = field(default_factory=list)  # outer (post-adaptation) loss per iteration
    wall_time: float = 0.0


def _windows(S, A, S2, idx_task, idx_start, length):
    """Consecutive transitions (B, length, ·) starting at idx_start in task idx_task."""
    t = idx_start[:, None] + torch.arange(length, device=S.device)  # (B, length)
    return S[idx_task[:, None], t], A[idx_task[:, None], t], S2[idx_task[:, None], t]


def meta_train_dynamics(config: MetaDynamicsConfig, device="cpu", *, adapt_fn: Callable = adapt,
                        first_order: bool = False, progress: bool = True) -> MetaDynamicsResult:
    """Collect random experience in ``n_train_tasks`` training dynamics and meta-train f_θ with MAML.

    ``first_order=True`` gives the first-order approximation; ``inner_lr=0`` trains an ordinary
    (non-adaptive) model on the same data, a baseline.
    """
    device = torch.device(device)
    rng = np.random.default_rng(config.seed)
    torch.manual_seed(config.seed)
    K, M = config.past_k, config.future_m
    if config.steps_per_task < K + M:
        raise ValueError(f"steps_per_task ({config.steps_per_task}) must be >= past_k + future_m ({K + M})")
    S, A, S2 = (torch.as_tensor(x, dtype=torch.float32, device=device)
                for x in collect_random_transitions(sample_train_dynamics(rng, config.n_train_tasks),
                                                    config.steps_per_task, rng))
    model = DynamicsModel(hidden=config.hidden).to(device)
    model.set_normalisation(S, A, S2)
    opt = torch.optim.Adam(model.parameters(), lr=config.meta_lr, **adam_kernel(device))
    result = MetaDynamicsResult(config=config, model=model)

    def task_loss(params, past, future):
        adapted = adapt_fn(model, params, *past, config.inner_lr)
        if first_order:
            adapted = {k: params[k] + (v - params[k]).detach() for k, v in adapted.items()}
        return dynamics_loss(model, adapted, *future)

    batched = torch.func.vmap(task_loss, in_dims=(None, 0, 0))
    start = time.perf_counter()
    with cpu_threads(1):
        for _ in tqdm(range(config.iterations), desc="meta-training the dynamics model", disable=not progress,
                      leave=False):
            tasks = torch.as_tensor(rng.integers(0, config.n_train_tasks, config.meta_batch), device=device)
            t0 = torch.as_tensor(rng.integers(0, config.steps_per_task - K - M + 1, config.meta_batch), device=device)
            window = _windows(S, A, S2, tasks, t0, K + M)
            past = tuple(w[:, :K] for w in window)
            future = tuple(w[:, K:] for w in window)
            loss = batched(model.params(), past, future).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            result.losses.append(loss.item())
    result.wall_time = time.perf_counter() - start
    return result


def prediction_errors(model: DynamicsModel, dynamics: Dynamics, inner_lr: float, past_k: int, future_m: int = 16,
                      n_windows: int = 200, seed: int = 7, adapt_fn: Callable = adapt, device="cpu") -> dict:
    """One-step prediction error (standardised MSE) on fresh random experience in ``dynamics``, on the M
    transitions that follow each window of K: unadapted θ vs adapted θ'. Returns {"unadapted", "adapted"}."""
    rng = np.random.default_rng(seed)
    n_steps = 100
    S, A, S2 = (torch.as_tensor(x, dtype=torch.float32, device=device)
                for x in collect_random_transitions(dynamics, n_steps, rng))
    tasks = torch.as_tensor(rng.integers(0, len(dynamics), n_windows), device=device)
    t0 = torch.as_tensor(rng.integers(0, n_steps - past_k - future_m + 1, n_windows), device=device)
    window = _windows(S, A, S2, tasks, t0, past_k + future_m)
    past = tuple(w[:, :past_k] for w in window)
    future = tuple(w[:, past_k:] for w in window)
    params = {k: v.detach() for k, v in model.params().items()}

    def errors(past, future):
        adapted = adapt_fn(model, params, *past, inner_lr)
        return dynamics_loss(model, params, *future), dynamics_loss(model, adapted, *future)

    with cpu_threads(1):
        before, after = torch.func.vmap(errors)(past, future)
    return {"unadapted": before.mean().item(), "adapted": after.mean().item()}


# --- model-predictive control -------------------------------------------------------------------

def reach_cost(target: torch.Tensor, action_weight: float = 0.01) -> Callable:
    """Per-step cost ‖p' − target‖ + w ‖a‖² of reaching ``target`` (2,): (N, 4), (N, 2) -> (N,)."""
    def cost(next_states: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        return torch.linalg.vector_norm(next_states[:, :2] - target, dim=-1) + action_weight * (actions ** 2).sum(-1)
    return cost


def random_shooting(step_fn: Callable, state: torch.Tensor, cost_fn: Callable, horizon: int, n_samples: int,
                    action_dim: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Random-shooting MPC: sample N action sequences uniformly in [-1, 1]^(H × action_dim), roll each
    through the model, and return the first action (action_dim,) of the sequence with the lowest total cost.

    step_fn(states (N, d), actions (N, action_dim)) -> next states (N, d); cost_fn(next_states, actions) -> (N,).
    """
    if horizon < 1 or n_samples < 1:
        raise ValueError(f"horizon and n_samples must be positive, got {horizon}, {n_samples}")
    plans = torch.rand(n_samples, horizon, action_dim, generator=generator, device=state.device) * 2 - 1  # (N, H, A)
    states = state.expand(n_samples, -1)  # (N, d)
    total = torch.zeros(n_samples, device=state.device)
    for h in range(horizon):
        states = step_fn(states, plans[:, h])
        total = total + cost_fn(states, plans[:, h])
    return plans[total.argmin(), 0]


def cem(step_fn: Callable, state: torch.Tensor, cost_fn: Callable, horizon: int, n_samples: int, action_dim: int,
        generator: torch.Generator | None = None, iterations: int = 3, elite_frac: float = 0.1) -> torch.Tensor:
    """Cross-entropy method MPC: refit a Gaussian over plans to the elite fraction, ``iterations`` times."""
    mean = torch.zeros(horizon, action_dim, device=state.device)
    std = torch.ones(horizon, action_dim, device=state.device)
    n_elite = max(1, int(elite_frac * n_samples))
    for _ in range(iterations):
        noise = torch.randn(n_samples, horizon, action_dim, generator=generator, device=state.device)
        plans = (mean + std * noise).clamp(-1, 1)  # (N, H, A)
        states = state.expand(n_samples, -1)
        total = torch.zeros(n_samples, device=state.device)
        for h in range(horizon):
            states = step_fn(states, plans[:, h])
            total = total + cost_fn(states, plans[:, h])
        elite = plans[total.topk(n_elite, largest=False).indices]  # (n_elite, H, A)
        mean, std = elite.mean(0), elite.std(0) + 1e-3
    return mean[0]


@dataclass
class MPCConfig:
    horizon: int = 10
    n_samples: int = 500
    episode_len: int = 40
    planner: str = "random_shooting"  # or "cem"
    seed: int = 0


@torch.no_grad()
def _plan(planner, step_fn, state, cost_fn, config, action_dim, gen):
    return planner(step_fn, state, cost_fn, config.horizon, config.n_samples, action_dim, gen)


def run_mpc(model: DynamicsModel, dynamics: Dynamics, target=(1.0, 1.0), *, adapt_online: bool, inner_lr: float,
            past_k: int, config: MPCConfig = MPCConfig(), planner: Callable | None = None,
            adapt_fn: Callable = adapt, min_past: int | None = None, device="cpu", progress: bool = True) -> dict:
    """One MPC episode per task in ``dynamics``, from rest at the origin to ``target``.

    With ``adapt_online`` the model is adapted at every step on the last ``past_k`` transitions of the
    episode (fewer at the start, from ``min_past`` on; default: once there are ``past_k``); otherwise the meta-trained θ is used throughout.
    Returns {"returns": (E,) with reward = −‖p − target‖ per step, "paths": (E, T+1, 2)}.
    """
    if planner is None:
        planner = {"random_shooting": random_shooting, "cem": cem}[config.planner]
    device = torch.device(device)
    gen = torch.Generator(device=device).manual_seed(config.seed)
    target_t = torch.as_tensor(target, dtype=torch.float32, device=device)
    cost_fn = reach_cost(target_t)
    theta = {k: v.detach() for k, v in model.params().items()}
    returns, paths = [], []
    with cpu_threads(1):
        desc = f"MPC{' + online adaptation' if adapt_online else ''}"
        for e in tqdm(range(len(dynamics)), desc=desc, disable=not progress, leave=False):
            env = PointMass(dynamics[e])
            s = env.reset(np.zeros((1, 4)))[0]
            S, A, S2, total, path = [], [], [], 0.0, [s[:2].copy()]
            for t in range(config.episode_len):
                params = theta
                if adapt_online and len(S) >= (past_k if min_past is None else min_past):
                    past = (torch.as_tensor(np.array(x[-past_k:]), dtype=torch.float32, device=device) for x in (S, A, S2))
                    params = {k: v.detach() for k, v in adapt_fn(model, theta, *past, inner_lr).items()}
                step_fn = lambda states, actions, p=params: model.predict(p, states, actions)
                state_t = torch.as_tensor(s, dtype=torch.float32, device=device)
                a = _plan(planner, step_fn, state_t, cost_fn, config, 2, gen).cpu().numpy().astype(np.float64)
                s2 = env.step(a[None])[0]
                S.append(s), A.append(a), S2.append(s2)
                total += -float(np.linalg.norm(s2[:2] - np.asarray(target)))
                s = s2
                path.append(s[:2].copy())
            returns.append(total)
            paths.append(np.stack(path))
    return {"returns": np.array(returns), "paths": np.stack(paths)}


def meta_test_dynamics(names=None) -> Dynamics:
    """The meta-test dynamics (all of :data:`TEST_DYNAMICS`, or those named) as one batch."""
    names = list(TEST_DYNAMICS) if names is None else list(names)
    rows = [TEST_DYNAMICS[n] for n in names]
    return Dynamics([r["mass"] for r in rows], [r["friction"] for r in rows], [r["gain"] for r in rows],
                    [r["angle"] for r in rows])
