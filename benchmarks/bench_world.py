"""Benchmarks of the tabletop world (lessons 07 and 08): play generation speed, hindsight labels.

* 100 000 play steps with 64 x 64 frames (the scripted play agent in 500 parallel streams of 200 steps,
  rendering included): wall time (issue 6's budget: <= 60 s on the course's 2-core machine).
* Event windows vs random windows: fraction of hindsight labels that are correct (symbolic check).

The LAVA policy's full run is bench_lava.py.

References: Lynch et al. (2022) "Interactive Language: Talking to Robots in Real Time".
"""
from __future__ import annotations

import time

import numpy as np


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


def run() -> list[dict]:
    return _play_speed() + _labels()


if __name__ == "__main__":  # pragma: no cover
    for row in run():
        print(row)
