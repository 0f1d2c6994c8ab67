"""The PaLM-E-style multimodal language model (lecturelib.palme): multimodal sentences, the answer-only
loss, batching of mixed tasks, the generators' answers against a brute-force planner, the Hugging Face
path, a short training run, and the closed loop."""
import itertools
import json
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lecturelib import palme
from lecturelib.palme import (IGNORE, Example, PaLME, Task, answer_targets, cell_labels, closed_loop, collate,
                              exact_match, generate, inject, make_examples, make_prompt, oracle_planner,
                              pad_batch, parse_step, referral_prompt, state_features, two_step_tasks)
from lecturelib.transformer.gpt import GPT, GPTConfig
from lecturelib.transformer.tokenizers import WordTokenizer
from lecturelib.world.core import BLOCK, COLOURS, sample_scenes
from lecturelib.world.symbolic import scene_of

R, O, Y, G, B, W = range(6)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """The models are tiny: one thread is several times faster than two competing ones on a busy CPU."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def tok():
    """A small tokenizer over the world's language only (fast; the course's uses pydoc too)."""
    text = " ".join(palme.world_sentences(60, seed=0))
    return palme.MultimodalTokenizer(WordTokenizer(text))


def tiny_model(tok, seed=0, n_embd=32):
    torch.manual_seed(seed)
    lm = GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=128, n_layer=2, n_head=2, n_embd=n_embd))
    return PaLME(lm, tok, palme.PaLMEConfig(encoder_dim=32)).eval()


# ---------------------------------------------------------------- tokenizer and entity referrals
def test_tokenizer_placeholders_and_decoding(tok):
    ids = tok.encode("<img> Q: Is the red <obj> object left? A:")
    assert ids[0] == tok.placeholder_id["<img>"] and ids.count(tok.placeholder_id["<obj>"]) == 1
    assert tok.decode(tok.encode("First grasp the red object, then grasp the blue object.")) == \
        "First grasp the red object, then grasp the blue object."
    assert tok.decode(tok.encode("zzzunknownzzz")) == "<unk>"
    assert tok.decode([tok.stoi["red"], tok.eos_id, tok.stoi["blue"]]) == "red"


def test_referral_prompt_marks_every_named_object():
    prompt, objects = referral_prompt("Is the yellow object below the blue object?")
    assert prompt == "Is the yellow <obj> object below the blue <obj> object?" and objects == [Y, B]
    q = ("Is it possible to first grasp the blue object, then place it on the yellow object, "
         "and then grasp the yellow object?")
    prompt, objects = referral_prompt(q)
    assert objects == [B, Y, Y] and prompt.count("<obj>") == 3
    assert referral_prompt("How to grasp the table?") == ("How to grasp the table?", [])
    # "reddish" is not a colour name
    assert referral_prompt("a reddish object")[1] == []


# ---------------------------------------------------------------- batching mixed tasks
def test_pad_batch_matches_a_loop():
    prompts, answers = [[5, 6, 7], [], [8]], [[1, 2], [3, 4, 5, 6], []]
    ids, mask = pad_batch(prompts, answers, pad_id=0)
    assert ids.shape == (3, 5) and mask.dtype == torch.bool
    for b, (p, a) in enumerate(zip(prompts, answers)):
        row = p + a
        assert ids[b, :len(row)].tolist() == row and (ids[b, len(row):] == 0).all()
        assert mask[b].tolist() == [False] * len(p) + [True] * len(a) + [False] * (5 - len(row))
    with pytest.raises(ValueError):
        pad_batch([[1]], [[1], [2]], 0)


def _examples(n=6, seed=0, modality="objects"):
    return make_examples(n, seed=seed, modality=modality)


def test_collate_mixed_tasks(tok):
    exs = _examples(3) + [Example("", "The return statement leaves a function.")] + _examples(2, 1, "image") \
        + _examples(2, 2, "state")
    batch = collate(exs, tok, image_tokens=7)
    B, T = batch.ids.shape
    assert B == len(exs) and T == int(batch.lengths.max())
    obj_id, img_id = tok.placeholder_id["<obj>"], tok.placeholder_id["<img>"]
    for b, ex in enumerate(exs):
        n = int(batch.lengths[b])
        row = batch.ids[b, :n].tolist()
        prompt = tok.encode(ex.prompt)
        expanded = [t for p in prompt for t in ([p] * 7 if p == img_id else [p])]
        assert row == expanded + tok.encode(ex.answer) + [tok.eos_id]
        assert batch.answer_mask[b, :n].tolist() == [False] * len(expanded) + [True] * (n - len(expanded))
        assert (batch.ids[b, n:] == tok.pad_id).all() and not batch.answer_mask[b, n:].any()
    # every <obj> in reading order names (scene, block); images first, then states
    assert int((batch.ids == obj_id).sum()) == batch.object_of.shape[0]
    assert batch.object_of[:, 1].tolist() == [k for ex in exs for k in ex.objects]
    n_images = batch.images.shape[0]
    assert n_images == sum(ex.scene is not None and np.asarray(ex.scene).ndim == 3 for ex in exs)
    assert (batch.object_of[-1, 0] >= n_images) and batch.grids.shape[1:] == (7, 7, 7)
    assert int((batch.ids == img_id).sum()) == 7 * len(batch.image_of)


def test_placeholder_mismatch_raises_clear_errors(tok):
    img = np.zeros((56, 56, 3), np.uint8)
    with pytest.raises(ValueError, match="2 <obj> placeholder"):
        collate([Example("Q: red <obj> and blue <obj>? A:", "yes", "x", img, [R])], tok, 7)
    with pytest.raises(ValueError, match="<obj> placeholder"):
        collate([Example("Q: red object? A:", "yes", "x", img, [R])], tok, 7)
    with pytest.raises(ValueError, match="not an image"):
        collate([Example("<img> Q: ? A:", "yes", "x", None, [])], tok, 7)
    with pytest.raises(ValueError, match="at most one image"):
        collate([Example("<img> <img> Q: ? A:", "yes", "x", img, [])], tok, 7)
    with pytest.raises(ValueError, match="no scene"):
        collate([Example("Q: red <obj>? A:", "yes", "x", None, [R])], tok, 7)


# ---------------------------------------------------------------- injection and the loss mask
def test_inject_against_a_loop_and_gradients():
    torch.manual_seed(0)
    emb = torch.randn(3, 5, 4, requires_grad=True)
    mask = torch.tensor([[1, 0, 1, 0, 0], [0, 0, 0, 0, 0], [0, 1, 1, 1, 0]], dtype=torch.bool)
    enc = torch.randn(5, 4, requires_grad=True)
    out = inject(emb, mask, enc)
    expected, i = emb.detach().clone(), 0
    for b in range(3):
        for t in range(5):
            if mask[b, t]:
                expected[b, t] = enc[i].detach()
                i += 1
    torch.testing.assert_close(out, expected)
    out.sum().backward()
    assert torch.equal(enc.grad, torch.ones(5, 4))
    assert torch.equal(emb.grad, (~mask).float()[..., None].expand(3, 5, 4))
    with pytest.raises(ValueError):
        inject(emb, mask, torch.randn(4, 4))
    with pytest.raises(ValueError):
        inject(emb, mask[:, :4], enc)


def test_answer_targets_and_the_loss_ignore_the_prompt(tok):
    ids = torch.tensor([[10, 11, 12, 13, 14, 0], [20, 21, 22, 23, 24, 25]])
    mask = torch.tensor([[0, 0, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1]], dtype=torch.bool)
    t = answer_targets(ids, mask)
    assert t.tolist() == [[IGNORE, 12, 13, IGNORE, IGNORE, IGNORE], [21, 22, 23, 24, 25, IGNORE]]
    # the model's loss does not change when the prompt changes the logits' targets... only answers count
    model = tiny_model(tok)
    exs = _examples(4)
    batch = model.collate(exs)
    logits, loss = model(batch)
    targets = answer_targets(batch.ids, batch.answer_mask)
    keep = targets != IGNORE
    by_hand = F.cross_entropy(logits[keep], targets[keep])
    torch.testing.assert_close(loss, by_hand)
    torch.testing.assert_close(model.loss(batch, "token"), by_hand)
    # per-example weighting: mean over examples of each one's mean
    ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=IGNORE,
                         reduction="none").view(targets.shape)
    per = (ce * keep).sum(1) / keep.sum(1)
    torch.testing.assert_close(model.loss(batch, "example"), per.mean())
    # only the answer positions carry gradient back to the logits
    logits = logits.detach().requires_grad_(True)
    F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=IGNORE).backward()
    assert (logits.grad[~keep] == 0).all() and (logits.grad[keep].abs().sum(-1) > 0).all()


def test_exact_match_equals_greedy_decoding(tok):
    model = tiny_model(tok, seed=3)
    exs = _examples(8, seed=4)
    # train a few steps so that some answers are right and some wrong
    palme.train_palme(model, exs, palme.TrainConfig(steps=40, batch_size=16, lr=5e-3, progress=False))
    em = exact_match(model, exs)
    said = generate(model, exs, max_new_tokens=60)
    by_decoding = np.array([s == tok.decode(tok.encode(ex.answer)) for s, ex in zip(said, exs)])
    np.testing.assert_array_equal(em, by_decoding)


# ---------------------------------------------------------------- generators vs a brute-force planner
def _simulate(stacks, moves):
    """Independent simulator: (obj, dest) moves with dest -1 = table; None when a move is illegal."""
    st = [list(s) for s in stacks]
    for obj, dest in moves:
        src = [s for s in st if s and s[-1] == obj]
        if not src or obj == dest:
            return None
        if dest == -1:
            if len(src[0]) == 1:
                return None
            src[0].pop()
            st.append([obj])
        else:
            dst = [s for s in st if s and s[-1] == dest]
            if not dst:
                return None
            src[0].pop()
            dst[0].append(obj)
        st = [s for s in st if s]
    return st


def _shortest(stacks, goal, limit=4):
    blocks = sorted(k for s in stacks for k in s)
    legal = [(o, d) for o in blocks for d in [-1] + blocks if o != d]
    for n in range(limit + 1):
        for seq in itertools.product(legal, repeat=n):
            end = _simulate(stacks, seq)
            if end is not None and goal(end):
                return n
    return None


_MOVE = re.compile(r"grasp the (\w+) object and place it on the (?:(table)|(\w+) object)", re.IGNORECASE)


def _moves(answer):
    return [(COLOURS.index(a), -1 if t else COLOURS.index(b)) for a, t, b in _MOVE.findall(answer)]


def test_generated_answers_against_brute_force():
    exs = make_examples(40, seed=11, modality="state")
    scenes = sample_scenes(40, np.random.default_rng(11))      # make_examples draws the same scenes first
    per_scene = {}                 # every example's scene is a view of one (n, 7, 7) array: group by address
    for ex in exs:
        per_scene.setdefault(ex.scene.__array_interface__["data"][0], []).append(ex)
    checked = 0
    for b, (_, group) in enumerate(sorted(per_scene.items())):
        scene = scene_of(scenes, b)
        np.testing.assert_array_equal(group[0].scene, state_features(scenes.index(b))[0])
        for ex in group:
            if ex.kind == "grasping":
                target = ex.objects[0]
                moves = _moves(ex.answer)
                end = _simulate(scene.stacks, moves)
                assert end is not None and any(s[-1] == target for s in end)
                n = _shortest(scene.stacks, lambda st: any(s[-1] == target for s in st), 3)
                assert len(moves) == n and ex.answer.lower().endswith(f"grasp the {COLOURS[target]} object.")
                checked += 1
            elif ex.kind == "stacking":
                x, y = ex.objects
                moves = _moves(ex.answer)
                end = _simulate(scene.stacks, moves)
                on = (lambda st: any(x in s and s.index(x) > 0 and s[s.index(x) - 1] == y for s in st))
                assert end is not None and on(end)
                if len(moves) <= 3:
                    assert len(moves) == _shortest(scene.stacks, on, 3)
                checked += 1
            elif ex.kind == "object_table":
                k = ex.objects[0]
                side = ["left", "center", "right"][int(np.digitize(scenes.x[b, k], [1 / 3, 2 / 3]))]
                assert side in ex.answer
    assert checked >= 40


# ---------------------------------------------------------------- encoders and the cell grid
def test_cell_labels_follow_the_scene():
    scenes = sample_scenes(30, np.random.default_rng(2))
    grid = cell_labels(scenes)
    for b in range(30):
        for k in np.flatnonzero(scenes.present[b]):
            col = int(scenes.x[b, k] * 7)
            level = int(round(scenes.y[b, k] / BLOCK))
            assert grid[b, 6 - level, col] == k
        assert (grid[b] < 6).sum() == scenes.present[b].sum()


def test_slot_features_see_what_is_on_top():
    scenes = sample_scenes(20, np.random.default_rng(5))
    enc = palme.StateEncoder(dim=16)
    f = enc.slots.features(F.one_hot(torch.from_numpy(state_features(scenes)), 7).float())
    above = f[..., 14:21]                     # the colour in the cell right above each block
    for b in range(20):
        scene = scene_of(scenes, b)
        for stack in scene.stacks:
            for i, k in enumerate(stack):
                expected = stack[i + 1] if i + 1 < len(stack) else 6
                assert int(above[b, k].argmax()) == expected


def test_object_encoder_learns_the_cell_colours(tok):
    model = tiny_model(tok)
    acc = palme.pretrain_object_encoder(model, n_scenes=600, steps=300)
    assert acc > 0.98
    assert not any(p.requires_grad for p in model.encoders["objects"].cell.parameters())   # frozen afterwards


# ---------------------------------------------------------------- the Hugging Face path
def test_hugging_face_causal_lm(tok):
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    cfg = transformers.GPT2Config(vocab_size=tok.vocab_size, n_positions=128, n_embd=32, n_layer=2, n_head=2)
    hf = transformers.GPT2LMHeadModel(cfg).eval()          # no dropout: both losses see the same network
    model = PaLME(hf, tok, palme.PaLMEConfig(encoder_dim=16))
    assert isinstance(model.lm, palme.HFCausalLM) and model.lm.n_embd == 32
    exs = _examples(6, seed=7)
    batch = model.collate(exs)
    logits, loss = model(batch)
    assert logits.shape == (len(exs), batch.ids.shape[1], tok.vocab_size) and torch.isfinite(loss)
    torch.testing.assert_close(model.loss(batch, "token"), loss)
    hist = palme.train_palme(model, exs, palme.TrainConfig(steps=30, batch_size=8, lr=5e-3, progress=False))
    assert hist.loss[-1] < hist.loss[0]
    assert len(generate(model, exs[:2], max_new_tokens=5)) == 2
    with pytest.raises(ValueError):
        PaLME(transformers.GPT2LMHeadModel(transformers.GPT2Config(vocab_size=10, n_embd=16, n_layer=1, n_head=2)), tok)


# ---------------------------------------------------------------- training improves accuracy
def test_short_training_run_learns_object_table(tok):
    model = tiny_model(tok, seed=1, n_embd=48)
    train = make_examples(300, kinds=("object_table",), seed=0, modality="state")
    test = make_examples(60, kinds=("object_table",), seed=99, modality="state")
    before = palme.evaluate(model, test)["object_table"]
    palme.train_palme(model, train, palme.TrainConfig(steps=300, batch_size=32, lr=3e-3, progress=False))
    after = palme.evaluate(model, test)["object_table"]
    assert before < 0.2 and after > 0.9, (before, after)


# ---------------------------------------------------------------- closing the loop
def test_two_step_tasks_need_exactly_two_steps():
    scenes, tasks = two_step_tasks(12, seed=1)
    assert [t.kind for t in tasks[:2]] == ["grasping", "stacking"]
    for i, t in enumerate(tasks):
        stacks = scene_of(scenes, i).stacks
        if t.kind == "grasping":
            goal = (lambda st: any(s[-1] == t.a for s in st))
        else:
            goal = (lambda st: any(t.a in s and s.index(t.a) > 0 and s[s.index(t.a) - 1] == t.b for s in st))
        n = _shortest(stacks, goal, 3)
        assert n == (1 if t.kind == "grasping" else 2)      # grasping: one move, then the grasp itself
        assert not t.done(scenes.index(i))[0]


def test_parse_step():
    ins = parse_step("First grasp the orange object and place it on the table")
    assert (ins.family, ins.obj) == ("table", O)
    ins = parse_step("Grasp the white object and place it on the red object.")
    assert (ins.family, ins.obj, ins.arg) == ("stack", W, R)
    assert parse_step("Grasp the green object.").family == "pick"
    assert parse_step("the the the") is None
    assert parse_step("grasp the red object and place it on the red object") is None


def test_closed_loop_with_the_oracle_planner_and_the_expert():
    scenes, tasks = two_step_tasks(16, seed=2)
    res = closed_loop(oracle_planner, scenes, tasks, "expert", record=1)
    assert res.success.all() and (res.planner_calls == 2).all()
    assert res.frames[0].shape[1:] == (128, 128, 3) and len(res.frames[0]) > 5
    # a planner that says nothing useful achieves nothing
    res = closed_loop(lambda state, ts: ["I do not know."] * len(ts), scenes, tasks, "expert")
    assert not res.success.any()
    with pytest.raises(ValueError):
        closed_loop(oracle_planner, scenes, tasks[:3])


def test_make_prompt_modalities():
    assert make_prompt("How to grasp the red object?", "image") == ("<img> Q: How to grasp the red object? A:", [])
    assert make_prompt("How to grasp the red object?", "state") == ("Q: How to grasp the red <obj> object? A:", [R])
    with pytest.raises(ValueError):
        make_prompt("?", "smell")


def test_train_main_smoke(tmp_path):
    out = tmp_path / "figures.json"
    rc = palme.train_main(["--scenes", "30", "--lm-steps", "3", "--steps", "3", "--episodes", "4", "--test-scenes", "10",
                           "--frozen-steps", "2", "--transfer-steps", "2", "--max-vocab", "400", "--json", str(out),
                           "--no-progress"])
    assert rc == 0
    saved = json.loads(out.read_text())
    assert {"accuracy/all", "closed_loop/palme+expert", "language_before", "language_after",
            "transfer/gain"} <= set(saved["figures"])
    assert {"text pretraining", "training", "closed loop"} <= set(saved["seconds"])
    assert saved["recipe"]["scenes"] == 30 and saved["recipe"]["train"]["steps"] == 3


def test_slot_features_hold_the_scene_graph():
    """The relation features of block k to block j agree with the world's own predicates."""
    from lecturelib.world.symbolic import above as sym_above, left_of as sym_left, on as sym_on
    scenes = sample_scenes(40, np.random.default_rng(11))
    enc = palme.StateEncoder(dim=16)
    f = enc.slots.features(F.one_hot(torch.from_numpy(state_features(scenes)), 7).float())
    K = len(COLOURS)
    rel = f[..., -len(palme.RELATION_FEATURES) * K:].reshape(40, K, len(palme.RELATION_FEATURES), K)
    checked = 0
    for b in range(40):
        s = scenes.index(b)
        for k in np.flatnonzero(scenes.present[b]):
            for j in np.flatnonzero(scenes.present[b]):
                if k == j:
                    continue
                want = [sym_left(s, k, j)[0], sym_left(s, j, k)[0], sym_above(s, k, j)[0], sym_above(s, j, k)[0],
                        sym_on(s, k, j)[0], sym_on(s, j, k)[0]]
                assert (rel[b, k, :, j] > 0.5).tolist() == [bool(w) for w in want], (b, k, j)
                checked += 1
    assert checked > 300


def test_projected_tokens_are_as_large_as_word_embeddings(tok):
    model = tiny_model(tok)
    with torch.no_grad():
        words = model.lm.embed_tokens(torch.arange(tok.vocab_size))
        obj = model.projections["<obj>"](model.encoders["state"](torch.from_numpy(state_features(
            sample_scenes(8, np.random.default_rng(0))))))
    ratio = float(obj.pow(2).mean().sqrt() / words.pow(2).mean().sqrt())
    assert 0.8 < ratio < 1.25, ratio
    raw = PaLME(GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=64, n_layer=1, n_head=2, n_embd=32)), tok,
                palme.PaLMEConfig(encoder_dim=32, normalize_tokens=False))
    assert raw.projections["<obj>"].norm is None


@pytest.mark.parametrize("weighting", ["example", "token"])
def test_length_buckets_give_the_same_loss_and_gradient(tok, weighting):
    model = tiny_model(tok).train()
    exs = make_examples(12, seed=3, modality="state") + palme.language_examples(4, max_tokens=20)
    assert all(palme.sentence_length(ex, tok, 7) == int(model.collate([ex]).lengths[0]) for ex in exs)
    lengths = np.array([palme.sentence_length(ex, tok, 7) for ex in exs])
    grads, losses = [], []
    for buckets in (1, 2, 3):
        model.zero_grad()
        cfg = palme.TrainConfig(length_buckets=buckets, weighting=weighting)
        losses.append(float(palme.batch_loss_backward(model, exs, lengths, cfg, "cpu")))
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None]))
    model.zero_grad()
    reference = model.loss(model.collate(exs), weighting)             # one padded batch
    reference.backward()
    ref_grad = torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])
    for loss, grad in zip(losses, grads):
        assert abs(loss - float(reference.detach())) < 1e-5
        torch.testing.assert_close(grad, ref_grad, atol=1e-5, rtol=1e-4)


def test_perception_once_per_scene_gives_the_same_loss_and_gradient(tok):
    """Training runs the frozen cell classifier once per scene (PaLME.perceive): same loss, same gradients."""
    model = tiny_model(tok).train()
    palme.pretrain_object_encoder(model, n_scenes=100, steps=20)
    exs = _examples(6, seed=5) + _examples(2, seed=6, modality="image")
    seen = model.perceive(exs)
    assert sum(np.shape(e.scene) == (7, 7, 7) for e in seen) == sum("<img>" not in e.prompt for e in exs)
    assert all(a.scene is b.scene for a, b in zip(exs, seen) if "<img>" in a.prompt)   # images for <img> stay
    grads = []
    for batch_examples in (exs, seen):
        model.zero_grad()
        loss = model.loss(model.collate(batch_examples))
        loss.backward()
        grads.append((float(loss.detach()), torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])))
    assert abs(grads[0][0] - grads[1][0]) < 1e-5
    torch.testing.assert_close(grads[0][1], grads[1][1], atol=1e-5, rtol=1e-4)
    model.encoders["objects"].cell.requires_grad_(True)       # a classifier that still learns is never cached
    assert all(a.scene is b.scene for a, b in zip(exs, model.perceive(exs)))


def test_mixture_weights_and_text_share():
    mix = palme.Mixture(per_scene={"object_table": 2, "grasping": 1}, language=0.2)
    exs = palme.mixture(10, mix, seed=0, modality="state")
    kinds = [e.kind for e in exs]
    assert kinds.count("object_table") == 20 and 0 < kinds.count("grasping") <= 10
    assert abs(kinds.count("language") / len(exs) - 0.2) < 0.05
    with pytest.raises(ValueError):
        palme.Mixture(per_scene={"juggling": 1})


def test_closed_loop_records_frames_with_the_words_said():
    scenes, tasks = two_step_tasks(4, seed=3)
    res = closed_loop(oracle_planner, scenes, tasks, "expert", record=2)
    for i in range(2):
        assert len(res.frames[i]) == len(res.captions[i]) > 3
        said = [c for c in res.captions[i][1:]]
        assert said[0].startswith("step 1: ") and res.transcript[i][0] in said[0]
        assert said[-1].startswith("step 2: ") and res.transcript[i][1] in said[-1]
    assert (res.control_steps > 0).all()


def test_closed_loop_lets_go_of_a_block_a_failed_step_left_in_the_hand():
    """An executor that grasps the wrong block and stops leaves it held; the loop lets go before the
    planner (which plans from blocks at rest) looks again."""
    scenes, tasks = two_step_tasks(6, seed=4)

    class GraspAndFreeze:            # a "policy": closes the gripper on whatever is below, never lets go
        class model:
            class config:
                image_size, frames = 32, 1

        def act(self, frames, texts, temperature=0.0, rng=None):
            return np.tile([0.0, -1.0, 1.0], (len(texts), 1))

    res = closed_loop(oracle_planner, scenes, tasks, GraspAndFreeze(), max_steps=25)
    assert (res.planner_calls == 4).all() and not res.success.any()     # it asked again each time, no crash
