"""lecturelib.transformer.tokenizers: characters, words, byte-pair subwords."""
import pytest

from lecturelib.transformer import CharTokenizer, WordTokenizer, bpe_encode, learn_bpe, word_split


def test_char_tokenizer_round_trip():
    tok = CharTokenizer("hello world")
    assert tok.vocab_size == len(set("hello world")) == len(tok)
    ids = tok.encode("hello")
    assert tok.decode(ids) == "hello" and ids[2] == ids[3]
    assert tok.itos == sorted(set("hello world"))
    with pytest.raises(ValueError, match="not in the vocabulary"):
        tok.encode("z")
    with pytest.raises(ValueError):
        CharTokenizer()
    with pytest.raises(ValueError):
        CharTokenizer(vocab=["ab"])


def test_word_split_and_word_tokenizer():
    assert word_split("The Eiffel tower is in Paris.") == ["The", "Eiffel", "tower", "is", "in", "Paris", "."]
    tok = WordTokenizer("a a a b b c", max_vocab=3)
    assert tok.itos == ["<unk>", "a", "b"]
    assert tok.encode("a b c d") == [1, 2, 0, 0]
    assert tok.decode([1, 2, 0]) == "a b <unk>"
    assert WordTokenizer("Hi hi", lowercase=True).vocab_size == 2
    with pytest.raises(ValueError):
        WordTokenizer("a", max_vocab=1)


def test_bpe_merges_most_frequent_pairs_first():
    merges = learn_bpe("low low low lower lowest", 3)
    assert merges[0] == ("l", "o") and merges[1] == ("lo", "w")
    assert bpe_encode("low", merges)[0].startswith("low")
    pieces = bpe_encode("lowish", merges)
    assert "".join(pieces) == "lowish</w>" and pieces[0] == "low" and len(pieces) == 5
    assert bpe_encode("xyz", []) == ["x", "y", "z", "</w>"]
    assert learn_bpe("", 5) == []
    with pytest.raises(ValueError):
        learn_bpe("a", -1)
