"""Benchmarks of lecturelib.transformer for benchmarks/RESULTS.md (`make bench`).

1. GPT training throughput (tokens/s) with torch's fused scaled_dot_product_attention ("sdpa") vs the
   attention written out by hand ("naive"), at the lesson-05 size (context 64) and a longer context (256),
   on the CPU and, when there is one, on the GPU.
2. What a longer GPT run reaches on the held-out pydoc text (nats/char), next to the lesson's two-minute run.
"""
from __future__ import annotations

import time

import torch

from lecturelib import describe_device, device as pick_device, seed_everything
from lecturelib.transformer import (
    GPT,
    CharTokenizer,
    GPTConfig,
    TrainConfig,
    bigram_nats,
    encode_corpus,
    load_pydoc_corpus,
    random_batch,
    train_gpt,
)
from lecturelib.transformer.training import evaluate_nats_full


def _throughput(dev, impl: str, block_size: int, batch_size: int, steps: int = 20) -> float:
    seed_everything(0)
    model = GPT(GPTConfig(vocab_size=103, block_size=block_size, n_layer=2, n_head=4, n_embd=128,
                          attn_impl=impl)).to(dev)
    opt = model.configure_optimizer(1e-3)
    ids = torch.randint(0, 103, (50_000,))
    gen = torch.Generator().manual_seed(0)

    def step():
        x, y = random_batch(ids, batch_size, block_size, generator=gen, device=dev)
        _, loss = model(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(3):
        step()
    if dev.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if dev.type == "cuda":
        torch.cuda.synchronize()
    return steps * batch_size * block_size / (time.perf_counter() - start)


def run() -> list[dict]:
    rows = []
    devices = [torch.device("cpu")]
    if pick_device().type != "cpu":
        devices.append(pick_device())
    for dev in devices:
        for block_size, batch_size in ((64, 16), (256, 16)):
            tps = {impl: _throughput(dev, impl, block_size, batch_size, steps=20 if dev.type == "cpu" else 100)
                   for impl in ("sdpa", "naive")}
            for impl, value in tps.items():
                rows.append({"benchmark": f"GPT training throughput, {impl} attention, context {block_size}",
                             "metric": "tokens/s", "value": f"{value:,.0f} tokens/s",
                             "notes": f"2 layers x 128, batch {batch_size}, {describe_device(dev)}"})
            rows.append({"benchmark": f"SDPA speed-up over naive attention, context {block_size}",
                         "metric": "ratio", "value": f"{tps['sdpa'] / tps['naive']:.2f}x",
                         "notes": describe_device(dev)})

    # a longer run than the lesson's two minutes
    dev = pick_device()
    seed_everything(0)
    train_text, val_text = load_pydoc_corpus("train"), load_pydoc_corpus("val")
    tok = CharTokenizer(train_text + val_text)
    train_ids, val_ids = encode_corpus(tok, train_text), encode_corpus(tok, val_text)
    model = GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=128, n_layer=4, n_head=4, n_embd=128))
    cfg = TrainConfig(steps=4000, batch_size=16, lr=2e-3, min_lr=2e-4, warmup_steps=100, eval_every=500,
                      max_seconds=900, progress=False)
    result = train_gpt(model, train_ids, val_ids, cfg, device=dev)
    val = evaluate_nats_full(model, val_ids)
    tokens = result.steps_done * cfg.batch_size * 128
    rows.append({"benchmark": "GPT on held-out pydoc text, longer run", "metric": "nats/char",
                 "value": f"{val:.3f} nats/char",
                 "notes": f"4 layers x 128, context 128, {model.num_parameters():,} parameters, {result.steps_done} steps, "
                          f"{tokens:,} characters, {result.seconds:.0f} s on {describe_device(dev)}; "
                          f"bigram baseline {bigram_nats(train_ids, val_ids, tok.vocab_size):.3f}"})
    rows.append(pizza_in_context())
    return rows


def pizza_in_context(seeds=(0, 1, 2, 3, 4)) -> dict:
    """Lesson 06's in-context pizza run (same model and training) repeated over seeds: |4🍕6 - 28| per seed."""
    from lecturelib.transformer.icl import ICLTrainConfig, train_icl
    from lecturelib.transformer.operators import OperatorTasks, SupportAttentionICL

    errors = []
    for seed in seeds:
        seed_everything(seed)
        tasks = OperatorTasks()
        model = SupportAttentionICL(2, n_layer=3, n_head=4, n_embd=64)
        train_icl(model, tasks, ICLTrainConfig(steps=900, batch_size=64, n_points=4 + 16, n_support=4, lr=3e-3,
                                               warmup_steps=45), device="cpu")
        support_x, support_y, query_x = tasks.pizza_prompt(device="cpu")
        with torch.no_grad():
            answer = tasks.decode(model.predict(support_x, support_y, query_x))[0, 0].item()
        errors.append(abs(answer - 28))
    errors_sorted = sorted(errors)
    return {"benchmark": f"pizza puzzle in context, lesson 06 settings ({len(seeds)} seeds)",
            "metric": "median |4🍕6 - 28|", "value": f"{errors_sorted[len(errors) // 2]:.2f}",
            "notes": "per seed: " + ", ".join(f"{e:.2f}" for e in errors)
                     + f"; within ±1 for {sum(e <= 1 for e in errors)} of {len(errors)} seeds"}


if __name__ == "__main__":
    for row in run():
        print(row)
