"""A LAVA policy: the model with its text encoder; acting, saving and loading.

``policy.act(frames, texts)`` maps (B, T, 64, 64, 3) uint8 frame histories and B instructions to (B, 3)
world actions; :func:`save_policy` writes one file (weights, config, what rebuilds the text encoder,
the figures measured), :func:`load_policy` reads it back and checks its format.
"""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .actions import action_from_logits, sample_action
from .model import LAVA, LavaConfig
from .text import TextEncoder, encoder_from_spec

__all__ = ["LavaPolicy", "make_policy", "save_policy", "load_policy", "FORMAT_VERSION", "PolicyFileError"]

FORMAT_VERSION = 2      # bump when what a policy file holds changes


class PolicyFileError(ValueError):
    """A policy file that cannot be used: missing, unreadable, another format, another setup."""


class LavaPolicy(nn.Module):
    """A LAVA model with its text encoder: ``act(frames, texts)`` gives world actions."""

    def __init__(self, model: LAVA, encoder: TextEncoder):
        super().__init__()
        self.model, self.encoder = model, encoder
        self.metadata: dict = {}

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
    config = LavaConfig(**{**asdict(config), "text_dim": encoder.dim,
                           "text_tokens": getattr(encoder, "max_tokens", 0)})
    return LavaPolicy(LAVA(config, fusion), encoder)


def save_policy(policy: LavaPolicy, path: str | Path, **metadata) -> Path:
    """Save the weights, the config and what rebuilds the text encoder to one file (``metadata``: e.g. the
    figures measured and the recipe that made it)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save({"format": FORMAT_VERSION, "config": asdict(policy.model.config), "encoder": policy.encoder.spec(),
                "model": policy.model.state_dict(),
                "encoder_state": policy.encoder.state_dict() if policy.encoder.trainable else None,
                "metadata": metadata}, tmp)
    tmp.replace(path)           # never leave a half-written policy behind
    return path


def load_policy(path: str | Path, device=None, encoder: TextEncoder | None = None) -> LavaPolicy:
    """A policy saved by :func:`save_policy`; :class:`PolicyFileError` says in one line why one cannot be
    used. Pass ``encoder`` for frozen custom encoders (e.g. ``ClipTextEncoder(clip_model)``)."""
    path = Path(path)
    if not path.is_file():
        raise PolicyFileError(f"no policy file at {path}")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:   # a truncated or foreign file: torch raises many kinds of errors
        raise PolicyFileError(f"{path} is not a readable policy file ({type(err).__name__})") from None
    if not isinstance(blob, dict) or blob.get("format") != FORMAT_VERSION:
        found = blob.get("format", "none") if isinstance(blob, dict) else "none"
        raise PolicyFileError(f"{path} has policy format {found}, this lecturelib reads format {FORMAT_VERSION}")
    try:
        config = LavaConfig(**{**blob["config"], "channels": tuple(blob["config"]["channels"])})
        encoder = encoder or encoder_from_spec(blob["encoder"], blob.get("encoder_state"))
        model = LAVA(config)
        model.load_state_dict(blob["model"])
    except (KeyError, TypeError, RuntimeError) as err:
        raise PolicyFileError(f"{path} does not match this lecturelib's LAVA ({type(err).__name__}: "
                              f"{str(err).splitlines()[0][:120]})") from None
    policy = LavaPolicy(model, encoder)
    policy.metadata = blob.get("metadata", {})
    return policy.to(device or "cpu")
