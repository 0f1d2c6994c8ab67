"""The gymnasium environment and the batch of worlds (lecturelib.world.env)."""
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from lecturelib.world.core import sample_scenes
from lecturelib.world.env import TabletopBatch, TabletopEnv
from lecturelib.world.expert import expert_action
from lecturelib.world.language import FAMILIES, Instruction


def test_passes_gymnasiums_env_checker():
    env = TabletopEnv(render_mode="rgb_array")
    check_env(env, skip_render_check=False)


def test_reset_is_seeded_and_expert_earns_the_reward():
    env = TabletopEnv()
    o1, i1 = env.reset(seed=7)
    o2, i2 = TabletopEnv().reset(seed=7)
    np.testing.assert_array_equal(o1["image"], o2["image"])
    assert i1["instruction"] == i2["instruction"]
    family, obj, arg = i1["task"]
    total, terminated = 0.0, False
    for _ in range(60):
        a = expert_action(env.state, [FAMILIES.index(family)], [obj], [arg])[0]
        _, r, terminated, truncated, info = env.step(a)
        total += r
        if terminated or truncated:
            break
    assert terminated and total == 1.0 and info["success"]


def test_reset_with_given_scene_and_instruction():
    scene = sample_scenes(1, np.random.default_rng(0))
    k = int(np.flatnonzero(scene.present[0])[0])
    ins = Instruction("pick", k, -1, "pick it up")
    env = TabletopEnv(max_steps=3)
    _, info = env.reset(seed=0, options={"scene": scene, "instruction": ins})
    assert info["instruction"] == "pick it up"
    for _ in range(3):
        *_, terminated, truncated, _ = env.step(np.zeros(3))
    assert truncated and not terminated
    with pytest.raises(ValueError):
        env.reset(options={"instruction": "pick up the red block"})


def test_batch_runs_expert_to_success():
    batch = TabletopBatch.sample(64, seed=1)
    for _ in range(60):
        a = expert_action(batch.state, batch.family, batch.obj, batch.arg)
        batch.step(a)
    assert batch.success.mean() >= 0.99
    assert batch.observe().shape == (64, 64, 64, 3)
