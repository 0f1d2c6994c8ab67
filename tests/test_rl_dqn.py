"""lecturelib.rl.dqn: the double-DQN target, the goal-conditioned Q-network and a short training run."""
import numpy as np
import pytest
import torch

from lecturelib.rl.dqn import DQNConfig, GoalQNetwork, double_dqn_target, evaluate_success, train_goal_dqn


def test_double_dqn_target_hand_computed():
    q_online = torch.tensor([[1.0, 3.0, 2.0], [0.0, -1.0, 5.0], [4.0, 0.0, 0.0]])
    q_target = torch.tensor([[10.0, 20.0, 30.0], [7.0, 8.0, 9.0], [-2.0, -3.0, -4.0]])
    reward = torch.tensor([-1.0, 0.0, -1.0])
    done = torch.tensor([0.0, 0.0, 1.0])
    y = double_dqn_target(q_online, q_target, reward, done, gamma=0.5)
    # row 0: online picks a=1, target says 20 -> -1 + 0.5*20 = 9 (vanilla DQN would use max 30 -> 14)
    # row 1: online picks a=2 -> 0 + 0.5*9 = 4.5;  row 2: done -> just the reward
    assert torch.allclose(y, torch.tensor([9.0, 4.5, -1.0]))
    assert y.shape == (3,)


def test_double_dqn_target_accepts_bool_done_and_checks_shapes():
    q = torch.zeros(2, 4)
    y = double_dqn_target(q, q + 1, torch.zeros(2), torch.tensor([True, False]), 0.9)
    assert torch.allclose(y, torch.tensor([0.0, 0.9]))
    with pytest.raises(ValueError, match="Q tables"):
        double_dqn_target(torch.zeros(2, 4), torch.zeros(2, 3), torch.zeros(2), torch.zeros(2), 0.9)


def test_goal_q_network_shapes_and_goal_dependence():
    torch.manual_seed(0)
    net = GoalQNetwork(6, 6, 6, hidden=32)
    obs, g1, g2 = torch.zeros(5, 6), torch.zeros(5, 6), torch.ones(5, 6)
    assert net(obs, g1).shape == (5, 6)
    assert not torch.allclose(net(obs, g1), net(obs, g2)), "Q depends on the goal"


def test_evaluate_success_of_an_oracle_q_network_is_one():
    class Oracle(torch.nn.Module):  # Q = +1 for bits that differ from the goal: greedy flips a wrong bit
        def forward(self, obs, goal):
            return (obs != goal).float()

    assert evaluate_success(Oracle(), 8, 50, "cpu") == 1.0


def test_her_learns_small_bit_flipping_quickly_and_records_curves():
    cfg = DQNConfig(n_bits=6, her=True, cycles=25, eval_every=5, eval_episodes=100, seed=0)
    result = train_goal_dqn(cfg, progress=False)
    assert len(result.success) == 5 and result.env_steps == sorted(result.env_steps)
    assert result.final_success >= 0.9, result.success
    assert result.steps_to(0.9) is not None


def test_user_functions_are_called(monkeypatch):
    calls = {"target": 0, "goals": 0}

    def target_fn(*args):
        calls["target"] += 1
        return double_dqn_target(*args)

    def goal_fn(*args):
        calls["goals"] += 1
        from lecturelib.rl.her import her_goals
        return her_goals(*args)

    train_goal_dqn(DQNConfig(n_bits=4, cycles=2, updates_per_cycle=3, eval_every=2, eval_episodes=10),
                   target_fn=target_fn, goal_fn=goal_fn, progress=False)
    assert calls["target"] == 6 and calls["goals"] > 0


def test_bad_config_raises():
    with pytest.raises(ValueError):
        train_goal_dqn(DQNConfig(n_bits=0), progress=False)


@pytest.mark.gpu
def test_training_runs_on_the_gpu():
    import lecturelib

    dev = lecturelib.device()
    result = train_goal_dqn(DQNConfig(n_bits=5, cycles=3, eval_every=3, eval_episodes=20), dev, progress=False)
    assert next(result.q_net.parameters()).device.type == dev.type and len(result.success) == 1
