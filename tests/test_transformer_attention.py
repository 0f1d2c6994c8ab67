"""lecturelib.transformer.attention: positional encoding, masks, scaled dot-product attention and
multi-head attention, checked against torch's own implementations."""
import math

import pytest
import torch
import torch.nn.functional as F

from lecturelib.transformer import (
    MultiHeadAttention,
    causal_mask,
    scaled_dot_product_attention,
    sinusoidal_positional_encoding,
)


def test_positional_encoding_values_and_shape():
    pe = sinusoidal_positional_encoding(50, 16)
    assert pe.shape == (50, 16)
    assert torch.allclose(pe[0, 0::2], torch.zeros(8)) and torch.allclose(pe[0, 1::2], torch.ones(8))
    t, i = 7, 3  # PE[t, 2i] = sin(t / 10000^(2i/d))
    assert math.isclose(pe[t, 2 * i].item(), math.sin(t / 10000 ** (2 * i / 16)), abs_tol=1e-6)
    assert math.isclose(pe[t, 2 * i + 1].item(), math.cos(t / 10000 ** (2 * i / 16)), abs_tol=1e-6)
    assert torch.all(pe.abs() <= 1)


def test_positional_encoding_relative_offsets_are_rotations():
    # each (sin, cos) pair at position t + k is a fixed rotation of the pair at t
    pe = sinusoidal_positional_encoding(40, 8).double()
    k = 5
    for i in range(4):
        w = 1 / 10000 ** (2 * i / 8)
        R = torch.tensor([[math.cos(k * w), -math.sin(k * w)], [math.sin(k * w), math.cos(k * w)]], dtype=torch.double)
        pair = pe[:, 2 * i: 2 * i + 2]
        assert torch.allclose(pair[k:], pair[:-k] @ R, atol=1e-5)


@pytest.mark.parametrize("bad", [(0, 8), (4, 7), (4, 0)])
def test_positional_encoding_rejects_bad_sizes(bad):
    with pytest.raises(ValueError):
        sinusoidal_positional_encoding(*bad)


def test_causal_mask():
    m = causal_mask(4)
    assert m.dtype == torch.bool and m.shape == (4, 4)
    assert m.tolist() == [[True, False, False, False], [True, True, False, False],
                          [True, True, True, False], [True, True, True, True]]
    with pytest.raises(ValueError):
        causal_mask(0)


@pytest.mark.parametrize("impl", ["naive", "sdpa"])
@pytest.mark.parametrize("causal", [False, True])
def test_sdpa_matches_torch(impl, causal):
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 3, 7, 8, generator=g) for _ in range(3))
    ours = scaled_dot_product_attention(q, k, v, is_causal=causal, impl=impl)
    ref = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
    assert torch.allclose(ours, ref, atol=1e-5)


def test_sdpa_with_boolean_mask_and_rectangular_shapes():
    g = torch.Generator().manual_seed(1)
    q, k, v = torch.randn(3, 5, 4, generator=g), torch.randn(3, 9, 4, generator=g), torch.randn(3, 9, 6, generator=g)
    mask = torch.rand(3, 5, 9, generator=g) > 0.3
    mask[..., 0] = True  # every query sees at least one key
    out, w = scaled_dot_product_attention(q, k, v, mask, return_weights=True)
    assert out.shape == (3, 5, 6) and w.shape == (3, 5, 9)
    assert torch.allclose(w.sum(-1), torch.ones(3, 5), atol=1e-6)
    assert torch.all(w[~mask] == 0)
    assert torch.allclose(out, F.scaled_dot_product_attention(q, k, v, attn_mask=mask), atol=1e-5)


def test_sdpa_weights_by_hand():
    # one query, two keys: weights = softmax([q.k1, q.k2] / sqrt(2))
    q = torch.tensor([[1.0, 0.0]])
    k = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    v = torch.tensor([[10.0], [20.0]])
    out, w = scaled_dot_product_attention(q, k, v, return_weights=True)
    a = math.exp(1 / math.sqrt(2)) / (math.exp(1 / math.sqrt(2)) + 1)
    assert math.isclose(w[0, 0].item(), a, rel_tol=1e-6)
    assert math.isclose(out.item(), 10 * a + 20 * (1 - a), rel_tol=1e-6)


def test_sdpa_rejects_bad_input():
    q = torch.randn(2, 3, 4)
    with pytest.raises(ValueError):
        scaled_dot_product_attention(q, torch.randn(2, 3, 5), torch.randn(2, 3, 4))
    with pytest.raises(ValueError):
        scaled_dot_product_attention(q, q, q, torch.ones(3, 3))   # float mask
    with pytest.raises(ValueError):
        scaled_dot_product_attention(q, q, q, impl="flash")


@pytest.mark.parametrize("impl", ["naive", "sdpa"])
def test_no_future_leakage_under_causal_mask(impl):
    # changing tokens after position t must not change the output at positions <= t
    g = torch.Generator().manual_seed(2)
    x = torch.randn(1, 10, 16, generator=g)
    mha = MultiHeadAttention(16, 4, impl=impl).eval()
    y = mha(x, is_causal=True)
    t = 4
    x2 = x.clone()
    x2[:, t + 1:] = torch.randn(1, 10 - t - 1, 16, generator=g)
    y2 = mha(x2, is_causal=True)
    assert torch.allclose(y[:, : t + 1], y2[:, : t + 1], atol=1e-6)
    assert not torch.allclose(y[:, t + 1:], y2[:, t + 1:], atol=1e-3)


def test_attention_gradient_check():
    g = torch.Generator().manual_seed(3)
    q, k, v = (torch.randn(2, 4, 3, dtype=torch.double, generator=g, requires_grad=True) for _ in range(3))
    mask = causal_mask(4)
    assert torch.autograd.gradcheck(lambda a, b, c: scaled_dot_product_attention(a, b, c, mask), (q, k, v))


@pytest.mark.parametrize("impl", ["naive", "sdpa"])
@pytest.mark.parametrize("causal", [False, True])
def test_multihead_matches_torch_multiheadattention(impl, causal):
    torch.manual_seed(4)
    ref = torch.nn.MultiheadAttention(24, 3, batch_first=True).eval()
    with torch.no_grad():  # non-zero biases so that they are checked too
        ref.in_proj_bias.normal_()
        ref.out_proj.bias.normal_()
    ours = MultiHeadAttention.from_torch(ref, impl=impl).eval()
    x = torch.randn(2, 6, 24)
    mask = causal_mask(6)
    expected, _ = ref(x, x, x, attn_mask=~mask if causal else None, need_weights=False)
    got = ours(x, is_causal=causal)
    assert torch.allclose(got, expected, atol=1e-5)


def test_cross_attention_matches_torch():
    torch.manual_seed(5)
    ref = torch.nn.MultiheadAttention(16, 2, batch_first=True).eval()
    ours = MultiHeadAttention.from_torch(ref).eval()
    x, memory = torch.randn(3, 4, 16), torch.randn(3, 9, 16)
    expected, _ = ref(x, memory, memory, need_weights=False)
    assert torch.allclose(ours(x, memory), expected, atol=1e-5)


def test_stored_weights_are_the_head_weights():
    torch.manual_seed(6)
    ref = torch.nn.MultiheadAttention(8, 2, batch_first=True).eval()
    ours = MultiHeadAttention.from_torch(ref).eval()
    ours.store_weights = True
    x = torch.randn(1, 5, 8)
    ours(x, is_causal=True)
    _, w_ref = ref(x, x, x, attn_mask=~causal_mask(5), average_attn_weights=False)
    assert ours.last_weights.shape == (1, 2, 5, 5)
    assert torch.allclose(ours.last_weights, w_ref, atol=1e-6)


def test_multihead_rejects_bad_config():
    with pytest.raises(ValueError):
        MultiHeadAttention(10, 3)
    with pytest.raises(ValueError):
        MultiHeadAttention(8, 2, impl="fast")
    with pytest.raises(ValueError):
        MultiHeadAttention(8, 2)(torch.randn(1, 3, 8), mask=causal_mask(3), is_causal=True)
