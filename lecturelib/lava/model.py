"""The LAVA model (Lynch et al. 2022): a conv pyramid turns each frame into visual tokens, language
queries attend to them, a temporal transformer and an MLP head give the action distribution.

    frames (B, T, H, W, 3) ──conv trunk──► feature maps ──learned 1x1 layers──► visual tokens (B*T, N, d)
    instruction ──text encoder──► e (B, D) ──linear──► language queries (B, Q, d)
    per frame: z = q + CrossAttn(LN(q), LN(v));  z = z + MLP(LN(z))      (language attends to vision)
    per-frame embeddings (B, T, d) ──temporal transformer──► h (B, d) ──residual MLPs──► logits (B, 11)

The trunk stands for LAVA's pre-trained ResNet: here it is pre-trained for a few hundred updates on an
auxiliary task (:func:`lecturelib.lava.training.pretrain_trunk`) and then kept frozen.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from ..world.expert import MOTION_LEVELS

__all__ = ["LavaConfig", "sincos_2d", "make_trunk", "make_patch_trunk", "pyramid_levels", "ConvPyramid",
           "FusionBlock", "cross_attention_fusion", "ResidualMLP", "LAVA"]


@dataclass
class LavaConfig:
    image_size: int = 64
    frames: int = 2             # temporal context: the last few frames
    d_model: int = 64
    n_heads: int = 4
    n_queries: int = 4          # language queries made from the sentence embedding
    fusion_layers: int = 2      # cross-attention blocks per frame
    temporal_layers: int = 1    # self-attention layers over the frames
    head_blocks: int = 2        # residual MLP blocks of the policy head
    channels: tuple = (16, 32, 64)   # conv pyramid: 64 -> 32 -> 16 -> 8 pixels
    freeze_trunk: bool = True   # keep the (pre-trained) conv trunk fixed, as LAVA keeps its ResNet
    token_levels: int = 1       # pyramid levels turned into visual tokens (1: the 8x8 map, 2: also 16x16)
    trunk: str = "conv"         # "conv": strided 3x3 convolutions; "patch": 4x4 patches then 2x2 merges
    text_dim: int = 384         # size of the instruction embeddings the text encoder gives
    text_tokens: int = 0        # 0: one sentence vector -> n_queries queries; L: L token features, one query each

    def __post_init__(self):
        if self.d_model % self.n_heads or self.d_model % 4:
            raise ValueError(f"d_model ({self.d_model}) must be divisible by n_heads ({self.n_heads}) and by 4")
        if self.frames < 1 or self.n_queries < 1:
            raise ValueError("frames and n_queries must be >= 1")
        if self.image_size % 8:
            raise ValueError(f"image_size must be a multiple of 8, got {self.image_size}")


def sincos_2d(h: int, w: int, d: int) -> torch.Tensor:
    """(h*w, d) fixed 2-D sine/cosine positions: half the channels encode the row, half the column.

    Positions are in [0, 1] image coordinates (so feature maps of different sizes share one frame);
    the wavelengths range from two image widths down to about two cells.
    """
    if d % 4:
        raise ValueError(f"d must be divisible by 4, got {d}")
    quarter = d // 4

    def axis(n):
        freq = math.pi * n ** (torch.arange(quarter, dtype=torch.float32) / max(quarter - 1, 1))   # (d/4,)
        pos = (torch.arange(n, dtype=torch.float32) + 0.5) / n
        angle = pos[:, None] * freq                                                               # (n, d/4)
        return torch.cat([angle.sin(), angle.cos()], 1)                                           # (n, d/2)

    row = axis(h)[:, None, :].expand(h, w, 2 * quarter)
    col = axis(w)[None, :, :].expand(h, w, 2 * quarter)
    return torch.cat([row, col], -1).reshape(h * w, d)


def make_patch_trunk(channels=(32, 64)) -> nn.Sequential:
    """Patch convolutions (kernel = stride): 4x4 patches, then 2x2 merges; cheap and exact."""
    layers, c_in, k = [], 3, 4
    for c in channels:
        layers += [nn.Conv2d(c_in, c, k, stride=k), nn.GELU()]
        c_in, k = c, 2
    return nn.Sequential(*layers)


def make_trunk(channels=(16, 32, 64)) -> nn.Sequential:
    """Strided 3x3 convolutions, each halving the image: the pyramid's trunk (shared with mini-CLIP).

    He-initialised, so that even an untrained (random, frozen) trunk passes on informative features.
    """
    layers, c_in = [], 3
    for c in channels:
        conv = nn.Conv2d(c_in, c, 3, stride=2, padding=1)
        nn.init.kaiming_normal_(conv.weight, nonlinearity="relu")
        nn.init.zeros_(conv.bias)
        layers += [conv, nn.GELU()]
        c_in = c
    return nn.Sequential(*layers)


def pyramid_levels(trunk: nn.Sequential, images: torch.Tensor, n_levels: int = 1) -> list[torch.Tensor]:
    """The trunk's last ``n_levels`` feature maps, e.g. [(B, C1, H/4, W/4), (B, C2, H/8, W/8)] for 2.

    images (B, H, W, 3) uint8 or float in [0, 1].
    """
    x = images.float() / 255.0 if images.dtype == torch.uint8 else images.float()
    x = (x - 0.5).permute(0, 3, 1, 2).contiguous(memory_format=torch.channels_last)   # faster on CPU
    levels = []
    for layer in trunk:
        x = layer(x)
        if isinstance(layer, nn.GELU):
            levels.append(x)
    return levels[-n_levels:]


class ConvPyramid(nn.Module):
    """Image -> visual tokens: a conv trunk (LAVA: a pre-trained ResNet, here mini-CLIP's trunk or a
    random one, kept frozen), then learned (1x1) convolutions on its top level(s), flattened into
    tokens with 2-D sin/cos positions and a level embedding.

    (B, H, W, 3) -> (B, N, d) with N = (H/8)^2 (+ (H/4)^2 with two levels).
    """

    def __init__(self, config: LavaConfig):
        super().__init__()
        self.trunk = make_patch_trunk(config.channels) if config.trunk == "patch" else make_trunk(config.channels)
        if config.freeze_trunk:
            self.trunk.requires_grad_(False)
        d, k = config.d_model, config.token_levels
        # learned layers on each token (a 1x1 convolution), after normalising the trunk's features
        self.learned = nn.ModuleList([nn.Sequential(nn.LayerNorm(c), nn.Linear(c, d), nn.GELU(), nn.Linear(d, d))
                                      for c in config.channels[-k:]])
        self.level = nn.Parameter(torch.zeros(k, d))               # which pyramid level a token is from
        self.coord = nn.Linear(2, d)       # a learned linear code of (x, y): attention can average it exactly
        n = len(config.channels) + (1 if config.trunk == "patch" else 0)   # a 4x4 patch halves twice
        for i, depth in enumerate(range(n - k + 1, n + 1)):
            side = config.image_size // 2 ** depth
            self.register_buffer(f"pos{i}", sincos_2d(side, side, d), persistent=False)
            centres = (torch.arange(side, dtype=torch.float32) + 0.5) / side * 2 - 1
            yy, xx = torch.meshgrid(-centres, centres, indexing="ij")       # y up, x right, in [-1, 1]
            self.register_buffer(f"xy{i}", torch.stack([xx, yy], -1).reshape(side * side, 2), persistent=False)
        self.k = k

    def features(self, images: torch.Tensor) -> list[torch.Tensor]:
        """The trunk's pyramid levels (computed once per frame when the trunk is frozen)."""
        if not any(p.requires_grad for p in self.trunk.parameters()):
            with torch.no_grad():
                return pyramid_levels(self.trunk, images, self.k)
        return pyramid_levels(self.trunk, images, self.k)

    def tokens(self, levels: list[torch.Tensor]) -> torch.Tensor:
        out = []
        for i, (f, conv) in enumerate(zip(levels, self.learned)):
            t = conv(f.float().flatten(2).transpose(1, 2))            # (B, hw, C) -> (B, hw, d)
            out.append(t + getattr(self, f"pos{i}") + self.coord(getattr(self, f"xy{i}")) + self.level[i])
        return torch.cat(out, 1)                                   # (B, N, d)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.tokens(self.features(images))


class FusionBlock(nn.Module):
    """The parameters of one language-attends-to-vision block (used by :func:`cross_attention_fusion`)."""

    def __init__(self, d: int, n_heads: int):
        super().__init__()
        self.norm_lang = nn.LayerNorm(d)
        self.norm_vis = nn.LayerNorm(d)
        self.attn = nn.MultiheadAttention(d, n_heads, batch_first=True)
        self.norm_mlp = nn.LayerNorm(d)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))


def cross_attention_fusion(lang: torch.Tensor, visual: torch.Tensor, block: FusionBlock) -> torch.Tensor:
    """One LAVA fusion step: the language queries attend to the visual tokens.

    lang (B, Q, d), visual (B, N, d) -> (B, Q, d):
        z = lang + Attn(query=LN(lang), key=value=LN(visual))     (pre-norm, residual on the language path)
        z = z + MLP(LN(z))
    """
    q = block.norm_lang(lang)
    kv = block.norm_vis(visual)
    z = lang + block.attn(q, kv, kv, need_weights=False)[0]
    return z + block.mlp(block.norm_mlp(z))


class ResidualMLP(nn.Module):
    """x + MLP(LN(x)), the policy head's block."""

    def __init__(self, d: int):
        super().__init__()
        self.norm = nn.LayerNorm(d)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

    def forward(self, x):
        return x + self.mlp(self.norm(x))


class LAVA(nn.Module):
    """Language Attends to Vision to Act. ``fusion`` may replace :func:`cross_attention_fusion`."""

    def __init__(self, config: LavaConfig, fusion=None):
        super().__init__()
        self.config = config
        d = config.d_model
        self.fusion = fusion or cross_attention_fusion
        self.vision = ConvPyramid(config)
        self.tokens = config.text_tokens > 0
        q_out = d if self.tokens else config.n_queries * d     # per token, or all queries from one vector
        self.lang_in = nn.Sequential(nn.LayerNorm(config.text_dim), nn.Linear(config.text_dim, q_out))
        self.blocks = nn.ModuleList([FusionBlock(d, config.n_heads) for _ in range(config.fusion_layers)])
        self.frame_out = nn.Linear(d if self.tokens else config.n_queries * d, d)
        self.time = nn.Parameter(torch.zeros(config.frames, d))
        layer = nn.TransformerEncoderLayer(d, config.n_heads, 4 * d, dropout=0.0, activation="gelu",
                                           batch_first=True, norm_first=True)
        self.temporal = nn.TransformerEncoder(layer, config.temporal_layers, enable_nested_tensor=False)
        n_levels = len(MOTION_LEVELS)
        self.head = nn.Sequential(*[ResidualMLP(d) for _ in range(config.head_blocks)], nn.LayerNorm(d),
                                  nn.Linear(d, 2 * n_levels + 1))
        self.grounding = nn.Linear(d, 6)      # auxiliary read-out: where the palm and the named blocks are

    def forward(self, frames, text: torch.Tensor) -> torch.Tensor:
        """frames (B, T, H, W, 3) uint8 (or float in [0, 1]), or the trunk's precomputed levels
        [(B, T, C, h, w), ...]; text (B, text_dim), or (B, L, text_dim) token features -> (B, 11) logits.

        The logits are the action distribution: 5 for dx, 5 for dy (over :data:`MOTION_LEVELS`),
        then 1 for the grip (close when > 0). :func:`action_from_logits` picks the most likely action.
        """
        return self.head(self.embed(frames, text))

    def embed(self, frames, text: torch.Tensor) -> torch.Tensor:
        """The vision-language embedding the head acts from, (B, d)."""
        if isinstance(frames, (list, tuple)):
            b, t = frames[0].shape[:2]
            levels = [f.reshape(b * t, *f.shape[2:]) for f in frames]
        else:
            b, t = frames.shape[:2]
            levels = self.vision.features(frames.reshape(b * t, *frames.shape[2:]))
        if t != self.config.frames:
            raise ValueError(f"expected {self.config.frames} frames per sample, got {t}")
        visual = self.vision.tokens(levels)                                        # (B*T, N, d)
        d = self.config.d_model
        if self.tokens:                         # text (B, L, D), padding rows all zero
            keep = (text.abs().sum(-1) > 0).to(text.dtype)                          # (B, L)
            q = self.lang_in(text)                                                 # (B, L, d)
        else:                                   # text (B, D)
            q = self.lang_in(text).view(b, self.config.n_queries, d)               # (B, Q, d)
        n_q = q.shape[1]
        z = q[:, None].expand(b, t, n_q, d).reshape(b * t, n_q, d)                 # (B*T, Q, d)
        for block in self.blocks:
            z = self.fusion(z, visual, block)
        if self.tokens:                         # the mean over the instruction's real tokens
            w = keep.repeat_interleave(t, 0)[..., None]                            # (B*T, L, 1)
            z = (z * w).sum(1) / w.sum(1).clamp(min=1.0)                           # (B*T, d)
        z = self.frame_out(z.reshape(b, t, -1)) + self.time                        # (B, T, d)
        return self.temporal(z)[:, -1]                                             # (B, d)
