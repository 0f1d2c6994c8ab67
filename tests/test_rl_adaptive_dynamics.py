"""lecturelib.rl.adaptive_dynamics: point-mass dynamics, the MAML adaptation step (learn2learn as the
oracle), MPC on a known model, and "adaptation lowers the error on unseen dynamics"."""
import math

import numpy as np
import pytest
import torch

from lecturelib.meta import import_learn2learn
from lecturelib.rl.adaptive_dynamics import (TEST_DYNAMICS, Dynamics, DynamicsModel, MetaDynamicsConfig, MPCConfig,
                                             PointMass, adapt, cem, collect_random_transitions, dynamics_loss,
                                             meta_train_dynamics, prediction_errors, random_shooting, reach_cost,
                                             run_mpc, sample_train_dynamics, meta_test_dynamics)


def test_point_mass_physics_by_hand():
    d = Dynamics(mass=[2.0], friction=[0.5], gain=[[1.0, 0.5]])
    env = PointMass(d, dt=0.1)
    env.reset(np.array([[0.0, 0.0, 1.0, 0.0]]))
    s = env.step(np.array([[1.0, 1.0]]))
    # v' = v + dt (g a / m - c v) = (1 + 0.1 (0.5 - 0.5), 0 + 0.1 * 0.25) ; p' = p + dt v'
    assert np.allclose(s, [[0.1, 0.0025, 1.0, 0.025]])
    s = env.step(np.array([[5.0, -5.0]]))  # actions are clipped to [-1, 1]
    assert np.allclose(s[0, 2:], [1.0, 0.025 + 0.1 * (-0.25 - 0.5 * 0.025)])


def test_turned_actuators_rotate_the_force():
    d = Dynamics(mass=[1.0], friction=[0.0], gain=[[1.0, 1.0]], angle=[math.pi / 2])
    assert np.allclose(d.force(np.array([[1.0, 0.0]])), [[0.0, 1.0]])
    with pytest.raises(ValueError):
        Dynamics(mass=[1.0, 2.0], friction=[0.0], gain=[[1.0, 1.0]])
    with pytest.raises(ValueError):
        Dynamics(mass=[-1.0], friction=[0.0], gain=[[1.0, 1.0]])


def test_meta_test_dynamics_lie_outside_the_training_ranges():
    train = sample_train_dynamics(np.random.default_rng(0), 5000)
    for row in TEST_DYNAMICS.values():
        outside = (row["mass"] > train.mass.max() or row["friction"] > train.friction.max()
                   or min(row["gain"]) < train.gain.min() or abs(row["angle"]) > np.abs(train.angle).max())
        assert outside, row
    assert len(meta_test_dynamics()) == len(TEST_DYNAMICS)


def _data(seed=0, n=3, steps=40):
    rng = np.random.default_rng(seed)
    S, A, S2 = collect_random_transitions(sample_train_dynamics(rng, n), steps, rng)
    return [torch.as_tensor(x, dtype=torch.float32) for x in (S, A, S2)]


def test_adapt_matches_learn2learn_maml_step_and_meta_gradient():
    l2l = import_learn2learn()
    torch.manual_seed(0)
    S, A, S2 = _data()
    model = DynamicsModel(hidden=16)
    model.set_normalisation(S, A, S2)
    past = (S[0, :16], A[0, :16], S2[0, :16])
    future = (S[0, 16:32], A[0, 16:32], S2[0, 16:32])
    # ours: θ' = θ - α ∇L(θ; past), then the meta-gradient of L(θ'; future)
    params = model.params()
    adapted = adapt(model, params, *past, inner_lr=0.1)
    dynamics_loss(model, adapted, *future).backward()
    ours = {k: v.grad.clone() for k, v in model.named_parameters()}
    model.zero_grad()
    # learn2learn's MAML (second order) on the same module
    maml = l2l.algorithms.MAML(model, lr=0.1)
    learner = maml.clone()

    def l2l_loss(m, s, a, s2):
        return (((m(s, a) - (s2 - s - model.out_mean) / model.out_std)) ** 2).mean()

    learner.adapt(l2l_loss(learner, *past))
    for name, p in learner.module.named_parameters():
        assert torch.allclose(adapted[name], p, atol=1e-6), name
    l2l_loss(learner, *future).backward()
    for name, p in model.named_parameters():
        assert torch.allclose(ours[name], p.grad, atol=1e-5), f"meta-gradient differs for {name}"


def test_adapt_is_vmappable_over_tasks_and_lowers_the_past_loss():
    torch.manual_seed(0)
    S, A, S2 = _data(n=4)
    model = DynamicsModel(hidden=16)
    model.set_normalisation(S, A, S2)
    params = {k: v.detach() for k, v in model.params().items()}
    adapted = torch.func.vmap(lambda s, a, s2: adapt(model, params, s, a, s2, 0.05))(S[:, :16], A[:, :16], S2[:, :16])
    assert adapted["net.0.weight"].shape == (4, *params["net.0.weight"].shape)
    for i in range(4):
        one = {k: v[i] for k, v in adapted.items()}
        assert dynamics_loss(model, one, S[i, :16], A[i, :16], S2[i, :16]) < \
            dynamics_loss(model, params, S[i, :16], A[i, :16], S2[i, :16])


def test_predict_of_a_perfect_model_is_the_true_next_state():
    S, A, S2 = _data()
    model = DynamicsModel(hidden=8)
    model.set_normalisation(S, A, S2)
    # zero network output -> Δs = out_mean: predict() must add the de-standardised delta to the state
    params = {k: torch.zeros_like(v) for k, v in model.params().items()}
    pred = model.predict(params, S[0], A[0])
    assert torch.allclose(pred, S[0] + model.out_mean, atol=1e-6)


def _linear_step(states, actions):  # a known model: position += action (the "state" is a 2-D position)
    return states + actions


def test_random_shooting_finds_the_one_step_optimum_of_a_known_model():
    goal = torch.tensor([0.3, -0.5])
    cost = lambda s, a: ((s - goal) ** 2).sum(-1)
    gen = torch.Generator().manual_seed(0)
    a = random_shooting(_linear_step, torch.zeros(2), cost, horizon=1, n_samples=4000, action_dim=2, generator=gen)
    assert a.shape == (2,) and torch.allclose(a, goal, atol=0.1)


def test_random_shooting_plans_over_the_horizon():
    # the cost is only paid at the second step (a time counter is part of the state): the first action must
    # already head for the goal, which needs two nearly full steps
    goal = torch.tensor([1.8, -1.8])

    def step(s, a):
        return torch.cat([s[:, :2] + a, s[:, 2:] + 1], dim=1)

    cost = lambda s, a: (s[:, 2] == 2).float() * ((s[:, :2] - goal) ** 2).sum(-1)
    gen = torch.Generator().manual_seed(1)
    a = random_shooting(step, torch.zeros(3), cost, horizon=2, n_samples=3000, action_dim=2, generator=gen)
    assert a[0] > 0.6 and a[1] < -0.6, a
    a = cem(step, torch.zeros(3), cost, horizon=2, n_samples=300, action_dim=2, generator=gen)
    assert a[0] > 0.6 and a[1] < -0.6, a


def test_mpc_with_the_true_model_reaches_the_target():
    d = Dynamics(mass=[1.0], friction=[0.2], gain=[[1.0, 1.0]])

    class TrueModel(DynamicsModel):
        def predict(self, params, s, a):
            a = a.clamp(-1, 1)
            v = s[..., 2:] + 0.1 * (a - 0.2 * s[..., 2:])
            return torch.cat([s[..., :2] + 0.1 * v, v], -1)

    out = run_mpc(TrueModel(hidden=4), d, target=(0.5, -0.5), adapt_online=False, inner_lr=0.0, past_k=4,
                  config=MPCConfig(horizon=8, n_samples=300, episode_len=40))
    assert np.linalg.norm(out["paths"][0, -1] - [0.5, -0.5]) < 0.1
    assert out["returns"].shape == (1,) and out["paths"].shape == (1, 41, 2)


def test_meta_training_then_adaptation_lowers_the_error_on_unseen_dynamics():
    cfg = MetaDynamicsConfig(iterations=300, n_train_tasks=50, hidden=32, seed=0)
    result = meta_train_dynamics(cfg, progress=False)
    assert np.mean(result.losses[-20:]) < np.mean(result.losses[:20])
    errors = prediction_errors(result.model, meta_test_dynamics(), cfg.inner_lr, cfg.past_k, n_windows=100)
    assert errors["adapted"] < 0.85 * errors["unadapted"], errors  # ~0.76 after this short run, ~0.3 in the lesson


def test_reach_cost_and_validation():
    cost = reach_cost(torch.tensor([1.0, 0.0]), action_weight=0.5)
    c = cost(torch.tensor([[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]]), torch.tensor([[0.0, 0.0], [1.0, 0.0]]))
    assert torch.allclose(c, torch.tensor([0.0, 1.5]))
    with pytest.raises(ValueError):
        random_shooting(_linear_step, torch.zeros(2), cost, horizon=0, n_samples=10, action_dim=2)
    with pytest.raises(ValueError):
        meta_train_dynamics(MetaDynamicsConfig(steps_per_task=10), progress=False)


@pytest.mark.gpu
def test_meta_training_and_mpc_run_on_the_gpu():
    import lecturelib

    dev = lecturelib.device()
    cfg = MetaDynamicsConfig(iterations=3, n_train_tasks=8, hidden=16)
    result = meta_train_dynamics(cfg, dev, progress=False)
    errors = prediction_errors(result.model, meta_test_dynamics(), cfg.inner_lr, cfg.past_k, n_windows=10, device=dev)
    assert set(errors) == {"unadapted", "adapted"}
    out = run_mpc(result.model, meta_test_dynamics()[0], adapt_online=True, inner_lr=cfg.inner_lr, past_k=4,
                  config=MPCConfig(horizon=3, n_samples=16, episode_len=6), device=dev)
    assert out["paths"].shape == (1, 7, 2)
