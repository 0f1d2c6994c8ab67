"""Instructions, paraphrases, the held-out phrasings and the success checkers (lecturelib.world.language)."""
import numpy as np
import pytest

from lecturelib.world.core import BLOCK, WorldState, sample_scenes
from lecturelib.world.language import (FAMILIES, TEMPLATES, Instruction, all_instruction_texts, caption,
                                       feasible, phrasings, sample_instructions, success, tokenize, vocabulary)


def test_heldout_phrasings_are_disjoint_from_training():
    train = set(all_instruction_texts("train"))
    for split in ("heldout", "novel_words"):
        held = set(all_instruction_texts(split))
        assert held and not (held & train)
        for fam in FAMILIES:
            assert not set(TEMPLATES[split][fam]) & set(TEMPLATES["train"][fam])


def test_every_heldout_sentence_has_a_word_training_never_uses():
    train_words = vocabulary("train")
    for split in ("heldout", "novel_words"):
        for text in all_instruction_texts(split):
            assert set(tokenize(text)) - train_words, text


def test_many_paraphrases_per_instruction():
    for fam, arg in (("pick", -1), ("stack", 4), ("table", -1), ("region", 0)):
        assert len(phrasings(fam, 0, arg, "train")) >= 16
        assert len(phrasings(fam, 0, arg, "heldout")) >= 6
    # colour synonyms and the second object's colour appear
    texts = phrasings("stack", 0, 4, "train")
    assert any("scarlet" in t for t in texts) and any("navy" in t for t in texts)
    assert all("red" in t or "scarlet" in t for t in texts)


def test_instruction_validation():
    with pytest.raises(ValueError, match="family"):
        Instruction("fly", 0)
    with pytest.raises(ValueError, match="second"):
        Instruction("stack", 0, 0)
    with pytest.raises(ValueError, match="split"):
        phrasings("pick", 0, -1, "test")


def _blocks(blocks, held_block=-1, gripper=(0.5, 0.7)):
    present = np.zeros((1, 6), bool)
    x = np.full((1, 6), -1.0)
    y = np.full((1, 6), -1.0)
    for k, (bx, by) in blocks.items():
        present[0, k], x[0, k], y[0, k] = True, bx, by
    return WorldState(present, x, y, np.array([gripper]), np.array([held_block >= 0]), np.array([held_block]))


def test_success_checkers():
    s = _blocks({0: (0.2, 0.0), 4: (0.5, 0.0), 3: (0.5, BLOCK)})
    assert success(("stack", 3, 4), s)[0] and not success(("stack", 4, 3), s)[0]
    assert success(("table", 0, -1), s)[0] and not success(("table", 3, -1), s)[0]
    assert success(("region", 0, 0), s)[0] and not success(("region", 0, 1), s)[0]
    assert not success(("pick", 0, -1), s)[0]
    lifted = _blocks({0: (0.2, 0.35), 4: (0.5, 0.0)}, held_block=0, gripper=(0.2, 0.475))
    low = _blocks({0: (0.2, 0.1), 4: (0.5, 0.0)}, held_block=0, gripper=(0.2, 0.225))
    assert success(("pick", 0, -1), lifted)[0] and not success(("pick", 0, -1), low)[0]
    assert not success(("table", 0, -1), lifted)[0]


def test_feasible_instructions_do_not_hold_yet():
    s = sample_scenes(50, np.random.default_rng(0))
    for b in range(50):
        for task in feasible(s, b):
            assert not success(task, s.index(b))[0], task
    ins = sample_instructions(s, np.random.default_rng(1), ("pick", "stack", "table"))
    fams = {i.family for i in ins if i is not None}
    assert fams == {"pick", "stack", "table"}


def test_caption_lists_every_block():
    s = sample_scenes(10, np.random.default_rng(2))
    for b in range(10):
        text = caption(s, b)
        for k in np.flatnonzero(s.present[b]):
            assert ["red", "orange", "yellow", "green", "blue", "white"][k] in text
