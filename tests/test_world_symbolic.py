"""Predicates and the discrete scene (lecturelib.world.symbolic)."""
import numpy as np
import pytest

from lecturelib.world.core import BLOCK, WorldState, sample_scenes
from lecturelib.world.symbolic import (above, below, clear, describe, held, left_of, on, on_table, region,
                                       right_of, scene_of)

R, O, Y, G, B, W = range(6)


def _scene(blocks, held_block=-1, gripper=(0.5, 0.7)):
    present = np.zeros((1, 6), bool)
    x = np.full((1, 6), -1.0)
    y = np.full((1, 6), -1.0)
    for k, (bx, level) in blocks.items():
        present[0, k], x[0, k], y[0, k] = True, bx, level * BLOCK
    return WorldState(present, x, y, np.array([gripper]), np.array([held_block >= 0]), np.array([held_block]))


@pytest.fixture
def tower():
    # left: green / orange / red (bottom to top); center: blue; right: white; yellow in the gripper
    s = _scene({G: (0.1, 0), O: (0.1, 1), R: (0.1, 2), B: (0.5, 0), W: (0.9, 0), Y: (0.5, 4)}, held_block=Y,
               gripper=(0.5, 5 * BLOCK))
    return s


def test_on_and_table(tower):
    assert on(tower, O, G)[0] and on(tower, R, O)[0]
    assert not on(tower, R, G)[0] and not on(tower, G, O)[0] and not on(tower, Y, B)[0]
    assert on_table(tower, G)[0] and on_table(tower, B)[0] and not on_table(tower, R)[0]
    assert not on_table(tower, Y)[0]          # held blocks rest on nothing


def test_above_below_are_transitive_within_a_column(tower):
    assert above(tower, R, G)[0] and above(tower, R, O)[0] and below(tower, G, R)[0]
    assert not above(tower, G, R)[0] and not above(tower, B, G)[0]
    assert not above(tower, Y, B)[0]          # held block is in the air, not in a column


def test_left_right_region(tower):
    assert left_of(tower, G, B)[0] and right_of(tower, W, B)[0] and not left_of(tower, R, G)[0]
    assert region(tower, G)[0] == 0 and region(tower, B)[0] == 1 and region(tower, W)[0] == 2


def test_clear_and_held(tower):
    assert clear(tower, R)[0] and clear(tower, B)[0] and clear(tower, Y)[0]
    assert not clear(tower, G)[0] and not clear(tower, O)[0]
    assert held(tower, Y)[0] and not held(tower, R)[0]


def test_scene_of(tower):
    scene = scene_of(tower)
    assert scene.stacks == ((G, O, R), (B,), (W,))
    assert scene.held == Y
    assert scene.support(R) == O and scene.support(G) == "table" and scene.support(Y) == "gripper"
    assert scene.is_clear(R) and not scene.is_clear(O)
    facts = describe(tower)
    assert "the red block is on the orange block" in facts and "the yellow block is in the gripper" in facts


def test_scene_of_matches_predicates_on_random_scenes():
    s = sample_scenes(100, np.random.default_rng(0))
    for b in range(100):
        scene = scene_of(s, b)
        sub = s.index(b)
        for stack in scene.stacks:
            assert on_table(sub, stack[0])[0]
            for lower, upper in zip(stack, stack[1:]):
                assert on(sub, upper, lower)[0]
        assert sorted(scene.blocks) == sorted(np.flatnonzero(s.present[b]).tolist())


def test_bad_block_index():
    s = sample_scenes(1, np.random.default_rng(0))
    with pytest.raises(ValueError, match="block index"):
        on(s, 0, 7)
    with pytest.raises(ValueError, match="world index"):
        scene_of(s, 3)
