"""Benchmarks of lecturelib.palme for benchmarks/RESULTS.md (`make bench`).

The longer PaLM-E-style run (``lecturelib.palme.train_main``, Driess et al. 2023 in miniature): text
pretraining, the full task mixture from pixels (object tokens from the rendered frame), exact match per
task family, the language loss before and after, positive transfer at low data (60 stacking examples
alone vs inside the mixture), and the closed loop on two-step tasks with the scripted expert as executor
(and the LAVA policy of lesson 07: ``LAVA_POLICY``, a file saved by ``course train lava``, by default the one
that bench_lava.py trained and kept in test-artifacts/lava-policy.pt).
The lesson's own three-minute run is reported by the notebook itself.
"""
from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

from lecturelib import describe_device, device as pick_device

ARGS = ["--scenes", "6000", "--lm-steps", "300", "--steps", "8000", "--batch-size", "64", "--lr", "3e-3",
        "--n-layer", "2", "--n-embd", "64", "--test-scenes", "200", "--episodes", "60",
        "--transfer", "60", "--transfer-steps", "600", "--no-progress"]
TARGETS = {"accuracy/object_table": 0.95, "accuracy/object_object": 0.95, "accuracy/plan_feasibility": 0.90,
           "closed_loop/expert": 0.90, "closed_loop/lava": 0.60}


def run() -> list[dict]:
    from lecturelib.palme import train_main

    dev = pick_device()
    args = list(ARGS)
    lava = os.environ.get("LAVA_POLICY") or str(Path(__file__).resolve().parents[1] / "test-artifacts" / "lava-policy.pt")
    if lava and Path(lava).exists():
        args += ["--lava", lava]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "palme.json"
        start = time.perf_counter()
        train_main(args + ["--json", str(out)])
        seconds = time.perf_counter() - start
        fig = json.loads(out.read_text())
    where = f"{describe_device(dev)}; `train_main {' '.join(ARGS)}`"

    def row(name, key, unit="exact match"):
        value = fig[key]
        note = where
        if key in TARGETS:
            note = f"issue target >= {TARGETS[key]:.2f}: {'met' if value >= TARGETS[key] else 'MISSED'}; " + where
        return {"benchmark": "PaLM-E (longer run)", "metric": name, "value": f"{value:.3f} {unit}", "notes": note}

    rows = [row(f"held-out {k.split('/')[1]} (pixels)", k) for k in fig if k.startswith("accuracy/")]
    planning = (fig["accuracy/grasping"] + fig["accuracy/stacking"]) / 2
    rows.append({"benchmark": "PaLM-E (longer run)", "metric": "planning exact match (grasping + stacking)",
                 "value": f"{planning:.3f} exact match",
                 "notes": f"issue target >= 0.85: {'met' if planning >= 0.85 else 'MISSED'}; {where}"})
    rows.append(row("held-out text loss before multimodal training", "language_before", "nats/token"))
    rows.append(row("held-out text loss after (fine-tuned LM, 10 % text)", "language_after", "nats/token"))
    gain = fig["transfer/stacking_mixture"] - fig["transfer/stacking_alone"]
    rows.append({"benchmark": "PaLM-E (longer run)", "metric": "positive transfer, 60 stacking examples",
                 "value": f"{gain:+.3f} (alone {fig['transfer/stacking_alone']:.3f}, "
                          f"mixture {fig['transfer/stacking_mixture']:.3f})",
                 "notes": f"issue target >= +0.10: {'met' if gain >= 0.10 else 'MISSED'}; {where}"})
    for key in ("closed_loop/expert", "closed_loop/oracle_planner+expert", "closed_loop/lava",
                "closed_loop/oracle_planner+lava"):
        if key in fig:
            rows.append(row(f"closed loop, two-step tasks: {key.split('/')[1]}", key, "task success"))
    if "closed_loop/lava" not in fig:
        rows.append({"benchmark": "PaLM-E (longer run)", "metric": "closed loop with the LAVA executor",
                     "value": "not measured", "notes": "no LAVA policy in this run: set LAVA_POLICY to a policy saved "
                     "by `course train lava` (bench_lava.py keeps one in test-artifacts/lava-policy.pt)"})
        rows += _earlier_lava_rows()
    rows.append({"benchmark": "PaLM-E (longer run)", "metric": "wall time", "value": f"{seconds:.0f} s",
                 "notes": where})
    return rows


def _earlier_lava_rows() -> list[dict]:
    """The LAVA-executor rows of the last run that had a policy, kept (with their own date and settings)
    when this run had none; they are never re-dated."""
    saved = Path(__file__).resolve().parent / "results" / "bench_palme.json"
    if not saved.exists():
        return []
    data = json.loads(saved.read_text())
    kept = []
    for r in data["rows"]:
        if r["benchmark"].startswith("PaLM-E (earlier run"):
            kept.append(r)
        elif "lava" in r["metric"] and r["value"] != "not measured":
            kept.append({**r, "benchmark": f"PaLM-E (earlier run with a LAVA policy, {data['when']})",
                         "notes": "kept from that run, whose settings follow; " + r["notes"], "kept": True})
    return kept


if __name__ == "__main__":  # pragma: no cover
    for r in run():
        print(r)
