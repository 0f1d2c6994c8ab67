"""lecturelib.rl.her: hindsight goals, relabeled transitions and the replay buffer."""
import numpy as np
import pytest

from lecturelib.rl.bitflip import BitFlippingEnv, bitflip_reward
from lecturelib.rl.her import (Episode, HindsightReplayBuffer, ReplayBuffer, her_goals, original_transitions,
                               relabel_episode)


def random_episode(T=6, n=5, seed=0):
    """A random walk on the hypercube: each step flips one bit."""
    rng = np.random.default_rng(seed)
    s = [rng.integers(0, 2, n).astype(np.int8)]
    actions = rng.integers(0, n, T)
    for a in actions:
        nxt = s[-1].copy()
        nxt[a] ^= 1
        s.append(nxt)
    s = np.stack(s)
    return Episode(obs=s, achieved_goal=s, desired_goal=rng.integers(0, 2, n).astype(np.int8), actions=actions)


def test_final_strategy_uses_the_last_achieved_goal_for_every_transition():
    ep = random_episode()
    t, goals = her_goals(ep.achieved_goal, "final", k=4, rng=np.random.default_rng(0))
    assert t.tolist() == list(range(6))
    assert np.all(goals == ep.achieved_goal[-1])


def test_future_goals_are_achieved_later_and_cover_every_later_step():
    ep = random_episode(T=8)
    ag = np.arange(9)[:, None]  # achieved goal = the step index, so we can read t' back
    t, goals = her_goals(ag, "future", k=400, rng=np.random.default_rng(1))
    assert len(t) == 8 * 400 and np.array_equal(np.bincount(t), np.full(8, 400)), "k goals per transition"
    t_goal = goals[:, 0]
    assert np.all(t_goal > t) and np.all(t_goal <= 8), "a future goal is achieved strictly after step t"
    for step in range(8):  # uniform over {t+1, ..., T}: every later step appears, roughly equally often
        counts = np.bincount(t_goal[t == step], minlength=9)[step + 1:]
        assert len(counts) == 8 - step and counts.min() > 0.5 * counts.mean()


def test_episode_goals_come_from_anywhere_in_the_episode_including_the_past():
    ag = np.arange(7)[:, None]
    t, goals = her_goals(ag, "episode", k=300, rng=np.random.default_rng(2))
    t_goal = goals[:, 0]
    assert set(np.unique(t_goal)) == set(range(1, 7)), "any achieved state of the episode (s_1..s_T)"
    assert np.any(t_goal <= t), "the episode strategy also uses states from before the transition"


def test_relabeled_final_and_future_transitions_reach_their_goal_by_following_the_episode():
    env = BitFlippingEnv(n_bits=5)
    for seed in range(5):
        ep = random_episode(T=7, seed=seed)
        for strategy in ("final", "future"):
            tr = relabel_episode(ep, strategy, 3, np.random.default_rng(seed), env.compute_reward)
            assert np.array_equal(tr["reward"], bitflip_reward(tr["next_obs"], tr["goal"]))
            # the goal was achieved at some step t' > t of the same episode: replaying a_t..a_{t'-1} reaches it
            for t, obs, goal in zip(tr["t"], tr["obs"], tr["goal"]):
                assert np.array_equal(obs, ep.obs[t])
                assert any(np.array_equal(goal, ep.achieved_goal[u]) for u in range(t + 1, 8))
            last = tr["obs"] == ep.obs[-2]
            rows = np.flatnonzero(np.all(last, axis=1) & np.all(tr["next_obs"] == ep.obs[-1], axis=1))
            assert np.all(tr["reward"][rows] == 0.0) and np.all(tr["done"][rows]), \
                "the last transition relabeled with final/future always reaches its goal"


def test_relabeled_rewards_equal_compute_reward_and_done_marks_success():
    ep = random_episode(T=9, seed=4)
    tr = relabel_episode(ep, "episode", 4, np.random.default_rng(0), bitflip_reward)
    assert np.array_equal(tr["reward"], bitflip_reward(tr["next_obs"], tr["goal"]))
    assert np.array_equal(tr["done"], tr["reward"] == 0.0)
    orig = original_transitions(ep, bitflip_reward)
    assert np.all(orig["goal"] == ep.desired_goal) and len(orig["action"]) == 9


def test_her_goals_rejects_bad_arguments():
    with pytest.raises(ValueError, match="strategy"):
        her_goals(np.zeros((3, 2)), "random", 4, np.random.default_rng(0))
    with pytest.raises(ValueError, match="k must be"):
        her_goals(np.zeros((3, 2)), "future", 0, np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"\(T\+1, n\)"):
        her_goals(np.zeros((1, 2)), "final", 4, np.random.default_rng(0))
    with pytest.raises(ValueError, match="len"):
        Episode(obs=np.zeros((3, 2)), achieved_goal=np.zeros((3, 2)), desired_goal=np.zeros(2), actions=np.zeros(3))


def test_buffer_sizes_ring_overwrite_and_sampling():
    buf = HindsightReplayBuffer(1000, 5, 5, bitflip_reward, strategy="future", k=4, seed=0)
    ep = random_episode(T=6)
    buf.add_episode(ep)
    assert len(buf) == 6 + 4 * 6, "original transitions plus k relabels each"
    plain = HindsightReplayBuffer(1000, 5, 5, bitflip_reward, strategy=None)
    plain.add_episode(ep)
    assert len(plain) == 6
    batch = buf.sample(64, np.random.default_rng(0))
    assert batch["obs"].shape == (64, 5) and batch["action"].shape == (64,)
    ring = ReplayBuffer(10, 1, 1)
    for start in (0, 7):
        ring.add({"obs": np.arange(start, start + 7)[:, None], "goal": np.zeros((7, 1)), "action": np.zeros(7),
                  "reward": np.zeros(7), "next_obs": np.zeros((7, 1)), "done": np.zeros(7)})
    assert len(ring) == 10 and sorted(ring.data["obs"][:, 0].tolist()) == list(range(4, 14)), "oldest overwritten"
    with pytest.raises(ValueError, match="empty"):
        ReplayBuffer(5, 1, 1).sample(2, np.random.default_rng(0))
