"""lecturelib.experiment: budgets, measured targets and the metrics file."""
import json

import numpy as np
import pytest
import torch

from lecturelib.experiment import Timer, budget, record, small_budget, target


def test_budget_is_full_unless_small_mode(monkeypatch):
    monkeypatch.delenv("COURSE_BUDGET", raising=False)
    assert not small_budget() and budget(1000, 10) == 1000
    monkeypatch.setenv("COURSE_BUDGET", "small")
    assert small_budget() and budget(1000, 10) == 10


def test_target_met_prints_measured_value(capsys, monkeypatch):
    monkeypatch.delenv("COURSE_BUDGET", raising=False)
    target("accuracy", np.float32(0.97), ">=", 0.9)
    out = capsys.readouterr().out
    assert "accuracy: 0.970 (target ≥ 0.900: met)" in out


def test_target_missed_raises_with_the_figure(monkeypatch):
    monkeypatch.delenv("COURSE_BUDGET", raising=False)
    with pytest.raises(AssertionError, match=r"error = 0\.500 misses its target ≤ 0\.100"):
        target("error", torch.tensor(0.5), "<=", 0.1)


def test_target_in_small_budget_reports_without_asserting(capsys, monkeypatch):
    monkeypatch.setenv("COURSE_BUDGET", "small")
    target("error", 0.5, "<=", 0.1)
    assert "MISSED; small-budget run, not checked" in capsys.readouterr().out


def test_target_rejects_unknown_comparison():
    with pytest.raises(ValueError, match="op must be one of"):
        target("x", 1.0, "=>", 0.5)


def test_metrics_file_records_every_target_and_timer(tmp_path, monkeypatch, capsys):
    path = tmp_path / "metrics.jsonl"
    monkeypatch.setenv("COURSE_METRICS_FILE", str(path))
    monkeypatch.delenv("COURSE_BUDGET", raising=False)
    target("success", 0.95, ">=", 0.9)
    record("steps", np.int64(12))
    with Timer("training", quiet=True) as t:
        sum(range(1000))
    rows = [json.loads(l) for l in path.read_text().splitlines()]
    assert [r["name"] for r in rows] == ["success", "steps", "training [s]"]
    assert rows[0]["met"] is True and rows[0]["value"] == 0.95 and rows[1]["value"] == 12
    assert rows[2]["value"] == pytest.approx(t.seconds)
