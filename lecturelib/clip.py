"""Mini-CLIP: contrastive language-image pre-training on tabletop frames and their captions.

CLIP (Radford, Kim et al. 2021, "Learning Transferable Visual Models From Natural Language
Supervision") trains an image tower and a text tower so that matching (image, text) pairs have a
high cosine similarity and mismatched pairs a low one. For a batch of N pairs with unit embeddings
``I`` (N, d) and ``T`` (N, d) and a learned temperature ``tau``:

    logits = I @ T.T / tau                       (N, N); the diagonal holds the true pairs
    loss   = (CE(logits, arange(N)) + CE(logits.T, arange(N))) / 2     (image->text and text->image)

Here the images are world frames and the captions list the stacks from left to right
("red on blue, then green alone, then white alone") with what the gripper holds. Its text tower is
one of the text encoders LAVA is compared with in lesson 07.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .world.events import PlayData
from .world.language import caption, tokenize, vocabulary

__all__ = ["ClipConfig", "ImageTower", "TextTower", "MiniCLIP", "clip_loss", "caption_dataset", "train_clip",
           "retrieval_accuracy", "CaptionData"]


@dataclass
class ClipConfig:
    image_size: int = 64
    channels: tuple = (16, 32, 64)   # strided conv stages: 64 -> 32 -> 16 -> 8 pixels
    text_dim: int = 64
    text_layers: int = 1
    embed_dim: int = 64              # the shared embedding space
    max_len: int = 24
    init_temperature: float = 0.07

    def __post_init__(self):
        if self.embed_dim < 1 or self.text_dim % 4:
            raise ValueError("embed_dim must be >= 1 and text_dim divisible by 4")


class ImageTower(nn.Module):
    """(B, H, W, 3) uint8 -> (B, embed_dim): strided convolutions, then attention pooling."""

    def __init__(self, config: ClipConfig):
        super().__init__()
        layers, c_in = [], 3
        for c in config.channels:
            layers += [nn.Conv2d(c_in, c, 3, stride=2, padding=1), nn.GELU()]
            c_in = c
        self.trunk = nn.Sequential(*layers)
        side = config.image_size // 2 ** len(config.channels)
        self.pos = nn.Parameter(torch.randn(side * side, c_in) * 0.02)
        self.pool_query = nn.Parameter(torch.randn(1, 1, c_in) * 0.02)
        self.pool = nn.MultiheadAttention(c_in, 4, batch_first=True)
        self.proj = nn.Linear(c_in, config.embed_dim)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = images.float() / 255.0 - 0.5 if images.dtype == torch.uint8 else images.float() - 0.5
        x = x.permute(0, 3, 1, 2).contiguous(memory_format=torch.channels_last)   # (B, 3, H, W)
        f = self.trunk(x).flatten(2).transpose(1, 2) + self.pos                     # (B, h*w, C)
        q = self.pool_query.expand(f.shape[0], -1, -1)
        return self.proj(self.pool(q, f, f, need_weights=False)[0][:, 0])           # (B, embed_dim)


class TextTower(nn.Module):
    """Word tokens -> (B, embed_dim): embeddings + positions, a small transformer, mean pooling."""

    def __init__(self, words: list[str], config: ClipConfig):
        super().__init__()
        self.words = ["<pad>", "<unk>"] + sorted(set(words))
        self.index = {w: i for i, w in enumerate(self.words)}
        self.max_len = config.max_len
        d = config.text_dim
        self.tok = nn.Embedding(len(self.words), d)
        self.pos = nn.Parameter(torch.randn(config.max_len, d) * 0.02)
        layer = nn.TransformerEncoderLayer(d, 4, 4 * d, dropout=0.0, batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, config.text_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d)
        self.proj = nn.Linear(d, config.embed_dim)

    def ids(self, texts: list[str]) -> torch.Tensor:
        out = torch.zeros(len(texts), self.max_len, dtype=torch.long)
        for row, t in enumerate(texts):
            ws = [self.index.get(w, 1) for w in tokenize(t)][: self.max_len]
            out[row, : len(ws)] = torch.tensor(ws, dtype=torch.long)
        return out

    def forward(self, texts: list[str]) -> torch.Tensor:
        ids = self.ids(texts).to(self.tok.weight.device)                   # (B, L)
        pad = ids == 0
        h = self.encoder(self.tok(ids) + self.pos, src_key_padding_mask=pad)  # (B, L, d)
        keep = (~pad).unsqueeze(-1).float()
        return self.proj(self.norm((h * keep).sum(1) / keep.sum(1).clamp(min=1.0)))


class MiniCLIP(nn.Module):
    """Two towers and a learned temperature; ``encode_*`` give unit-norm embeddings."""

    def __init__(self, words: list[str], config: ClipConfig | None = None):
        super().__init__()
        self.config = config or ClipConfig()
        self.image = ImageTower(self.config)
        self.text = TextTower(words, self.config)
        self.log_inv_temperature = nn.Parameter(torch.tensor(math.log(1.0 / self.config.init_temperature)))

    @property
    def logit_scale(self) -> torch.Tensor:
        return self.log_inv_temperature.clamp(max=math.log(100.0)).exp()

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.image(images), dim=-1)

    def encode_text(self, texts: list[str]) -> torch.Tensor:
        return F.normalize(self.text(texts), dim=-1)


def clip_loss(image_emb: torch.Tensor, text_emb: torch.Tensor, logit_scale: torch.Tensor | float) -> torch.Tensor:
    """Symmetric contrastive (InfoNCE) loss of N matching pairs; embeddings (N, d) of unit norm."""
    logits = logit_scale * image_emb @ text_emb.T                     # (N, N)
    labels = torch.arange(logits.shape[0], device=logits.device)
    return (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2


@dataclass
class CaptionData:
    images: np.ndarray      # (N, H, W, 3) uint8
    captions: list[str]


def caption_dataset(play: PlayData, n: int, seed: int = 0) -> CaptionData:
    """``n`` frames drawn from ``play`` with their captions (scene descriptions)."""
    if play.frames is None:
        raise ValueError("caption_dataset needs play data with frames")
    if n < 2:
        raise ValueError(f"need at least 2 pairs, got {n}")
    rng = np.random.default_rng(seed)
    stream = rng.integers(0, play.n_streams, n)
    t = rng.integers(0, play.n_steps + 1, n)
    states = play.states(stream, t)
    return CaptionData(play.frames[stream, t], [caption(states, b) for b in range(n)])


def caption_words() -> list[str]:
    """The text tower's vocabulary: caption words and the training instructions' words."""
    from .world.core import COLOURS

    return sorted(set(COLOURS) | {"on", "alone", "then", "in", "the", "gripper"} | vocabulary("train"))


def train_clip(data: CaptionData, config: ClipConfig | None = None, steps: int = 300, batch_size: int = 128,
               lr: float = 2e-3, device=None, loss_fn=clip_loss, seed: int = 0, progress: bool = True):
    """Train a :class:`MiniCLIP` on ``data``; returns ``(model, loss history)``.

    Batches avoid repeated captions, so that every off-diagonal pair really is a mismatch.
    """
    device = torch.device(device) if device is not None else torch.device("cpu")
    torch.manual_seed(seed)
    model = MiniCLIP(caption_words(), config).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.1)
    rng = np.random.default_rng(seed)
    by_caption: dict[str, list[int]] = {}
    for i, c in enumerate(data.captions):
        by_caption.setdefault(c, []).append(i)
    groups = list(by_caption.values())
    if len(groups) < 2:
        raise ValueError("need at least two different captions")
    history = []
    it = range(steps)
    if progress:
        from tqdm.auto import tqdm
        it = tqdm(it, desc="mini-CLIP", leave=False)
    for step in it:
        pick = rng.choice(len(groups), min(batch_size, len(groups)), replace=False)
        idx = np.array([groups[g][rng.integers(len(groups[g]))] for g in pick])
        images = torch.from_numpy(data.images[idx]).to(device)
        loss = loss_fn(model.encode_image(images), model.encode_text([data.captions[i] for i in idx]),
                       model.logit_scale)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        history.append((step + 1, loss.item()))
    return model, history


@torch.no_grad()
def retrieval_accuracy(model: MiniCLIP, data: CaptionData, n: int = 100, seed: int = 1, device=None) -> float:
    """Top-1 text -> image retrieval among ``n`` pairs with distinct captions (chance is 1/n)."""
    device = device or next(model.parameters()).device
    rng = np.random.default_rng(seed)
    first: dict[str, int] = {}
    for i in rng.permutation(len(data.captions)):
        first.setdefault(data.captions[i], int(i))
    idx = np.array(list(first.values())[:n])
    if idx.size < 2:
        raise ValueError("need at least two different captions to retrieve among")
    model.eval()
    img = model.encode_image(torch.from_numpy(data.images[idx]).to(device))
    txt = model.encode_text([data.captions[i] for i in idx])
    model.train()
    return float(((txt @ img.T).argmax(1).cpu().numpy() == np.arange(idx.size)).mean())
