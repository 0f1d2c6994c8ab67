"""Foundation models and how big they are: the lecture's "Foundation Model Overview" table as data,
and the compute-optimal rule of Hoffmann et al. (2022, "Training compute-optimal large language
models", the Chinchilla paper): for a fixed compute budget, parameters N and training tokens D should
grow together, D ≈ 20 N.

Figures are those of the slide (from the models' papers: GPT-2, Radford et al. 2019; GPT-3, Brown et
al. 2020; PaLM, Chowdhery et al. 2022; Chinchilla, Hoffmann et al. 2022; LLaMA, Touvron et al. 2023).
GPT-4's size and corpus were never published (the slide's "~1 trillion" is marked "not actually known"),
and PaLM 2's figures come from press reports, not from its technical report; both are flagged.
"""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["FoundationModel", "FOUNDATION_MODELS", "CHINCHILLA_TOKENS_PER_PARAM", "compute_optimal_tokens",
           "training_flops", "tokens_per_parameter"]

CHINCHILLA_TOKENS_PER_PARAM = 20.0


@dataclass(frozen=True)
class FoundationModel:
    name: str
    company: str
    year: int
    parameters: float | None        # None: not published
    tokens: float | None            # training corpus size in tokens; None: not published
    note: str = ""

    @property
    def known(self) -> bool:
        return self.parameters is not None and self.tokens is not None


FOUNDATION_MODELS = (
    FoundationModel("GPT-2", "OpenAI", 2019, 1.5e9, 10e9),
    FoundationModel("GPT-3", "OpenAI", 2020, 175e9, 300e9),
    FoundationModel("PaLM", "Google", 2022, 540e9, 768e9),
    FoundationModel("GPT-4", "OpenAI", 2023, None, None, "size not published (the slide's ~1 trillion is a guess)"),
    FoundationModel("Chinchilla", "DeepMind", 2022, 70e9, 1.4e12),
    FoundationModel("LLaMA", "Meta", 2023, 65e9, 1.4e12),
    FoundationModel("PaLM 2", "Google", 2023, 340e9, 3.5e12, "figures from press reports, not the technical report"),
)


def tokens_per_parameter(model: FoundationModel) -> float:
    """D / N, the quantity the Chinchilla rule sets to about 20."""
    if not model.known:
        raise ValueError(f"{model.name}: parameters or tokens not published")
    return model.tokens / model.parameters


def compute_optimal_tokens(parameters, ratio: float = CHINCHILLA_TOKENS_PER_PARAM):
    """D = ratio x N: the number of training tokens Hoffmann et al. recommend for N parameters."""
    return ratio * parameters


def training_flops(parameters, tokens):
    """C ≈ 6 N D: forward and backward pass cost of training (Kaplan et al. 2020; Hoffmann et al. 2022)."""
    return 6.0 * parameters * tokens
