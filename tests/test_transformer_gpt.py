"""lecturelib.transformer.gpt: the tiny GPT (shapes, causality, token ids vs input embeddings,
naive vs SDPA attention, sampling) and lecturelib.transformer.blocks."""
import pytest
import torch

from lecturelib.transformer import DecoderBlock, EncoderBlock, FeedForward, GPT, GPTConfig, sample


def tiny(**kw):
    torch.manual_seed(0)
    cfg = dict(vocab_size=11, block_size=12, n_layer=2, n_head=2, n_embd=16)
    cfg.update(kw)
    return GPT(GPTConfig(**cfg)).eval()


def test_forward_shapes_and_loss():
    model = tiny()
    idx = torch.randint(0, 11, (3, 12))
    logits, loss = model(idx)
    assert logits.shape == (3, 12, 11) and loss is None
    _, loss = model(idx, idx)
    assert loss.ndim == 0 and abs(loss.item() - torch.log(torch.tensor(11.0)).item()) < 0.3  # near uniform at init


def test_ignore_index_skips_positions():
    model = tiny()
    idx = torch.randint(0, 11, (2, 8))
    targets = idx.clone()
    targets[:, :4] = -100
    logits, loss = model(idx, targets)
    ref = torch.nn.functional.cross_entropy(logits[:, 4:].reshape(-1, 11), idx[:, 4:].reshape(-1))
    assert torch.allclose(loss, ref)


def test_inputs_embeds_equals_token_ids():
    model = tiny()
    idx = torch.randint(0, 11, (2, 7))
    a, _ = model(idx)
    b, _ = model(inputs_embeds=model.token_embedding(idx))
    assert torch.allclose(a, b, atol=1e-6)
    assert model.token_embedding.weight.shape == (11, 16)
    with pytest.raises(ValueError):
        model(idx, inputs_embeds=model.token_embedding(idx))
    with pytest.raises(ValueError):
        model()
    with pytest.raises(ValueError):
        model(inputs_embeds=torch.randn(2, 7, 15))


@pytest.mark.parametrize("pos", ["learned", "sinusoidal"])
def test_no_future_leakage(pos):
    model = tiny(pos_encoding=pos)
    idx = torch.randint(0, 11, (1, 12))
    logits, _ = model(idx)
    for t in (0, 5, 10):
        changed = idx.clone()
        changed[0, t + 1:] = (changed[0, t + 1:] + 1) % 11
        logits2, _ = model(changed)
        assert torch.allclose(logits[0, : t + 1], logits2[0, : t + 1], atol=1e-5)
        assert not torch.allclose(logits[0, t + 1:], logits2[0, t + 1:], atol=1e-4)


def test_naive_and_sdpa_give_the_same_model():
    model = tiny()
    idx = torch.randint(0, 11, (2, 12))
    a, _ = model(idx)
    model.set_attention_impl("naive")
    b, _ = model(idx)
    assert torch.allclose(a, b, atol=1e-5)
    with pytest.raises(ValueError):
        model.set_attention_impl("flash")


def test_attention_maps_are_causal_distributions():
    model = tiny()
    maps = model.attention_maps(torch.randint(0, 11, (2, 9)))
    assert len(maps) == 2 and maps[0].shape == (2, 2, 9, 9)
    for w in maps:
        assert torch.allclose(w.sum(-1), torch.ones(2, 2, 9), atol=1e-5)
        assert torch.all(w.triu(1) == 0)
    assert all(not b.attn.store_weights for b in model.blocks)


def test_rejects_bad_config_and_long_input():
    with pytest.raises(ValueError):
        GPTConfig(n_embd=10, n_head=3)
    with pytest.raises(ValueError):
        GPTConfig(attn_impl="flash")
    with pytest.raises(ValueError):
        GPTConfig(pos_encoding="rope")
    with pytest.raises(ValueError):
        tiny()(torch.zeros(1, 13, dtype=torch.long))


def test_sampling_shapes_greedy_and_determinism():
    model = tiny()
    start = torch.zeros(2, 1, dtype=torch.long)
    out = model.generate(start, 20, generator=torch.Generator().manual_seed(1))
    assert out.shape == (2, 21) and out.max() < 11
    again = sample(model, start, 20, generator=torch.Generator().manual_seed(1))
    assert torch.equal(out, again)
    greedy = sample(model, start, 3, temperature=0)
    logits, _ = model(start)
    assert greedy[0, 1] == logits[0, -1].argmax()
    top1 = sample(model, start, 3, top_k=1, generator=torch.Generator().manual_seed(2))
    assert torch.equal(top1, greedy)


def test_weight_tying_and_parameter_count():
    model = tiny()
    assert model.lm_head.weight is model.wte.weight
    assert model.num_parameters() == sum(p.numel() for p in model.parameters())


def test_a_few_steps_reduce_the_loss():
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=5, block_size=8, n_layer=1, n_head=2, n_embd=16)).train()
    opt = model.configure_optimizer(1e-2)
    idx = torch.tensor([[0, 1, 2, 3, 4, 0, 1, 2]] * 4)
    first = None
    for _ in range(60):
        _, loss = model(idx[:, :-1], idx[:, 1:])
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.2 * first


def test_blocks_shapes_and_validation():
    x, mem = torch.randn(2, 5, 16), torch.randn(2, 7, 16)
    assert FeedForward(16)(x).shape == (2, 5, 16)
    assert EncoderBlock(16, 2)(x).shape == (2, 5, 16)
    assert DecoderBlock(16, 2)(x, mem).shape == (2, 5, 16)
    with pytest.raises(ValueError):
        DecoderBlock(16, 2)(x)                              # cross-attention needs memory
    with pytest.raises(ValueError):
        DecoderBlock(16, 2, cross_attention=False)(x, mem)  # a GPT block takes none
    with pytest.raises(ValueError):
        FeedForward(16, activation="tanh")


def test_encoder_block_sees_the_future_decoder_block_does_not():
    torch.manual_seed(1)
    enc, dec = EncoderBlock(8, 2).eval(), DecoderBlock(8, 2, cross_attention=False).eval()
    x = torch.randn(1, 6, 8)
    x2 = x.clone()
    x2[:, -1] = torch.randn(8)
    assert not torch.allclose(enc(x)[:, 0], enc(x2)[:, 0], atol=1e-5)
    assert torch.allclose(dec(x)[:, :-1], dec(x2)[:, :-1], atol=1e-6)
