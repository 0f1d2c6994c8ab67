"""Language-modelling data: the slide's prefix table, the offline text corpus, next-token batches and the
n-gram baselines a language model must beat.

Language prediction (Radford et al. 2018): a sentence y_1 ... y_n gives n training pairs
(x_i, y_i) = (y_1 ... y_{i-1}, y_i): every prefix predicts its next token. A decoder-only transformer
computes all n predictions in one pass over the sentence thanks to the causal mask.

The corpus is Python's own documentation: ``pydoc_data.topics.topics`` (about 465,000 characters of
English prose and code examples) ships with every CPython, so nothing is downloaded. The held-out split
is fixed: the last ``val_fraction`` of every topic (cut at a line break) is validation text, the rest
training text. Losses are in nats per character (natural log); divide by ln 2 for bits.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch

__all__ = [
    "prefix_pairs",
    "load_pydoc_corpus",
    "encode_corpus",
    "random_batch",
    "NGramBaseline",
    "unigram_nats",
    "bigram_nats",
    "uniform_nats",
    "EIFFEL",
]

EIFFEL = "The Eiffel tower is in Paris"


def prefix_pairs(tokens: Sequence) -> list[tuple[list, object]]:
    """[(x_1, y_1), ...]: each prefix of ``tokens`` (from the empty one) with the token that follows it.

    prefix_pairs(["The", "Eiffel"]) == [([], "The"), (["The"], "Eiffel")]
    """
    tokens = list(tokens)
    return [(tokens[:i], tokens[i]) for i in range(len(tokens))]


def load_pydoc_corpus(split: str = "train", val_fraction: float = 0.1) -> str:
    """Python's documentation topics as one string; ``split`` is "train", "val" or "all"."""
    if split not in ("train", "val", "all"):
        raise ValueError(f"split must be 'train', 'val' or 'all', got {split!r}")
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    from pydoc_data.topics import topics

    train, val = [], []
    for key in sorted(topics):
        text = topics[key]
        cut = int(len(text) * (1 - val_fraction))
        newline = text.rfind("\n", 0, cut)           # cut at a line break so words stay whole
        cut = newline + 1 if newline > 0 else cut
        train.append(text[:cut])
        val.append(text[cut:])
    if split == "all":
        return "".join(t + v for t, v in zip(train, val))
    return "".join(train if split == "train" else val)


def encode_corpus(tokenizer, text: str, device=None) -> torch.Tensor:
    """The text as a 1-D LongTensor of token ids."""
    return torch.tensor(tokenizer.encode(text), dtype=torch.long, device=device)


def random_batch(ids: torch.Tensor, batch_size: int, block_size: int, *,
                 generator: torch.Generator | None = None, device=None):
    """``batch_size`` random windows of the token stream: x (B, T) and targets y = x shifted by one."""
    if ids.dim() != 1 or len(ids) <= block_size:
        raise ValueError(f"need a 1-D token stream longer than block_size={block_size}")
    start = torch.randint(0, len(ids) - block_size, (batch_size,), generator=generator)
    offsets = torch.arange(block_size)
    x = ids[start[:, None] + offsets]                                        # (B, T)
    y = ids[start[:, None] + offsets + 1]                                    # (B, T)
    if device is not None:
        x, y = x.to(device), y.to(device)
    return x, y


class NGramBaseline:
    """Add-alpha smoothed unigram (order 1) or bigram (order 2) model over token ids."""

    def __init__(self, train_ids, vocab_size: int, order: int = 2, alpha: float = 0.1):
        if order not in (1, 2):
            raise ValueError("order must be 1 (unigram) or 2 (bigram)")
        ids = torch.as_tensor(train_ids, dtype=torch.long).cpu()
        self.order, self.vocab_size = order, vocab_size
        if order == 1:
            counts = torch.bincount(ids, minlength=vocab_size).double() + alpha
            self.log_probs = (counts / counts.sum()).log()                   # (V,)
        else:
            pair = ids[:-1] * vocab_size + ids[1:]
            counts = torch.bincount(pair, minlength=vocab_size * vocab_size).double().view(vocab_size, vocab_size)
            counts += alpha
            self.log_probs = (counts / counts.sum(dim=1, keepdim=True)).log()  # (V, V): row = previous token

    def nats_per_token(self, ids) -> float:
        """Mean negative log-likelihood of ``ids`` (natural log)."""
        ids = torch.as_tensor(ids, dtype=torch.long).cpu()
        if self.order == 1:
            return float(-self.log_probs[ids].mean())
        return float(-self.log_probs[ids[:-1], ids[1:]].mean())


def unigram_nats(train_ids, val_ids, vocab_size: int, alpha: float = 0.1) -> float:
    """Validation nats/token of the unigram model fitted on the training tokens."""
    return NGramBaseline(train_ids, vocab_size, 1, alpha).nats_per_token(val_ids)


def bigram_nats(train_ids, val_ids, vocab_size: int, alpha: float = 0.1) -> float:
    """Validation nats/token of the bigram model fitted on the training tokens."""
    return NGramBaseline(train_ids, vocab_size, 2, alpha).nats_per_token(val_ids)


def uniform_nats(vocab_size: int) -> float:
    """ln V: the loss of guessing uniformly, where an untrained model starts."""
    return math.log(vocab_size)
