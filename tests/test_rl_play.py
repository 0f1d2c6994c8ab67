"""lecturelib.rl.play: the gridworld, play data, relabeling into (state, goal, action), imitation."""
import numpy as np
import pytest
import torch

from lecturelib.rl.play import (ACTIONS, GridWorld, GoalPolicy, ImitationConfig, collect_play, evaluate_goal_reaching,
                                relabel_play, relabel_play_final, train_goal_imitation)

SMALL = """
#####
#   #
# # #
#   #
#####
"""


def test_gridworld_moves_and_walls():
    w = GridWorld(SMALL)
    assert w.n_cells == 8
    pos = np.array([[1, 1], [1, 1], [1, 3]])
    nxt = w.step(pos, np.array([0, 1, 3]))  # up into a wall, down, right into a wall
    assert nxt.tolist() == [[1, 1], [2, 1], [1, 3]]
    with pytest.raises(ValueError, match="rectangle"):
        GridWorld("##\n#")
    with pytest.raises(ValueError, match="border"):
        GridWorld("###\n#  \n###")


def test_distances_are_shortest_paths_and_optimal_actions_shorten_them():
    w = GridWorld(SMALL)  # a ring of 8 cells around the central wall
    d = w.distances()
    assert d.max() == 4 and np.all(d == d.T) and np.all(np.diag(d) == 0)
    opt = w.optimal_actions()
    i, j = w.index[1, 1], w.index[3, 3]  # opposite corners: both ways round are shortest
    assert opt[i, j].tolist() == [False, True, False, True]
    # brute force on four rooms: every optimal action reduces the distance by exactly one
    w = GridWorld()
    d, opt = w.distances(), w.optimal_actions()
    for i in range(0, w.n_cells, 7):
        for a in range(4):
            nxt = w.index[tuple(w.step(w.cells[i], a))]
            assert np.array_equal(opt[i, :, a], d[nxt] == d[i] - 1)


def test_play_is_connected_and_better_than_random():
    w = GridWorld()
    states, actions = collect_play(w, 3000, np.random.default_rng(0), noise=0.3)
    assert states.shape == (3001, 2) and actions.shape == (3000,)
    assert np.array_equal(w.step(states[:-1], actions), states[1:]), "states follow the actions"
    assert len({tuple(s) for s in states}) == w.n_cells, "play visits the whole world"
    moved = np.mean(np.any(states[1:] != states[:-1], axis=1))
    assert moved > 0.9, "a play agent rarely bumps into walls"


def test_relabel_play_equals_brute_force_pairs():
    rng = np.random.default_rng(0)
    states, actions = rng.integers(0, 9, (8, 2)), rng.integers(0, 4, 7)
    s, g, a = relabel_play(states, actions, max_horizon=3)
    expected = sorted((tuple(states[t]), tuple(states[t + h]), actions[t])
                      for t in range(7) for h in range(1, 4) if t + h <= 7)
    got = sorted(zip(map(tuple, s), map(tuple, g), a))
    assert got == expected
    s, g, a = relabel_play(states, actions, max_horizon=100)  # horizon longer than the stream: all pairs
    assert len(a) == 7 * 8 // 2
    with pytest.raises(ValueError):
        relabel_play(states, actions[:-1], 3)


def test_relabel_play_final_uses_the_segment_end():
    states, actions = np.arange(11)[:, None], np.arange(10)
    s, g, a = relabel_play_final(states, actions, segment=4)
    assert g[:, 0].tolist() == [4, 4, 4, 4, 8, 8, 8, 8, 10, 10]
    assert np.array_equal(s[:, 0], np.arange(10)) and np.array_equal(a, actions)


def test_goal_imitation_from_relabeled_play_beats_a_random_walk():
    w = GridWorld()
    states, actions = collect_play(w, 3000, np.random.default_rng(0))
    s, g, a = relabel_play(states, actions, 15)
    result = train_goal_imitation(w, s, g, a, ImitationConfig(updates=600, hidden=64), progress=False)
    assert result.losses[-1] < result.losses[0]
    ours = evaluate_goal_reaching(w, result.policy, n_episodes=200, greedy=False)
    rand = evaluate_goal_reaching(w, None, n_episodes=200)
    assert ours > rand + 0.3, (ours, rand)  # ~0.64 vs ~0.18 over seeds 0-2


def test_evaluate_paths_and_an_oracle_policy():
    w = GridWorld()
    opt = torch.as_tensor(w.optimal_actions())

    class Oracle(torch.nn.Module):
        def forward(self, s, g):
            return opt[s, g].float()

    success, paths, goals = evaluate_goal_reaching(w, Oracle(), n_episodes=50, max_steps=30, return_paths=True)
    assert success == 1.0 and paths.shape == (31, 50, 2) and goals.shape == (50, 2)
    assert np.all(paths[-1] == goals)
    policy = GoalPolicy(w.n_cells, hidden=16)
    assert policy(torch.tensor([0, 1]), torch.tensor([2, 3])).shape == (2, 4)


@pytest.mark.gpu
def test_imitation_runs_on_the_gpu():
    import lecturelib

    dev = lecturelib.device()
    w = GridWorld()
    states, actions = collect_play(w, 200, np.random.default_rng(0))
    result = train_goal_imitation(w, *relabel_play(states, actions, 5), ImitationConfig(updates=5), dev, progress=False)
    assert 0.0 <= evaluate_goal_reaching(w, result.policy, n_episodes=20, device=dev, greedy=False) <= 1.0
