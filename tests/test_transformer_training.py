"""lecturelib.transformer.training: the learning-rate schedule, the training loop, its wall-clock cap
and the CPU thread choice."""
import math

import pytest
import torch

from lecturelib.transformer import GPT, GPTConfig, TrainConfig, evaluate_nats, lr_schedule, train_gpt
from lecturelib.transformer.training import CPUThreads, evaluate_nats_full


def test_lr_schedule_warms_up_then_decays_to_min_lr():
    cfg = TrainConfig(steps=100, lr=1e-2, min_lr=1e-3, warmup_steps=10)
    assert lr_schedule(0.05, cfg) == pytest.approx(5e-3)
    assert lr_schedule(0.1, cfg) == pytest.approx(1e-2)
    assert lr_schedule(1.0, cfg) == pytest.approx(1e-3)
    values = [lr_schedule(p / 100, cfg) for p in range(10, 101)]
    assert all(a >= b for a, b in zip(values, values[1:]))


def _data():
    pattern = torch.tensor([0, 1, 2, 3, 4, 5, 6, 7] * 200)
    return pattern, pattern[:400].clone()


def test_training_learns_a_repeating_pattern():
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=8, block_size=16, n_layer=1, n_head=2, n_embd=32))
    train_ids, val_ids = _data()
    before = evaluate_nats(model, val_ids, batches=2, batch_size=8)
    result = train_gpt(model, train_ids, val_ids, TrainConfig(steps=80, batch_size=8, lr=1e-2, min_lr=1e-3,
                                                              warmup_steps=5, eval_every=40, eval_batches=2,
                                                              eval_batch_size=8, progress=False))
    assert result.steps == [0, 40, 80] and result.steps_done == 80
    assert result.val_loss[-1] < 0.2 * before and result.tokens_per_second > 0
    assert evaluate_nats_full(model, val_ids, batch_size=8) < 0.3
    assert math.isclose(result.val_loss[0], before, rel_tol=0.2)


def test_wall_clock_cap_stops_training():
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=8, block_size=16, n_layer=1, n_head=2, n_embd=16))
    train_ids, val_ids = _data()
    result = train_gpt(model, train_ids, val_ids, TrainConfig(steps=10**6, batch_size=4, max_seconds=0.5,
                                                              eval_batches=1, eval_batch_size=4, progress=False))
    assert 0 < result.steps_done < 10**6 and result.seconds < 5
    assert result.steps[-1] == result.steps_done


def test_cpu_threads_restores_the_setting():
    original = torch.get_num_threads()
    threads = CPUThreads(1)
    assert torch.get_num_threads() == 1 and threads.chosen == 1
    threads.restore()
    assert torch.get_num_threads() == original
    auto = CPUThreads("auto")
    for step in range(12):
        auto.before_step(step)
        torch.ones(10).sum()
        auto.after_step(step)
    assert auto.chosen in (1, original)
    auto.restore()
    assert torch.get_num_threads() == original
    with pytest.raises(ValueError):
        CPUThreads(0)
    with pytest.raises(ValueError):
        CPUThreads("fast")
