"""`make bench`: measure the course on this machine and write benchmarks/RESULTS.md.

Rows come from three places, each named in the table:
* set-up: a fresh clone of this checkout, timed through `make env` (a new .venv, everything installed);
* test suite and lessons: the timings that the last `make test` wrote to test-artifacts/ (run `make test`
  first; `--run-tests` runs it here);
* topics: every benchmarks/bench_*.py module's ``run()``, executed now (``--only meta rl`` runs some; the
  others, and the set-up row under ``--skip-setup``, keep the rows of their last run, dated). Each run's
  rows are kept in benchmarks/results/<topic>.json, committed with RESULTS.md, so a fresh clone can rerun
  one topic without losing the others.
Nothing is typed in by hand: a figure that was not measured is reported as "not measured".
"""
from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
SAVED = ROOT / "benchmarks" / "results"


def machine() -> str:
    import torch

    import lecturelib

    cpu = platform.processor() or platform.machine()
    return (f"{os.cpu_count()} CPU cores ({cpu}), Python {platform.python_version()}, torch {torch.__version__}, "
            f"device: {lecturelib.describe_device()}")


def setup_time() -> list[dict]:
    with tempfile.TemporaryDirectory(prefix="bench-clone-") as tmp:
        subprocess.run(["git", "clone", "-q", str(ROOT), tmp], check=True)
        start = time.perf_counter()
        proc = subprocess.run(["make", "env"], cwd=tmp, capture_output=True, text=True)
        seconds = time.perf_counter() - start
    ok = proc.returncode == 0
    return [{"benchmark": "set-up", "metric": "`make env` in a fresh clone (new .venv, all packages)",
             "value": f"{seconds:.0f} s" if ok else "failed", "notes": "pip's cache warm" if ok else proc.stderr[-300:]}]


def suite_rows(run_tests: bool) -> list[dict]:
    rows = []
    if run_tests:
        start = time.perf_counter()
        proc = subprocess.run(["make", "test"], cwd=ROOT)
        rows.append({"benchmark": "test suite", "metric": "`make test` (environment already built)",
                     "value": f"{time.perf_counter() - start:.0f} s" if proc.returncode == 0 else "failed",
                     "notes": "run by make bench"})
    sessions = ARTIFACTS / "sessions.json"
    if sessions.exists():
        data = json.loads(sessions.read_text())
        for name, s in data.items():
            if name not in ("not notebook", "notebook"):   # the two phases of `make test`
                continue
            rows.append({"benchmark": "test suite", "metric": f"pytest phase: {name}",
                         "value": f"{s['seconds']:.0f} s", "notes": f"{s['passed']} passed, {s['failed']} failed, "
                         f"{s['skipped']} skipped; last `make test`, {s['when']}"})
    times = ARTIFACTS / "lesson_times.json"
    if times.exists():
        data = json.loads(times.read_text())
        for lesson, seconds in sorted(data.items()):
            rows.append({"benchmark": "lesson execution", "metric": lesson, "value": f"{seconds:.0f} s",
                         "notes": "solution autograded by nbgrader (execution + grading), budget 300 s"})
        rows.append({"benchmark": "lesson execution", "metric": "whole course",
                     "value": f"{sum(data.values()) / 60:.1f} min", "notes": f"{len(data)} lessons, budget 35 min"})
    if not rows:
        rows.append({"benchmark": "test suite", "metric": "not measured", "value": "-",
                     "notes": "run `make test` first, or `make bench BENCH_ARGS=--run-tests`"})
    return rows


def _saved(name: str) -> Path:
    return SAVED / f"{name}.json"


def _save(name: str, rows: list[dict]) -> None:
    _saved(name).parent.mkdir(parents=True, exist_ok=True)
    _saved(name).write_text(json.dumps({"when": dt.datetime.now().strftime("%Y-%m-%d %H:%M"), "machine": machine(),
                                        "rows": rows}, indent=1))


def _load(name: str) -> list[dict]:
    """The rows of an earlier measurement of ``name``, each note saying when it was measured."""
    if not _saved(name).exists():
        return []
    data = json.loads(_saved(name).read_text())
    return [r if r.get("kept") else {**r, "notes": f"{r.get('notes', '')} (measured {data['when']})".strip()}
            for r in data["rows"]]


def topic_rows(only: list[str], run_none: bool = False) -> list[dict]:
    """Run every bench_*.py (or those in ``only``, or none); a topic not run now keeps its last measured rows."""
    rows = []
    for path in sorted((ROOT / "benchmarks").glob("bench_*.py")):
        if run_none or (only and path.stem.removeprefix("bench_") not in only):
            rows.extend(_load(path.stem))
            continue
        spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(spec)
        print(f"== {path.name}", flush=True)
        start = time.perf_counter()
        try:
            spec.loader.exec_module(module)
            topic = module.run()
            _save(path.stem, topic)
            rows.extend(topic)
        except Exception:
            rows.append({"benchmark": path.stem, "metric": "error", "value": "-",
                         "notes": traceback.format_exc().strip().splitlines()[-1]})
        print(f"   {time.perf_counter() - start:.0f} s", flush=True)
    return rows


def write(rows: list[dict]) -> Path:
    out = ROOT / "benchmarks" / "RESULTS.md"
    lines = ["# Benchmarks", "",
             f"Measured by `make bench` on {dt.datetime.now().strftime('%Y-%m-%d %H:%M')}: {machine()}.",
             "Regenerate with `make bench`; every figure below was measured, none is typed in.", "",
             "| benchmark | metric | value | notes |", "|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['benchmark']} | {r['metric']} | {r['value']} | {r.get('notes', '')} |")
    gpu = ROOT / "benchmarks" / "GPU.md"
    if gpu.exists():
        lines += ["", gpu.read_text().strip()]
    out.write_text("\n".join(lines) + "\n")
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--skip-setup", action="store_true", help="do not time `make env` in a fresh clone")
    p.add_argument("--run-tests", action="store_true", help="run `make test` here and time it")
    p.add_argument("--only", nargs="*", default=[], help="topic benchmarks to run (e.g. meta rl)")
    p.add_argument("--no-topics", action="store_true",
                   help="run no topic benchmark (bench_*.py); their last saved rows are kept")
    args = p.parse_args(argv)
    if args.skip_setup:
        rows = _load("setup")
    else:
        rows = setup_time()
        _save("setup", rows)
    rows += suite_rows(args.run_tests)
    rows += topic_rows(args.only, run_none=args.no_topics)
    print(f"wrote {write(rows)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
