"""Multi-task learning and transfer learning for lesson 01.

Multi-task learning (Caruana 1997; Ruder 2017; Finn's CS330 lecture). A task is
T_i = {p_i(x), p_i(y | x), L_i}; multi-task learning minimises the weighted objective

    min_θ Σ_i w_i L_i(θ, D_i)

over all tasks at once. How the tasks share θ is the architecture question of the slides:

- *all sharing*: one network for every task, told which task it is solving by a task descriptor z_i
  (here a one-hot vector) concatenated to its input, f_θ(x, z_i);
- *hard sharing*: a shared trunk (the representation) and one small head per task,
  f_i(x) = h_{ψ_i}(g_θ(x));
- *soft sharing*: one network per task, θ_1 … θ_T, tied by a penalty on how far they drift apart,
  Σ_i L_i(θ_i) + λ Σ_i ||θ_i - θ̄||², with θ̄ the mean of the θ_i. λ = 0 is independent single-task
  learning, λ → ∞ forces one shared network.

The task family: sine waves y = A_i sin(x + φ_i) + noise with a different amplitude and phase per
task (the regression family of Finn et al. 2017). They share a representation (sin x and cos x) that
a single task's few examples cannot reveal on their own.

Transfer learning and its limitation (Kumar, Raghunathan, Jones, Ma & Liang 2022, "Fine-tuning can
distort pretrained features and underperform out-of-distribution"). Pretrain features on a source
task T_a, then solve a target task T_b whose training inputs cover only part of input space:
*linear probing* (LP) fits a new head on frozen features, *fine-tuning* (FT) trains everything from a
random head, and *LP-FT* first probes, then fine-tunes. With a random head FT's first large
gradients rewrite the features only in the directions the training inputs span, and the features
become inconsistent with the untouched directions; out-of-distribution inputs suffer. LP-FT starts
fine-tuning from a good head, so the features barely move. :func:`shift_experiment` reproduces this
in the paper's own setting, a two-layer network whose feature layer is linear.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm.auto import tqdm

from .rl.threads import cpu_threads

__all__ = [
    "WaveTasksConfig", "WaveTasks", "MultiTaskData",
    "mlp", "PerTaskMLP", "SingleTaskModels", "AllSharingModel", "HardSharingModel", "SoftSharingModel",
    "TrainConfig", "train_multitask", "evaluate", "sharing_experiment",
    "ShiftConfig", "ShiftProblem", "TransferNet", "pretrain_source", "with_new_head", "linear_probe", "fine_tune", "lp_ft",
    "feature_distortion", "shift_experiment",
]


# ---------------------------------------------------------------------------------------------------
# A family of related regression tasks
# ---------------------------------------------------------------------------------------------------
@dataclass
class WaveTasksConfig:
    n_tasks: int = 32
    amplitude: tuple = (0.5, 2.0)     # A_i ~ U(amplitude)
    phase: tuple = (0.0, math.pi)     # φ_i ~ U(phase)
    x_range: float = 3.0              # x in [-x_range, x_range], stratified
    noise: float = 0.1                # std of the observation noise
    n_test: int = 100                 # test examples per task
    seed: int = 0


@dataclass
class MultiTaskData:
    """Examples of T tasks stacked together: x (N, 1), y (N, 1) and the task index of each row (N,)."""

    x: torch.Tensor
    y: torch.Tensor
    task: torch.Tensor

    def to(self, device) -> "MultiTaskData":
        return MultiTaskData(self.x.to(device), self.y.to(device), self.task.to(device))

    def __len__(self) -> int:
        return len(self.x)


class WaveTasks:
    """Task i is the sine wave y = A_i sin(x + φ_i) (the regression family of Finn et al. 2017).

    Every task is a mix of the same two basis functions, A_i sin(x + φ_i) = a_i sin x + b_i cos x:
    that shared structure is what multi-task learning can find and a single task's few examples
    cannot reveal."""

    def __init__(self, config: WaveTasksConfig | None = None):
        self.config = c = config or WaveTasksConfig()
        if c.n_tasks < 1:
            raise ValueError(f"need n_tasks >= 1, got {c.n_tasks}")
        g = torch.Generator().manual_seed(c.seed)
        self.amplitude = c.amplitude[0] + (c.amplitude[1] - c.amplitude[0]) * torch.rand(c.n_tasks, generator=g)  # (T,)
        self.phase = c.phase[0] + (c.phase[1] - c.phase[0]) * torch.rand(c.n_tasks, generator=g)                  # (T,)
        self.test = self.sample(c.n_test, generator=torch.Generator().manual_seed(c.seed + 10_000))

    def f(self, x: torch.Tensor, task: torch.Tensor) -> torch.Tensor:
        """The noise-free target: x (N, 1), task (N,) -> (N, 1)."""
        return self.amplitude[task].unsqueeze(-1) * torch.sin(x + self.phase[task].unsqueeze(-1))

    def sample(self, n_per_task: int, generator: torch.Generator | None = None) -> MultiTaskData:
        """n examples of every task, with observation noise."""
        if n_per_task < 1:
            raise ValueError(f"n_per_task must be >= 1, got {n_per_task}")
        c = self.config
        task = torch.arange(c.n_tasks).repeat_interleave(n_per_task)               # (N,)
        # stratified: one x in each of n equal slices of the range, so few examples still cover it
        slot = torch.arange(n_per_task).repeat(c.n_tasks).unsqueeze(-1)             # (N, 1)
        u = torch.rand(len(task), 1, generator=generator)
        x = (slot + u) / n_per_task * 2 * c.x_range - c.x_range                    # (N, 1)
        y = self.f(x, task) + c.noise * torch.randn(len(task), 1, generator=generator)
        return MultiTaskData(x, y, task)


# ---------------------------------------------------------------------------------------------------
# The architectures
# ---------------------------------------------------------------------------------------------------
def mlp(in_dim: int, hidden: int, out_dim: int, depth: int = 2) -> nn.Sequential:
    """``depth`` hidden layers of width ``hidden`` with tanh, then a linear output layer."""
    layers, d = [], in_dim
    for _ in range(depth):
        layers += [nn.Linear(d, hidden), nn.Tanh()]
        d = hidden
    return nn.Sequential(*layers, nn.Linear(d, out_dim))


def _pick(outputs: torch.Tensor, task: torch.Tensor) -> torch.Tensor:
    """outputs (N, T) of every task's head -> (N, 1), each row's own task."""
    return outputs.gather(1, task.view(-1, 1))


class AllSharingModel(nn.Module):
    """One network for all tasks, conditioned on the task descriptor: f_θ(x, one_hot(i))."""

    def __init__(self, n_tasks: int, in_dim: int = 1, hidden: int = 32, depth: int = 2):
        super().__init__()
        self.n_tasks = n_tasks
        self.net = mlp(in_dim + n_tasks, hidden, 1, depth)

    def forward(self, x: torch.Tensor, task: torch.Tensor) -> torch.Tensor:
        z = F.one_hot(task, self.n_tasks).to(x.dtype)                       # (N, T) task descriptor
        return self.net(torch.cat([x, z], dim=-1))                          # (N, 1)


class HardSharingModel(nn.Module):
    """A shared trunk g_θ (the representation, ``features`` wide) and one linear head per task:
    f_i(x) = ψ_iᵀ g_θ(x) + b_i."""

    def __init__(self, n_tasks: int, in_dim: int = 1, hidden: int = 32, depth: int = 2, features: int = 8):
        super().__init__()
        self.trunk = mlp(in_dim, hidden, features, depth)                            # (N, in) -> (N, features)
        self.heads = nn.Linear(features, n_tasks)                                    # T heads side by side

    def forward(self, x: torch.Tensor, task: torch.Tensor) -> torch.Tensor:
        return _pick(self.heads(self.trunk(x)), task)                               # (N, T) -> (N, 1)


class PerTaskMLP(nn.Module):
    """T networks of the same shape, one per task, their parameters stacked along a leading task axis:
    layer l has weights (T, d_in, d_out) and biases (T, d_out). Row n of a batch goes through network
    task[n]; stacking makes T networks as fast as one (no Python loop over tasks)."""

    def __init__(self, n_tasks: int, in_dim: int = 1, hidden: int = 32, depth: int = 2, same_init: bool = False):
        super().__init__()
        sizes = [in_dim] + [hidden] * depth + [1]
        self.weights, self.biases = nn.ParameterList(), nn.ParameterList()
        for d_in, d_out in zip(sizes[:-1], sizes[1:]):
            bound = 1 / math.sqrt(d_in)                                   # nn.Linear's default init
            copies = 1 if same_init else n_tasks
            w = torch.empty(copies, d_in, d_out).uniform_(-bound, bound).expand(n_tasks, -1, -1)
            b = torch.empty(copies, d_out).uniform_(-bound, bound).expand(n_tasks, -1)
            self.weights.append(nn.Parameter(w.clone()))
            self.biases.append(nn.Parameter(b.clone()))

    def forward(self, x: torch.Tensor, task: torch.Tensor) -> torch.Tensor:
        """x (N, in_dim), task (N,) -> (N, 1)."""
        h = x.unsqueeze(1)                                                 # (N, 1, d)
        for layer, (w, b) in enumerate(zip(self.weights, self.biases)):
            h = h @ w[task] + b[task].unsqueeze(1)                         # (N, 1, d_out)
            if layer < len(self.weights) - 1:
                h = torch.tanh(h)
        return h.squeeze(1)


class SoftSharingModel(nn.Module):
    """One network per task (a :class:`PerTaskMLP`, started from one common initialisation), tied by
    the penalty λ Σ_i ||θ_i - θ̄||² of :meth:`penalty`."""

    def __init__(self, n_tasks: int, in_dim: int = 1, hidden: int = 32, depth: int = 2, strength: float = 1e-2):
        super().__init__()
        if strength < 0:
            raise ValueError(f"the sharing strength λ must be >= 0, got {strength}")
        self.nets = PerTaskMLP(n_tasks, in_dim, hidden, depth, same_init=True)
        self.strength = strength

    def forward(self, x: torch.Tensor, task: torch.Tensor) -> torch.Tensor:
        return self.nets(x, task)

    def penalty(self) -> torch.Tensor:
        """λ Σ_i ||θ_i - θ̄||², summed over every stacked parameter tensor (T, ...)."""
        total = sum(((p - p.mean(0)) ** 2).sum() for p in self.nets.parameters())
        return self.strength * total


class SingleTaskModels(nn.Module):
    """Independent networks, one per task (independently initialised, no penalty): single-task learning."""

    def __init__(self, n_tasks: int, in_dim: int = 1, hidden: int = 32, depth: int = 2):
        super().__init__()
        self.nets = PerTaskMLP(n_tasks, in_dim, hidden, depth, same_init=False)

    def forward(self, x: torch.Tensor, task: torch.Tensor) -> torch.Tensor:
        return self.nets(x, task)


# ---------------------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------------------
@dataclass
class TrainConfig:
    steps: int = 1500
    lr: float = 3e-3
    weight_decay: float = 0.0
    seed: int = 0


def _penalty(model: nn.Module) -> torch.Tensor | float:
    return model.penalty() if hasattr(model, "penalty") else 0.0


def train_multitask(model: nn.Module, data: MultiTaskData, config: TrainConfig | None = None, device=None,
                    task_weights: torch.Tensor | None = None, progress: bool = False) -> list[float]:
    """Full-batch Adam on Σ_i w_i L_i + (the model's penalty, if any); w_i = 1/T unless given.

    ``model(x, task) -> (N, 1)``. Returns the training objective per step."""
    config = config or TrainConfig()
    device = torch.device(device) if device is not None else next(model.parameters()).device
    model.to(device).train()
    data = data.to(device)
    n_tasks = int(data.task.max()) + 1
    w = (torch.full((n_tasks,), 1.0 / n_tasks) if task_weights is None else torch.as_tensor(task_weights)).to(device)
    counts = torch.bincount(data.task, minlength=n_tasks).clamp(min=1).to(w.dtype)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    history = []
    with cpu_threads(1):        # small networks: one CPU thread is as fast as several
        for _ in tqdm(range(config.steps), desc="multi-task training", disable=not progress, leave=False):
            sq = (model(data.x, data.task) - data.y).squeeze(-1) ** 2                 # (N,)
            per_task = torch.zeros(n_tasks, device=device).index_add(0, data.task, sq) / counts   # L_i, (T,)
            loss = (w * per_task).sum() + _penalty(model)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            history.append(loss.item())
    model.eval()
    return history


@torch.no_grad()
def evaluate(model: nn.Module, data: MultiTaskData) -> float:
    """Mean squared error over all tasks' examples."""
    device = next(model.parameters()).device
    data = data.to(device)
    return ((model(data.x, data.task) - data.y) ** 2).mean().item()


def sharing_experiment(builders: dict, sizes, tasks: WaveTasks | None = None, config: TrainConfig | None = None,
                       seeds=(0,), device=None, progress: bool = True) -> dict:
    """Test error of every architecture for every number of examples per task, averaged over seeds.

    ``builders`` maps a name to ``f(n_tasks) -> model``. Returns
    ``{name: {"sizes": [...], "test": [...], "train": [...]}}``."""
    tasks = tasks or WaveTasks()
    config = config or TrainConfig()
    results = {name: {"sizes": list(sizes), "test": [], "train": []} for name in builders}
    jobs = [(n, name) for n in sizes for name in builders]
    bar = tqdm(total=len(jobs) * len(seeds), desc="examples per task × architecture", disable=not progress)
    for n in sizes:
        for name, build in builders.items():
            test, train = [], []
            for seed in seeds:
                data = tasks.sample(n, generator=torch.Generator().manual_seed(1000 * seed + n))
                torch.manual_seed(seed)
                model = build(tasks.config.n_tasks)
                train_multitask(model, data, TrainConfig(config.steps, config.lr, config.weight_decay, seed), device)
                test.append(evaluate(model, tasks.test))
                train.append(evaluate(model, data))
                bar.update()
            results[name]["test"].append(sum(test) / len(test))
            results[name]["train"].append(sum(train) / len(train))
    bar.close()
    return results


# ---------------------------------------------------------------------------------------------------
# Transfer under distribution shift: LP, FT and LP-FT (Kumar et al. 2022)
# ---------------------------------------------------------------------------------------------------
@dataclass
class ShiftConfig:
    in_dim: int = 20
    feature_dim: int = 4
    id_dims: int = 8             # in-distribution inputs vary only in the first id_dims coordinates
    target_shift: float = 0.2    # the target task's features are B* + target_shift·E: close, not equal
    id_offdims_std: float = 0.0  # std of the other coordinates in-distribution (0: exactly a subspace)
    n_source: int = 2000         # examples of the source task T_a (pretraining)
    n_target: int = 40           # labelled examples of the target task T_b (in-distribution)
    n_test: int = 2000
    source_outputs: int = 10     # T_a predicts several readouts of the true features
    noise: float = 0.1
    pretrain_steps: int = 500
    pretrain_lr: float = 1e-2
    seed: int = 0


class ShiftProblem:
    """Ground truth y = v*ᵀ B* x (+ noise) for a target readout v*, with B* (k, d) the true features.

    The source task T_a has outputs U B* x; its inputs cover all of R^d. The target task's training
    inputs (in-distribution, ID) lie in the first ``id_dims`` coordinates; its out-of-distribution (OOD)
    test inputs cover every direction."""

    def __init__(self, config: ShiftConfig | None = None):
        self.config = c = config or ShiftConfig()
        if not 0 < c.id_dims <= c.in_dim:
            raise ValueError(f"id_dims must be in 1..in_dim={c.in_dim}, got {c.id_dims}")
        g = torch.Generator().manual_seed(c.seed)
        self.B = torch.linalg.qr(torch.randn(c.in_dim, c.feature_dim, generator=g))[0].T * math.sqrt(c.in_dim / c.feature_dim)  # (k, d)
        self.U = torch.randn(c.source_outputs, c.feature_dim, generator=g) / math.sqrt(c.feature_dim)                      # (m, k)
        self.v = torch.randn(c.feature_dim, generator=g) / math.sqrt(c.feature_dim)                                         # (k,)
        self.B_target = self.B + c.target_shift * torch.randn(c.feature_dim, c.in_dim, generator=g) / math.sqrt(c.in_dim)  # (k, d)

    def _inputs(self, n: int, shifted: bool, g) -> torch.Tensor:
        c = self.config
        x = torch.randn(n, c.in_dim, generator=g)
        if not shifted:
            x[:, c.id_dims:] *= c.id_offdims_std
        return x

    def source(self):
        """(x, y) of the source task T_a, x (n, d), y (n, m)."""
        c = self.config
        g = torch.Generator().manual_seed(20_000 + c.seed)
        x = torch.randn(c.n_source, c.in_dim, generator=g)
        y = x @ self.B.T @ self.U.T + c.noise * torch.randn(c.n_source, c.source_outputs, generator=g)
        return x, y

    def target(self, n: int, shifted: bool = False, seed: int = 0):
        """(x, y) of the target task T_b, ID (``shifted=False``) or OOD; x (n, d), y (n, 1)."""
        g = torch.Generator().manual_seed(10_000 + seed + (5000 if shifted else 0))
        x = self._inputs(n, shifted, g)
        y = (x @ self.B_target.T @ self.v).unsqueeze(-1) + self.config.noise * torch.randn(n, 1, generator=g)
        return x, y


class TransferNet(nn.Module):
    """features: x (N, d) -> (N, k), linear as in Kumar et al.'s analysis; head: (N, k) -> (N, out)."""

    def __init__(self, in_dim: int, feature_dim: int, out_dim: int = 1):
        super().__init__()
        self.features = nn.Linear(in_dim, feature_dim, bias=False)
        self.head = nn.Linear(feature_dim, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def pretrain_source(problem: ShiftProblem, device=None) -> TransferNet:
    """Train a TransferNet on the source task T_a; its features are what we transfer."""
    c = problem.config
    with torch.random.fork_rng():          # a seeded initialisation that leaves the caller's RNG alone
        torch.manual_seed(c.seed)
        net = TransferNet(c.in_dim, c.feature_dim, c.source_outputs)
    device = torch.device(device) if device is not None else torch.device("cpu")
    net.to(device)
    x, y = (t.to(device) for t in problem.source())
    opt = torch.optim.Adam(net.parameters(), lr=c.pretrain_lr)
    for _ in range(c.pretrain_steps):
        loss = ((net(x) - y) ** 2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return net


def with_new_head(pretrained: TransferNet, seed: int = 0) -> TransferNet:
    """A copy of the pretrained features with a freshly initialised 1-output head."""
    k = pretrained.features.out_features
    model = TransferNet(pretrained.features.in_features, k, 1).to(pretrained.features.weight.device)
    model.features.load_state_dict(pretrained.features.state_dict())
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        model.head.weight.copy_(torch.randn(1, k, generator=g) / math.sqrt(k))
        model.head.bias.zero_()
    return model


def linear_probe(pretrained: nn.Module, x: torch.Tensor, y: torch.Tensor, ridge: float = 1e-4) -> TransferNet:
    """LP: a new head fitted by (ridge) least squares on the frozen pretrained features."""
    model = with_new_head(pretrained)
    with torch.no_grad():
        phi = model.features(x)                                               # (n, k)
        phi1 = torch.cat([phi, torch.ones(len(phi), 1, device=phi.device)], 1)  # (n, k+1), bias column
        reg = ridge * torch.eye(phi1.shape[1], device=phi.device)
        sol = torch.linalg.solve(phi1.T @ phi1 + reg, phi1.T @ y)             # (k+1, 1)
        model.head.weight.copy_(sol[:-1].T)
        model.head.bias.copy_(sol[-1])
    return model


def fine_tune(model: nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int = 300, lr: float = 1e-2) -> nn.Module:
    """FT: train every parameter of (a copy of) ``model`` on (x, y) with Adam; returns the copy."""
    model = copy.deepcopy(model)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(steps):
        loss = ((model(x) - y) ** 2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return model


def lp_ft(pretrained: nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int = 300, lr: float = 1e-2) -> nn.Module:
    """LP-FT: linear-probe first, then fine-tune everything from the probed head (Kumar et al. 2022)."""
    return fine_tune(linear_probe(pretrained, x, y), x, y, steps=steps, lr=lr)


def feature_distortion(model: TransferNet, pretrained: nn.Module) -> float:
    """||B - B_0||_F / ||B_0||_F: how far fine-tuning moved the features."""
    b0 = pretrained.features.weight
    return ((model.features.weight - b0).norm() / b0.norm()).item()


def shift_experiment(problem: ShiftProblem | None = None, steps: int = 300, lr: float = 1e-2, seeds=(0, 1, 2),
                     device=None, lp_ft_fn=None) -> dict:
    """ID and OOD test error of LP, FT (random head) and LP-FT, averaged over head seeds; also the
    feature distortion. ``lp_ft_fn`` lets a lesson pass the student's LP-FT."""
    problem = problem or ShiftProblem()
    device = torch.device(device) if device is not None else torch.device("cpu")
    c = problem.config
    pretrained = pretrain_source(problem, device)
    x, y = (t.to(device) for t in problem.target(c.n_target, shifted=False, seed=0))
    tests = {"ID": [t.to(device) for t in problem.target(c.n_test, False, seed=1)],
             "OOD": [t.to(device) for t in problem.target(c.n_test, True, seed=1)]}
    lp_ft_fn = lp_ft_fn or lp_ft
    out = {name: {"ID": 0.0, "OOD": 0.0, "distortion": 0.0} for name in ("LP", "FT", "LP-FT")}
    for seed in seeds:                     # only FT's random head depends on the seed
        models = {
            "LP": linear_probe(pretrained, x, y),
            "FT": fine_tune(with_new_head(pretrained, seed), x, y, steps=steps, lr=lr),
            "LP-FT": lp_ft_fn(pretrained, x, y, steps=steps, lr=lr),
        }
        for name, m in models.items():
            with torch.no_grad():
                for split, (xt, yt) in tests.items():
                    out[name][split] += ((m(xt) - yt) ** 2).mean().item() / len(seeds)
            out[name]["distortion"] += feature_distortion(m, pretrained) / len(seeds)
    return out
