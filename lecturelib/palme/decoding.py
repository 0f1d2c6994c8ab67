"""Evaluating and decoding PaLM-E: exact match per task family, and greedy decoding.

:func:`exact_match` scores an answer right when greedy decoding would reproduce it word for word (and
then stop at ``<eos>``). That holds if and only if, with the true answer as context, the most likely
next token is right at every answer position, so one teacher-forced pass per batch computes it; the test
suite checks it against :func:`generate`, the decoder itself.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from .model import PaLME
from .sentences import Example
from .tasks import TASK_FAMILIES

__all__ = ["exact_match", "evaluate", "generate"]


@torch.no_grad()
def exact_match(model: PaLME, examples: Sequence[Example], batch_size: int = 256, device=None) -> np.ndarray:
    """(n,) bool: would greedy decoding reproduce each answer exactly (up to and including <eos>)?"""
    device = device or next(model.parameters()).device
    was_training = model.training
    model.eval()
    examples = model.perceive(examples)
    out = []
    for i in range(0, len(examples), batch_size):
        batch = model.collate(examples[i:i + batch_size]).to(device)
        logits, targets, row = model.answer_logits(batch)                     # (M, V), (M,), (M,)
        wrong = (logits.argmax(-1) != targets).long()
        errors = torch.zeros(batch.ids.shape[0], dtype=torch.long, device=wrong.device).index_add_(0, row, wrong)
        out.append((errors == 0).cpu().numpy())
    model.train(was_training)
    return np.concatenate(out) if out else np.zeros(0, bool)


def evaluate(model: PaLME, examples: Sequence[Example], device=None) -> dict[str, float]:
    """Exact-match accuracy per task family (and "all") on held-out examples."""
    em = exact_match(model, examples, device=device)
    kinds = np.array([ex.kind for ex in examples])
    res = {k: float(em[kinds == k].mean()) for k in TASK_FAMILIES if (kinds == k).any()}
    res["all"] = float(em.mean()) if len(em) else float("nan")
    return res


@torch.no_grad()
def generate(model: PaLME, examples: Sequence[Example], max_new_tokens: int = 60, device=None,
             stop: Sequence[str] = ()) -> list[str]:
    """Greedy decoding of the answers to the examples' prompts (their answers are ignored).

    Right-padded prompts, one forward pass per new token (no cache: the model is tiny); each row
    reads its next token at its own last position. Stops a row at <eos> or at any token in ``stop``.
    """
    device = device or next(model.parameters()).device
    model.eval()
    tok = model.tokenizer
    batch = model.collate(model.perceive(examples), with_answers=False).to(device)
    B, T0 = batch.ids.shape
    total = min(T0 + max_new_tokens, model.lm.block_size)
    embeds = torch.zeros(B, total, model.lm.n_embd, device=device)
    embeds[:, :T0] = model.embed(batch)
    lengths = batch.lengths.clone().to(device)
    out = [[] for _ in range(B)]
    done = torch.zeros(B, dtype=torch.bool, device=device)
    stop_ids = {tok.eos_id} | {tok.stoi[s] for s in stop if s in tok.stoi}
    rows = torch.arange(B, device=device)
    while not done.all() and int(lengths.max()) < total:
        width = int(lengths.max())
        hidden = model.lm.hidden(embeds[:, :width])                           # (B, width, C)
        nxt = model.lm.logits(hidden[rows, lengths - 1]).argmax(-1)           # (B,): each row at its own end
        for b in torch.nonzero(~done).flatten().tolist():
            t = int(nxt[b])
            out[b].append(t)
            if t in stop_ids:
                done[b] = True
        live = ~done & (lengths < total)
        embeds[rows[live], lengths[live]] = model.lm.embed_tokens(nxt[live])
        lengths = torch.where(live, lengths + 1, lengths)
        done |= lengths >= total
    return [tok.decode(o) for o in out]
