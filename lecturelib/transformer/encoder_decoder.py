"""The full encoder-decoder transformer (Vaswani et al. 2017, "Attention is all you need").

    source tokens -> embedding + positional encoding -> N x EncoderBlock  -> memory      (global attention)
    target tokens -> embedding + positional encoding -> N x DecoderBlock(memory) -> logits
                                                      (causal self-attention + cross-attention to memory)

The encoder reads the whole source at once; the decoder writes the target one token at a time, each
step looking at the target so far (causal mask) and, through cross-attention, at every source token.
A small copy-style task (reverse a string of digits) shows it learning an alignment through
cross-attention: :func:`reversal_batch`, :func:`train_seq2seq`, :meth:`Transformer.greedy_decode`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm.auto import tqdm

from .attention import sinusoidal_positional_encoding
from .blocks import DecoderBlock, EncoderBlock
from .training import CPUThreads

__all__ = ["TransformerConfig", "Encoder", "Decoder", "Transformer", "reversal_batch", "train_seq2seq"]


@dataclass
class TransformerConfig:
    src_vocab_size: int = 11     # 10 digits (+ one unused id, so source and target share ids)
    tgt_vocab_size: int = 11     # 10 digits + the begin-of-sequence token 10
    d_model: int = 64
    n_heads: int = 4
    n_layers: int = 2           # N in the slide's "x N", for the encoder and for the decoder
    d_ff: int = 128
    max_len: int = 64
    dropout: float = 0.0
    attn_impl: str = "sdpa"

    def __post_init__(self):
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model={self.d_model} must be divisible by n_heads={self.n_heads}")


class Encoder(nn.Module):
    """N encoder blocks over embedded source tokens; returns the memory (B, S, d_model)."""

    def __init__(self, c: TransformerConfig):
        super().__init__()
        self.embed = nn.Embedding(c.src_vocab_size, c.d_model)
        self.register_buffer("pe", sinusoidal_positional_encoding(c.max_len, c.d_model), persistent=False)
        self.blocks = nn.ModuleList(EncoderBlock(c.d_model, c.n_heads, c.d_ff, dropout=c.dropout,
                                                 impl=c.attn_impl) for _ in range(c.n_layers))
        self.ln = nn.LayerNorm(c.d_model)
        self.scale = math.sqrt(c.d_model)

    def forward(self, src: torch.Tensor, src_mask: torch.Tensor | None = None) -> torch.Tensor:
        # src: (B, S) token ids -> (B, S, d_model)
        x = self.embed(src) * self.scale + self.pe[: src.shape[1]]
        for block in self.blocks:
            x = block(x, mask=src_mask)
        return self.ln(x)


class Decoder(nn.Module):
    """N decoder blocks (causal self-attention + cross-attention to the memory); returns logits."""

    def __init__(self, c: TransformerConfig):
        super().__init__()
        self.embed = nn.Embedding(c.tgt_vocab_size, c.d_model)
        self.register_buffer("pe", sinusoidal_positional_encoding(c.max_len, c.d_model), persistent=False)
        self.blocks = nn.ModuleList(DecoderBlock(c.d_model, c.n_heads, c.d_ff, cross_attention=True,
                                                 dropout=c.dropout, impl=c.attn_impl) for _ in range(c.n_layers))
        self.ln = nn.LayerNorm(c.d_model)
        self.head = nn.Linear(c.d_model, c.tgt_vocab_size)
        self.scale = math.sqrt(c.d_model)

    def forward(self, tgt: torch.Tensor, memory: torch.Tensor,
                memory_mask: torch.Tensor | None = None) -> torch.Tensor:
        # tgt: (B, T) token ids, memory: (B, S, d_model) -> logits (B, T, tgt_vocab)
        x = self.embed(tgt) * self.scale + self.pe[: tgt.shape[1]]
        for block in self.blocks:
            x = block(x, memory, memory_mask=memory_mask)
        return self.head(self.ln(x))


class Transformer(nn.Module):
    """Encoder + decoder. ``forward(src, tgt_in)`` -> logits for the next target tokens (B, T, V)."""

    def __init__(self, config: TransformerConfig):
        super().__init__()
        self.config = config
        self.encoder = Encoder(config)
        self.decoder = Decoder(config)

    def forward(self, src: torch.Tensor, tgt_in: torch.Tensor) -> torch.Tensor:
        for name, t in (("src", src), ("tgt_in", tgt_in)):
            if t.dim() != 2 or t.shape[1] > self.config.max_len:
                raise ValueError(f"{name} must be (B, L) token ids with L <= max_len={self.config.max_len}")
        return self.decoder(tgt_in, self.encoder(src))

    def cross_attention_blocks(self):
        """The decoder's cross-attention modules (set ``store_weights`` on them to read the weights)."""
        return [block.cross_attn for block in self.decoder.blocks]

    @torch.no_grad()
    def greedy_decode(self, src: torch.Tensor, bos: int, length: int) -> torch.Tensor:
        """Generate ``length`` target tokens after ``bos``, one at a time, taking the argmax each step."""
        was_training = self.training
        self.eval()
        memory = self.encoder(src)                                          # encode once
        out = torch.full((src.shape[0], 1), bos, dtype=torch.long, device=src.device)
        for _ in range(length):
            nxt = self.decoder(out, memory)[:, -1].argmax(-1, keepdim=True)
            out = torch.cat([out, nxt], dim=1)
        self.train(was_training)
        return out[:, 1:]


def reversal_batch(batch_size: int, length: int, *, n_symbols: int = 10,
                   generator: torch.Generator | None = None, device=None):
    """A toy translation task: the target is the source reversed.

    Tokens 0..n_symbols-1 are digits; ``n_symbols`` is the begin-of-sequence token of the target.
    Returns src (B, L), tgt_in = [BOS, y_1..y_{L-1}] (B, L) and tgt_out = y (B, L).
    """
    src = torch.randint(0, n_symbols, (batch_size, length), generator=generator)
    tgt_out = src.flip(1)
    bos = torch.full((batch_size, 1), n_symbols, dtype=torch.long)
    tgt_in = torch.cat([bos, tgt_out[:, :-1]], dim=1)
    return tuple(t.to(device) if device is not None else t for t in (src, tgt_in, tgt_out))


def train_seq2seq(model: Transformer, *, steps: int = 300, batch_size: int = 64, length: int = 8,
                  lr: float = 3e-3, seed: int = 0, device=None, progress: bool = True,
                  cpu_threads="auto") -> list[float]:
    """Train ``model`` on :func:`reversal_batch`; returns the loss per step (nats/token)."""
    device = torch.device(device) if device is not None else next(model.parameters()).device
    model.to(device).train()
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps,
                                                pct_start=min(0.5, max(0.1, 2.0 / steps)))  # ≥ 2 warm-up steps
    gen = torch.Generator().manual_seed(seed)
    n_symbols = model.config.tgt_vocab_size - 1          # the last target token is BOS
    losses = []
    threads = CPUThreads(cpu_threads if device.type == "cpu" else None)
    try:
        for step in tqdm(range(steps), desc="training encoder-decoder", disable=not progress):
            threads.before_step(step)
            src, tgt_in, tgt_out = reversal_batch(batch_size, length, n_symbols=n_symbols, generator=gen, device=device)
            logits = model(src, tgt_in)
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt_out.reshape(-1))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            losses.append(float(loss.detach()))
            threads.after_step(step)
    finally:
        threads.restore()
    model.eval()
    return losses
