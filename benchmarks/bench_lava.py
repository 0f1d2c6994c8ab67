"""Benchmark of LAVA (lesson 07, Lynch et al. 2022, "Interactive Language: Talking to Robots in Real Time").

Two parts, each with its wall time:
* lesson 07's recipe (:data:`lecturelib.lava.LESSON_RECIPE`, what the notebook trains) for 3 seeds:
  closed-loop success on 100 fresh scenes per split (seen phrasings, held-out paraphrases, novel words, and
  stacking), median and worst over the seeds;
* the longer run, ``course train lava`` with its defaults (:data:`lecturelib.lava.LONG_RECIPE`), on 200 fresh
  scenes per split. ``BENCH_LAVA_ABLATIONS=1`` adds its ablations (one-hot id, a text encoder trained from
  scratch, MiniLM sentence vectors, mini-CLIP's text tower; random instead of event-selected windows).
The long run's policy is kept in test-artifacts/lava-policy.pt, where bench_palme.py (which runs after this
one) takes it as the executor of the PaLM-E planner. ``BENCH_LAVA_SEEDS`` lists the lesson recipe's seeds (default ``0,1,2``; ``none`` skips it).
"""
from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

POLICY = Path(__file__).resolve().parents[1] / "test-artifacts" / "lava-policy.pt"
SPLITS = ("train", "heldout", "novel_words")


def lesson_recipe(seed: int) -> dict:
    """Train lesson 07's recipe with ``seed`` and measure it as the notebook does."""
    from lecturelib.lava import LESSON_RECIPE, evaluate, train_recipe

    t0 = time.perf_counter()
    policy, _, seconds = train_recipe(replace(LESSON_RECIPE, seed=seed), progress=False, log=None)
    figures = {"train_seconds": time.perf_counter() - t0}
    for split in SPLITS:
        res = evaluate(policy, 100, split, max_steps=40)
        figures.update({f"{split}/{k}": v for k, v in res.items()})
    return figures


def lesson_rows(seeds) -> list[dict]:
    runs = {s: lesson_recipe(s) for s in seeds}
    rows = []
    for key, name, floor in (("train/all", "seen phrasings", 0.80), ("heldout/all", "held-out paraphrases", 0.65),
                             ("train/stack", "stacking (seen)", 0.70), ("novel_words/all", "novel words", 0.50)):
        values = [r[key] for r in runs.values()]
        rows.append({"benchmark": "LAVA, lesson 07's recipe", "metric": f"closed-loop success, {name}",
                     "value": f"median {statistics.median(values):.2f}, worst {min(values):.2f}",
                     "notes": "seeds " + ", ".join(f"{s}: {r[key]:.2f}" for s, r in runs.items())
                              + f"; 100 fresh scenes per split; issue floor {floor:.2f}"})
    times = [r["train_seconds"] for r in runs.values()]
    rows.append({"benchmark": "LAVA, lesson 07's recipe", "metric": "training wall time (play to trained policy)",
                 "value": f"median {statistics.median(times):.0f} s",
                 "notes": "seeds " + ", ".join(f"{s}: {r['train_seconds']:.0f} s" for s, r in runs.items())})
    return rows


def long_rows() -> list[dict]:
    from lecturelib.lava import LONG_RECIPE, train_main

    argv = ["--episodes", "200"]
    if os.environ.get("BENCH_LAVA_ABLATIONS"):
        argv.append("--ablations")
    POLICY.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "figures.json"
        t0 = time.perf_counter()
        train_main(argv + ["--out", str(POLICY), "--json", str(out)])
        total = time.perf_counter() - t0
        results = json.loads(out.read_text())
    rows = []
    for run, f in results.items():
        rows.append({"benchmark": f"LAVA longer run ({run} windows)",
                     "metric": "closed-loop success seen / held-out / novel words / stacking",
                     "value": f"{f['train/all']:.2f} / {f['heldout/all']:.2f} / {f['novel_words/all']:.2f} / "
                              f"{f.get('train/stack', float('nan')):.2f}",
                     "notes": f"{LONG_RECIPE.steps} BC updates ({f['train_seconds']:.0f} s); 200 fresh scenes per split; "
                              f"action agreement seen / held-out {f.get('agree_train', float('nan')):.2f} / "
                              f"{f.get('agree_heldout', float('nan')):.2f}"})
    rows.append({"benchmark": "LAVA longer run", "metric": "wall time", "value": f"{total:.0f} s",
                 "notes": "play + relabeling + training + evaluation (course train lava)"})
    return rows


def run() -> list[dict]:
    spec = os.environ.get("BENCH_LAVA_SEEDS", "0,1,2").strip()
    seeds = [] if spec in ("", "none") else [int(s) for s in spec.split(",")]
    return (lesson_rows(seeds) if seeds else []) + long_rows()


if __name__ == "__main__":  # pragma: no cover
    for row in run():
        print(row)
