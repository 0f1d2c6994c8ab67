"""lecturelib.plotting draws labelled figures from numpy or torch data."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from lecturelib import plotting  # noqa: E402


def test_curves_labels_and_legend():
    ax = plotting.curves({"a": ([1, 2, 3], [3, 2, 1]), "b": ([1, 2, 3], [1, 2, 3])}, xlabel="step",
                         ylabel="loss", title="t", logy=True, bands={"a": ([2, 1, 0.5], [4, 3, 2])})
    assert ax.get_xlabel() == "step" and ax.get_ylabel() == "loss" and ax.get_title() == "t"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a", "b"]
    assert ax.get_yscale() == "log"
    plt.close("all")


def test_heatmap_accepts_tensors_and_labels():
    ax = plotting.heatmap(torch.softmax(torch.randn(3, 4), -1), title="attention", xlabels=list("abcd"),
                          ylabels=list("xyz"), annotate=True)
    assert [t.get_text() for t in ax.get_xticklabels()] == list("abcd")
    assert np.allclose(ax.images[0].get_array().sum(1), 1, atol=1e-5)
    plt.close("all")


def test_image_grid_and_bar_table():
    fig = plotting.image_grid([np.zeros((8, 8, 3), np.uint8)] * 5, titles=list("abcde"), ncols=3, suptitle="s")
    assert len(fig.axes) == 6 and fig.axes[4].get_title() == "e"
    ax = plotting.bar_table({"x": 0.5, "y": 0.25}, ylabel="error", title="cmp")
    assert [p.get_height() for p in ax.patches] == [0.5, 0.25]
    plt.close("all")


def test_animate_returns_playable_html():
    frames = [np.full((6, 6, 3), k * 40, np.uint8) for k in range(4)]
    html = plotting.animate(frames, title="rollout")
    assert "<script" in html.data and "Animation" in html.data  # the JavaScript player is embedded


def test_animate_writes_a_caption_under_each_frame():
    frames = [np.full((6, 6, 3), 100, np.uint8)] * 3
    same = plotting.animate(frames, captions=["step 1"] * 3).data
    changing = plotting.animate(frames, captions=["step 1", "step 1", "step 2: grasp the red object"]).data
    plain = plotting.animate(frames).data
    assert same != plain                      # the caption is drawn into the frames
    assert same != changing                   # and the last frame shows its own words
    with pytest.raises(ValueError, match="one caption per frame"):
        plotting.animate(frames, captions=["only one"])
