"""The course's plots: learning curves, heat maps (attention, loss landscapes), image grids and
rollout animations. Every lesson draws through these functions so the figures look alike and every
plot carries a title, axis labels and a legend.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

__all__ = ["curves", "heatmap", "image_grid", "animate", "bar_table"]


def _plt():
    import matplotlib.pyplot as plt

    return plt


def _figures_inline_in_kernels() -> None:
    """In a Jupyter kernel, draw figures into the notebook even where ``MPLBACKEND=agg`` is set.

    The grading sandbox sets that variable (lecturelib/grading/sandbox.py), and under it ``plt.show()``
    draws nothing; the executed solutions then lose their figures, which the course website
    (lecturelib/website) shows and a graded student's feedback should show. Outside a kernel (scripts,
    tests, benchmarks) nothing changes. Runs once, when a lesson's first cell imports this module, before
    any figure exists (switching the backend closes open figures).
    """
    import os

    if os.environ.get("MPLBACKEND", "").lower() != "agg":
        return
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is None or not hasattr(shell, "kernel"):
        return
    shell.run_line_magic("matplotlib", "inline")


_figures_inline_in_kernels()


def curves(
    series: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    *,
    xlabel: str,
    ylabel: str,
    title: str,
    logx: bool = False,
    logy: bool = False,
    bands: Mapping[str, tuple[Sequence[float], Sequence[float]]] | None = None,
    ax=None,
    marker: str | None = "o",
):
    """Line plot of ``{label: (x, y)}``; ``bands`` optionally gives ``{label: (low, high)}``."""
    plt = _plt()
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    for label, (x, y) in series.items():
        (line,) = ax.plot(x, y, marker=marker, markersize=3, label=label)
        if bands and label in bands:
            low, high = bands[label]
            ax.fill_between(x, low, high, color=line.get_color(), alpha=0.2)
    if logx:
        ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    ax.grid(alpha=0.3)
    if len(series) > 1:
        ax.legend()
    return ax


def heatmap(
    matrix,
    *,
    title: str,
    xlabels: Sequence[str] | None = None,
    ylabels: Sequence[str] | None = None,
    xlabel: str = "",
    ylabel: str = "",
    cmap: str = "viridis",
    annotate: bool = False,
    ax=None,
    colorbar: bool = True,
):
    """A labelled heat map (attention weights: rows are queries, columns are keys)."""
    plt = _plt()
    matrix = np.asarray(_numpy(matrix), dtype=float)
    if ax is None:
        size = max(3.0, min(8.0, 0.4 * max(matrix.shape) + 2))
        _, ax = plt.subplots(figsize=(size, size * matrix.shape[0] / max(matrix.shape[1], 1) + 0.5))
    im = ax.imshow(matrix, cmap=cmap, aspect="auto")
    if xlabels is not None:
        ax.set_xticks(range(len(xlabels)), xlabels, rotation=90)
    if ylabels is not None:
        ax.set_yticks(range(len(ylabels)), ylabels)
    if annotate:
        for i in range(matrix.shape[0]):
            for j in range(matrix.shape[1]):
                ax.text(j, i, f"{matrix[i, j]:.2f}", ha="center", va="center", fontsize=7, color="w")
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    if colorbar:
        ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    return ax


def image_grid(images: Sequence, titles: Sequence[str] | None = None, *, ncols: int = 4, suptitle: str = "",
               size: float = 2.2):
    """Show HxWx3 uint8 (or float in [0, 1]) images in a grid with optional titles."""
    plt = _plt()
    n = len(images)
    ncols = max(1, min(ncols, n))
    nrows = (n + ncols - 1) // ncols
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows + (0.4 if suptitle else 0)),
                             squeeze=False)
    for k, ax in enumerate(axes.flat):
        ax.axis("off")
        if k < n:
            ax.imshow(_numpy(images[k]))
            if titles is not None:
                ax.set_title(titles[k], fontsize=8)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def animate(frames: Sequence, *, title: str = "", interval_ms: int = 120, scale: float = 3.0,
            captions: Sequence[str] | None = None):
    """An HTML5 (JavaScript) animation of RGB frames that plays inside the notebook.

    ``captions`` (one string per frame) are written under the image, e.g. what a model said at each frame.
    """
    plt = _plt()
    from matplotlib import animation
    from IPython.display import HTML

    frames = [_numpy(f) for f in frames]
    if captions is not None and len(captions) != len(frames):
        raise ValueError(f"{len(frames)} frames but {len(captions)} captions: give one caption per frame")
    h, w = frames[0].shape[:2]
    extra = 0.6 if captions is not None else 0.0
    fig, ax = plt.subplots(figsize=(scale * w / max(h, w) + 0.2, scale * h / max(h, w) + 0.4 + extra))
    ax.axis("off")
    ax.set_title(title, fontsize=9)
    im = ax.imshow(frames[0])
    text = None
    if captions is not None:
        text = ax.text(0.5, -0.03, captions[0], transform=ax.transAxes, ha="center", va="top", fontsize=8, wrap=True)

    def update(k):
        im.set_data(frames[k])
        if text is None:
            return (im,)
        text.set_text(captions[k])
        return (im, text)

    anim = animation.FuncAnimation(fig, update, frames=len(frames), interval=interval_ms, blit=True)
    html = HTML(anim.to_jshtml())
    plt.close(fig)
    return html


def bar_table(values: Mapping[str, float], *, ylabel: str, title: str, ax=None, fmt: str = "{:.2f}"):
    """Bar chart of ``{name: value}`` with the value written on each bar (for comparison tables)."""
    plt = _plt()
    if ax is None:
        _, ax = plt.subplots(figsize=(max(4, 1.1 * len(values)), 3.5))
    names = list(values)
    bars = ax.bar(names, [values[k] for k in names], color=plt.cm.tab10.colors[: len(names)])
    for bar, name in zip(bars, names):
        ax.annotate(fmt.format(values[name]), (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                    ha="center", va="bottom", fontsize=8)
    ax.set(ylabel=ylabel, title=title)
    ax.tick_params(axis="x", rotation=20)
    return ax


def labelled_scatter(points: Mapping[str, tuple[float, float]], *, xlabel: str, ylabel: str, title: str,
                     logx: bool = False, logy: bool = False, lines: Mapping[str, tuple[Sequence[float], Sequence[float]]] | None = None,
                     ax=None):
    """Scatter of ``{label: (x, y)}`` with each point named beside it; ``lines`` adds ``{label: (x, y)}`` reference lines."""
    plt = _plt()
    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 4.5))
    for label, (x, y) in (lines or {}).items():
        ax.plot(x, y, "--", label=label)
    for label, (x, y) in points.items():
        ax.scatter([x], [y], s=30, zorder=3)
        ax.annotate(label, (x, y), textcoords="offset points", xytext=(5, 4), fontsize=8)
    if logx:
        ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    ax.grid(alpha=0.3, which="both")
    if lines:
        ax.legend()
    return ax


def landscape(xs, ys, fields: Mapping[str, Sequence], *, title: str, xlabel: str, ylabel: str,
              optima: Mapping[str, Sequence[float]] | None = None,
              markers: Mapping[str, Sequence[float]] | None = None, levels: int = 8, ax=None):
    """Contour lines of several 2-D loss surfaces ``{name: Z (len(ys), len(xs))}``, one colour each, with
    each surface's optimum (a star) and labelled candidate points ``markers`` (loss landscapes, quizzes)."""
    plt = _plt()
    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 5))
    xs, ys = _numpy(xs), _numpy(ys)
    for k, (name, z) in enumerate(fields.items()):
        z = np.asarray(_numpy(z), dtype=float)
        ax.contour(xs, ys, z, levels=np.quantile(z, np.linspace(0.02, 0.6, levels)), colors=[f"C{k}"],
                   linewidths=0.8, alpha=0.8)
        ax.plot([], [], color=f"C{k}", label=name)
        if optima and name in optima:
            ox, oy = np.asarray(_numpy(optima[name]), dtype=float)
            ax.plot(ox, oy, marker="*", markersize=13, color=f"C{k}", markeredgecolor="k")
    for label, point in (markers or {}).items():
        px, py = np.asarray(_numpy(point), dtype=float)
        ax.plot(px, py, marker="o", markersize=9, color="w", markeredgecolor="k")
        ax.annotate(label, (px, py), ha="center", va="center", fontsize=7, fontweight="bold")
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel, aspect="equal")
    ax.legend(loc="upper right", fontsize=8)
    return ax


__all__ += ["landscape", "labelled_scatter"]


def _numpy(x):
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x)
