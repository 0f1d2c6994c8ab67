"""The scripted expert and the play agent (lecturelib.world.expert)."""
import numpy as np
import pytest

from lecturelib.world.core import sample_scenes, step
from lecturelib.world.expert import PlayAgent, PlayConfig, expert_action
from lecturelib.world.language import FAMILIES, sample_instructions, success_many


@pytest.mark.parametrize("seed", [0, 1])
def test_expert_success_rate_is_at_least_99_percent(seed):
    rng = np.random.default_rng(seed)
    n = 400
    s = sample_scenes(n, rng)
    ins = sample_instructions(s, rng, FAMILIES)
    assert all(i is not None for i in ins)
    fam = np.array([FAMILIES.index(i.family) for i in ins])
    obj = np.array([i.obj for i in ins])
    arg = np.array([i.arg for i in ins])
    done = np.zeros(n, bool)
    for _ in range(60):
        step(s, expert_action(s, fam, obj, arg))
        done |= success_many(s, fam, obj, arg)
    for f in range(len(FAMILIES)):
        assert (fam == f).sum() > 50
        assert done[fam == f].mean() >= 0.99, FAMILIES[f]
    # once done, the expert stays done (no undoing)
    assert success_many(s, fam, obj, arg).mean() >= 0.99


def test_expert_is_reactive_function_of_the_state():
    rng = np.random.default_rng(3)
    s = sample_scenes(20, rng)
    ins = sample_instructions(s, rng)
    args = (np.array([FAMILIES.index(i.family) for i in ins]), [i.obj for i in ins], [i.arg for i in ins])
    np.testing.assert_array_equal(expert_action(s, *args), expert_action(s.copy(), *args))
    a = expert_action(s, *args)
    assert a.shape == (20, 3) and np.all(np.abs(a) <= 1)


def test_play_agent_moves_blocks_without_resets():
    rng = np.random.default_rng(4)
    s = sample_scenes(32, rng)
    agent = PlayAgent(32, rng, PlayConfig())
    start = s.copy()
    grasps = 0
    for _ in range(200):
        before = s.held.copy()
        step(s, agent.act(s))
        grasps += int(((before < 0) & (s.held >= 0)).sum())
    assert grasps >= 32 * 3                       # several behaviours per world
    moved = (np.abs(s.x - start.x) > 1e-6) | (np.abs(s.y - start.y) > 1e-6)
    assert (moved & s.present).any(1).mean() > 0.9


def test_play_config_validation():
    with pytest.raises(ValueError):
        PlayConfig(families=("dance",))
    with pytest.raises(ValueError):
        PlayConfig(noise=-1.0)
