"""RGB rendering of the tabletop world in numpy: small frames for learning, large ones for display.

The picture is a side view: sky-grey background, a brown table along the bottom eighth of the image,
the blocks as filled squares, the gripper as a palm with two fingers on a vertical rod. The palm is
mid-grey when the gripper is open and black when it is closed, and open fingers splay outwards, so a
single frame shows the gripper's state. Rendering is exact and deterministic: the same state always
gives the same pixels.
"""
from __future__ import annotations

import numpy as np

from .core import BLOCK, COLOUR_RGB, WorldState

__all__ = ["render", "BACKGROUND", "TABLE_RGB", "VIEW_HEIGHT"]

BACKGROUND = np.array([150, 172, 196], np.uint8)
TABLE_RGB = np.array([120, 84, 50], np.uint8)
PALM_OPEN = np.array([95, 95, 95], np.uint8)
PALM_CLOSED = np.array([10, 10, 10], np.uint8)
ROD = np.array([60, 60, 60], np.uint8)
VIEW_HEIGHT = 0.875     # world height shown above the table top (the table fills the rest)

# palette indices: background, table, block outline, rod, open palm, closed palm, then the blocks
_BG, _TABLE, _OUTLINE, _ROD, _PALM_OPEN, _PALM_CLOSED, _BLOCK0 = range(7)
_PALETTE = np.concatenate([np.stack([BACKGROUND, TABLE_RGB, np.array([40, 40, 40], np.uint8), ROD,
                                     PALM_OPEN, PALM_CLOSED]), COLOUR_RGB]).astype(np.uint8)


def _rows(y0, y1, size):
    """Pixel rows [r0, r1) covering world heights [y0, y1] (row 0 is the top of the image)."""
    table_row = size - size // 8
    scale = table_row / VIEW_HEIGHT
    r0 = np.round(table_row - np.asarray(y1) * scale).astype(int)
    r1 = np.round(table_row - np.asarray(y0) * scale).astype(int)
    return np.clip(r0, 0, size), np.clip(r1, 0, size)


def _cols(x0, x1, size):
    return (np.clip(np.round(np.asarray(x0) * size).astype(int), 0, size),
            np.clip(np.round(np.asarray(x1) * size).astype(int), 0, size))


def _paint(label, r0, r1, c0, c1, colour_id, where):
    """Set ``label`` to ``colour_id`` inside the rectangles [r0, r1) x [c0, c1) of the images ``where``.

    label (B, H, W) uint8 palette indices; r0, r1, c0, c1, where: (B,); colour_id an int or (B,).
    A Python loop of slice assignments is ~10x faster here than building (B, H, W) masks.
    """
    colour_id = np.broadcast_to(np.asarray(colour_id, np.uint8), (label.shape[0],)).tolist()
    r0, r1, c0, c1 = (np.asarray(v).tolist() for v in (r0, r1, c0, c1))
    for i in np.flatnonzero(where).tolist():
        label[i, r0[i]:r1[i], c0[i]:c1[i]] = colour_id[i]


def render(state: WorldState, size: int = 64) -> np.ndarray:
    """(B, size, size, 3) uint8 images of the worlds in ``state``."""
    if size < 16:
        raise ValueError(f"image size must be at least 16 pixels, got {size}")
    b = state.batch_size
    label = np.full((b, size, size), _BG, np.uint8)        # palette index per pixel
    table_row = size - size // 8
    label[:, table_row:] = _TABLE
    outline = size >= 128
    for k in range(state.present.shape[1]):
        on = state.present[:, k]
        if not on.any():
            continue
        r0, r1 = _rows(state.y[:, k], state.y[:, k] + BLOCK, size)
        c0, c1 = _cols(state.x[:, k] - BLOCK / 2, state.x[:, k] + BLOCK / 2, size)
        if outline:
            _paint(label, r0, r1, c0, c1, _OUTLINE, on)
            edge = max(1, size // 128)
            _paint(label, r0 + edge, r1 - edge, c0 + edge, c1 - edge, _BLOCK0 + k, on)
        else:
            _paint(label, r0, r1, c0, c1, _BLOCK0 + k, on)
    gx, gy = state.gripper[:, 0], state.gripper[:, 1]
    everyone = np.ones(b, bool)
    px = 1.0 / size                                   # one pixel, in world units
    palm_h = max(2 * px, 0.03)
    # rod from the palm to the top of the image
    r0, r1 = _rows(gy + palm_h, np.full(b, 10.0), size)
    c0, c1 = _cols(gx - 1.5 * px, gx + 1.5 * px, size)
    _paint(label, r0, r1, c0, c1, _ROD, everyone)
    # palm, as wide as a block plus a pixel each side
    palm = np.where(state.closed, _PALM_CLOSED, _PALM_OPEN).astype(np.uint8)
    r0, r1 = _rows(gy, gy + palm_h, size)
    c0, c1 = _cols(gx - BLOCK / 2 - px, gx + BLOCK / 2 + px, size)
    _paint(label, r0, r1, c0, c1, palm, everyone)
    # fingers hang below the palm: splayed outwards when open, along the block's sides when closed
    finger_len = BLOCK * 0.4
    width = max(px, 0.015)
    spread = np.where(state.closed, BLOCK / 2, BLOCK / 2 + 2 * px)
    r0, r1 = _rows(gy - finger_len, gy, size)
    for side in (-1.0, 1.0):
        inner = gx + side * spread
        c0, c1 = _cols(np.minimum(inner, inner + side * width), np.maximum(inner, inner + side * width), size)
        _paint(label, r0, r1, c0, c1, palm, everyone)
    return _PALETTE[label]
