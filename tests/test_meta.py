"""lecturelib.meta: the operator task family, black-box meta-learning, MAML with torch.func.

MAML's meta-gradient is checked against two independent oracles: learn2learn's MAML (clone/adapt, the
library the lesson's hidden test uses) and central finite differences in float64.
"""
import copy
import subprocess
import sys

import pytest
import torch

from lecturelib import meta
from lecturelib.meta import landscape
from lecturelib.meta.baselines import BaselineConfig, pretrain_on_family, train_from_scratch


@pytest.fixture(scope="module")
def family():
    return meta.OperatorFamily()


@pytest.fixture(scope="module")
def l2l():
    return meta.import_learn2learn()


# --- the task family ----------------------------------------------------------------------------------
def test_family_holds_out_the_pizza(family):
    assert len(family.meta_train) == 49 and family.held_out == [meta.PIZZA]
    assert meta.PIZZA not in family.meta_train
    assert meta.PIZZA.formula() == "a·b + a"
    assert all(meta.PIZZA(a, b) == y for a, b, y in meta.PIZZA_SUPPORT)
    assert meta.PIZZA(*meta.PIZZA_QUERY) == meta.PIZZA_ANSWER == 28


def test_the_four_examples_determine_the_pizza_within_the_family(family):
    consistent = [op for op in family.meta_train + family.held_out
                  if all(op(a, b) == y for a, b, y in meta.PIZZA_SUPPORT)]
    assert consistent == [meta.PIZZA]


def test_sample_gives_consistent_support_and_query(family):
    batch = family.sample(64, 4, 10, generator=torch.Generator().manual_seed(0))
    assert batch.support_x.shape == (64, 4, 2) and batch.support_y.shape == (64, 4, 1)
    assert batch.query_x.shape == (64, 10, 2) and batch.query_y.shape == (64, 10, 1)
    for i in range(64):
        ab = family.decode_x(torch.cat([batch.support_x[i], batch.query_x[i]])).round()
        y = family.decode_y(torch.cat([batch.support_y[i], batch.query_y[i]]))[:, 0]
        op = batch.operators[i]
        assert op in family.meta_train
        assert torch.allclose(y, op(ab[:, 0], ab[:, 1]), atol=1e-4)
        assert len({tuple(p) for p in ab.tolist()}) == 14, "pairs within a task are distinct"
    again = family.sample(64, 4, 10, generator=torch.Generator().manual_seed(0))
    assert torch.equal(again.query_y, batch.query_y)


def test_sample_never_draws_held_out_operators(family):
    batch = family.sample(5000, 1, 0, generator=torch.Generator().manual_seed(1))
    assert meta.PIZZA not in set(batch.operators)
    assert len(set(batch.operators)) == 49


def test_pizza_task_and_bad_input(family):
    task = family.pizza_task()
    assert family.decode_x(task.support_x[0]).round().tolist() == [[3, 5], [1, 2], [2, 3], [6, 1]]
    assert family.decode_y(task.query_y).item() == pytest.approx(28)
    with pytest.raises(ValueError):
        family.sample(2, 30, 10)
    with pytest.raises(ValueError):
        family.task_from_examples([(1, 2)])
    with pytest.raises(ValueError):
        meta.OperatorFamily(meta.OperatorFamilyConfig(products=(1,), linear=(1,), held_out=(meta.PIZZA,)))


# --- MAML -----------------------------------------------------------------------------------------------
def _learn2learn_meta_gradient(l2l, model, batch, inner_lr, inner_steps, first_order):
    maml = l2l.algorithms.MAML(model, lr=inner_lr, first_order=first_order)
    maml.zero_grad()
    total = 0.0
    for i in range(len(batch)):
        learner = maml.clone()
        for _ in range(inner_steps):
            learner.adapt(((learner(batch.support_x[i]) - batch.support_y[i]) ** 2).mean())
        total = total + ((learner(batch.query_x[i]) - batch.query_y[i]) ** 2).mean()
    loss = total / len(batch)
    loss.backward()
    return loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters()}


@pytest.mark.parametrize("first_order", [False, True])
@pytest.mark.parametrize("inner_steps", [1, 3])
def test_meta_gradient_matches_learn2learn(l2l, family, first_order, inner_steps):
    torch.manual_seed(0)
    model = meta.make_regressor(32)
    batch = family.sample(8, 4, 12, generator=torch.Generator().manual_seed(inner_steps))
    loss, grads = meta.meta_gradient(model, batch, inner_lr=0.05, inner_steps=inner_steps, first_order=first_order)
    ref_loss, ref = _learn2learn_meta_gradient(l2l, model, batch, 0.05, inner_steps, first_order)
    assert loss.item() == pytest.approx(ref_loss.item(), rel=1e-5)
    for name in ref:
        assert torch.allclose(grads[name], ref[name], atol=1e-5), name


def test_second_order_meta_gradient_matches_finite_differences(family):
    torch.manual_seed(0)
    model = meta.make_regressor(8).double()
    batch = family.sample(3, 4, 6, generator=torch.Generator().manual_seed(3))
    batch = meta.TaskBatch(*(t.double() for t in (batch.support_x, batch.support_y, batch.query_x, batch.query_y)))
    params = {n: p.detach().clone() for n, p in model.named_parameters()}
    _, grads = meta.meta_gradient(model, batch, inner_lr=0.1, inner_steps=2, params=params)
    gen = torch.Generator().manual_seed(0)
    eps = 1e-6
    for name in params:
        for _ in range(3):
            idx = tuple(int(torch.randint(s, (1,), generator=gen)) for s in params[name].shape)
            plus = {n: p.clone() for n, p in params.items()}
            minus = {n: p.clone() for n, p in params.items()}
            plus[name][idx] += eps
            minus[name][idx] -= eps
            fd = (meta.meta_loss(model, plus, batch, inner_lr=0.1, inner_steps=2)
                  - meta.meta_loss(model, minus, batch, inner_lr=0.1, inner_steps=2)) / (2 * eps)
            assert grads[name][idx].item() == pytest.approx(fd.item(), rel=1e-4, abs=1e-7), (name, idx)


def test_first_order_drops_the_second_order_terms(family):
    torch.manual_seed(0)
    model = meta.make_regressor(16)
    batch = family.sample(4, 4, 8, generator=torch.Generator().manual_seed(0))
    _, so = meta.meta_gradient(model, batch, inner_lr=0.1, inner_steps=1)
    _, fo = meta.meta_gradient(model, batch, inner_lr=0.1, inner_steps=1, first_order=True)
    assert any(not torch.allclose(so[n], fo[n]) for n in so)
    # with zero inner steps both are the plain gradient of the query loss
    _, g0 = meta.meta_gradient(model, batch, inner_lr=0.1, inner_steps=0)
    _, f0 = meta.meta_gradient(model, batch, inner_lr=0.1, inner_steps=0, first_order=True)
    assert all(torch.allclose(g0[n], f0[n]) for n in g0)


def test_adapt_is_plain_gradient_descent(family):
    torch.manual_seed(0)
    model = meta.make_regressor(16)
    task = family.pizza_task()
    params = {n: p.detach() for n, p in model.named_parameters()}
    phi = meta.adapt(model, params, task.support_x[0], task.support_y[0], inner_lr=0.05, inner_steps=3)
    manual = copy.deepcopy(model)
    opt = torch.optim.SGD(manual.parameters(), lr=0.05)
    for _ in range(3):
        opt.zero_grad()
        ((manual(task.support_x[0]) - task.support_y[0]) ** 2).mean().backward()
        opt.step()
    for n, p in manual.named_parameters():
        assert torch.allclose(phi[n], p, atol=1e-6)
    pred = meta.adapt_and_predict(model, task, inner_lr=0.05, steps=3)
    assert torch.allclose(pred[0], manual(task.query_x[0]).detach(), atol=1e-6)


def test_train_maml_lowers_the_meta_loss(family):
    torch.manual_seed(0)
    model = meta.make_regressor(32)
    history = meta.train_maml(model, family, meta.MAMLConfig(hidden=32, meta_steps=80, meta_batch=8), progress=False)
    assert len(history) == 80
    assert sum(history[-10:]) / 10 < 0.5 * sum(history[:10]) / 10


@pytest.mark.gpu
def test_meta_gradient_on_gpu_matches_cpu(family):
    import lecturelib

    dev = lecturelib.device()
    torch.manual_seed(0)
    model = meta.make_regressor(16)
    batch = family.sample(4, 4, 8, generator=torch.Generator().manual_seed(0))
    _, cpu = meta.meta_gradient(model, batch, inner_lr=0.05, inner_steps=2)
    model_dev = copy.deepcopy(model).to(dev)
    _, gpu = meta.meta_gradient(model_dev, batch.to(dev), inner_lr=0.05, inner_steps=2)
    for n in cpu:
        assert torch.allclose(gpu[n].cpu(), cpu[n], atol=1e-4), n


# --- black-box meta-learning ------------------------------------------------------------------------
def test_blackbox_reads_only_its_own_support_set(family):
    torch.manual_seed(0)
    model = meta.BlackBoxMetaLearner(hidden=16, phi_dim=4)
    batch = family.sample(3, 4, 5, generator=torch.Generator().manual_seed(0))
    out = model(batch.support_x, batch.support_y, batch.query_x)
    assert out.shape == (3, 5, 1)
    tokens = meta.support_tokens(batch.support_x, batch.support_y)
    assert tokens.shape == (3, 4, 3) and torch.equal(tokens[..., 2:], batch.support_y)
    changed = batch.support_y.clone()
    changed[2, 0] += 1.0
    out2 = model(batch.support_x, changed, batch.query_x)
    assert torch.allclose(out2[:2], out[:2]) and not torch.allclose(out2[2], out[2])
    with pytest.raises(ValueError):
        meta.support_tokens(batch.support_x, batch.support_y[:, :2])


def test_train_blackbox_learns(family):
    torch.manual_seed(0)
    model = meta.BlackBoxMetaLearner(hidden=32, phi_dim=8)
    history = meta.train_blackbox(model, family, meta.BlackBoxConfig(steps=150, meta_batch=16), progress=False)
    assert sum(history[-10:]) / 10 < 0.5 * sum(history[:10]) / 10


# --- baselines ----------------------------------------------------------------------------------------
def test_from_scratch_fits_the_support_set(family):
    torch.manual_seed(0)
    model = meta.make_regressor(32)
    task = family.pizza_task()
    train_from_scratch(model, task, BaselineConfig(scratch_steps=300))
    with torch.no_grad():
        fit = family.decode_y(model(task.support_x[0]))
    assert torch.allclose(fit, family.decode_y(task.support_y[0]), atol=0.5)


def test_pretraining_lowers_the_pooled_loss(family):
    torch.manual_seed(0)
    history = pretrain_on_family(meta.make_regressor(32), family, BaselineConfig(pretrain_steps=100), progress=False)
    assert sum(history[-10:]) < sum(history[:10])


# --- the θ quiz ---------------------------------------------------------------------------------------
def _post_adaptation(theta, tasks, alpha):
    """(1/T) Σ L_i(θ - α ∇L_i(θ)) with autograd, differentiable in θ through the inner step (second order)."""
    theta = theta if theta.requires_grad else theta.clone().requires_grad_(True)
    total = 0.0
    for t in tasks:
        (g,) = torch.autograd.grad(t.loss(theta), theta, create_graph=True)
        total = total + t.loss(theta - alpha * g)
    return total / len(tasks)


def test_quiz_optima_are_the_minimisers():
    tasks = landscape.quiz_tasks()
    alpha = landscape.QUIZ_INNER_LR
    for optimum, objective in [
        (landscape.joint_optimum(tasks), lambda th: sum(t.loss(th) for t in tasks)),
        (landscape.maml_optimum(tasks, alpha), lambda th: _post_adaptation(th, tasks, alpha)),
    ]:
        theta = optimum.clone().requires_grad_(True)
        (g,) = torch.autograd.grad(objective(theta), theta)
        assert g.abs().max() < 1e-8, "the gradient vanishes at the optimum"
    markers = landscape.quiz_markers(tasks)
    after = {k: float(_post_adaptation(v, tasks, alpha)) for k, v in markers.items()}
    before = {k: float(sum(t.loss(v) for t in tasks)) for k, v in markers.items()}
    assert min(after, key=after.get) == "B" and min(before, key=before.get) == "A"
    assert sorted(after.values())[1] > 1.2 * after["B"], "the quiz has a clear answer"


def test_one_step_matches_autograd():
    task = landscape.quiz_tasks()[0]
    theta = torch.tensor([0.3, -0.7], dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(task.loss(theta), theta)
    assert torch.allclose(landscape.one_step(task, theta.detach(), 0.3), theta.detach() - 0.3 * g)
    with pytest.raises(ValueError):
        landscape.QuadraticTask([0.0, 0.0], [[1.0, 2.0], [0.0, 1.0]])


# --- learn2learn, quietly -----------------------------------------------------------------------------
def test_import_learn2learn_silences_only_the_gym_notice():
    code = ("import warnings, sys\n"
            "from lecturelib.meta import import_learn2learn\n"
            "l2l = import_learn2learn()\n"
            "import gym_notices.notices as n\n"
            "assert n.notices, 'the notice table is restored'\n"
            "print('stderr still works', file=sys.stderr)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "Gym has been unmaintained" not in out.stderr
    assert "stderr still works" in out.stderr
