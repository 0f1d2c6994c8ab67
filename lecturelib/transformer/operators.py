"""The pizza puzzle as an in-context task family (lesson 02's puzzle, solved again in lesson 06).

    3 🍕 5 = 18,  1 🍕 2 = 3,  2 🍕 3 = 8,  6 🍕 1 = 12,  4 🍕 6 = ?      (a 🍕 b = a·(b + 1), so 28)

The family is lesson 02's, :class:`lecturelib.meta.tasks.OperatorFamily`: a ∘ b = p·a·b + q·a + r·b
with p ∈ {0, 1, 2}, q, r ∈ {-2, ..., 2}, a, b ∈ {1, ..., 6}, the pizza operator (1, 1, 0) held out of
meta-training. :class:`OperatorTasks` only adapts it to the in-context learner's interface
(``sample(batch, n_points) -> xs, ys, coeffs``): a transformer meta-trained on the other 74 operators,
shown the four pizza examples in its prompt, must infer the operator and answer 4 🍕 6. Black-box
meta-learning (Santoro et al. 2016; lesson 02) and in-context learning are the same idea.

:class:`SupportAttentionICL` is the in-context learner used for it. A transformer reads the operands of
the prompt (support examples attend to each other, each query to the support and itself), and the answer
is *linear attention over the support answers*, ŷ_q = Σ_i s(q, i) y_i with learned, unnormalised scores:
the form of the gradient-descent construction of :mod:`.lsa` (there s(q, i) = (η/N) x_iᵀx_q), with the
fixed inner product replaced by a learned, context-dependent one. Least squares on any features of (a, b)
has exactly this form, so the learner can represent the exact answer for every operator of the family,
including the held-out one; the support's order does not matter (no positions among the support).
"""
from __future__ import annotations

import torch
import torch.nn as nn

from ..meta.tasks import PIZZA, PIZZA_ANSWER, PIZZA_QUERY, PIZZA_SUPPORT, OperatorFamily
from .gpt import GPT, GPTConfig

__all__ = ["pizza", "PIZZA", "PIZZA_ANSWER", "PIZZA_SUPPORT", "PIZZA_QUERY", "OperatorTasks", "SupportAttentionICL"]


def pizza(a, b):
    """a 🍕 b = a·(b + 1)."""
    return PIZZA(a, b)


class OperatorTasks:
    """Lesson 02's operator family as an in-context task sampler.

    ``sample(B, n)`` draws B meta-training operators and n distinct operand pairs each: xs (B, n, 2) are
    (a, b) / max_operand and ys (B, n) are (a ∘ b) / y_scale, as lesson 02's networks see them.
    """

    def __init__(self, family: OperatorFamily | None = None):
        self.family = family or OperatorFamily()

    def sample(self, batch_size: int, n_points: int, *, generator: torch.Generator | None = None, device=None):
        batch = self.family.sample(batch_size, n_points, 0, generator=generator)
        xs, ys = batch.support_x, batch.support_y[..., 0]
        coeffs = torch.tensor([op.coeffs for op in batch.operators], dtype=torch.float32)
        if device is not None:
            xs, ys, coeffs = xs.to(device), ys.to(device), coeffs.to(device)
        return xs, ys, coeffs

    def pizza_prompt(self, device=None):
        """The slide's four examples and the query 4 🍕 6: support_x (1, 4, 2), support_y (1, 4), query_x (1, 1, 2)."""
        task = self.family.pizza_task()
        out = (task.support_x, task.support_y[..., 0], task.query_x)
        return tuple(t.to(device) for t in out) if device is not None else out

    def table_queries(self, device=None):
        """Every operand pair (a, b) of the table as queries (1, 36, 2), and the integer operands (36, 2)."""
        pairs = self.family.pairs
        x = self.family.encode_x(pairs)[None]
        return (x.to(device) if device is not None else x), pairs

    def decode(self, y_scaled: torch.Tensor) -> torch.Tensor:
        return self.family.decode_y(y_scaled)


class SupportAttentionICL(nn.Module):
    """In-context learner: ŷ_q = Σ_i s(q, i) y_i, scores from a transformer over the prompt's x's.

    ``predict(support_x (B, k, d), support_y (B, k), query_x (B, q, d)) -> (B, q)``; ``forward`` is the
    same (so it trains with :func:`lecturelib.transformer.train_icl` and ``n_support``).
    """

    def __init__(self, x_dim: int, *, n_layer: int = 2, n_head: int = 4, n_embd: int = 64, attn_impl: str = "sdpa"):
        super().__init__()
        self.x_dim, self.max_points = x_dim, 10 ** 6
        self.read_in = nn.Linear(x_dim, n_embd)
        # two position ids: 0 for every support example, 1 for every query (the support is a set)
        self.gpt = GPT(GPTConfig(vocab_size=1, block_size=2, n_layer=n_layer, n_head=n_head, n_embd=n_embd,
                                 attn_impl=attn_impl, tie_weights=False))
        self.w_query = nn.Linear(n_embd, n_embd, bias=False)
        self.w_key = nn.Linear(n_embd, n_embd, bias=False)

    def scores(self, support_x: torch.Tensor, query_x: torch.Tensor) -> torch.Tensor:
        """s(q, i): (B, q, k), computed from the operands only."""
        if support_x.dim() != 3 or query_x.dim() != 3 or support_x.shape[-1] != self.x_dim \
                or query_x.shape[-1] != self.x_dim or support_x.shape[0] != query_x.shape[0]:
            raise ValueError(f"need support_x (B, k, {self.x_dim}) and query_x (B, q, {self.x_dim})")
        k, q = support_x.shape[1], query_x.shape[1]
        n, device = k + q, query_x.device
        mask = torch.zeros(n, n, dtype=torch.bool, device=device)
        mask[:, :k] = True                                                    # everyone reads the support
        mask[torch.arange(n), torch.arange(n)] = True                          # and itself
        positions = torch.cat([torch.zeros(k, dtype=torch.long), torch.ones(q, dtype=torch.long)]).to(device)
        h = self.gpt.hidden_states(inputs_embeds=self.read_in(torch.cat([support_x, query_x], 1)),
                                   attention_mask=mask, position_ids=positions)   # (B, k+q, C)
        return self.w_query(h[:, k:]) @ self.w_key(h[:, :k]).transpose(1, 2) / h.shape[-1] ** 0.5

    def predict(self, support_x: torch.Tensor, support_y: torch.Tensor, query_x: torch.Tensor) -> torch.Tensor:
        if support_y.shape != support_x.shape[:2]:
            raise ValueError("support_y must be (B, k)")
        return (self.scores(support_x, query_x) @ support_y[..., None]).squeeze(-1)     # (B, q)

    forward = predict
