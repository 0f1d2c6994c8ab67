"""Benchmarks of lecturelib.meta and lecturelib.multitask (lessons 01 and 02).

* Speed: one MAML meta-gradient on a meta-batch of 32 tasks (the lesson's regressor, 5 inner steps,
  second order), lecturelib's torch.func version (vmap over tasks) against learn2learn's per-task
  ``clone()``/``adapt()`` loop on the same model and data, timed side by side, interleaved, CPU, one
  torch thread. Both gradients are checked to agree before timing. With a GPU, the same on the GPU.
* The pizza puzzle: MAML and the black-box learner meta-trained with the lesson's settings on five seeds,
  then shown the four slide examples; the median answer to 4 🍕 6 (target: within ±1 of 28), and
  training from scratch on the four examples (target: misses by more than 5).
* Multi-task learning: hard sharing vs single task at 4 examples per task (target: ≥ 20% lower test error).
"""
from __future__ import annotations

import statistics
import time

import torch

SEEDS = (0, 1, 2, 3, 4)


def _timed(fn, repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def maml_speed(device: str = "cpu", meta_batch: int = 32, inner_steps: int = 5, repeats: int = 10) -> dict:
    """Median seconds per meta-gradient: lecturelib (vmap) and learn2learn (loop), measured alternately."""
    from lecturelib.meta import OperatorFamily, import_learn2learn, make_regressor, meta_gradient

    l2l = import_learn2learn()
    family = OperatorFamily()
    torch.manual_seed(0)
    model = make_regressor().to(device)
    batch = family.sample(meta_batch, 4, 16, generator=torch.Generator().manual_seed(0)).to(device)
    maml = l2l.algorithms.MAML(model, lr=0.05)

    def ours():
        _, grads = meta_gradient(model, batch, inner_lr=0.05, inner_steps=inner_steps)
        if device != "cpu":
            torch.cuda.synchronize()
        return grads

    def theirs():
        maml.zero_grad()
        total = 0.0
        for i in range(meta_batch):
            learner = maml.clone()
            for _ in range(inner_steps):
                learner.adapt(((learner(batch.support_x[i]) - batch.support_y[i]) ** 2).mean())
            total = total + ((learner(batch.query_x[i]) - batch.query_y[i]) ** 2).mean()
        (total / meta_batch).backward()
        if device != "cpu":
            torch.cuda.synchronize()
        return {n: p.grad for n, p in model.named_parameters()}

    a, b = ours(), theirs()                 # warm-up, and the two must agree
    err = max((a[n] - b[n]).abs().max().item() for n in a)
    t_ours, t_theirs = [], []
    for _ in range(repeats):                # alternate, so that load on the machine hits both alike
        t_ours += _timed(ours, 1)
        t_theirs += _timed(theirs, 1)
    return {"ours": statistics.median(t_ours), "theirs": statistics.median(t_theirs), "max_abs_diff": err}


def pizza_answers(seeds=SEEDS) -> dict:
    """The answer to 4 🍕 6 per seed for MAML, first-order MAML, the black-box learner and from scratch."""
    from lecturelib import meta
    from lecturelib.meta.baselines import BaselineConfig, train_from_scratch

    family = meta.OperatorFamily()
    pizza = family.pizza_task()
    out = {"MAML": [], "black-box": [], "from scratch": [], "from scratch, MAML's steps": [],
           "seconds": {"MAML": 0.0, "black-box": 0.0}}
    for seed in seeds:
        torch.manual_seed(seed)
        config = meta.MAMLConfig(seed=seed)
        model = meta.make_regressor(config.hidden)
        start = time.perf_counter()
        meta.train_maml(model, family, config, device="cpu", progress=False)
        out["seconds"]["MAML"] += time.perf_counter() - start
        pred = meta.adapt_and_predict(model, pizza, inner_lr=config.inner_lr, steps=config.test_inner_steps)
        out["MAML"].append(family.decode_y(pred).item())

        torch.manual_seed(seed)
        learner = meta.BlackBoxMetaLearner()
        start = time.perf_counter()
        meta.train_blackbox(learner, family, meta.BlackBoxConfig(seed=seed), device="cpu", progress=False)
        out["seconds"]["black-box"] += time.perf_counter() - start
        out["black-box"].append(family.decode_y(meta.predict(learner, pizza)).item())

        torch.manual_seed(seed)
        out["from scratch"].append(family.decode_y(train_from_scratch(meta.make_regressor(), pizza,
                                                                      BaselineConfig())).item())
        torch.manual_seed(seed)   # the same initialisation, adapted exactly as MAML adapts its θ
        out["from scratch, MAML's steps"].append(family.decode_y(meta.adapt_and_predict(
            meta.make_regressor(config.hidden), pizza, inner_lr=config.inner_lr, steps=config.test_inner_steps)).item())
    return out


def hard_vs_single(seeds=SEEDS) -> tuple[float, float]:
    from lecturelib import multitask as mt

    builders = {"single": lambda T: mt.SingleTaskModels(T), "hard": lambda T: mt.HardSharingModel(T)}
    res = mt.sharing_experiment(builders, [4], mt.WaveTasks(), mt.TrainConfig(steps=300, lr=1e-2), seeds=seeds,
                                progress=False)
    return res["single"]["test"][0], res["hard"]["test"][0]


def run() -> list[dict]:
    from lecturelib.rl.threads import cpu_threads

    rows = []
    with cpu_threads(1):
        speed = maml_speed("cpu")
    rows.append({"benchmark": "MAML meta-gradient, 32 tasks × 5 inner steps (CPU, 1 thread)",
                 "metric": "learn2learn clone/adapt loop ÷ lecturelib vmap (target ≥ 5×)",
                 "value": f"{speed['theirs'] / speed['ours']:.1f}× ({speed['theirs'] * 1e3:.0f} ms vs {speed['ours'] * 1e3:.0f} ms)",
                 "notes": f"same model and data, median of 10 alternating runs; gradients agree to {speed['max_abs_diff']:.1e}"})
    if torch.cuda.is_available():
        gpu = maml_speed("cuda")
        rows.append({"benchmark": "MAML meta-gradient, 32 tasks × 5 inner steps (GPU)",
                     "metric": "learn2learn clone/adapt loop ÷ lecturelib vmap",
                     "value": f"{gpu['theirs'] / gpu['ours']:.1f}× ({gpu['theirs'] * 1e3:.0f} ms vs {gpu['ours'] * 1e3:.0f} ms)",
                     "notes": torch.cuda.get_device_name()})

    with cpu_threads(1):
        answers = pizza_answers()
    for name in ("MAML", "black-box"):
        med = statistics.median(answers[name])
        rows.append({"benchmark": f"pizza puzzle, {name} (lesson 02 settings, 5 seeds)",
                     "metric": "median answer to 4 🍕 6 (target: within ±1 of 28)",
                     "value": f"{med:.2f} (|error| {abs(med - 28):.2f})",
                     "notes": "per seed: " + ", ".join(f"{a:.2f}" for a in answers[name])
                              + f"; meta-training {answers['seconds'][name] / len(SEEDS):.0f} s per seed"})
    for name, how in (("from scratch, MAML's steps", "MAML's 100 test-time gradient steps from a random θ"),
                      ("from scratch", "Adam to convergence (1000 steps)")):
        med = statistics.median(answers[name])
        rows.append({"benchmark": f"pizza puzzle, {name} on the four examples (5 seeds)",
                     "metric": "median answer to 4 🍕 6 (target: misses 28 by more than 5)",
                     "value": f"{med:.2f} (|error| {abs(med - 28):.2f})",
                     "notes": f"{how}; per seed: " + ", ".join(f"{a:.2f}" for a in answers[name])})

    with cpu_threads(1):
        single, hard = hard_vs_single()
    rows.append({"benchmark": "multi-task sine waves, 32 tasks × 4 examples (5 seeds)",
                 "metric": "test-error reduction, hard sharing vs single task (target ≥ 20%)",
                 "value": f"{100 * (1 - hard / single):.0f}% (MSE {hard:.3f} vs {single:.3f})",
                 "notes": "mean test MSE over seeds"})
    return rows


if __name__ == "__main__":
    for row in run():
        print(row)
