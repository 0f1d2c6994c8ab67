"""The widgets of lesson 07 (lecturelib.widgets.world), driven by pressing their buttons."""
import numpy as np
import pytest

from lecturelib.widgets.world import instruction_widget, task_of_text, teleop_widget
from lecturelib.world import detect_events
from lecturelib.world.core import BLOCK, STEP


def test_teleop_moves_records_and_detects_your_own_events():
    w = teleop_widget(seed=3)
    start = w.states[-1].gripper[0].copy()
    w.buttons["right"].click()
    w.buttons["up"].click()
    assert np.allclose(w.states[-1].gripper[0], start + [STEP, STEP]) or w.states[-1].gripper[0][1] <= start[1] + STEP
    assert len(w.actions) == 2 and len(w.states) == 3
    assert w.children[0].children[0].value[:4] == b"\x89PNG"
    # drive to the highest block and pick it up by hand
    s = w.states[-1]
    k = int(np.argmax(np.where(s.present[0], s.y[0], -1)))
    for _ in range(40):
        dx = s.x[0, k] - s.gripper[0, 0]
        if abs(dx) > STEP / 4:
            w.buttons["right" if dx > 0 else "left"].click() if abs(dx) > STEP * 0.75 else \
                w.buttons["right (half)" if dx > 0 else "left (half)"].click()
        elif s.gripper[0, 1] > s.y[0, k] + BLOCK + 1e-6:
            w.buttons["down"].click()
        else:
            break
        s = w.states[-1]
    w.buttons["close"].click()
    for _ in range(6):
        w.buttons["up"].click()
    assert w.states[-1].held[0] == k
    events = detect_events(w.play_data(image_size=None))
    assert ("pick", k) in [(e.family, e.obj) for e in events]
    w.buttons["new scene"].click()
    assert w.actions == [] and len(w.states) == 1


def test_task_of_text_knows_every_phrasing_split():
    assert task_of_text("pick up the red block") == ("pick", 0, -1)
    assert task_of_text("pile the scarlet cube upon the navy cube") == ("stack", 0, 4)
    assert task_of_text("dance the red block") is None


class _ExpertLike:
    """A stand-in policy that always closes and moves up: checks the widget's plumbing."""

    class model:
        class config:
            frames = 2
            image_size = 32

    def act(self, frames, texts, temperature=0.0, rng=None):
        assert frames.shape[1:] == (2, 32, 32, 3) and len(texts) == 1
        return np.array([[0.0, 1.0, 1.0]])


def test_instruction_widget_runs_the_policy_and_scrubs():
    w = instruction_widget(_ExpertLike(), seed=0, max_steps=5, display_size=64)
    w.text.value = "put the red block on the blue block"
    w.run_button.click()
    assert w.result["steps"] == 5 and w.result["success"] is False
    assert w.result["frames"].shape == (6, 64, 64, 3)
    w.slider.value = 0
    w.text.value = "wiggle about"
    w.run_button.click()
    assert w.result["success"] is None
    w.scene_button.click()
    assert w.result is None


def test_press_pick_and_place_records_a_pick_and_a_place():
    from lecturelib.widgets.world import press_pick_and_place

    for seed in range(4):
        w = teleop_widget(seed=seed)
        k = press_pick_and_place(w)
        assert w.states[-1].held[0] == -1 and not w.states[-1].closed[0]
        families = {(e.family, e.obj) for e in detect_events(w.play_data(image_size=None))}
        assert ("pick", k) in families
        assert w.states[-1].x[0, k] != w.states[0].x[0, k]      # the block was moved
