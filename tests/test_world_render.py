"""Rendering of the tabletop world (lecturelib.world.render)."""
import numpy as np
import pytest

from lecturelib.world.core import COLOUR_RGB, BLOCK, WorldState, sample_scenes, step
from lecturelib.world.render import BACKGROUND, render


def test_shapes_and_dtype():
    s = sample_scenes(5, np.random.default_rng(0))
    for size in (32, 64, 256):
        img = render(s, size)
        assert img.shape == (5, size, size, 3) and img.dtype == np.uint8


def test_rendering_is_deterministic_and_matches_single_rendering():
    s = sample_scenes(6, np.random.default_rng(1))
    a, b = render(s, 64), render(s.copy(), 64)
    np.testing.assert_array_equal(a, b)
    for i in range(6):      # batching does not change a world's picture
        np.testing.assert_array_equal(render(s.index(i), 64)[0], a[i])


def test_each_block_is_drawn_in_its_colour_where_it_is():
    s = sample_scenes(20, np.random.default_rng(2))
    img = render(s, 64)
    for b in range(20):
        for k in np.flatnonzero(s.present[b]):
            col = int((s.x[b, k]) * 64)
            row = int(56 - (s.y[b, k] + BLOCK / 2) / 0.875 * 56)
            np.testing.assert_array_equal(img[b, row, col], COLOUR_RGB[k])
    # colours of absent blocks never appear
    for b in range(20):
        for k in np.flatnonzero(~s.present[b]):
            assert not np.all(img[b] == COLOUR_RGB[k], axis=-1).any()


def test_open_and_closed_gripper_look_different():
    s = sample_scenes(1, np.random.default_rng(3))
    opened = render(s, 64)[0]
    s.closed[:] = True
    closed = render(s, 64)[0]
    assert (opened != closed).any()


def test_a_moved_block_changes_the_picture():
    s = sample_scenes(1, np.random.default_rng(4))
    before = render(s, 64)[0]
    step(s, np.array([[0.5, 0.0, -1.0]]))
    assert (render(s, 64)[0] != before).any()
    assert (before == BACKGROUND).all(-1).mean() > 0.3


def test_too_small_size_is_rejected():
    with pytest.raises(ValueError, match="at least"):
        render(sample_scenes(1, np.random.default_rng(0)), 8)
