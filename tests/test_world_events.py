"""Play data, event detection and windows (lecturelib.world.events)."""
import numpy as np
import pytest

from lecturelib.world.core import BLOCK, WorldState, step
from lecturelib.world.events import (PlayData, Window, annotate, detect_events, generate_play, label_correct,
                                     random_windows, select_windows)
from lecturelib.world.expert import expert_action
from lecturelib.world.language import FAMILIES, success_many

R, O, Y, G, B, W = range(6)


def _scripted(tasks, max_steps=60):
    """Run the expert (no noise) through ``tasks`` in one world; return the recorded stream."""
    present = np.zeros((1, 6), bool)
    x = np.full((1, 6), -1.0)
    y = np.full((1, 6), -1.0)
    for k, (bx, level) in {R: (1 / 14, 0), G: (1 / 14, 1), B: (7 / 14, 0), W: (13 / 14, 0)}.items():
        present[0, k], x[0, k], y[0, k] = True, bx, level * BLOCK
    s = WorldState(present, x, y, np.array([[0.5, 0.6]]), np.array([False]), np.array([-1]))
    states, actions = [s.copy()], []
    for family, obj, arg in tasks:
        for _ in range(max_steps):
            if success_many(s, [FAMILIES.index(family)], [obj], [arg])[0]:
                break
            a = expert_action(s, [FAMILIES.index(family)], [obj], [arg])
            step(s, a)
            states.append(s.copy())
            actions.append(a[0])
    return PlayData.from_trajectory(states, actions, image_size=None)


def test_events_of_a_scripted_episode():
    # green (on red) to the table, then white onto blue, then red to the right side
    play = _scripted([("table", G, -1), ("stack", W, B), ("region", R, 2)])
    got = [(e.family, e.obj, e.arg) for e in detect_events(play)]
    # green lands on the left third, off a block: both "on the table" and "to the left" hold anew;
    # the expert carries blocks straight across, never as high as a "pick"
    assert got == [("table", G, -1), ("region", G, 0), ("stack", W, B), ("region", R, 2)]
    events = detect_events(play)
    times = [e.t for e in events]
    assert times == sorted(times)
    assert all(play.held[0, e.t_grasp] == e.obj and play.held[0, e.t_grasp - 1] != e.obj for e in events)


def test_putting_a_block_back_where_it_was_is_no_event():
    # white goes to the left side, then back to the right side where it came from: a region event
    # each time; lifting green off red and putting it back on red: only the pick
    play = _scripted([("region", W, 0), ("region", W, 2), ("pick", G, -1), ("stack", G, R)], max_steps=40)
    got = [(e.family, e.obj, e.arg) for e in detect_events(play)]
    assert got == [("region", W, 0), ("region", W, 2), ("pick", G, -1)]


def test_event_windows_are_correct_and_random_windows_are_not():
    play = generate_play(24, 300, seed=0, image_size=None)
    events = detect_events(play)
    assert len(events) > 24 * 5
    rng = np.random.default_rng(0)
    windows = [Window(s, a, b, annotate(e, rng)) for (s, a, b), e in zip(select_windows(play, events), events)]
    assert label_correct(play, windows).mean() >= 0.99
    lengths = [w.end - w.start for w in windows]
    rand = random_windows(play, events, 500, lengths, rng)
    assert label_correct(play, rand).mean() < 0.7
    for w in windows:
        assert w.start < w.end and w.end - w.start <= 48


def test_generate_play_shapes_and_determinism():
    a = generate_play(3, 20, seed=5, image_size=32)
    b = generate_play(3, 20, seed=5, image_size=32)
    assert a.frames.shape == (3, 21, 32, 32, 3) and a.actions.shape == (3, 20, 3)
    np.testing.assert_array_equal(a.frames, b.frames)
    np.testing.assert_array_equal(a.actions, b.actions)
    with pytest.raises(ValueError):
        generate_play(0, 10)
