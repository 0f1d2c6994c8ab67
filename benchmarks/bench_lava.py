"""Benchmark of LAVA (lesson 07, Lynch et al. 2022, "Interactive Language: Talking to Robots in Real Time").

The full run, ``lecturelib.lava.train_main`` (``course train lava``) with its own defaults: closed-loop
success on fresh scenes with seen phrasings, held-out paraphrases and novel words, and action agreement
with the expert, for the MiniLM text encoder. ``BENCH_LAVA_ABLATIONS=1`` adds the ablations (one-hot id,
a text encoder trained from scratch, mini-CLIP's text tower; random instead of event-selected windows);
``BENCH_LAVA_STEPS`` sets the number of behaviour-cloning updates. The MiniLM policy is kept in
test-artifacts/lava-policy.pt, where bench_palme.py (which runs after this one) takes it as the executor
of the PaLM-E planner.
"""
from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

POLICY = Path(__file__).resolve().parents[1] / "test-artifacts" / "lava-policy.pt"


def run() -> list[dict]:
    from lecturelib.lava import train_main

    steps = os.environ.get("BENCH_LAVA_STEPS")          # default: train_main's own (`course train lava`)
    argv = ["--episodes", "200"] + (["--steps", steps] if steps else [])
    if os.environ.get("BENCH_LAVA_ABLATIONS"):
        argv.append("--ablations")
    POLICY.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "figures.json"
        t0 = time.perf_counter()
        train_main(argv + ["--out", str(POLICY), "--json", str(out)])
        total = time.perf_counter() - t0
        results = json.loads(out.read_text())
    steps = steps or "default"
    rows = []
    for run, f in results.items():
        rows.append({"benchmark": f"LAVA ({run} windows)", "metric": "closed-loop success seen / held-out / novel words",
                     "value": f"{f['train/all']:.2f} / {f['heldout/all']:.2f} / {f['novel_words/all']:.2f}",
                     "notes": f"{steps} BC updates ({f['train_seconds']:.0f} s); 200 fresh scenes per split; "
                              f"action agreement seen / held-out {f.get('agree_train', float('nan')):.2f} / "
                              f"{f.get('agree_heldout', float('nan')):.2f}; targets (MiniLM): >= 0.80 seen, >= 0.60 held-out"})
    rows.append({"benchmark": "LAVA full run", "metric": "wall time", "value": f"{total:.0f} s",
                 "notes": "play + relabeling + training + evaluation (course train lava)"})
    return rows




if __name__ == "__main__":  # pragma: no cover
    for row in run():
        print(row)
