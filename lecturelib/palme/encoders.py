"""The encoders φ of PaLM-E: observations -> tokens (projected to the LM's width by :class:`Projection`).

PaLM-E compares three inputs (Driess et al. 2023, section 4): ViT tokens of the whole image, object-centric
tokens (OSRT) and the exact state. Ours, for the tabletop world:

- :class:`PatchEncoder` (``<img>``): ViT-style patch tokens, one per vertical strip of the image;
- :class:`ObjectEncoder` (``<obj>`` from pixels): a *perception* step, a linear classifier that names the
  colour in every cell of a grid over the image (pretrained with the simulator's labels by
  :func:`pretrain_object_encoder`, then frozen, as PaLM-E's encoders are pretrained), then the
  :class:`SlotHead`, which turns a grid of cell colours into one token per block;
- :class:`StateEncoder` (``<obj>`` from the exact state): the same slot head on the true grid
  (:func:`cell_labels`), so one trained model can be asked with either input.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..world.core import BLOCK, N_COLOURS, WorldState, sample_scenes
from ..world.render import render

__all__ = ["GRID", "RELATION_FEATURES", "PatchEncoder", "SlotHead", "ObjectEncoder", "StateEncoder",
           "cell_labels", "state_features", "pretrain_object_encoder"]

GRID = 7                        # cells per row and per column of the object encoders' grid
_NEIGHBOURS = ((-1, 0), (-2, 0), (-3, 0), (1, 0))   # (rows, columns) offsets: three cells above, one below
RELATION_FEATURES = ("left of", "right of", "above", "below", "on", "under")   # of block k to each block j


def _check_images(images: torch.Tensor, size: int) -> torch.Tensor:
    if images.dim() != 4 or tuple(images.shape[1:]) != (size, size, 3):
        raise ValueError(f"images must be (B, {size}, {size}, 3), got {tuple(images.shape)}")
    return images.float() / 255.0 - 0.5 if images.dtype == torch.uint8 else images.float()


class PatchEncoder(nn.Module):
    """ViT-style patch tokens, with patches cut to fit a side view: one vertical strip per table slot.

    (B, S, S, 3) uint8 -> (B, n_columns, dim). Each strip (S x S/n_columns pixels: the stack standing on
    that part of the table and the air above it) is flattened and embedded by a two-layer MLP, and a
    learned position says which strip it is. With S = 56 and 7 strips, every table slot is one strip.
    """

    def __init__(self, image_size: int = 56, n_columns: int = 7, dim: int = 64, hidden: int = 128):
        super().__init__()
        if image_size % n_columns:
            raise ValueError(f"image_size ({image_size}) must be a multiple of n_columns ({n_columns})")
        self.image_size, self.dim, self.n_tokens = image_size, dim, n_columns
        width = image_size // n_columns
        self.embed = nn.Sequential(nn.Linear(image_size * width * 3, hidden), nn.GELU(), nn.Linear(hidden, dim))
        self.column = nn.Parameter(torch.zeros(n_columns, dim))                # which strip a token is

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = _check_images(images, self.image_size)
        B, S = x.shape[0], self.image_size
        strips = x.reshape(B, S, self.n_tokens, S // self.n_tokens, 3).permute(0, 2, 1, 3, 4)   # (B, N, S, w, 3)
        return self.embed(strips.reshape(B, self.n_tokens, -1)) + self.column                  # (B, N, dim)


class SlotHead(nn.Module):
    """From a grid of cell colours to one token per object: the object-centric part of both encoders.

    cells (B, g, g, K + 1): the probability of each colour (K = empty) in each cell, row 0 highest.
    For block k, its map m_k = cells[..., k] gives where it is (row and column marginals) and what lies
    around it: the colours in the cells 1, 2, 3 above and 1 below it, sum over cells of
    m_k(r, c) * cells(r + dr, c + dc), and its relations to every other block j (left of, above, on, ...:
    bilinear in the two maps, a soft scene graph). The token is the colour's embedding + the expected row
    and column embeddings (ViT-style positions, weighted by the map) + an MLP of these features; one
    self-attention layer over the K slots then relates the objects. -> (B, K, dim).

    Why the relations are computed here: a tiny LM has to compare two injected tokens to answer "Is the
    red object left of the blue one?", and learns that slowly (near chance after 600 steps); with the
    relations in each token it only has to read them out.
    """

    def __init__(self, dim: int = 64, grid: int = GRID):
        super().__init__()
        self.grid, self.dim = grid, dim
        n_in = 4 * grid + len(_NEIGHBOURS) * (N_COLOURS + 1) + len(RELATION_FEATURES) * N_COLOURS
        self.mlp = nn.Sequential(nn.Linear(n_in, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))
        self.colour = nn.Parameter(torch.randn(N_COLOURS, dim) * 0.5)
        self.row = nn.Parameter(torch.randn(grid, dim) * 0.5)
        self.col = nn.Parameter(torch.randn(grid, dim) * 0.5)
        self.relate = nn.TransformerEncoderLayer(dim, 4, 4 * dim, dropout=0.0, batch_first=True, norm_first=True)

    def features(self, cells: torch.Tensor) -> torch.Tensor:
        """(B, K, 2g + 4(K+1) + 2g + 6K), for each block k: its row and column (one-hot), the colours
        around it (cells 1, 2, 3 above and 1 below), its row and column again as thermometer codes
        ("at or below row r", "at or left of column c": comparing two blocks becomes linear), and its
        relations to each block j (:data:`RELATION_FEATURES`: k left of, right of, above, below, on, under j)."""
        B, g = cells.shape[0], self.grid
        maps = cells[..., :N_COLOURS].permute(0, 3, 1, 2)                      # (B, K, g, g)
        rows, cols = maps.sum(3), maps.sum(2)                                 # (B, K, g) each
        empty = torch.zeros(B, 1, g, N_COLOURS + 1, device=cells.device, dtype=cells.dtype)
        empty[..., N_COLOURS] = 1.0                                           # outside the grid: nothing
        padded = torch.cat([empty, empty, empty, cells, empty], 1)           # rows -3 .. g, (B, g + 4, g, K + 1)
        around = []
        for dr, dc in _NEIGHBOURS:
            shifted = padded[:, 3 + dr: 3 + dr + g].roll(-dc, 2)              # shifted[r, c] = cells[r + dr, c + dc]
            around.append(torch.einsum("bkrc,brcj->bkj", maps, shifted))      # (B, K, K + 1)
        # pairwise relations to every other block j, from the same maps (a scene graph):
        # k left of j = P(col_k < col_j); k above j = P(same column, row_k < row_j); k on j: row_k = row_j - 1
        idx = torch.arange(g, device=cells.device)
        lt = (idx[:, None] < idx[None, :]).to(cells.dtype)                   # [a, b] = a < b
        just = (idx[:, None] == idx[None, :] - 1).to(cells.dtype)            # [a, b] = a = b - 1
        left = torch.einsum("bkc,bjd,cd->bkj", cols, cols, lt)
        above = torch.einsum("bkrc,bjsc,rs->bkj", maps, maps, lt)
        on = torch.einsum("bkrc,bjsc,rs->bkj", maps, maps, just)
        relations = [left, left.transpose(1, 2), above, above.transpose(1, 2), on, on.transpose(1, 2)]
        cumulative = [rows.flip(-1).cumsum(-1).flip(-1), cols.cumsum(-1)]
        return torch.cat([rows, cols] + around + cumulative + relations, -1)

    def forward(self, cells: torch.Tensor) -> torch.Tensor:
        f = self.features(cells)                                              # (B, K, n_in)
        g = self.grid
        where = f[..., :g] @ self.row + f[..., g:2 * g] @ self.col           # (B, K, dim)
        return self.relate(self.mlp(f) + where + self.colour)                # (B, K, dim)


class ObjectEncoder(nn.Module):
    """Object-centric tokens from pixels: one token per block colour (a stand-in for PaLM-E's OSRT).

    (B, S, S, 3) uint8 -> (B, K, dim). The image above the table is a grid of cells, one block each
    (with S = 56: 7 x 7 cells of 7 x 8 pixels). A linear classifier names the colour in every cell (or
    empty): :meth:`perceive`; the :class:`SlotHead` turns the grid of colour probabilities into tokens.
    """

    def __init__(self, image_size: int = 56, dim: int = 64, grid: int = GRID):
        super().__init__()
        if image_size % grid or image_size % 8:
            raise ValueError(f"image_size ({image_size}) must be a multiple of grid ({grid}) and of 8")
        self.image_size, self.grid, self.dim, self.n_tokens = image_size, grid, dim, N_COLOURS
        self.cell_h = (image_size - image_size // 8) // grid            # rows above the table / grid
        self.cell_w = image_size // grid
        self.cell = nn.Linear(self.cell_h * self.cell_w * 3, N_COLOURS + 1)   # colours 0..K-1, K = empty
        self.slots = SlotHead(dim, grid)

    def cell_logits(self, images: torch.Tensor) -> torch.Tensor:
        """(B, grid, grid, K + 1): which colour (or none) fills each cell; row 0 is the highest."""
        x = _check_images(images, self.image_size)
        B, g, h, w = x.shape[0], self.grid, self.cell_h, self.cell_w
        cells = x[:, : g * h].reshape(B, g, h, g, w, 3).permute(0, 1, 3, 2, 4, 5).reshape(B, g, g, -1)
        return self.cell(cells)

    def perceive(self, images: torch.Tensor) -> torch.Tensor:
        """(B, grid, grid, K + 1) the probability of each colour in each cell: what the slot head reads."""
        return self.cell_logits(images).softmax(-1)

    @property
    def frozen(self) -> bool:
        """True when the perception step no longer learns: the same image then always gives the same grid."""
        return not any(p.requires_grad for p in self.cell.parameters())

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.slots(self.perceive(images))


def cell_labels(state: WorldState, grid: int = GRID) -> np.ndarray:
    """(B, grid, grid) the colour index in each cell (K = empty; row 0 highest), from the exact state.

    This is the symbolic state as the object encoders see it, and the labels that pretrain the
    object encoder's colour classifier.
    """
    out = np.full((state.batch_size, grid, grid), N_COLOURS, dtype=np.int64)
    for b, k in zip(*np.nonzero(state.present & (state.held[:, None] != np.arange(N_COLOURS)))):
        col = int(np.floor(state.x[b, k] * grid))
        row = grid - 1 - int(round(state.y[b, k] / BLOCK))
        if 0 <= row < grid and 0 <= col < grid:
            out[b, row, col] = k
    return out


def state_features(state: WorldState) -> np.ndarray:
    """(B, g, g) int: the exact cell grid (:func:`cell_labels`), the input of the :class:`StateEncoder`."""
    return cell_labels(state)


class StateEncoder(nn.Module):
    """Object-centric input from a cell grid, through a :class:`SlotHead`: PaLM-E's "state estimation" input.

    (B, g, g) int exact labels (one-hot here) or (B, g, g, K + 1) colour probabilities -> (B, K, dim),
    one token per block colour.
    """

    def __init__(self, dim: int = 64, grid: int = GRID):
        super().__init__()
        self.dim, self.n_tokens, self.grid = dim, N_COLOURS, grid
        self.slots = SlotHead(dim, grid)

    def forward(self, grids: torch.Tensor) -> torch.Tensor:
        g = self.grid
        if grids.dim() == 3 and tuple(grids.shape[1:]) == (g, g):
            grids = F.one_hot(grids.long(), N_COLOURS + 1).float()
        elif grids.dim() != 4 or tuple(grids.shape[1:]) != (g, g, N_COLOURS + 1):
            raise ValueError(f"grids must be (B, {g}, {g}) cell labels or (B, {g}, {g}, {N_COLOURS + 1}) "
                             f"probabilities, got {tuple(grids.shape)}")
        return self.slots(grids)


def pretrain_object_encoder(encoder: nn.Module, n_scenes: int = 1000, steps: int = 300, batch_size: int = 64,
                            lr: float = 3e-2, seed: int = 0, device=None, freeze: bool = True) -> float:
    """Teach the object encoder's cell classifier the block colours, with labels from the simulator.

    ``encoder``: an :class:`ObjectEncoder` or a PaLME model (its ``encoders["objects"]``). PaLM-E starts
    from pretrained encoders (ViT, OSRT); ours learns to name the colour in each cell before the
    multimodal training, and (``freeze=True``) keeps that classifier fixed afterwards, as a pretrained
    perception module. Returns the cell accuracy on fresh scenes.
    """
    enc = encoder if isinstance(encoder, ObjectEncoder) else encoder.encoders["objects"]
    device = torch.device(device) if device is not None else next(enc.parameters()).device
    enc.to(device)
    enc.cell.requires_grad_(True)
    rng = np.random.default_rng(seed)
    scenes = sample_scenes(n_scenes, rng)
    images = torch.from_numpy(render(scenes, enc.image_size))
    labels = torch.from_numpy(cell_labels(scenes, enc.grid))
    opt = torch.optim.Adam(enc.cell.parameters(), lr=lr)
    for _ in range(steps):
        idx = torch.from_numpy(rng.integers(0, n_scenes, batch_size))
        logits = enc.cell_logits(images[idx].to(device))
        loss = F.cross_entropy(logits.reshape(-1, N_COLOURS + 1), labels[idx].to(device).reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    enc.cell.requires_grad_(not freeze)
    test = sample_scenes(200, np.random.default_rng(seed + 1))
    with torch.no_grad():
        pred = enc.cell_logits(torch.from_numpy(render(test, enc.image_size)).to(device)).argmax(-1).cpu()
    return float((pred == torch.from_numpy(cell_labels(test, enc.grid))).float().mean())
