"""Physics invariants of the tabletop world (lecturelib.world.core)."""
import numpy as np
import pytest

from lecturelib.world.core import (BLOCK, STEP, X_MAX, X_MIN, Y_MAX, WorldConfig, WorldState, clear_mask,
                                   sample_scenes, step)


def _scene(blocks, gripper=(0.5, 0.6), closed=False, held=-1):
    """blocks: {colour index: (x, y)}."""
    present = np.zeros((1, 6), bool)
    x = np.full((1, 6), -1.0)
    y = np.full((1, 6), -1.0)
    for k, (bx, by) in blocks.items():
        present[0, k], x[0, k], y[0, k] = True, bx, by
    return WorldState(present, x, y, np.array([gripper], float), np.array([closed]), np.array([held]))


def _assert_physical(s: WorldState):
    for b in range(s.batch_size):
        ks = np.flatnonzero(s.present[b])
        for i in ks:
            if s.held[b] == i:
                assert abs(s.x[b, i] - s.gripper[b, 0]) < 1e-9
                assert abs(s.y[b, i] - (s.gripper[b, 1] - BLOCK)) < 1e-9
                continue
            # resting: on the table, or exactly centred on a block
            if abs(s.y[b, i]) > 1e-9:
                sup = [j for j in ks if j != i and s.held[b] != j and abs(s.y[b, j] + BLOCK - s.y[b, i]) < 1e-9
                       and abs(s.x[b, j] - s.x[b, i]) < 1e-9]
                assert len(sup) == 1, f"block {i} floats: {s.x[b]}, {s.y[b]}"
            for j in ks:
                if j != i:   # no two blocks overlap
                    assert (abs(s.x[b, i] - s.x[b, j]) >= BLOCK - 1e-9
                            or abs(s.y[b, i] - s.y[b, j]) >= BLOCK - 1e-9), (i, j, s.x[b], s.y[b])
        gx, gy = s.gripper[b]
        assert X_MIN - 1e-9 <= gx <= X_MAX + 1e-9
        bottom = gy - (BLOCK if s.held[b] >= 0 else 0.0)
        for j in ks:
            if j != s.held[b] and abs(s.x[b, j] - gx) < BLOCK - 1e-9:
                assert bottom >= s.y[b, j] + BLOCK - 1e-9, "gripper inside a block"


def test_fresh_scenes_are_physical_and_follow_config():
    rng = np.random.default_rng(0)
    s = sample_scenes(300, rng, WorldConfig(min_blocks=3, max_blocks=6, max_stack=3))
    counts = s.present.sum(1)
    assert counts.min() >= 3 and counts.max() <= 6
    assert (s.y[s.present] <= 2 * BLOCK + 1e-9).all()        # columns of at most 3
    assert (s.held == -1).all() and not s.closed.any()
    _assert_physical(s)


def test_random_actions_keep_the_world_physical():
    rng = np.random.default_rng(1)
    s = sample_scenes(64, rng)
    grasps = releases = 0
    for _ in range(300):
        a = rng.uniform(-1, 1, (64, 3))
        a[:, 1] -= 0.3          # press downwards a lot, so that grasps and collisions happen
        a[:, 2] = np.where(rng.random(64) < 0.1, -1.0, 1.0)   # mostly closed, sometimes let go
        before = s.held.copy()
        step(s, a)
        grasps += int(((before < 0) & (s.held >= 0)).sum())
        releases += int(((before >= 0) & (s.held < 0)).sum())
        _assert_physical(s)
    assert grasps > 20 and releases > 20


def test_step_is_deterministic():
    rng = np.random.default_rng(2)
    s1 = sample_scenes(16, np.random.default_rng(5))
    s2 = sample_scenes(16, np.random.default_rng(5))
    for _ in range(50):
        a = rng.uniform(-1, 1, (16, 3))
        step(s1, a)
        step(s2, a.copy())
    for name in ("x", "y", "gripper", "closed", "held"):
        np.testing.assert_array_equal(getattr(s1, name), getattr(s2, name))


def test_released_block_falls_and_centres_on_the_block_below():
    # red held over the blue block, slightly off centre
    s = _scene({0: (0.53, 0.5), 4: (0.5, 0.0)}, gripper=(0.53, 0.625), closed=True, held=0)
    step(s, np.array([[0.0, 0.0, -1.0]]))
    assert s.held[0] == -1
    assert s.y[0, 0] == pytest.approx(BLOCK) and s.x[0, 0] == pytest.approx(0.5)


def test_released_block_falls_to_the_table():
    s = _scene({0: (0.2, 0.4), 4: (0.5, 0.0)}, gripper=(0.2, 0.525), closed=True, held=0)
    step(s, np.array([[0.0, 0.0, -1.0]]))
    assert s.y[0, 0] == 0.0 and s.x[0, 0] == pytest.approx(0.2)


def test_grasp_needs_a_clear_block_and_a_closed_gripper():
    # red on blue; the palm descends onto red (open: no grasp), then closes: grasp red, not blue
    s = _scene({4: (0.5, 0.0), 0: (0.5, BLOCK)}, gripper=(0.51, 0.3))
    assert not clear_mask(s)[0, 4] and clear_mask(s)[0, 0]
    for _ in range(3):
        step(s, np.array([[0.0, -1.0, -1.0]]))
    assert s.gripper[0, 1] == pytest.approx(2 * BLOCK)       # stopped on top of red
    assert s.held[0] == -1
    step(s, np.array([[0.0, 0.0, 1.0]]))
    assert s.held[0] == 0 and s.gripper[0, 0] == pytest.approx(0.5)   # fingers centre the palm
    step(s, np.array([[0.0, 1.0, 1.0]]))
    assert s.y[0, 0] == pytest.approx(BLOCK + STEP)
    assert clear_mask(s)[0, 4]


def test_sideways_move_into_a_column_slides_over_it():
    s = _scene({4: (0.5, 0.0), 0: (0.5, BLOCK)}, gripper=(0.36, 0.1))
    step(s, np.array([[1.0, 0.0, -1.0]]))
    assert s.gripper[0, 0] == pytest.approx(0.36 + STEP)          # overlaps the column now ...
    assert s.gripper[0, 1] == pytest.approx(2 * BLOCK)            # ... so it rides on its top
    _assert_physical(s)


def test_bad_actions_raise_clear_errors():
    s = sample_scenes(2, np.random.default_rng(0))
    with pytest.raises(ValueError, match="shape"):
        step(s, np.zeros((3, 3)))
    with pytest.raises(ValueError, match="NaN"):
        step(s, np.full((2, 3), np.nan))
    with pytest.raises(ValueError):
        WorldConfig(min_blocks=5, max_blocks=3)
    with pytest.raises(ValueError):
        sample_scenes(0, np.random.default_rng(0))


def test_gripper_stays_in_bounds():
    s = sample_scenes(8, np.random.default_rng(3))
    for _ in range(20):
        step(s, np.tile([[1.0, 1.0, -1.0]], (8, 1)))
    assert np.all(s.gripper[:, 0] <= X_MAX + 1e-9) and np.all(s.gripper[:, 1] <= Y_MAX + 1e-9)
