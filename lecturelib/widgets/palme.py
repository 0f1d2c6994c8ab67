"""Widget of lesson 08: ask a PaLM-E-style model (Driess et al. 2023) about a tabletop scene.

Pick a scene and one of the five question families (the slide's tables); the widget shows the frame,
the multimodal sentence the model reads, the model's greedy answer and the exact answer from the
world's planner. ``widget.ask_button`` and ``widget.new_scene_button`` can be clicked from a test;
what was computed is stored in ``widget.result`` (question, prompt, answer, truth, correct).
"""
from __future__ import annotations

import numpy as np

__all__ = ["ask_widget"]


def ask_widget(model, modality: str = "objects", seed: int = 0, display_size: int = 192, device=None):
    """Ask ``model`` (a :class:`~lecturelib.palme.PaLME`) the world's questions about fresh scenes."""
    import ipywidgets as widgets

    from ..palme import MODALITIES, TASK_FAMILIES, Example, generate, make_prompt, observe
    from ..world.core import sample_scenes
    from ..world.planning import ask
    from ..world.render import render
    from .world import png

    if modality not in MODALITIES:
        raise ValueError(f"modality must be one of {MODALITIES}, got {modality!r}")
    rng = np.random.default_rng(seed)
    image = widgets.Image(format="png", width=display_size, height=display_size)
    family = widgets.Dropdown(options=list(TASK_FAMILIES), value="grasping", description="question")
    ask_button = widgets.Button(description="ask the model")
    new_scene_button = widgets.Button(description="new scene")
    out = widgets.HTML()
    box = widgets.VBox([widgets.HBox([image, out]), widgets.HBox([family, ask_button, new_scene_button])])
    box.family, box.ask_button, box.new_scene_button = family, ask_button, new_scene_button
    box.result = None

    def new_scene(_=None):
        box.scene = sample_scenes(1, rng)
        image.value = png(render(box.scene, display_size)[0])
        out.value = "<i>choose a question and press “ask the model”</i>"
        box.result = None

    def on_ask(_=None):
        qa = ask(box.scene, family.value, rng)
        if qa is None:
            out.value = f"<i>this scene allows no {family.value} question; try another scene</i>"
            box.result = None
            return
        prompt, objects = make_prompt(qa.question, modality)
        obs = observe(box.scene, modality, model.config.image_size)[0]
        said = generate(model, [Example(prompt, "", family.value, obs, objects)], device=device)[0]
        truth = model.tokenizer.decode(model.tokenizer.encode(qa.answer))
        box.result = {"question": qa.question, "prompt": prompt, "answer": said, "truth": truth,
                      "correct": said == truth}
        mark = "✔" if said == truth else "✘"
        out.value = (f"<b>model reads:</b> <code>{prompt}</code><br><b>model:</b> {said} {mark}"
                     f"<br><b>exact answer:</b> {qa.answer}")

    ask_button.on_click(on_ask)
    new_scene_button.on_click(new_scene)
    new_scene()
    return box
