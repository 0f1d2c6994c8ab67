"""Budgets and measured targets for the experiments in the lessons.

Every experiment cell of a lesson ends with :func:`target`, which prints the figure measured in that
run next to the lecture's (or the issue's) target and fails the cell when the target is missed. No
figure is ever written by hand.

Small-budget mode (``COURSE_BUDGET=small``) exists for the test suite only, in the two places where
no metric is asserted: grading the *blank* lessons (the student's functions raise
``NotImplementedError``, so no metric can be met) and the browser tests (which check what JupyterLab
shows and what its buttons do). There training is cut to a few steps with :func:`budget` and
:func:`target` reports without asserting. The full-budget run of every solution, metrics asserted, is
tests/test_lessons.py; students and benchmarks always run the full budget.
"""
from __future__ import annotations

import json
import operator
import os
import time
from pathlib import Path

__all__ = ["small_budget", "budget", "target", "record", "Timer"]

_COMPARE = {">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt}
_SYMBOL = {">=": "≥", "<=": "≤", ">": ">", "<": "<"}


def small_budget() -> bool:
    """True only inside the test suite's grading of blank lessons."""
    return os.environ.get("COURSE_BUDGET", "full").strip().lower() == "small"


def budget(full, small):
    """``full`` normally, ``small`` in small-budget mode (e.g. training steps, dataset sizes)."""
    return small if small_budget() else full


def record(name: str, value, **extra) -> None:
    """Append a measured figure to ``$COURSE_METRICS_FILE`` (JSON lines) when that is set.

    The benchmarks and the notebook tests read this file, so every figure in
    benchmarks/RESULTS.md comes from a real run.
    """
    path = os.environ.get("COURSE_METRICS_FILE")
    if not path:
        return
    row = {"name": name, "value": _plain(value), "time": time.time(), **extra}
    with Path(path).open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(row) + "\n")


def target(name: str, value, op: str, threshold, *, fmt: str = ".3f") -> None:
    """Print ``name: value (target op threshold: met)`` and fail loudly when the target is missed.

    Returns nothing, so that a cell ending in ``target(...)`` shows only the printed line.

    >>> target("test accuracy", 0.97, ">=", 0.9)   # doctest: +SKIP
    test accuracy: 0.970 (target ≥ 0.900: met)
    """
    if op not in _COMPARE:
        raise ValueError(f"op must be one of {sorted(_COMPARE)}, not {op!r}")
    value = _plain(value)
    met = bool(_COMPARE[op](value, threshold))
    record(name, value, op=op, threshold=threshold, met=met, small_budget=small_budget())
    verdict = "met" if met else "MISSED"
    if small_budget():
        verdict += "; small-budget run, not checked"
    print(f"{name}: {value:{fmt}} (target {_SYMBOL[op]} {threshold:{fmt}}: {verdict})")
    if not met and not small_budget():
        raise AssertionError(
            f"{name} = {value:{fmt}} misses its target {_SYMBOL[op]} {threshold:{fmt}}. "
            "If you changed the code above, compare it with the equations; otherwise re-run the cell."
        )


class Timer:
    """``with Timer("training") as t: ...`` prints and records the wall time of the block."""

    def __init__(self, name: str, quiet: bool = False):
        self.name, self.quiet, self.seconds = name, quiet, 0.0

    def __enter__(self):
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self._start
        record(f"{self.name} [s]", self.seconds)
        if not self.quiet:
            print(f"{self.name}: {self.seconds:.1f} s")
        return False


def _plain(value):
    """Turn numpy / torch scalars into Python numbers so they can be printed and stored."""
    if hasattr(value, "item"):
        try:
            return value.item()
        except (TypeError, ValueError):
            pass
    return value
