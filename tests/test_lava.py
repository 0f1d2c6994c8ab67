"""LAVA (lecturelib.lava): fusion against torch's attention, the imitation loss against an explicit
negative log-likelihood, shapes, training, save / load, evaluation."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lecturelib.lava import (LAVA, FusionBlock, LavaConfig, OneHotEncoder, ScratchTextEncoder, action_bins,
                             action_from_logits, bc_loss, build_bc_data, cross_attention_fusion, evaluate,
                             event_windows, load_policy, make_policy, precompute_levels, pretrain_trunk, save_policy,
                             sincos_2d, train_lava)
from lecturelib.world.events import generate_play
from lecturelib.world.expert import MOTION_LEVELS


def _fusion_oracle(lang, visual, block: FusionBlock):
    """Pre-norm cross-attention written with torch's scaled_dot_product_attention."""
    attn = block.attn
    d, h = lang.shape[-1], attn.num_heads
    q_in = F.layer_norm(lang, (d,), block.norm_lang.weight, block.norm_lang.bias)
    kv_in = F.layer_norm(visual, (d,), block.norm_vis.weight, block.norm_vis.bias)
    wq, wk, wv = attn.in_proj_weight.split(d)
    bq, bk, bv = attn.in_proj_bias.split(d)

    def heads(x):
        return x.view(x.shape[0], x.shape[1], h, d // h).transpose(1, 2)

    q, k, v = heads(q_in @ wq.T + bq), heads(kv_in @ wk.T + bk), heads(kv_in @ wv.T + bv)
    o = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(lang.shape)
    z = lang + attn.out_proj(o)
    mlp_in = F.layer_norm(z, (d,), block.norm_mlp.weight, block.norm_mlp.bias)
    return z + block.mlp(mlp_in)


def test_fusion_matches_torch_attention():
    torch.manual_seed(0)
    block = FusionBlock(32, 4)
    for p in block.parameters():          # non-trivial norms and biases
        p.data += 0.1 * torch.randn_like(p)
    lang, visual = torch.randn(3, 2, 32), torch.randn(3, 10, 32)
    torch.testing.assert_close(cross_attention_fusion(lang, visual, block), _fusion_oracle(lang, visual, block),
                               rtol=1e-4, atol=1e-5)


def test_fusion_keeps_the_language_path_residual():
    block = FusionBlock(16, 2)
    for p in list(block.attn.out_proj.parameters()) + list(block.mlp[-1].parameters()):
        p.data.zero_()
    lang = torch.randn(2, 1, 16)
    torch.testing.assert_close(cross_attention_fusion(lang, torch.randn(2, 5, 16), block), lang)


def _nll_oracle(logits, target):
    total = 0.0
    for row, a in zip(logits.double().tolist(), target.double().tolist()):
        for part, value in ((row[:5], a[0]), (row[5:10], a[1])):
            k = int(np.argmin(np.abs(MOTION_LEVELS - value)))
            total += -(part[k] - math.log(sum(math.exp(v) for v in part)))
        p_close = 1 / (1 + math.exp(-row[10]))
        total += -math.log(p_close if a[2] > 0 else 1 - p_close)
    return total / logits.shape[0]


def test_bc_loss_is_the_negative_log_likelihood():
    torch.manual_seed(1)
    logits = torch.randn(6, 11)
    target = torch.tensor([[-1, 0.5, 1], [0, 0, -1], [1, -1, 1], [0.5, -0.5, -1], [-0.5, 1, 1], [0, 0, 1.0]])
    assert bc_loss(logits, target).item() == pytest.approx(_nll_oracle(logits, target), rel=1e-5)


def test_action_bins_round_trip():
    levels = torch.tensor(MOTION_LEVELS, dtype=torch.float32)
    acts = torch.stack([levels, levels.flip(0), torch.tensor([1.0, -1, 1, -1, 1])], 1)
    bins = action_bins(acts)
    logits = torch.full((5, 11), -5.0)
    logits[torch.arange(5), bins[:, 0]] = 5.0
    logits[torch.arange(5), 5 + bins[:, 1]] = 5.0
    logits[:, 10] = acts[:, 2] * 5
    torch.testing.assert_close(action_from_logits(logits), acts)


def test_sample_action_follows_the_distribution():
    from lecturelib.lava import sample_action

    logits = torch.full((4000, 11), -30.0)
    logits[:, 3] = 0.0                                   # dx: 0.5 surely
    logits[:, 5 + 1] = logits[:, 5 + 4] = 0.0           # dy: -0.5 or 1.0, evenly
    logits[:, 10] = 0.0                                  # grip: a coin flip
    a = sample_action(logits, 1.0, np.random.default_rng(0))
    assert a.shape == (4000, 3) and np.all(a[:, 0] == 0.5)
    assert set(np.unique(a[:, 1])) == {-0.5, 1.0} and abs((a[:, 1] == 1.0).mean() - 0.5) < 0.05
    assert abs((a[:, 2] > 0).mean() - 0.5) < 0.05 and set(np.unique(a[:, 2])) == {-1.0, 1.0}
    # a low temperature approaches the most likely action; the same seed gives the same actions
    logits = torch.randn(200, 11, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(torch.from_numpy(sample_action(logits, 1e-6, np.random.default_rng(1))),
                               action_from_logits(logits).double())
    np.testing.assert_array_equal(sample_action(logits, 0.7, np.random.default_rng(2)),
                                  sample_action(logits, 0.7, np.random.default_rng(2)))
    with pytest.raises(ValueError):
        sample_action(logits, 0.0)


def test_sincos_positions():
    pos = sincos_2d(8, 8, 32)
    assert pos.shape == (64, 32) and pos.abs().max() <= 1.0
    assert torch.unique(pos, dim=0).shape[0] == 64       # every cell has its own code
    with pytest.raises(ValueError):
        sincos_2d(4, 4, 30)


@pytest.fixture(scope="module")
def small_data():
    play = generate_play(8, 80, seed=0)
    windows = event_windows(play)
    return build_bc_data(play, windows)


def test_forward_from_frames_equals_forward_from_precomputed_levels(small_data):
    torch.manual_seed(0)
    policy = make_policy(OneHotEncoder(small_data.texts), LavaConfig())
    idx = np.arange(5)
    frames, _, tid = small_data.batch(idx, 2)
    text = policy.encoder.embed([small_data.texts[i] for i in tid])
    out_frames = policy.model(torch.from_numpy(frames), text)
    precompute_levels(policy, small_data, progress=False)
    levels, _, _ = small_data.batch(idx, 2)
    out_levels = policy.model([torch.from_numpy(v) for v in levels], text)
    small_data.levels = None
    assert out_frames.shape == (5, 11)
    torch.testing.assert_close(out_frames, out_levels, rtol=2e-2, atol=2e-2)   # float16 features


def test_training_lowers_the_loss_and_save_load_round_trip(small_data, tmp_path):
    torch.manual_seed(0)
    policy = make_policy(OneHotEncoder(small_data.texts), LavaConfig())
    history = train_lava(policy, small_data, steps=40, batch_size=32, progress=False, log_every=1)
    assert history[-1][1] < history[0][1]
    path = save_policy(policy, tmp_path / "p.pt", note="test")
    again = load_policy(path)
    frames, _, tid = small_data.batch(np.arange(3), 2)
    texts = [small_data.texts[i] for i in tid]
    np.testing.assert_array_equal(policy.act(frames, texts), again.act(frames, texts))
    assert again.metadata["note"] == "test"


def test_pretrain_trunk_learns_the_state_and_leaves_the_trunk_frozen(small_data):
    torch.manual_seed(0)
    policy = make_policy(OneHotEncoder(small_data.texts), LavaConfig(frames=1))
    before = [p.detach().clone() for p in policy.model.vision.trunk.parameters()]
    history = pretrain_trunk(policy, small_data.play, steps=30, batch_size=32, progress=False, log_every=1)
    assert history[-1][1] < 0.5 * history[0][1]                  # the state becomes readable from the frames
    after = list(policy.model.vision.trunk.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(after, before))   # the trunk itself was trained ...
    assert not any(p.requires_grad for p in after)                     # ... and is frozen again
    precompute_levels(policy, small_data, progress=False)              # so its features can be cached
    small_data.levels = None
    with pytest.raises(ValueError):
        pretrain_trunk(policy, small_data.play, steps=0)


def test_text_encoders():
    onehot = OneHotEncoder(["pick up the red block", "lift the red block"])
    e = onehot.embed(["lift the red block", "hoist the red block"])
    assert e[0].sum() == 1 and e[1].sum() == 0          # a never-seen phrasing is all zeros
    scratch = ScratchTextEncoder(["pick", "up", "the", "red", "block"], dim=16)
    out = scratch.embed(["pick up the red block", "pick up the crimson block"])
    assert out.shape == (2, 16)
    out.sum().backward()
    assert scratch.tok.weight.grad is not None


def test_evaluate_reports_every_family(small_data):
    policy = make_policy(OneHotEncoder(small_data.texts), LavaConfig())
    res = evaluate(policy, n_episodes=9, max_steps=3)
    assert set(res) == {"pick", "stack", "table", "all"} and 0 <= res["all"] <= 1


def test_config_validation():
    with pytest.raises(ValueError):
        LavaConfig(d_model=30, n_heads=4)
    with pytest.raises(ValueError):
        LavaConfig(image_size=60)
    with pytest.raises(ValueError):
        LAVA(LavaConfig())(torch.zeros(1, 3, 64, 64, 3, dtype=torch.uint8), torch.zeros(1, 384))


def test_action_agreement_reports_fractions(small_data):
    from lecturelib.lava import action_agreement

    policy = make_policy(OneHotEncoder(small_data.texts), LavaConfig())
    res = action_agreement(policy, n_episodes=6, max_steps=4)
    assert "all" in res and set(res) <= {"pick", "stack", "table", "all"}
    assert all(0.0 <= v <= 1.0 for v in res.values())


def test_train_main_trains_evaluates_and_saves(tmp_path):
    import json

    from lecturelib.lava import train_main

    out, figures = tmp_path / "lava.pt", tmp_path / "figures.json"
    assert train_main(["--streams", "4", "--play-steps", "60", "--steps", "3", "--pretrain-steps", "3",
                       "--episodes", "3", "--max-steps", "5", "--device", "cpu",
                       "--out", str(out), "--json", str(figures)]) == 0
    res = json.loads(figures.read_text())["minilm_tokens/event"]     # LONG_RECIPE's encoder
    assert {"train/all", "heldout/all", "novel_words/all", "agree_train", "agree_heldout"} <= set(res)
    policy = load_policy(out)
    assert policy.encoder.name == "minilm_tokens" and policy.metadata["recipe"]["steps"] == 3
