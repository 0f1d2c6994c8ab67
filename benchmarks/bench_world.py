"""Benchmarks of the tabletop world and LAVA (lesson 07): play generation speed, the full LAVA run.

* 100 000 play steps with 64 x 64 frames (the scripted play agent in 500 parallel streams of 200 steps,
  rendering included): wall time (issue 6's budget: <= 60 s on the course's 2-core machine).
* Event windows vs random windows: fraction of hindsight labels that are correct (symbolic check).
* The full LAVA run (``lecturelib.lava.train_main``, i.e. ``course train lava``): closed-loop success on
  fresh scenes with seen phrasings, held-out paraphrases and novel words, and action agreement with the
  expert, for the MiniLM text encoder; ``BENCH_LAVA_ABLATIONS=1`` adds one-hot, scratch and mini-CLIP text
  encoders and random windows. ``BENCH_LAVA_STEPS`` sets the number of behaviour-cloning updates.

References: Lynch et al. (2022) "Interactive Language: Talking to Robots in Real Time".
"""
from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

# the trained policy is kept for bench_palme (the PaLM-E planner with LAVA as executor): run `--only world` first
POLICY = Path(__file__).resolve().parents[1] / "test-artifacts" / "lava-policy.pt"


def _play_speed() -> list[dict]:
    from lecturelib.world import generate_play

    generate_play(8, 10, seed=1)                      # warm up numpy and the renderer
    t0 = time.perf_counter()
    play = generate_play(500, 200, seed=0, image_size=64)
    seconds = time.perf_counter() - t0
    steps = play.n_streams * play.n_steps
    return [{"benchmark": "world: play generation", "metric": "100k play steps with 64x64 frames",
             "value": f"{seconds:.1f} s ({steps / seconds:,.0f} steps/s)",
             "notes": f"{play.n_streams} streams x {play.n_steps} steps, rendering included; target <= 60 s"}]


def _labels() -> list[dict]:
    from lecturelib.lava import event_windows
    from lecturelib.world import detect_events, generate_play, label_correct, random_windows

    play = generate_play(128, 200, seed=0, image_size=None)
    wins = event_windows(play)
    rnd = random_windows(play, detect_events(play), len(wins), [w.end - w.start for w in wins],
                         np.random.default_rng(0), ("pick", "stack", "table"))
    return [{"benchmark": "world: hindsight relabeling", "metric": "correct labels, event vs random windows",
             "value": f"{label_correct(play, wins).mean():.3f} vs {label_correct(play, rnd).mean():.3f}",
             "notes": f"{len(wins)} windows each, 128 play streams x 200 steps, checked on the symbolic state"}]


def _lava() -> list[dict]:
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


def run() -> list[dict]:
    return _play_speed() + _labels() + _lava()


if __name__ == "__main__":  # pragma: no cover
    for row in run():
        print(row)
