"""lecturelib.transformer.encoder_decoder: the full transformer (shapes, masks, cross-attention,
learning the reversal task)."""
import pytest
import torch

from lecturelib.transformer import Transformer, TransformerConfig, reversal_batch, train_seq2seq


def model(**kw):
    torch.manual_seed(0)
    return Transformer(TransformerConfig(**{"src_vocab_size": 11, "tgt_vocab_size": 11, "d_model": 32, "n_heads": 2, "n_layers": 1, "d_ff": 64, **kw})).eval()


def test_shapes():
    m = model()
    src, tgt_in, tgt_out = reversal_batch(3, 6)
    assert m(src, tgt_in).shape == (3, 6, 11)
    assert torch.equal(tgt_out, src.flip(1)) and torch.all(tgt_in[:, 0] == 10)
    assert torch.equal(tgt_in[:, 1:], tgt_out[:, :-1])
    with pytest.raises(ValueError):
        m(src[0], tgt_in)
    with pytest.raises(ValueError):
        TransformerConfig(d_model=30, n_heads=4)


def test_decoder_is_causal_but_sees_the_whole_source():
    m = model()
    src, tgt_in, _ = reversal_batch(1, 6, generator=torch.Generator().manual_seed(1))
    out = m(src, tgt_in)
    tgt2 = tgt_in.clone()
    tgt2[0, 4:] = (tgt2[0, 4:] + 1) % 10
    assert torch.allclose(m(src, tgt2)[0, :4], out[0, :4], atol=1e-5)     # no future target token leaks
    src2 = src.clone()
    src2[0, -1] = (src2[0, -1] + 1) % 10
    assert not torch.allclose(m(src2, tgt_in)[0, 0], out[0, 0], atol=1e-5)  # the last source token is visible


def test_learns_to_reverse():
    m = model(n_layers=2, d_model=32, n_heads=4, d_ff=64)
    losses = train_seq2seq(m, steps=200, batch_size=64, length=4, lr=5e-3, progress=False)
    assert losses[-1] < 0.3 * losses[0]
    src, _, tgt_out = reversal_batch(256, 4, generator=torch.Generator().manual_seed(9))
    pred = m.greedy_decode(src, bos=10, length=4)
    assert (pred == tgt_out).float().mean() > 0.8
