"""lecturelib.multitask: the sine-wave task family, the sharing architectures, training, and the
LP / FT / LP-FT experiment of Kumar et al. (2022)."""
import copy

import pytest
import torch
import torch.nn as nn

from lecturelib import multitask as mt


@pytest.fixture(scope="module")
def tasks():
    return mt.WaveTasks()


def test_wave_tasks(tasks):
    data = tasks.sample(4, generator=torch.Generator().manual_seed(0))
    n_tasks = tasks.config.n_tasks
    assert data.x.shape == (4 * n_tasks, 1) and data.y.shape == (4 * n_tasks, 1)
    assert torch.equal(torch.bincount(data.task), torch.full((n_tasks,), 4))
    truth = tasks.amplitude[data.task, None] * torch.sin(data.x + tasks.phase[data.task, None])
    assert (data.y - truth).std() == pytest.approx(tasks.config.noise, rel=0.3)
    # stratified: each task's examples fall in distinct quarters of the range
    quarter = ((data.x[:, 0] + 3) / 1.5).floor().clamp(max=3)
    for i in range(n_tasks):
        assert sorted(quarter[data.task == i].tolist()) == [0, 1, 2, 3]
    with pytest.raises(ValueError):
        tasks.sample(0)


def test_per_task_mlp_runs_each_row_through_its_own_network():
    torch.manual_seed(0)
    nets = mt.PerTaskMLP(3, in_dim=2, hidden=5, depth=2)
    x = torch.randn(7, 2)
    task = torch.tensor([0, 1, 2, 2, 1, 0, 1])
    out = nets(x, task)
    for n in range(7):
        i = int(task[n])
        h = x[n]
        for layer, (w, b) in enumerate(zip(nets.weights, nets.biases)):
            h = h @ w[i] + b[i]
            h = torch.tanh(h) if layer < 2 else h
        assert torch.allclose(out[n], h, atol=1e-6)
    same = mt.PerTaskMLP(3, hidden=5, same_init=True)
    assert all(torch.equal(p[0], p[2]) for p in same.parameters())
    indep = mt.SingleTaskModels(3, hidden=5)
    assert not torch.equal(indep.nets.weights[0][0], indep.nets.weights[0][1])


def test_architectures_share_what_they_should():
    torch.manual_seed(0)
    x = torch.linspace(-1, 1, 6).unsqueeze(-1)
    t0 = torch.zeros(6, dtype=torch.long)
    allm = mt.AllSharingModel(4, hidden=8)
    assert not torch.allclose(allm(x, t0), allm(x, t0 + 1))
    hard = mt.HardSharingModel(4, hidden=8, features=3)
    hard(x, t0).sum().backward()
    assert hard.heads.weight.grad[1:].abs().sum() == 0 and hard.heads.weight.grad[0].abs().sum() > 0
    soft = mt.SoftSharingModel(4, hidden=8, strength=0.3)
    assert float(soft.penalty()) < 1e-10
    with torch.no_grad():
        soft.nets.weights[0][1] += 1.0                       # move task 1's first layer by one everywhere
    n = soft.nets.weights[0][1].numel()
    assert float(soft.penalty()) == pytest.approx(0.3 * n * (0.75 ** 2 + 3 * 0.25 ** 2), rel=1e-5)
    with pytest.raises(ValueError):
        mt.SoftSharingModel(4, strength=-1.0)


def test_train_multitask_uses_the_weighted_objective(tasks):
    torch.manual_seed(0)
    data = tasks.sample(4, generator=torch.Generator().manual_seed(0))
    model = mt.HardSharingModel(tasks.config.n_tasks)
    history = mt.train_multitask(model, data, mt.TrainConfig(steps=60, lr=1e-2))
    assert history[-1] < 0.5 * history[0]
    # with all the weight on task 0, only task 0 is fitted
    w = torch.zeros(tasks.config.n_tasks)
    w[0] = 1.0
    torch.manual_seed(0)
    model = mt.SingleTaskModels(tasks.config.n_tasks)
    start = copy.deepcopy(model.state_dict())
    mt.train_multitask(model, data, mt.TrainConfig(steps=20, lr=1e-2), task_weights=w)
    moved = model.nets.weights[0].detach() - start["nets.weights.0"]
    assert moved[0].abs().sum() > 0 and moved[1:].abs().sum() == 0


def test_hard_sharing_beats_single_task_at_four_examples(tasks):
    """The lesson's target (≥ 20% lower test error), checked on three data/initialisation seeds."""
    builders = {"single": lambda T: mt.SingleTaskModels(T), "hard": lambda T: mt.HardSharingModel(T)}
    for seed in (0, 1, 2):
        res = mt.sharing_experiment(builders, [4], tasks, mt.TrainConfig(steps=300, lr=1e-2), seeds=(seed,),
                                    progress=False)
        gain = 1 - res["hard"]["test"][0] / res["single"]["test"][0]
        assert gain >= 0.2, (seed, gain)


# --- LP / FT / LP-FT ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def shift():
    problem = mt.ShiftProblem()
    return problem, mt.pretrain_source(problem)


def test_shift_problem_id_inputs_span_a_subspace(shift):
    problem, _ = shift
    x, y = problem.target(50, shifted=False)
    c = problem.config
    assert x.shape == (50, c.in_dim) and y.shape == (50, 1)
    assert torch.all(x[:, c.id_dims:] == 0) and torch.all(x[:, : c.id_dims].std(0) > 0.5)
    x_ood, _ = problem.target(50, shifted=True)
    assert torch.all(x_ood[:, c.id_dims:].std(0) > 0.5)
    with pytest.raises(ValueError):
        mt.ShiftProblem(mt.ShiftConfig(id_dims=0))


def test_linear_probe_is_least_squares_on_frozen_features(shift):
    problem, pretrained = shift
    x, y = problem.target(40)
    before = copy.deepcopy(pretrained.state_dict())
    probe = mt.linear_probe(pretrained, x, y, ridge=0.0)
    assert all(torch.equal(before[k], v) for k, v in pretrained.state_dict().items())
    phi = torch.cat([pretrained.features(x).detach(), torch.ones(40, 1)], 1).double()
    sol = torch.linalg.lstsq(phi, y.double()).solution
    assert torch.allclose(probe.head.weight.double(), sol[:-1].T, atol=1e-3)
    assert mt.feature_distortion(probe, pretrained) == 0.0


def test_lp_ft_fixes_what_fine_tuning_distorts(shift):
    """Kumar et al.'s finding on two problem seeds: FT is better than LP in distribution but much worse
    out of distribution; LP-FT is the best of both."""
    for seed in (0, 1):
        res = mt.shift_experiment(mt.ShiftProblem(mt.ShiftConfig(seed=seed)), steps=300, seeds=(0,))
        assert res["FT"]["ID"] < res["LP"]["ID"]
        assert res["FT"]["OOD"] > 2 * res["LP"]["OOD"]
        assert res["LP-FT"]["OOD"] <= 0.5 * res["FT"]["OOD"]
        assert res["LP-FT"]["ID"] <= 0.9 * res["LP"]["ID"]
        assert res["LP-FT"]["distortion"] < 0.5 * res["FT"]["distortion"]
