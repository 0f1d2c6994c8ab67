"""lecturelib.widgets.transformer: the attention-map explorer."""
import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
import torch

from lecturelib.transformer import GPT, CharTokenizer, GPTConfig
from lecturelib.widgets.transformer import attention_explorer


@pytest.fixture()
def explorer():
    torch.manual_seed(0)
    tok = CharTokenizer("abcdefghijklmnopqrstuvwxyz .ETPris")
    model = GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=32, n_layer=2, n_head=2, n_embd=16)).eval()
    return attention_explorer(model, tok, ["The Eiffel tower is in Paris", "abc def"]), model, tok


def reference_weights(model, tok, text, layer, head):
    """The weights recomputed by hand from the model's parameters (pre-norm residual stream)."""
    idx = torch.tensor([tok.encode(text)])
    with torch.no_grad():
        x = model.wte(idx) + model.wpe(torch.arange(len(text)))
        for i, block in enumerate(model.blocks):
            h = block.ln_1(x)
            q, k, _ = torch.nn.functional.linear(h, block.attn.in_proj_weight, block.attn.in_proj_bias).chunk(3, -1)
            dh = model.config.n_embd // model.config.n_head
            qh, kh = q[0, :, head * dh:(head + 1) * dh], k[0, :, head * dh:(head + 1) * dh]
            s = qh @ kh.T / dh ** 0.5
            s = s.masked_fill(torch.ones_like(s, dtype=torch.bool).triu(1), float("-inf"))
            if i == layer:
                return s.softmax(-1).numpy()
            x = block(x)


def test_explorer_shows_the_selected_head(explorer):
    box, model, tok = explorer
    T = len("The Eiffel tower is in Paris")
    assert box.weights.shape == (T, T)
    box.layer.value, box.head.value = 0, 1
    np.testing.assert_allclose(box.weights, reference_weights(model, tok, box.text.value, 0, 1), atol=1e-5)
    assert np.allclose(box.weights.sum(1), 1, atol=1e-5) and np.all(np.triu(box.weights, 1) == 0)
    before = box.weights.copy()
    box.head.value = 0
    assert not np.allclose(before, box.weights)


def test_explorer_follows_sentence_and_text(explorer):
    box, model, tok = explorer
    box.sentence.value = "abc def"
    assert box.tokens == list("abc def") and box.weights.shape == (7, 7)
    box.text.value = "zz!!"            # '!' is unknown: dropped
    assert box.tokens == ["z", "z"]
    box.text.value = "!!!"
    assert "no character" in box.status.value
