"""lecturelib.transformer.scaling: the slide's foundation-model table and the Chinchilla rule."""
import pytest

from lecturelib.transformer import (
    CHINCHILLA_TOKENS_PER_PARAM,
    FOUNDATION_MODELS,
    compute_optimal_tokens,
    tokens_per_parameter,
    training_flops,
)


def test_table_matches_the_slide():
    by_name = {m.name: m for m in FOUNDATION_MODELS}
    assert set(by_name) == {"GPT-2", "GPT-3", "PaLM", "GPT-4", "Chinchilla", "LLaMA", "PaLM 2"}
    assert by_name["GPT-3"].parameters == 175e9 and by_name["GPT-3"].tokens == 300e9
    assert by_name["Chinchilla"].tokens == 1.4e12
    assert not by_name["GPT-4"].known


def test_chinchilla_rule():
    by_name = {m.name: m for m in FOUNDATION_MODELS}
    assert tokens_per_parameter(by_name["Chinchilla"]) == pytest.approx(20, rel=1e-9)
    assert tokens_per_parameter(by_name["GPT-3"]) < 2            # GPT-3 was under-trained by this rule
    assert compute_optimal_tokens(70e9) == CHINCHILLA_TOKENS_PER_PARAM * 70e9
    assert training_flops(70e9, 1.4e12) == pytest.approx(5.88e23)
    with pytest.raises(ValueError):
        tokens_per_parameter(by_name["GPT-4"])
