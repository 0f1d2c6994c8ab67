"""Widgets of lesson 07: teleoperate the tabletop robot (your own play data), and type an
instruction for a trained LAVA policy to follow.

Both functions return the widget; its buttons are attributes (``widget.buttons[...]``,
``widget.run_button``) so that a test can press them, and what was computed is stored on the widget
(``widget.states`` / ``widget.actions`` / ``widget.play_data()``, ``widget.result``).
"""
from __future__ import annotations

import io

import numpy as np

__all__ = ["png", "teleop_widget", "press_pick_and_place", "instruction_widget", "task_of_text"]


def png(image: np.ndarray) -> bytes:
    """PNG bytes of an (H, W, 3) uint8 image."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.asarray(image, np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


_MOVES = {"left": (-1.0, 0.0), "right": (1.0, 0.0), "up": (0.0, 1.0), "down": (0.0, -1.0),
          "left (half)": (-0.5, 0.0), "right (half)": (0.5, 0.0)}


def teleop_widget(seed: int = 0, display_size: int = 256):
    """Drive the gripper with buttons; every step is recorded as play (states and actions).

    ``widget.buttons``: ``left``, ``right``, ``up``, ``down``, ``left (half)``, ``right (half)``,
    ``close``, ``open`` and ``new scene``. ``widget.play_data()`` turns the recording into a
    :class:`~lecturelib.world.PlayData` whose events :func:`~lecturelib.world.detect_events` finds.
    """
    import ipywidgets as widgets

    from ..world import PlayData, describe, render, sample_scenes, step

    rng = np.random.default_rng(seed)
    image = widgets.Image(format="png", width=display_size, height=display_size)
    status = widgets.HTML()
    buttons = {name: widgets.Button(description=name, layout=widgets.Layout(width="110px"))
               for name in [*_MOVES, "close", "open", "new scene"]}
    box = widgets.VBox([
        widgets.HBox([image, status]),
        widgets.HBox([buttons[n] for n in ("left", "left (half)", "right (half)", "right")]),
        widgets.HBox([buttons[n] for n in ("up", "down", "close", "open", "new scene")]),
    ])
    box.buttons = buttons
    box.states, box.actions = [], []

    def show():
        s = box.states[-1]
        image.value = png(render(s, display_size)[0])
        facts = "<br>".join(describe(s))
        status.value = (f"<b>step {len(box.actions)}</b> · gripper {'closed' if s.closed[0] else 'open'}"
                        f"<br>{facts}")

    def new_scene(_=None):
        box.states[:] = [sample_scenes(1, rng)]
        box.actions[:] = []
        show()

    def act(dx, dy, grip):
        s = box.states[-1].copy()
        a = np.array([[dx, dy, grip]])
        step(s, a)
        box.actions.append(a[0])
        box.states.append(s)
        show()

    def on_move(name):
        def handler(_):
            grip = 1.0 if box.states[-1].closed[0] else -1.0
            act(*_MOVES[name], grip)
        return handler

    for name in _MOVES:
        buttons[name].on_click(on_move(name))
    buttons["close"].on_click(lambda _: act(0.0, 0.0, 1.0))
    buttons["open"].on_click(lambda _: act(0.0, 0.0, -1.0))
    buttons["new scene"].on_click(new_scene)

    def play_data(image_size: int | None = 64):
        if not box.actions:
            raise ValueError("nothing recorded yet: press some buttons first")
        return PlayData.from_trajectory(box.states, box.actions, image_size)

    box.play_data = play_data
    new_scene()
    return box


def press_pick_and_place(widget, shift: int = 3) -> int:
    """Press ``widget``'s buttons like a student would: grasp the highest block, lift it, carry it
    ``shift`` steps sideways (towards the wider side of the table) and drop it. Returns the block.

    Lets a notebook that nobody played with still show events found in "your" play.
    """
    from ..world.core import BLOCK, STEP

    s = widget.states[-1]
    k = int(np.argmax(np.where(s.present[0], s.y[0], -1)))
    for _ in range(40):
        dx = s.x[0, k] - s.gripper[0, 0]
        if abs(dx) > STEP / 4:
            name = ("right" if dx > 0 else "left") if abs(dx) > STEP * 0.75 else \
                ("right (half)" if dx > 0 else "left (half)")
        elif s.gripper[0, 1] > s.y[0, k] + BLOCK + 1e-6:
            name = "down"
        else:
            break
        widget.buttons[name].click()
        s = widget.states[-1]
    widget.buttons["close"].click()
    for _ in range(6):
        widget.buttons["up"].click()
    side = "left" if widget.states[-1].gripper[0, 0] > 0.5 else "right"
    for _ in range(shift):
        widget.buttons[side].click()
    widget.buttons["open"].click()
    return k


def task_of_text(text: str):
    """``(family, obj, arg)`` of a sentence from any phrasing split, or None if it is not one of them."""
    global _TASKS
    if _TASKS is None:
        from ..world.core import COLOURS
        from ..world.language import FAMILIES, SPLITS, phrasings
        from ..world.symbolic import REGIONS

        _TASKS = {}
        for split in SPLITS:
            for family in FAMILIES:
                for obj in range(len(COLOURS)):
                    args = {"stack": [a for a in range(len(COLOURS)) if a != obj],
                            "region": list(range(len(REGIONS)))}.get(family, [-1])
                    for arg in args:
                        for t in phrasings(family, obj, arg, split):
                            _TASKS.setdefault(t, (family, obj, arg))
    return _TASKS.get(" ".join(text.lower().split()))


_TASKS = None


def instruction_widget(policy, seed: int = 0, max_steps: int = 60, display_size: int = 256,
                       temperature: float = 0.5):
    """Type an instruction, press *run*: the policy acts in closed loop on the scene shown.

    Actions are sampled at ``temperature`` as in :func:`lecturelib.lava.rollout` (0: the most likely one).

    ``widget.text``, ``widget.run_button``, ``widget.scene_button``, ``widget.slider`` (scrub the
    rollout). After a run, ``widget.result`` holds ``frames`` (T+1, S, S, 3), ``steps``, and
    ``success`` (True / False, or None when the sentence is not one the course can check).
    """
    import ipywidgets as widgets

    from ..world import render, sample_scenes, step, success

    rng = np.random.default_rng(seed)
    image = widgets.Image(format="png", width=display_size, height=display_size)
    text = widgets.Text(value="pick up the red block", description="instruction",
                        layout=widgets.Layout(width="420px"))
    run_button = widgets.Button(description="run", button_style="primary")
    scene_button = widgets.Button(description="new scene")
    slider = widgets.IntSlider(value=0, min=0, max=0, description="step", continuous_update=True)
    status = widgets.HTML()
    box = widgets.VBox([widgets.HBox([text, run_button, scene_button]), image, slider, status])
    box.text, box.run_button, box.scene_button, box.slider = text, run_button, scene_button, slider
    box.result = None
    k = policy.model.config.frames
    size = policy.model.config.image_size

    def new_scene(_=None):
        box.scene = sample_scenes(1, rng)
        box.result = None
        slider.max, slider.value = 0, 0
        image.value = png(render(box.scene, display_size)[0])
        present = [c for c, p in zip(("red", "orange", "yellow", "green", "blue", "white"), box.scene.present[0]) if p]
        status.value = "blocks in this scene: " + ", ".join(present)

    def run(_=None):
        sentence = text.value.strip()
        if not sentence:
            status.value = "type an instruction first"
            return
        task = task_of_text(sentence)
        s = box.scene.copy()
        frame = render(s, size)
        hist = np.repeat(frame[:, None], k, axis=1)
        shown = [render(s, display_size)[0]]
        done = False
        act_rng = np.random.default_rng(seed)
        for t in range(max_steps):
            act = (policy.act(hist, [sentence], temperature, act_rng) if temperature > 0
                   else policy.act(hist, [sentence]))
            step(s, act)
            hist = np.concatenate([hist[:, 1:], render(s, size)[:, None]], 1)
            shown.append(render(s, display_size)[0])
            if task is not None and success(task, s)[0]:
                done = True
                break
        box.result = {"frames": np.stack(shown), "steps": len(shown) - 1,
                      "success": (done if task is not None else None)}
        slider.max = len(shown) - 1
        slider.value = len(shown) - 1
        image.value = png(shown[-1])
        verdict = {True: "✅ done", False: "❌ not done", None: "(no checker for this sentence)"}[box.result["success"]]
        status.value = f"<b>{sentence}</b>: {verdict} after {box.result['steps']} steps"

    def scrub(change):
        if box.result is not None:
            image.value = png(box.result["frames"][change["new"]])

    run_button.on_click(run)
    scene_button.on_click(new_scene)
    slider.observe(scrub, names="value")
    new_scene()
    return box
