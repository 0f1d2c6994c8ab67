"""The attention-map explorer of lesson 05: pick a sentence, a layer and a head of a trained GPT and see
which earlier characters each position attends to (rows: queries, columns: keys; the upper triangle is
empty because the decoder's causal mask hides the future).
"""
from __future__ import annotations

from typing import Sequence

import torch

__all__ = ["attention_explorer"]

DEFAULT_SENTENCES = (
    "The Eiffel tower is in Paris.",
    "def f(x):\n    return x + 1",
    "The return statement leaves the current function call.",
)


def attention_explorer(model, tokenizer, sentences: Sequence[str] = DEFAULT_SENTENCES, *, max_chars: int = 48):
    """Build the explorer for a :class:`lecturelib.transformer.GPT` and its tokenizer.

    Returns an ``ipywidgets.VBox`` with the controls as attributes (``sentence``, ``text``, ``layer``,
    ``head``, ``output``), a ``refresh()`` method that recomputes and redraws, and the last computed
    weights in ``weights`` (a (T, T) numpy array) with the characters shown in ``tokens``.
    """
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    from ..plotting import heatmap

    if not sentences:
        raise ValueError("give at least one sentence")
    n_layer, n_head = model.config.n_layer, model.config.n_head
    sentence = widgets.Dropdown(options=list(sentences), value=sentences[0], description="sentence")
    text = widgets.Text(value=sentences[0], description="or type", continuous_update=False)
    layer = widgets.IntSlider(value=n_layer - 1, min=0, max=n_layer - 1, description="layer")
    head = widgets.IntSlider(value=0, min=0, max=n_head - 1, description="head")
    output = widgets.Output()
    status = widgets.HTML()
    box = widgets.VBox([widgets.HBox([sentence, text]), widgets.HBox([layer, head]), status, output])
    box.sentence, box.text, box.layer, box.head, box.output, box.status = sentence, text, layer, head, output, status
    box.weights, box.tokens = None, []

    def compute():
        chars = [c for c in text.value if c in tokenizer.stoi][: min(max_chars, model.config.block_size)]
        if not chars:
            raise ValueError("the text has no character the tokenizer knows")
        device = next(model.parameters()).device
        idx = torch.tensor([tokenizer.encode("".join(chars))], device=device)
        maps = model.attention_maps(idx)                           # n_layer x (1, h, T, T)
        return chars, maps[layer.value][0, head.value].cpu().numpy()

    def refresh(*_):
        try:
            box.tokens, box.weights = compute()
            status.value = ""
        except ValueError as err:
            status.value = f"<b>{err}</b>"
            return
        labels = [repr(c)[1:-1] or " " for c in box.tokens]
        with output:
            output.clear_output(wait=True)
            fig, ax = plt.subplots(figsize=(6.5, 6))
            heatmap(box.weights, title=f"GPT attention, layer {layer.value}, head {head.value}",
                    xlabels=labels, ylabels=labels, xlabel="key (attended-to character)",
                    ylabel="query (predicting the next character)", ax=ax)
            plt.show()

    def on_sentence(change):
        text.value = change["new"]                                  # triggers refresh through text

    sentence.observe(on_sentence, names="value")
    text.observe(refresh, names="value")
    layer.observe(refresh, names="value")
    head.observe(refresh, names="value")
    box.refresh = refresh
    box.compute = compute
    refresh()
    return box

