"""The pizza puzzle's task family: binary operators on small integers.

The slide "Who can figure it out?" shows four examples of an unknown operator 🍕,

    3 🍕 5 = 18,   1 🍕 2 = 3,   2 🍕 3 = 8,   6 🍕 1 = 12,   4 🍕 6 = ?

and most people answer 28, because a 🍕 b = a·(b + 1) fits all four. They answer so quickly because
they have seen many operators before: they *learned to learn* operators. This module builds the
family of related tasks a machine can learn that from,

    a ∘ b = p·a·b + q·a + r·b,     p ∈ {0, 1},  q, r ∈ {-2, ..., 2},  a, b ∈ {1, ..., 6},

one *task* per operator (p, q, r). The pizza operator (p, q, r) = (1, 1, 0) is *held out*: it is never
sampled for meta-training, so answering 4 🍕 6 is a genuine meta-test task (Finn 2018, "Learning to
Learn with Gradients"; the definitions follow Finn's CS330 lecture). Within the family the four slide
examples determine (p, q, r) uniquely, so 28 is the only answer consistent with both the examples and
the family.

Every task comes as a *support set* (the few labelled examples the learner adapts on, K of them) and a
*query set* (the examples it is then scored on). Operands and results are rescaled for the networks:
x = (a, b) / max_operand and y = (a ∘ b) / y_scale.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import torch

__all__ = [
    "Operator",
    "PIZZA",
    "PIZZA_SUPPORT",
    "PIZZA_QUERY",
    "PIZZA_ANSWER",
    "OperatorFamilyConfig",
    "OperatorFamily",
    "TaskBatch",
]


@dataclass(frozen=True)
class Operator:
    """a ∘ b = p·a·b + q·a + r·b."""

    p: int
    q: int
    r: int

    def __call__(self, a, b):
        return self.p * a * b + self.q * a + self.r * b

    @property
    def coeffs(self) -> tuple[int, int, int]:
        return (self.p, self.q, self.r)

    def formula(self) -> str:
        """A readable formula, e.g. ``a·b + a`` for the pizza operator."""
        terms = []
        for coef, mono in ((self.p, "a·b"), (self.q, "a"), (self.r, "b")):
            if coef == 0:
                continue
            sign = "-" if coef < 0 else "+"
            mag = "" if abs(coef) == 1 else f"{abs(coef)}"
            terms.append((sign, f"{mag}{mono}"))
        if not terms:
            return "0"
        text = ("-" if terms[0][0] == "-" else "") + terms[0][1]
        for sign, term in terms[1:]:
            text += f" {sign} {term}"
        return text


PIZZA = Operator(1, 1, 0)                                          # a 🍕 b = a·(b + 1) = a·b + a
PIZZA_SUPPORT = ((3, 5, 18), (1, 2, 3), (2, 3, 8), (6, 1, 12))      # (a, b, a 🍕 b), as on the slide
PIZZA_QUERY = (4, 6)
PIZZA_ANSWER = 28


@dataclass
class OperatorFamilyConfig:
    max_operand: int = 6                       # a, b ∈ {1, ..., max_operand}
    products: tuple = (0, 1)                   # the values p may take
    linear: tuple = (-2, -1, 0, 1, 2)          # the values q and r may take
    held_out: tuple = (PIZZA,)                 # never sampled for meta-training
    y_scale: float = 20.0                      # the networks see y = (a ∘ b) / y_scale


@dataclass
class TaskBatch:
    """A meta-batch of T tasks with K support and Q query examples each.

    support_x (T, K, 2), support_y (T, K, 1), query_x (T, Q, 2), query_y (T, Q, 1); all rescaled.
    ``operators`` names the task each row was drawn from (None for hand-made tasks).
    """

    support_x: torch.Tensor
    support_y: torch.Tensor
    query_x: torch.Tensor
    query_y: torch.Tensor
    operators: list = field(default_factory=list)

    def to(self, device) -> "TaskBatch":
        return TaskBatch(self.support_x.to(device), self.support_y.to(device), self.query_x.to(device),
                         self.query_y.to(device), self.operators)

    def __len__(self) -> int:
        return self.support_x.shape[0]

    def task(self, i: int) -> "TaskBatch":
        """The i-th task as a batch of one."""
        return TaskBatch(self.support_x[i : i + 1], self.support_y[i : i + 1], self.query_x[i : i + 1],
                         self.query_y[i : i + 1], self.operators[i : i + 1])


class OperatorFamily:
    """The operators of the family, split into meta-training and held-out ones, and task sampling."""

    def __init__(self, config: OperatorFamilyConfig | None = None):
        self.config = config = config or OperatorFamilyConfig()
        if config.max_operand < 2:
            raise ValueError(f"max_operand must be at least 2, got {config.max_operand}")
        if config.y_scale <= 0:
            raise ValueError(f"y_scale must be positive, got {config.y_scale}")
        everything = [Operator(p, q, r) for p, q, r in itertools.product(config.products, config.linear, config.linear)]
        held = {Operator(*op) if not isinstance(op, Operator) else op for op in config.held_out}
        outside = held - set(everything)
        if outside:
            raise ValueError(f"held-out operators {sorted(op.formula() for op in outside)} are not members of the "
                             "family (products x linear x linear), so holding them out would mean nothing")
        self.held_out = [op for op in everything if op in held]
        self.meta_train = [op for op in everything if op not in held]
        if not self.meta_train:
            raise ValueError("every operator of the family is held out; nothing is left to meta-train on")
        n = config.max_operand
        # every operand pair (a, b) of the table, (n·n, 2)
        self.pairs = torch.tensor(list(itertools.product(range(1, n + 1), repeat=2)), dtype=torch.float32)

    # --- the rescaling the networks see -------------------------------------------------------------
    def encode_x(self, ab: torch.Tensor) -> torch.Tensor:
        """Integer operands (..., 2) -> network inputs (..., 2)."""
        return torch.as_tensor(ab, dtype=torch.float32) / self.config.max_operand

    def encode_y(self, y: torch.Tensor) -> torch.Tensor:
        return torch.as_tensor(y, dtype=torch.float32) / self.config.y_scale

    def decode_x(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.config.max_operand

    def decode_y(self, y: torch.Tensor) -> torch.Tensor:
        return y * self.config.y_scale

    # --- tasks ------------------------------------------------------------------------------------------
    def sample(self, n_tasks: int, k_support: int, k_query: int, *, generator: torch.Generator | None = None,
               operators: list | None = None) -> TaskBatch:
        """T tasks: an operator drawn uniformly from the meta-training operators (or ``operators``) and
        K + Q *distinct* operand pairs, the first K the support set, the others the query set."""
        n_pairs = len(self.pairs)
        if n_tasks < 1 or k_support < 1 or k_query < 0:
            raise ValueError(f"need n_tasks >= 1, k_support >= 1, k_query >= 0; got {n_tasks}, {k_support}, {k_query}")
        if k_support + k_query > n_pairs:
            raise ValueError(f"k_support + k_query = {k_support + k_query} exceeds the {n_pairs} operand pairs")
        pool = self.meta_train if operators is None else list(operators)
        pick = torch.randint(len(pool), (n_tasks,), generator=generator)
        ops = [pool[int(i)] for i in pick]
        coeffs = torch.tensor([op.coeffs for op in ops], dtype=torch.float32)           # (T, 3)
        order = torch.argsort(torch.rand(n_tasks, n_pairs, generator=generator), dim=1)
        ab = self.pairs[order[:, : k_support + k_query]]                                  # (T, K+Q, 2)
        a, b = ab[..., 0], ab[..., 1]
        y = coeffs[:, 0:1] * a * b + coeffs[:, 1:2] * a + coeffs[:, 2:3] * b              # (T, K+Q)
        x, y = self.encode_x(ab), self.encode_y(y).unsqueeze(-1)
        return TaskBatch(x[:, :k_support], y[:, :k_support], x[:, k_support:], y[:, k_support:], ops)

    def task_from_examples(self, support, query=()) -> TaskBatch:
        """One task from integer examples: support [(a, b, a∘b), ...] and query [(a, b) or (a, b, a∘b)].

        Query examples without a label get a label of 0 (unknown)."""
        support = [tuple(s) for s in support]
        if not support or any(len(s) != 3 for s in support):
            raise ValueError("support must be a non-empty list of (a, b, a∘b) triples")
        query = [tuple(q) + (0,) * (3 - len(q)) for q in query]
        if any(len(q) != 3 for q in query):
            raise ValueError("query must be a list of (a, b) pairs or (a, b, a∘b) triples")
        s = torch.tensor(support, dtype=torch.float32)
        q = torch.tensor(query, dtype=torch.float32).reshape(-1, 3)
        return TaskBatch(self.encode_x(s[:, :2])[None], self.encode_y(s[:, 2:])[None],
                         self.encode_x(q[:, :2])[None], self.encode_y(q[:, 2:])[None], [None])

    def pizza_task(self) -> TaskBatch:
        """The slide's puzzle: the four pizza examples as support, 4 🍕 6 (answer 28) as query."""
        return self.task_from_examples(PIZZA_SUPPORT, [PIZZA_QUERY + (PIZZA_ANSWER,)])

    def table(self, op: Operator) -> torch.Tensor:
        """The operator's full table as one task's query set: x (n·n, 2) and y (n·n, 1), rescaled."""
        a, b = self.pairs[:, 0], self.pairs[:, 1]
        return self.encode_x(self.pairs), self.encode_y(op(a, b)).unsqueeze(-1)
