"""Tokenizers: how text becomes the stream of integers a language model reads.

- :class:`CharTokenizer`: one token per character. A tiny vocabulary (about a hundred symbols), never
  an unknown token, but long sequences and every word must be spelled out.
- :class:`WordTokenizer`: one token per word or punctuation mark. Short sequences, but the vocabulary
  grows with the corpus and unseen words become ``<unk>``.
- Subwords sit in between: byte-pair encoding (Sennrich et al. 2016, used by GPT-2) starts from
  characters and repeatedly merges the most frequent adjacent pair into a new token, so frequent words
  become one token and rare words split into known pieces. :func:`learn_bpe` / :func:`bpe_encode`
  implement that idea on characters for teaching (production tokenizers work on bytes).
"""
from __future__ import annotations

import re
from collections import Counter
from typing import Iterable, Sequence

__all__ = ["CharTokenizer", "WordTokenizer", "word_split", "learn_bpe", "bpe_encode"]

_WORD_RE = re.compile(r"\w+|[^\w\s]")


def word_split(text: str) -> list[str]:
    """Split text into words and single punctuation marks: "in Paris." -> ["in", "Paris", "."]."""
    return _WORD_RE.findall(text)


class CharTokenizer:
    """Character-level tokenizer over a fixed vocabulary (sorted characters of the text it is built on)."""

    def __init__(self, text: str | None = None, *, vocab: Sequence[str] | None = None):
        if (text is None) == (vocab is None):
            raise ValueError("give exactly one of text or vocab")
        chars = sorted(set(text)) if vocab is None else list(vocab)
        if len(set(chars)) != len(chars) or any(len(c) != 1 for c in chars):
            raise ValueError("vocab must be distinct single characters")
        self.itos: list[str] = chars
        self.stoi: dict[str, int] = {c: i for i, c in enumerate(chars)}

    @property
    def vocab_size(self) -> int:
        return len(self.itos)

    def encode(self, text: str) -> list[int]:
        try:
            return [self.stoi[c] for c in text]
        except KeyError as err:
            raise ValueError(f"character {err.args[0]!r} is not in the vocabulary") from None

    def decode(self, ids: Iterable[int]) -> str:
        return "".join(self.itos[int(i)] for i in ids)

    def __len__(self) -> int:
        return self.vocab_size


class WordTokenizer:
    """Word-level tokenizer: the ``max_vocab`` most frequent words of a text, plus ``<unk>``.

    Decoding joins words with spaces, so it is lossy (the cost of word tokens: spacing is gone).
    """

    UNK = "<unk>"

    def __init__(self, text: str, *, max_vocab: int | None = None, lowercase: bool = False):
        self.lowercase = lowercase
        counts = Counter(word_split(text.lower() if lowercase else text))
        words = [w for w, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
        if max_vocab is not None:
            if max_vocab < 2:
                raise ValueError("max_vocab must be >= 2 (one word and <unk>)")
            words = words[: max_vocab - 1]
        self.itos: list[str] = [self.UNK] + words
        self.stoi: dict[str, int] = {w: i for i, w in enumerate(self.itos)}

    @property
    def vocab_size(self) -> int:
        return len(self.itos)

    def encode(self, text: str) -> list[int]:
        words = word_split(text.lower() if self.lowercase else text)
        return [self.stoi.get(w, 0) for w in words]

    def decode(self, ids: Iterable[int]) -> str:
        return " ".join(self.itos[int(i)] for i in ids)

    def __len__(self) -> int:
        return self.vocab_size


def learn_bpe(text: str, num_merges: int) -> list[tuple[str, str]]:
    """Learn ``num_merges`` byte-pair-encoding merges from the words of ``text``.

    Each word starts as its characters plus an end-of-word marker "</w>"; each round merges the most
    frequent adjacent pair of symbols (ties broken alphabetically, so the result is deterministic).
    """
    if num_merges < 0:
        raise ValueError("num_merges must be >= 0")
    vocab = Counter(tuple(w) + ("</w>",) for w in word_split(text))
    merges: list[tuple[str, str]] = []
    for _ in range(num_merges):
        pairs: Counter = Counter()
        for symbols, n in vocab.items():
            for pair in zip(symbols, symbols[1:]):
                pairs[pair] += n
        if not pairs:
            break
        best = min(pairs, key=lambda p: (-pairs[p], p))
        merges.append(best)
        vocab = Counter({_merge(symbols, best): n for symbols, n in vocab.items()})
    return merges


def _merge(symbols: tuple[str, ...], pair: tuple[str, str]) -> tuple[str, ...]:
    out, i = [], 0
    while i < len(symbols):
        if i + 1 < len(symbols) and (symbols[i], symbols[i + 1]) == pair:
            out.append(symbols[i] + symbols[i + 1])
            i += 2
        else:
            out.append(symbols[i])
            i += 1
    return tuple(out)


def bpe_encode(word: str, merges: Sequence[tuple[str, str]]) -> list[str]:
    """Split one word into subword tokens by applying the learned merges in order."""
    symbols = tuple(word) + ("</w>",)
    for pair in merges:
        symbols = _merge(symbols, pair)
    return list(symbols)
