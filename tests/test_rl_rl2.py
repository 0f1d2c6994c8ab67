"""lecturelib.rl.rl2: RL² inputs, bandits, the classic baselines and a short meta-training run."""
import numpy as np
import pytest
import torch

from lecturelib.rl.rl2 import (BernoulliBandits, RL2Config, RL2Policy, random_regret, returns_to_go, rl2_input,
                               rollout_rl2, thompson_regret, train_rl2, ucb_regret)


def test_rl2_input_layout_matches_a_loop_oracle():
    obs = torch.tensor([[0.5], [1.0], [2.0]])
    prev_a = torch.tensor([-1, 0, 2])
    prev_r = torch.tensor([0.0, 1.0, 0.0])
    prev_d = torch.tensor([0.0, 1.0, 1.0])
    x = rl2_input(obs, prev_a, prev_r, prev_d, n_actions=3)
    assert x.shape == (3, 1 + 3 + 2)
    for b in range(3):
        one_hot = [1.0 if prev_a[b] == k else 0.0 for k in range(3)]
        assert x[b].tolist() == [obs[b, 0].item(), *one_hot, prev_r[b].item(), prev_d[b].item()]
    with pytest.raises(ValueError):
        rl2_input(obs, prev_a[:2], prev_r, prev_d, 3)


def test_bandits_rewards_and_regret():
    probs = np.array([[0.0, 1.0], [0.3, 0.2]])
    b = BernoulliBandits(2, 2, np.random.default_rng(0), probs)
    assert b.pull(np.array([1, 0]))[0] == 1.0 and b.pull(np.array([0, 0]))[0] == 0.0
    assert np.allclose(b.regret(np.array([0, 1])), [1.0, 0.1])
    with pytest.raises(ValueError):
        BernoulliBandits(1, 1, np.random.default_rng(0))


def test_returns_to_go():
    r = torch.tensor([[1.0, 0.0, 1.0]])
    assert torch.allclose(returns_to_go(r, 0.5), torch.tensor([[1.25, 0.5, 1.0]]))


def test_baselines_order_thompson_and_ucb_beat_random():
    probs = np.random.default_rng(0).random((1000, 5))
    mk = lambda s: BernoulliBandits(1000, 5, np.random.default_rng(s), probs)
    T = 50
    rand, ucb, ts = (f(mk(1), T)[:, -1].mean() for f in (random_regret, ucb_regret, thompson_regret))
    expected_random = T * (probs.max(1) - probs.mean(1)).mean()
    assert abs(rand - expected_random) < 0.05 * expected_random
    assert ts < ucb < rand and ts < 0.5 * rand


def test_rollout_shapes_and_first_input_has_no_previous_action():
    K = 4
    policy = RL2Policy(1 + K + 2, K, hidden=8)
    b = BernoulliBandits(6, K, np.random.default_rng(0))
    trial = rollout_rl2(policy, b, 5, "cpu", generator=torch.Generator().manual_seed(0))
    assert trial["inputs"].shape == (6, 5, 1 + K + 2) and trial["actions"].shape == (6, 5)
    assert torch.all(trial["inputs"][:, 0, 1:] == 0), "no previous action, reward or done at t = 0"
    prev = trial["inputs"][:, 1:, 1:1 + K].argmax(-1).numpy()
    assert np.array_equal(prev, trial["actions"][:, :-1]), "the input at t carries the action of t-1"
    assert np.array_equal(trial["inputs"][:, 1:, 1 + K].numpy(), trial["rewards"][:, :-1])


def test_short_meta_training_reduces_regret():
    cfg = RL2Config(horizon=10, updates=250, tasks_per_batch=64, seed=0)
    result = train_rl2(cfg, progress=False)
    early, late = np.mean(result.mean_regret[:20]), np.mean(result.mean_regret[-20:])
    assert late < 0.9 * early, (early, late)  # ~0.83 over seeds 0-2 after this short run


@pytest.mark.gpu
def test_rl2_runs_on_the_gpu():
    import lecturelib

    dev = lecturelib.device()
    result = train_rl2(RL2Config(horizon=5, updates=3, tasks_per_batch=16), dev, progress=False)
    assert next(result.policy.parameters()).device.type == dev.type and len(result.mean_regret) == 3
