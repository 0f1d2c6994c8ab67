"""The transformer's building blocks (Vaswani et al. 2017): the position-wise feed-forward network and
the encoder and decoder blocks, each "x N" in the slide's diagram.

Both blocks use residual connections around every sub-layer and layer norm. We put the norm *before*
each sub-layer (pre-norm, as GPT-2 and most later models do) rather than after it (post-norm, the
original paper): the residual stream then stays an identity path and training is stable without a
learning-rate warm-up trick per depth.

    encoder block:  x = x + SelfAttention(LN(x))                 (global: every token sees every token)
                    x = x + FFN(LN(x))
    decoder block:  x = x + MaskedSelfAttention(LN(x))           (causal: token t sees tokens <= t)
                    x = x + CrossAttention(LN(x), memory)        (queries from x, keys/values from the encoder)
                    x = x + FFN(LN(x))

A decoder block without cross-attention is the GPT block (Radford et al. 2018).
"""
from __future__ import annotations

import torch
import torch.nn as nn

from .attention import MultiHeadAttention

__all__ = ["FeedForward", "EncoderBlock", "DecoderBlock"]


class FeedForward(nn.Module):
    """FFN(x) = W_2 act(W_1 x + b_1) + b_2, applied to every position separately (hence "position-wise").

    x: (B, T, d_model) -> (B, T, d_model); the hidden width d_ff is usually 4 d_model.
    """

    def __init__(self, d_model: int, d_ff: int | None = None, *, dropout: float = 0.0, bias: bool = True,
                 activation: str = "gelu"):
        super().__init__()
        if activation not in ("gelu", "relu"):
            raise ValueError(f"activation must be 'gelu' or 'relu', got {activation!r}")
        d_ff = d_ff or 4 * d_model
        self.net = nn.Sequential(
            nn.Linear(d_model, d_ff, bias=bias),
            nn.GELU() if activation == "gelu" else nn.ReLU(),
            nn.Linear(d_ff, d_model, bias=bias),
            nn.Dropout(dropout),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class EncoderBlock(nn.Module):
    """Pre-norm encoder block: global self-attention then FFN, each inside a residual connection."""

    def __init__(self, d_model: int, n_heads: int, d_ff: int | None = None, *, dropout: float = 0.0,
                 bias: bool = True, impl: str = "sdpa"):
        super().__init__()
        self.ln_1 = nn.LayerNorm(d_model, bias=bias)
        self.attn = MultiHeadAttention(d_model, n_heads, bias=bias, dropout=dropout, impl=impl)
        self.ln_2 = nn.LayerNorm(d_model, bias=bias)
        self.ffn = FeedForward(d_model, d_ff, dropout=dropout, bias=bias)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        # x: (B, T, d_model); mask: optional boolean (B, T, T) or (T, T), True = may attend (e.g. padding)
        x = x + self.attn(self.ln_1(x), mask=mask)
        return x + self.ffn(self.ln_2(x))


class DecoderBlock(nn.Module):
    """Pre-norm decoder block: causal self-attention, (optional) cross-attention to ``memory``, FFN."""

    def __init__(self, d_model: int, n_heads: int, d_ff: int | None = None, *, cross_attention: bool = True,
                 dropout: float = 0.0, bias: bool = True, impl: str = "sdpa"):
        super().__init__()
        self.ln_1 = nn.LayerNorm(d_model, bias=bias)
        self.attn = MultiHeadAttention(d_model, n_heads, bias=bias, dropout=dropout, impl=impl)
        self.cross_attn = None
        if cross_attention:
            self.ln_cross = nn.LayerNorm(d_model, bias=bias)
            self.cross_attn = MultiHeadAttention(d_model, n_heads, bias=bias, dropout=dropout, impl=impl)
        self.ln_2 = nn.LayerNorm(d_model, bias=bias)
        self.ffn = FeedForward(d_model, d_ff, dropout=dropout, bias=bias)

    def forward(self, x: torch.Tensor, memory: torch.Tensor | None = None, *,
                memory_mask: torch.Tensor | None = None, self_mask: torch.Tensor | None = None) -> torch.Tensor:
        # x: (B, T, d_model) target-side tokens; memory: (B, S, d_model) the encoder's output
        # self_mask: optional boolean (B, T, T) used *instead of* the plain causal mask (it must be causal)
        if self_mask is None:
            x = x + self.attn(self.ln_1(x), is_causal=True)
        else:
            x = x + self.attn(self.ln_1(x), mask=self_mask)
        if self.cross_attn is not None:
            if memory is None:
                raise ValueError("this decoder block has cross-attention: pass the encoder output as memory")
            x = x + self.cross_attn(self.ln_cross(x), memory, mask=memory_mask)
        elif memory is not None:
            raise ValueError("this decoder block has no cross-attention (a GPT block); memory must be None")
        return x + self.ffn(self.ln_2(x))
