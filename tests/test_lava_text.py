"""LAVA's text side (lecturelib.lava.text and the token path of lecturelib.lava.model): the encoder registry,
MiniLM's per-token features, token queries that ignore padding, noise and grounding in behaviour cloning."""
import numpy as np
import pytest
import torch

from lecturelib.lava import (ENCODERS, LAVA, LavaConfig, MiniLMTokenEncoder, build_bc_data, encoder_from_spec,
                             event_windows, make_encoder, make_policy, precompute_levels, train_lava)
from lecturelib.world.events import generate_play


def test_registry_builds_and_rebuilds_every_encoder():
    texts = ["pick up the red block", "lift the blue cube"]
    assert {"minilm", "minilm_tokens", "onehot", "scratch", "clip"} <= set(ENCODERS)
    for name in ("onehot", "scratch"):
        enc = make_encoder(name, texts)
        again = encoder_from_spec(enc.spec(), enc.state_dict() if enc.trainable else None)
        torch.testing.assert_close(enc.embed(texts), again.embed(texts))
    with pytest.raises(ValueError, match="unknown text encoder"):
        make_encoder("bert", texts)
    with pytest.raises(ValueError, match="mini-CLIP"):
        make_encoder("clip", texts)


def test_minilm_tokens_are_per_word_piece_with_zero_padding(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path))
    enc = MiniLMTokenEncoder()
    out = enc.embed(["pick up the red block", "could you hoist the crimson brick"])
    assert out.shape == (2, enc.max_tokens, 384) and out.dtype == torch.float32
    real = out.abs().sum(-1) > 0
    # [CLS] pick up the red block [SEP] = 7 pieces; [CLS] could you ho ##ist the crimson brick [SEP] = 9
    assert real.sum(1).tolist() == [7, 9] and not real[:, 9:].any()
    cached = MiniLMTokenEncoder()            # a second encoder reads the disk cache, no model needed
    assert not cached._hf
    torch.testing.assert_close(cached.embed(["pick up the red block"]), out[:1])
    assert not cached._hf
    assert encoder_from_spec(enc.spec()).spec() == enc.spec()


def test_token_queries_ignore_padding():
    torch.manual_seed(0)
    model = LAVA(LavaConfig(frames=1, text_dim=8, text_tokens=4)).eval()
    frames = torch.randint(0, 255, (2, 1, 64, 64, 3), dtype=torch.uint8)
    text = torch.randn(2, 4, 8)
    text[0, 3] = 0.0                                        # sentence 0 has 3 tokens
    padded = torch.cat([text, torch.zeros(2, 5, 8)], 1)     # the same sentences, more padding
    torch.testing.assert_close(model(frames, text), model(frames, padded))
    other = text.clone()
    other[0, 1] = torch.randn(8)
    assert not torch.allclose(model(frames, text)[0], model(frames, other)[0]), "the tokens matter"


@pytest.fixture(scope="module")
def data():
    play = generate_play(8, 80, seed=3)
    return build_bc_data(play, event_windows(play, seed=3))


def test_grounding_targets_are_the_named_blocks(data):
    idx = np.arange(0, len(data), 7)
    g = data.grounding(idx)
    s, t = data.stream[idx], data.t[idx]
    np.testing.assert_allclose(g[:, 0], data.play.gripper[s, t, 0])
    np.testing.assert_allclose(g[:, 2], data.play.x[s, t, data.obj[idx]])
    ends = np.cumsum([w.end - w.start for w in data.windows])       # samples are laid out window by window
    for i, j in enumerate(idx):
        w = data.windows[int(np.searchsorted(ends, j, side="right"))]
        assert w.stream == s[i] and w.start <= t[i] < w.end and w.instruction.obj == data.obj[j]
        second = w.instruction.arg if w.instruction.arg >= 0 else w.instruction.obj
        assert g[i, 4] == pytest.approx(data.play.x[s[i], t[i], second])


def test_noise_and_grounding_train(data):
    torch.manual_seed(0)
    policy = make_policy(make_encoder("onehot", data.texts), LavaConfig(frames=1))
    precompute_levels(policy, data, progress=False)
    head = policy.model.grounding.weight.detach().clone()
    hist = train_lava(policy, data, 60, 32, 3e-3, progress=False, text_noise=0.3, grounding=1.0)
    assert hist[-1][1] < hist[0][1]
    assert not torch.equal(head, policy.model.grounding.weight), "the grounding read-out learns"
