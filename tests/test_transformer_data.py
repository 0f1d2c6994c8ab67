"""lecturelib.transformer.data: the prefix table, the pydoc corpus and its fixed split, batches and
the n-gram baselines."""
import math

import pytest
import torch

from lecturelib.transformer import (
    EIFFEL,
    CharTokenizer,
    NGramBaseline,
    bigram_nats,
    encode_corpus,
    load_pydoc_corpus,
    prefix_pairs,
    random_batch,
    unigram_nats,
    uniform_nats,
)


def test_prefix_pairs_is_the_slide_table():
    pairs = prefix_pairs(EIFFEL.split())
    assert pairs[0] == ([], "The")
    assert pairs[-1] == (["The", "Eiffel", "tower", "is", "in"], "Paris")
    assert len(pairs) == 6
    assert prefix_pairs("ab") == [([], "a"), (["a"], "b")]
    assert prefix_pairs([]) == []


def test_corpus_split_is_fixed_and_disjoint():
    train, val, whole = load_pydoc_corpus("train"), load_pydoc_corpus("val"), load_pydoc_corpus("all")
    assert len(train) + len(val) == len(whole) > 300_000
    assert 0.07 < len(val) / len(whole) < 0.13
    assert load_pydoc_corpus("val") == val                     # deterministic
    assert "return" in train and "return" in val
    with pytest.raises(ValueError):
        load_pydoc_corpus("test")
    with pytest.raises(ValueError):
        load_pydoc_corpus("train", val_fraction=1.5)


def test_random_batch_targets_are_shifted_inputs():
    ids = torch.arange(100)
    x, y = random_batch(ids, 8, 10, generator=torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (8, 10)
    assert torch.equal(y, x + 1)
    assert torch.equal(x[:, 1:], x[:, :-1] + 1)                # contiguous windows
    with pytest.raises(ValueError):
        random_batch(torch.arange(5), 2, 10)


def test_ngram_baselines_by_hand():
    ids = torch.tensor([0, 1, 0, 1, 0, 1])
    uni = NGramBaseline(ids, 2, order=1, alpha=0.0)
    assert math.isclose(uni.nats_per_token(ids), math.log(2), rel_tol=1e-9)
    bi = NGramBaseline(ids, 2, order=2, alpha=1e-9)
    assert bi.nats_per_token(ids) < 1e-6                        # 0 -> 1 -> 0 is deterministic
    assert math.isclose(uniform_nats(103), math.log(103))
    with pytest.raises(ValueError):
        NGramBaseline(ids, 2, order=3)


def test_baselines_on_the_corpus_are_ordered():
    tok = CharTokenizer(load_pydoc_corpus("all"))
    train = encode_corpus(tok, load_pydoc_corpus("train"))
    val = encode_corpus(tok, load_pydoc_corpus("val"))
    uni, bi = unigram_nats(train, val, tok.vocab_size), bigram_nats(train, val, tok.vocab_size)
    assert bi < uni < uniform_nats(tok.vocab_size)
    assert 2.2 < bi < 2.9 and 3.0 < uni < 3.6
