"""The language model inside PaLM-E: one interface over the lesson-05 GPT and any Hugging Face causal LM,
and its pretraining on text (our stand-in for PaLM's web-scale pretraining).

PaLM-E changes only the LM's *input*: it needs the word embeddings γ(w) (``embed_tokens``), the hidden
states for a sequence of input embeddings (``hidden``, ``inputs_embeds`` in Hugging Face's words) and the
output layer (``logits``). :class:`CourseLM` and :class:`HFCausalLM` give exactly these three.
:func:`pretrain_lm` trains the course GPT on the pydoc corpus interleaved with the world's own language
(instructions, scene descriptions, questions and answers about random scenes: the words and the answer
formats, not any particular table); :func:`language_loss` measures what the LM keeps of that.
"""
from __future__ import annotations

import torch
from torch import nn

from ..transformer.data import load_pydoc_corpus
from ..transformer.gpt import GPT, GPTConfig
from ..transformer.training import TrainConfig as LMTrainConfig, evaluate_nats, train_gpt
from .sentences import MultimodalTokenizer, world_sentences

__all__ = ["CourseLM", "HFCausalLM", "as_language_model", "make_lm", "text_ids", "pretrain_lm", "language_loss"]


class CourseLM(nn.Module):
    """The lesson-05 :class:`~lecturelib.transformer.GPT` behind the interface :class:`PaLME` uses."""

    def __init__(self, gpt: GPT):
        super().__init__()
        self.gpt = gpt
        self.n_embd, self.block_size = gpt.config.n_embd, gpt.config.block_size
        self.vocab_size = gpt.config.vocab_size

    def embed_tokens(self, ids: torch.Tensor) -> torch.Tensor:
        return self.gpt.token_embedding(ids)                                   # (B, T, C)

    def hidden(self, inputs_embeds: torch.Tensor) -> torch.Tensor:
        return self.gpt.hidden_states(inputs_embeds=inputs_embeds)             # (B, T, C)

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.gpt.lm_head(hidden)                                        # (..., V)

    def forward(self, inputs_embeds: torch.Tensor) -> torch.Tensor:
        return self.logits(self.hidden(inputs_embeds))                         # (B, T, V)


class HFCausalLM(nn.Module):
    """Any Hugging Face causal LM (e.g. ``GPT2LMHeadModel``) behind the same interface.

    Its vocabulary must cover the tokenizer's ids (with a real pretrained model, use a tokenizer whose
    ids are the model's own).
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        cfg = getattr(model, "config", None)
        if cfg is None or not hasattr(model, "get_input_embeddings"):
            raise ValueError("HFCausalLM needs a transformers PreTrainedModel (with .config and get_input_embeddings)")
        self.model = model
        self.n_embd = int(getattr(cfg, "hidden_size", None) or cfg.n_embd)
        self.block_size = int(getattr(cfg, "n_positions", None) or cfg.max_position_embeddings)
        self.vocab_size = int(cfg.vocab_size)

    def embed_tokens(self, ids: torch.Tensor) -> torch.Tensor:
        return self.model.get_input_embeddings()(ids)

    def hidden(self, inputs_embeds: torch.Tensor) -> torch.Tensor:
        return self.model.base_model(inputs_embeds=inputs_embeds).last_hidden_state

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.model.get_output_embeddings()(hidden)

    def forward(self, inputs_embeds: torch.Tensor) -> torch.Tensor:
        return self.model(inputs_embeds=inputs_embeds).logits


def as_language_model(lm: nn.Module) -> nn.Module:
    """Wrap a course GPT or a Hugging Face causal LM (already-wrapped models pass through)."""
    if isinstance(lm, (CourseLM, HFCausalLM)):
        return lm
    if isinstance(lm, GPT):
        return CourseLM(lm)
    if hasattr(lm, "get_input_embeddings") and hasattr(lm, "config"):
        return HFCausalLM(lm)
    raise ValueError(f"expected a lecturelib GPT or a Hugging Face causal LM, got {type(lm).__name__}")


def make_lm(tokenizer: MultimodalTokenizer, n_layer: int = 2, n_head: int = 4, n_embd: int = 64,
            block_size: int = 112) -> GPT:
    """A fresh lesson-05 GPT sized for the tokenizer (block_size: the longest multimodal sentence fits)."""
    return GPT(GPTConfig(vocab_size=tokenizer.vocab_size, block_size=block_size, n_layer=n_layer,
                         n_head=n_head, n_embd=n_embd))


def text_ids(tokenizer: MultimodalTokenizer, split: str, seed: int = 0) -> torch.Tensor:
    """pydoc text, then the world's language sentence by sentence (each ending in ``<eos>``), as one token stream."""
    world = world_sentences(300 if split == "train" else 100, seed if split == "train" else seed + 1)
    ids = tokenizer.encode(load_pydoc_corpus(split))
    for s in world:
        ids.extend(tokenizer.encode(s))
        ids.append(tokenizer.eos_id)
    return torch.tensor(ids, dtype=torch.long)


def pretrain_lm(lm: GPT, tokenizer: MultimodalTokenizer, steps: int = 400, batch_size: int = 32,
                lr: float = 3e-3, device=None, seed: int = 0, progress: bool = True):
    """Pretrain the GPT on text (pydoc + the world's language) with lesson 05's ``train_gpt``.

    Returns ``(result, val_ids)``: the training record and the held-out text used by :func:`language_loss`.
    """
    train_ids, val_ids = text_ids(tokenizer, "train", seed), text_ids(tokenizer, "val", seed)
    cfg = LMTrainConfig(steps=steps, batch_size=batch_size, lr=lr, min_lr=lr / 10, warmup_steps=max(1, steps // 20),
                        eval_every=max(1, steps // 4), eval_batches=4, seed=seed, progress=progress)
    result = train_gpt(lm, train_ids, val_ids, cfg, device=device)
    return result, val_ids


def language_loss(lm: nn.Module, val_ids: torch.Tensor, batches: int = 8) -> float:
    """Held-out next-token loss (nats/token) of the LM, on its own or inside a PaLM-E model (``.lm``)."""
    inner = getattr(lm, "lm", lm)                 # a PaLME model holds its LM wrapped as .lm
    gpt = inner.gpt if isinstance(inner, CourseLM) else inner
    if not isinstance(gpt, GPT):
        raise ValueError("language_loss measures a lecturelib GPT")
    return evaluate_nats(gpt, val_ids, batches=batches, batch_size=32)
