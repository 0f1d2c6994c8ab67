"""The PaLM-E model: encoders φ, projections ψ into the LM's word-embedding space, a decoder-only LM.

For a multimodal sentence with words w_i and placeholders, the LM reads the embeddings

    x_i = γ(w_i)              where position i is a word,
    x_i = ψ(φ(O))_j           where position i is the j-th placeholder position,

and predicts the answer's tokens; the loss is the cross-entropy on the answer only
(:func:`~lecturelib.palme.sentences.answer_targets`). ``<img>`` takes the :class:`PatchEncoder`'s tokens
of the whole image, each ``<obj>`` the token of one block, from pixels (:class:`ObjectEncoder`) or from
a cell grid (:class:`StateEncoder`; one slot head serves both, so one model answers from either input).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .encoders import ObjectEncoder, PatchEncoder, StateEncoder
from .language_model import as_language_model
from .sentences import IGNORE, PLACEHOLDERS, Example, MultimodalBatch, MultimodalTokenizer, answer_targets, collate, inject

__all__ = ["PaLMEConfig", "Projection", "PaLME"]


@dataclass
class PaLMEConfig:
    image_size: int = 56
    image_columns: int = 7       # patch strips of the whole-image encoder
    encoder_dim: int = 64
    freeze_lm: bool = False      # True: only the encoders and projections learn (the LM stays as pretrained)
    normalize_tokens: bool = True  # projections end in a LayerNorm scaled like the LM's word embeddings


class Projection(nn.Module):
    """ψ: encoder space -> the LM's embedding space, a linear map then (``scale`` given) a LayerNorm whose
    gain starts at ``scale``, the root-mean-square of the LM's word embeddings, so that injected tokens
    are as large as the words around them."""

    def __init__(self, d_in: int, d_out: int, scale: float | None = None):
        super().__init__()
        self.linear = nn.Linear(d_in, d_out)
        self.norm = None
        if scale is not None:
            self.norm = nn.LayerNorm(d_out)
            with torch.no_grad():
                self.norm.weight.fill_(scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.linear(x)
        return x if self.norm is None else self.norm(x)


class PaLME(nn.Module):
    """Encoders + projections into the LM's embedding space + a decoder-only LM that answers in text.

    Encoders: ``patches`` (the whole image, for ``<img>``), ``objects`` (object tokens from pixels) and
    ``state`` (object tokens from a cell grid), both for ``<obj>``. ``inject_fn`` is the injection
    (a lesson can pass its own).
    """

    def __init__(self, lm: nn.Module, tokenizer: MultimodalTokenizer, config: PaLMEConfig | None = None,
                 inject_fn: Callable = inject):
        super().__init__()
        self.config = config = config or PaLMEConfig()
        self.lm = as_language_model(lm)
        if self.lm.vocab_size < tokenizer.vocab_size:
            raise ValueError(f"the LM's vocabulary ({self.lm.vocab_size}) is smaller than the tokenizer's "
                             f"({tokenizer.vocab_size})")
        self.tokenizer, self.inject_fn = tokenizer, inject_fn
        d = config.encoder_dim
        self.encoders = nn.ModuleDict({
            "patches": PatchEncoder(config.image_size, config.image_columns, d),
            "objects": ObjectEncoder(config.image_size, dim=d),
            "state": StateEncoder(dim=d),
        })
        # one slot head reads both cell grids, estimated from pixels or exact from the simulator, so the same
        # trained network can be asked with either input (image vs state)
        self.encoders["state"].slots = self.encoders["objects"].slots
        # the projections ψ, normalised to the size of a word embedding: encoder tokens 40 times larger than
        # the words around them drown the LM's position embeddings, and training is slower and stalls
        with torch.no_grad():
            device = next(self.lm.parameters()).device
            words = self.lm.embed_tokens(torch.arange(min(tokenizer.vocab_size, 512), device=device))
            scale = float(words.pow(2).mean().sqrt())
        self.projections = nn.ModuleDict({p: Projection(d, self.lm.n_embd, scale if config.normalize_tokens else None)
                                          for p in PLACEHOLDERS})
        self.set_freeze_lm(config.freeze_lm)

    @property
    def image_tokens(self) -> int:
        """Positions one ``<img>`` takes: the patch encoder's tokens."""
        return self.encoders["patches"].n_tokens

    def set_freeze_lm(self, freeze: bool) -> None:
        self.config.freeze_lm = freeze
        for p in self.lm.parameters():
            p.requires_grad_(not freeze)

    def collate(self, examples: Sequence[Example], with_answers: bool = True, encoded=None) -> MultimodalBatch:
        return collate(examples, self.tokenizer, self.image_tokens, with_answers, encoded)

    @torch.no_grad()
    def perceive(self, examples: Sequence[Example], batch_size: int = 256) -> list[Example]:
        """The examples, each image that only ``<obj>`` placeholders read replaced by the cell grid that the
        frozen perception step sees in it (:meth:`ObjectEncoder.perceive`), computed once per image.

        A frozen encoder gives the same output for the same image at every training step, so running it
        once per scene gives the same tokens, loss and gradients, and saves its cost at every step.
        Examples with ``<img>`` (the patch encoder learns) are returned unchanged, and so is everything
        while the perception step still learns.
        """
        if not self.encoders["objects"].frozen:
            return list(examples)

        def pixels(ex):     # the address of an example's image, or None: examples of one scene share it
            s = ex.scene
            if ex.objects and "<img>" not in ex.prompt and isinstance(s, np.ndarray) and s.ndim == 3 and s.shape[-1] == 3:
                return s.__array_interface__["data"][0]
            return None

        todo = {}
        for ex in examples:
            key = pixels(ex)
            if key is not None:
                todo.setdefault(key, ex.scene)
        keys, grids = list(todo), {}
        device = next(self.parameters()).device
        for i in range(0, len(keys), batch_size):
            images = torch.from_numpy(np.stack([todo[k] for k in keys[i:i + batch_size]])).to(device)
            grids.update(zip(keys[i:i + batch_size], self.encoders["objects"].perceive(images).cpu().numpy()))
        return [ex if pixels(ex) is None else replace(ex, scene=grids[pixels(ex)]) for ex in examples]

    def object_tokens(self, batch: MultimodalBatch) -> torch.Tensor:
        """(n_scenes, K, encoder_dim): every object of every scene, images first, then cell grids."""
        parts = []
        if batch.images is not None:
            parts.append(self.encoders["objects"](batch.images))
        if batch.grids is not None:
            parts.append(self.encoders["state"](batch.grids))
        return torch.cat(parts)

    def embed(self, batch: MultimodalBatch) -> torch.Tensor:
        """(B, T, C): word embeddings γ(w), with the projected encoder tokens ψ(φ(O)) at the placeholders."""
        x = self.lm.embed_tokens(batch.ids)
        C = x.shape[-1]
        img_mask = batch.ids == self.tokenizer.placeholder_id["<img>"]
        if img_mask.any():
            visual = self.encoders["patches"](batch.images[batch.image_of])                  # (n, N, d)
            x = self.inject_fn(x, img_mask, self.projections["<img>"](visual).reshape(-1, C))
        obj_mask = batch.ids == self.tokenizer.placeholder_id["<obj>"]
        if obj_mask.any():
            slots = self.object_tokens(batch)                                                # (n_scenes, K, d)
            chosen = slots[batch.object_of[:, 0], batch.object_of[:, 1]]                     # (M, d)
            x = self.inject_fn(x, obj_mask, self.projections["<obj>"](chosen))
        return x

    def forward(self, batch: MultimodalBatch):
        """Logits (B, T, V) and the mean cross-entropy over the answer tokens."""
        self._check_length(batch)
        logits = self.lm(self.embed(batch))
        targets = answer_targets(batch.ids, batch.answer_mask)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=IGNORE)
        return logits, loss

    def answer_logits(self, batch: MultimodalBatch):
        """(logits (M, V), targets (M,), rows (M,)) at the M positions that predict an answer token only:
        the output layer and softmax run where the loss needs them, a third of the positions or less."""
        self._check_length(batch)
        targets = answer_targets(batch.ids, batch.answer_mask)
        keep = targets != IGNORE
        h = self.lm.hidden(self.embed(batch))                                  # (B, T, C)
        rows = torch.nonzero(keep)[:, 0]
        return self.lm.logits(h[keep]), targets[keep], rows

    def loss(self, batch: MultimodalBatch, weighting: str = "example") -> torch.Tensor:
        """The answer-only cross-entropy. ``weighting="token"``: the mean over all answer tokens of the
        batch (``forward``'s loss); ``"example"``: the mean over examples of each one's mean over its
        answer tokens, so that a one-word answer counts as much as a five-step plan."""
        logits, targets, rows = self.answer_logits(batch)
        if weighting == "token":
            return F.cross_entropy(logits, targets)
        if weighting != "example":
            raise ValueError(f"weighting must be 'token' or 'example', got {weighting!r}")
        ce = F.cross_entropy(logits, targets, reduction="none")               # (M,)
        B = batch.ids.shape[0]
        count = torch.zeros(B, device=ce.device).index_add_(0, rows, torch.ones_like(ce))
        total = torch.zeros(B, device=ce.device).index_add_(0, rows, ce)
        has = count > 0
        return (total[has] / count[has]).mean()

    def _check_length(self, batch: MultimodalBatch) -> None:
        if batch.ids.shape[1] > self.lm.block_size:
            raise ValueError(f"batch of length {batch.ids.shape[1]} exceeds the LM's block_size {self.lm.block_size}")
