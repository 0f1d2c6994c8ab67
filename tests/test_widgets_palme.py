"""The widget of lesson 08 (lecturelib.widgets.palme), driven by pressing its buttons."""
import numpy as np
import pytest
import torch

from lecturelib import palme
from lecturelib.transformer.gpt import GPT, GPTConfig
from lecturelib.transformer.tokenizers import WordTokenizer
from lecturelib.widgets.palme import ask_widget
from lecturelib.world.core import COLOURS


@pytest.fixture(scope="module")
def model():
    tok = palme.MultimodalTokenizer(WordTokenizer(" ".join(palme.world_sentences(60, seed=0))))
    torch.manual_seed(0)
    lm = GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=128, n_layer=1, n_head=2, n_embd=32))
    return palme.PaLME(lm, tok, palme.PaLMEConfig(encoder_dim=16)).eval()


def test_ask_widget_asks_and_grades(model):
    w = ask_widget(model, modality="state", seed=1)
    assert w.children[0].children[0].value[:4] == b"\x89PNG" and w.result is None
    for _ in range(3):
        w.family.value = "object_table"
        w.ask_button.click()
        r = w.result
        assert r["prompt"].count("<obj>") == 1 and r["prompt"].startswith("Q: Is the")
        # the exact answer names the side of the table the block is on (independent check from the state)
        k = next(i for i, c in enumerate(COLOURS) if f" {c} " in r["question"])
        side = ["left", "center", "right"][int(np.digitize(w.scene.x[0, k], [1 / 3, 2 / 3]))]
        assert side in r["truth"], (r, side)
        assert r["correct"] == (r["answer"] == r["truth"]) and isinstance(r["answer"], str)
        w.new_scene_button.click()
        assert w.result is None
    w.family.value = "grasping"
    w.ask_button.click()
    assert w.result is None or w.result["truth"].lower().startswith(("grasp", "first grasp"))


def test_ask_widget_rejects_unknown_modality(model):
    with pytest.raises(ValueError):
        ask_widget(model, modality="smell")
