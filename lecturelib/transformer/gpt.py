"""A tiny GPT: the decoder-only transformer language model (Radford et al. 2018, "Improving language
understanding by generative pre-training"), written in the spirit of nanoGPT.

    tokens -> token embedding + position embedding -> N x [causal self-attention, FFN] -> LN -> logits

Trained to predict token t+1 from tokens <= t (the slide's prefix table, all prefixes at once thanks
to the causal mask). :meth:`GPT.forward` accepts token ids *or* ready-made input embeddings, so that a
PaLM-E-style model (lesson 08) can feed image or state embeddings in place of some word embeddings;
the token embedding table is :attr:`GPT.token_embedding`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from .attention import ATTENTION_IMPLS, sinusoidal_positional_encoding
from .blocks import DecoderBlock

__all__ = ["GPTConfig", "GPT", "sample"]


@dataclass
class GPTConfig:
    vocab_size: int = 128
    block_size: int = 128           # the longest context the model reads
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    dropout: float = 0.0
    bias: bool = True
    attn_impl: str = "sdpa"         # "sdpa" (torch's fused kernel) or "naive" (written out)
    pos_encoding: str = "learned"   # "learned" (GPT) or "sinusoidal" (Vaswani et al.)
    tie_weights: bool = True        # share the token embedding with the output layer

    def __post_init__(self):
        if self.attn_impl not in ATTENTION_IMPLS:
            raise ValueError(f"attn_impl must be one of {ATTENTION_IMPLS}, got {self.attn_impl!r}")
        if self.pos_encoding not in ("learned", "sinusoidal"):
            raise ValueError(f"pos_encoding must be 'learned' or 'sinusoidal', got {self.pos_encoding!r}")
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd={self.n_embd} must be divisible by n_head={self.n_head}")
        if min(self.vocab_size, self.block_size, self.n_layer) < 1:
            raise ValueError("vocab_size, block_size and n_layer must be >= 1")


class GPT(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.config = c = config
        self.wte = nn.Embedding(c.vocab_size, c.n_embd)                        # token embedding
        if c.pos_encoding == "learned":
            self.wpe = nn.Embedding(c.block_size, c.n_embd)
        else:
            self.register_buffer("pe", sinusoidal_positional_encoding(c.block_size, c.n_embd), persistent=False)
        self.drop = nn.Dropout(c.dropout)
        self.blocks = nn.ModuleList(
            DecoderBlock(c.n_embd, c.n_head, 4 * c.n_embd, cross_attention=False, dropout=c.dropout,
                         bias=c.bias, impl=c.attn_impl)
            for _ in range(c.n_layer)
        )
        self.ln_f = nn.LayerNorm(c.n_embd, bias=c.bias)
        self.lm_head = nn.Linear(c.n_embd, c.vocab_size, bias=False)
        if c.tie_weights:
            self.lm_head.weight = self.wte.weight
        self.apply(self._init_weights)
        for name, p in self.named_parameters():   # GPT-2: scale the residual projections by depth
            if name.endswith("out_proj.weight") or name.endswith("net.2.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * c.n_layer))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
        elif hasattr(module, "in_proj_weight"):
            nn.init.normal_(module.in_proj_weight, mean=0.0, std=0.02)

    @property
    def token_embedding(self) -> nn.Embedding:
        """The (vocab_size, n_embd) token embedding table (tied to the output layer by default)."""
        return self.wte

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def set_attention_impl(self, impl: str) -> None:
        """Switch every attention layer between "naive" and "sdpa" (the weights stay the same)."""
        if impl not in ATTENTION_IMPLS:
            raise ValueError(f"impl must be one of {ATTENTION_IMPLS}, got {impl!r}")
        self.config.attn_impl = impl
        for block in self.blocks:
            block.attn.impl = impl

    @torch.no_grad()
    def attention_maps(self, idx: torch.Tensor | None = None, inputs_embeds: torch.Tensor | None = None) -> list:
        """The attention weights of every layer for one forward pass: a list of n_layer tensors (B, h, T, T)."""
        for block in self.blocks:
            block.attn.store_weights = True
        try:
            self.hidden_states(idx, inputs_embeds)
            return [block.attn.last_weights for block in self.blocks]
        finally:
            for block in self.blocks:
                block.attn.store_weights = False
                block.attn.last_weights = None

    def hidden_states(self, idx: torch.Tensor | None = None, inputs_embeds: torch.Tensor | None = None,
                      attention_mask: torch.Tensor | None = None,
                      position_ids: torch.Tensor | None = None) -> torch.Tensor:
        """The final (layer-normed) residual stream, (B, T, n_embd).

        Give exactly one of ``idx`` (B, T) token ids or ``inputs_embeds`` (B, T, n_embd).
        ``attention_mask`` optionally replaces the causal mask with a boolean (B, T, T) or (T, T) mask
        (True = may attend); it must itself be causal to keep the model a language model.
        ``position_ids`` (T,) or (B, T) optionally replaces the positions 0..T-1 (e.g. several queries
        that should all sit at the same position).
        """
        if (idx is None) == (inputs_embeds is None):
            raise ValueError("give exactly one of idx (token ids) or inputs_embeds")
        if inputs_embeds is None:
            if idx.dim() != 2:
                raise ValueError(f"idx must be (B, T) token ids, got shape {tuple(idx.shape)}")
            inputs_embeds = self.wte(idx)                                      # (B, T, C)
        if inputs_embeds.dim() != 3 or inputs_embeds.shape[-1] != self.config.n_embd:
            raise ValueError(f"inputs_embeds must be (B, T, {self.config.n_embd}), got {tuple(inputs_embeds.shape)}")
        T = inputs_embeds.shape[1]
        if position_ids is None:
            if T > self.config.block_size:
                raise ValueError(f"sequence of length {T} is longer than block_size={self.config.block_size}")
            position_ids = torch.arange(T, device=inputs_embeds.device)
        elif position_ids.shape[-1] != T or int(position_ids.max()) >= self.config.block_size or int(position_ids.min()) < 0:
            raise ValueError(f"position_ids must have length {T} and lie in [0, block_size={self.config.block_size})")
        if self.config.pos_encoding == "learned":
            pos = self.wpe(position_ids)                                       # (T, C) or (B, T, C)
        else:
            pos = self.pe[position_ids]
        x = self.drop(inputs_embeds + pos)
        for block in self.blocks:
            x = block(x, self_mask=attention_mask)
        return self.ln_f(x)                                                    # (B, T, C)

    def forward(self, idx: torch.Tensor | None = None, targets: torch.Tensor | None = None, *,
                inputs_embeds: torch.Tensor | None = None, attention_mask: torch.Tensor | None = None,
                position_ids: torch.Tensor | None = None, ignore_index: int = -100):
        """Logits (B, T, vocab_size) and, when ``targets`` (B, T) are given, the mean cross-entropy in nats
        (positions whose target is ``ignore_index`` are skipped); otherwise loss is None."""
        h = self.hidden_states(idx, inputs_embeds, attention_mask, position_ids)
        logits = self.lm_head(h)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1),
                                   ignore_index=ignore_index)
        return logits, loss

    def configure_optimizer(self, lr: float, weight_decay: float = 0.1, betas=(0.9, 0.99)):
        """AdamW with weight decay on the matrices only (not on biases, norms or position tables)."""
        decay = [p for n, p in self.named_parameters() if p.dim() >= 2 and not n.startswith("wpe")]
        no_decay = [p for n, p in self.named_parameters() if p.dim() < 2 or n.startswith("wpe")]
        groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
        return torch.optim.AdamW(groups, lr=lr, betas=betas)

    @torch.no_grad()
    def generate(self, idx: torch.Tensor, max_new_tokens: int, *, temperature: float = 1.0,
                 top_k: int | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
        """Extend ``idx`` (B, T) by ``max_new_tokens`` sampled tokens; see :func:`sample`."""
        return sample(self, idx, max_new_tokens, temperature=temperature, top_k=top_k, generator=generator)


@torch.no_grad()
def sample(model: GPT, idx: torch.Tensor, max_new_tokens: int, *, temperature: float = 1.0,
           top_k: int | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
    """Autoregressive sampling: feed the (cropped) context, sample the next token, append, repeat.

    temperature -> 0 approaches greedy decoding; top_k keeps only the k most likely tokens.
    """
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    was_training = model.training
    model.eval()
    for _ in range(max_new_tokens):
        context = idx[:, -model.config.block_size:]                             # (B, <= block_size)
        logits, _ = model(context)
        logits = logits[:, -1, :]                                               # (B, vocab)
        if temperature == 0:
            nxt = logits.argmax(dim=-1, keepdim=True)
        else:
            logits = logits / temperature
            if top_k is not None:
                kth = torch.topk(logits, min(top_k, logits.shape[-1])).values[:, -1:]
                logits = logits.masked_fill(logits < kth, float("-inf"))
            nxt = torch.multinomial(logits.softmax(dim=-1), 1, generator=generator)  # (B, 1)
        idx = torch.cat([idx, nxt], dim=1)
    model.train(was_training)
    return idx
