"""lecturelib.rl.bitflip: the HER paper's bit-flipping environment, single and batched."""
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from lecturelib.rl.bitflip import BatchedBitFlipping, BitFlippingEnv, bitflip_reward, random_start_and_goal


@pytest.mark.filterwarnings("ignore:.*spec")
@pytest.mark.parametrize("n_bits", [1, 4, 15])
def test_passes_gymnasium_check_env(n_bits):
    check_env(BitFlippingEnv(n_bits=n_bits), skip_render_check=True)
    check_env(BitFlippingEnv(n_bits=n_bits, render_mode="ansi"))


def test_reward_is_minus_one_until_goal_and_vectorised():
    a = np.array([[0, 1, 1], [1, 1, 1], [0, 0, 0]])
    g = np.array([[0, 1, 1], [1, 0, 1], [0, 0, 0]])
    assert bitflip_reward(a, g).tolist() == [0.0, -1.0, 0.0]
    assert bitflip_reward(a, g).dtype == np.float32
    batch = np.random.default_rng(0).integers(0, 2, size=(4, 5, 6))
    assert bitflip_reward(batch, batch[::-1]).shape == (4, 5)
    with pytest.raises(ValueError, match="same shape"):
        bitflip_reward(np.zeros(3), np.zeros(4))


def test_goal_env_contract_reward_equals_compute_reward_along_an_episode():
    env = BitFlippingEnv(n_bits=6)
    obs, info = env.reset(seed=3)
    assert not np.array_equal(obs["observation"], obs["desired_goal"]), "the goal differs from the start"
    assert np.array_equal(obs["observation"], obs["achieved_goal"])
    rng = np.random.default_rng(0)
    for _ in range(6):
        a = int(rng.integers(0, 6))
        before = obs["observation"].copy()
        obs, reward, terminated, truncated, info = env.step(a)
        assert np.sum(before != obs["observation"]) == 1 and before[a] != obs["observation"][a], "one flipped bit"
        assert reward == env.compute_reward(obs["achieved_goal"], obs["desired_goal"], info)
        assert terminated == info["is_success"] == (reward == 0.0)
        if terminated or truncated:
            break
    assert terminated or truncated, "an episode lasts at most n steps"


def test_solving_by_flipping_the_differing_bits_terminates_with_reward_zero():
    env = BitFlippingEnv(n_bits=10)
    obs, _ = env.reset(seed=1)
    diff = np.flatnonzero(obs["observation"] != obs["desired_goal"])
    for k, bit in enumerate(diff):
        obs, reward, terminated, truncated, _ = env.step(int(bit))
        assert (reward == 0.0) == (k == len(diff) - 1) and terminated == (k == len(diff) - 1)
    assert not truncated


def test_bad_arguments_raise_clear_errors():
    with pytest.raises(ValueError, match="n_bits"):
        BitFlippingEnv(n_bits=0)
    env = BitFlippingEnv(n_bits=3)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="action"):
        env.step(3)
    with pytest.raises(ValueError, match="render_mode"):
        BitFlippingEnv(render_mode="human")


def test_random_start_and_goal_never_equal_and_roughly_uniform():
    state, goal = random_start_and_goal(np.random.default_rng(0), 2, 4000)
    assert not np.any(np.all(state == goal, axis=1))
    assert abs(goal.mean() - 0.5) < 0.05 and abs(state.mean() - 0.5) < 0.05


def test_batched_matches_single_env_dynamics_and_freezes_finished_episodes():
    env = BatchedBitFlipping(n_bits=5, n_envs=64, seed=0)
    obs = env.reset()
    rng = np.random.default_rng(1)
    done = np.zeros(64, dtype=bool)
    for step in range(5):
        prev = obs["observation"].copy()
        actions = rng.integers(0, 5, 64)
        obs, reward, terminated, truncated, info = env.step(actions)
        moved = np.any(prev != obs["observation"], axis=1)
        assert np.array_equal(moved, ~done), "exactly the running episodes move"
        expected = prev.copy()
        expected[~done, actions[~done]] ^= 1
        assert np.array_equal(obs["observation"], expected)
        assert np.array_equal(reward, bitflip_reward(obs["achieved_goal"], obs["desired_goal"]))
        assert not np.any(terminated & done) and not np.any(truncated & done), "an episode ends once"
        done |= terminated | truncated
    assert done.all() and not env.active.any(), "every episode ends within max_steps = n"


def test_batched_reset_with_given_goals_and_validation():
    env = BatchedBitFlipping(n_bits=3, n_envs=2, seed=0)
    goals = np.array([[1, 1, 1], [0, 0, 0]])
    obs = env.reset(goal=goals)
    assert np.array_equal(obs["desired_goal"], goals)
    with pytest.raises(ValueError, match="actions"):
        env.step(np.array([0, 3]))
    with pytest.raises(ValueError, match="goal"):
        env.reset(goal=np.zeros((3, 3)))
