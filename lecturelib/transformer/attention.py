"""Attention, the transformer's core operation (Vaswani et al. 2017, "Attention is all you need").

    Attention(Q, K, V) = softmax(Q Kᵀ / √d_k + M) V

where M is 0 where a query may look at a key and -inf where it may not. An *encoder* lets every
token look at every other one (global attention, no mask); a *decoder* lets token t look only at
tokens ≤ t (masked, or causal, attention), so that no future token leaks into a prediction.
In self-attention the queries, keys and values all come from one sequence; in cross-attention the
queries come from one sequence and the keys and values from another (the encoder's output).

This module holds the sinusoidal positional encoding, the causal mask, scaled dot-product attention
written out by hand ("naive") or through ``torch.nn.functional.scaled_dot_product_attention``
("sdpa", fused kernels), and multi-head attention with the same weight layout as
``torch.nn.MultiheadAttention`` so that the two can be compared weight for weight.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = [
    "sinusoidal_positional_encoding",
    "causal_mask",
    "scaled_dot_product_attention",
    "MultiHeadAttention",
    "ATTENTION_IMPLS",
]

ATTENTION_IMPLS = ("naive", "sdpa")


def sinusoidal_positional_encoding(num_positions: int, d_model: int, base: float = 10000.0,
                                   device=None) -> torch.Tensor:
    """The fixed positional encoding of Vaswani et al. (2017), shape (num_positions, d_model).

    PE[t, 2i] = sin(t / base^(2i/d)),  PE[t, 2i+1] = cos(t / base^(2i/d)).
    Each pair of dimensions is a clock of its own frequency, so relative offsets are linear maps.
    """
    if num_positions < 1 or d_model < 2 or d_model % 2:
        raise ValueError(f"need num_positions >= 1 and an even d_model >= 2, got {num_positions}, {d_model}")
    position = torch.arange(num_positions, dtype=torch.float32, device=device)[:, None]      # (T, 1)
    freq = base ** (-torch.arange(0, d_model, 2, dtype=torch.float32, device=device) / d_model)  # (d/2,)
    angle = position * freq                                                                 # (T, d/2)
    pe = torch.zeros(num_positions, d_model, device=device)
    pe[:, 0::2] = torch.sin(angle)
    pe[:, 1::2] = torch.cos(angle)
    return pe


def causal_mask(T: int, device=None) -> torch.Tensor:
    """Boolean (T, T) mask, True where query t may attend to key s, i.e. s <= t (lower triangle)."""
    if T < 1:
        raise ValueError(f"T must be >= 1, got {T}")
    return torch.ones(T, T, dtype=torch.bool, device=device).tril()


def scaled_dot_product_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                                 mask: torch.Tensor | None = None, *, is_causal: bool = False,
                                 impl: str = "naive", return_weights: bool = False):
    """softmax(q kᵀ / √d_k) v over the last two dimensions.

    q: (..., T_q, d_k), k: (..., T_k, d_k), v: (..., T_k, d_v)  ->  (..., T_q, d_v)
    mask: boolean, broadcastable to (..., T_q, T_k), True where attention is allowed (the convention
    of torch's SDPA). ``is_causal`` adds the causal mask. ``impl`` is "naive" (written out, returns
    the weights when asked) or "sdpa" (torch's fused kernel; it never materialises the weights).
    """
    if impl not in ATTENTION_IMPLS:
        raise ValueError(f"impl must be one of {ATTENTION_IMPLS}, got {impl!r}")
    if q.shape[-1] != k.shape[-1] or k.shape[-2] != v.shape[-2]:
        raise ValueError(f"shape mismatch: q {tuple(q.shape)}, k {tuple(k.shape)}, v {tuple(v.shape)}")
    if mask is not None and mask.dtype != torch.bool:
        raise ValueError("mask must be boolean (True = may attend)")
    if is_causal:  # top-left aligned, as in torch: query t sees keys 0..t
        cm = torch.ones(q.shape[-2], k.shape[-2], dtype=torch.bool, device=q.device).tril()
        mask = cm if mask is None else (mask & cm)
    if impl == "sdpa" and not return_weights:
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])          # (..., T_q, T_k)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = scores.softmax(dim=-1)                                    # rows sum to 1
    out = weights @ v                                                   # (..., T_q, d_v)
    return (out, weights) if return_weights else out


class MultiHeadAttention(nn.Module):
    """Multi-head attention: h heads of size d_model / h attend in parallel, then one output projection.

    MultiHead(X_q, X_kv) = Concat(head_1, ..., head_h) W_O,  head_i = Attention(X_q W_Q^i, X_kv W_K^i, X_kv W_V^i)

    The projection weights use ``nn.MultiheadAttention``'s layout (``in_proj_weight`` of shape
    (3 d_model, d_model) holding W_Q, W_K, W_V; ``out_proj``), see :meth:`from_torch`.
    Self-attention: ``mha(x)``. Cross-attention: ``mha(x, memory)``.
    Set ``store_weights = True`` to keep the last attention weights in ``last_weights`` (B, h, T_q, T_k).
    """

    def __init__(self, d_model: int, n_heads: int, *, bias: bool = True, dropout: float = 0.0,
                 impl: str = "sdpa"):
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model={d_model} is not divisible by n_heads={n_heads}")
        if impl not in ATTENTION_IMPLS:
            raise ValueError(f"impl must be one of {ATTENTION_IMPLS}, got {impl!r}")
        self.d_model, self.n_heads, self.impl, self.dropout = d_model, n_heads, impl, dropout
        self.in_proj_weight = nn.Parameter(torch.empty(3 * d_model, d_model))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * d_model)) if bias else None
        self.out_proj = nn.Linear(d_model, d_model, bias=bias)
        nn.init.xavier_uniform_(self.in_proj_weight)
        self.store_weights = False
        self.last_weights: torch.Tensor | None = None

    def _split_heads(self, x: torch.Tensor) -> torch.Tensor:
        B, T, _ = x.shape
        return x.view(B, T, self.n_heads, self.d_model // self.n_heads).transpose(1, 2)  # (B, h, T, d_h)

    def forward(self, x: torch.Tensor, memory: torch.Tensor | None = None, *,
                mask: torch.Tensor | None = None, is_causal: bool = False) -> torch.Tensor:
        # x: (B, T_q, d_model); memory: (B, T_k, d_model) or None for self-attention
        W, b = self.in_proj_weight, self.in_proj_bias
        if memory is None:
            q, k, v = F.linear(x, W, b).chunk(3, dim=-1)                 # one matmul for Q, K, V
        else:
            d = self.d_model
            q = F.linear(x, W[:d], None if b is None else b[:d])
            k, v = F.linear(memory, W[d:], None if b is None else b[d:]).chunk(2, dim=-1)
        q, k, v = self._split_heads(q), self._split_heads(k), self._split_heads(v)  # (B, h, T, d_h)
        if mask is not None and mask.dim() == 3:
            mask = mask[:, None]                                          # (B, 1, T_q, T_k): all heads
        if is_causal and mask is not None:
            raise ValueError("pass either mask or is_causal=True to MultiHeadAttention, not both")
        drop = self.dropout if self.training else 0.0
        if self.impl == "sdpa" and not self.store_weights:
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=is_causal, dropout_p=drop)
        else:
            y, weights = scaled_dot_product_attention(q, k, v, mask, is_causal=is_causal, impl="naive",
                                                      return_weights=True)
            if self.store_weights:
                self.last_weights = weights.detach()
            if drop:
                y = F.dropout(weights, drop) @ v
        B, _, T_q, _ = y.shape
        y = y.transpose(1, 2).reshape(B, T_q, self.d_model)             # concatenate the heads
        return self.out_proj(y)

    @torch.no_grad()
    def load_from_torch(self, mha: nn.MultiheadAttention) -> "MultiHeadAttention":
        """Copy the weights of a ``torch.nn.MultiheadAttention`` (batch_first or not) into this module."""
        if mha.embed_dim != self.d_model or mha.num_heads != self.n_heads or mha.in_proj_weight is None:
            raise ValueError("nn.MultiheadAttention must have the same d_model, n_heads and packed in_proj")
        self.in_proj_weight.copy_(mha.in_proj_weight)
        if self.in_proj_bias is not None:
            self.in_proj_bias.copy_(mha.in_proj_bias)
        self.out_proj.weight.copy_(mha.out_proj.weight)
        if self.out_proj.bias is not None:
            self.out_proj.bias.copy_(mha.out_proj.bias)
        return self

    @classmethod
    def from_torch(cls, mha: nn.MultiheadAttention, impl: str = "sdpa") -> "MultiHeadAttention":
        """A MultiHeadAttention holding the same weights as ``mha``."""
        new = cls(mha.embed_dim, mha.num_heads, bias=mha.in_proj_bias is not None, impl=impl)
        return new.load_from_torch(mha)
