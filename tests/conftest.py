"""Shared fixtures: the course, temporary copies of it, and the notebooks' grading helpers."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import nbformat
import pytest

from lecturelib.grading.lessons import Course, find_course

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"


@pytest.fixture(scope="session")
def course() -> Course:
    return find_course(ROOT)


@pytest.fixture
def course_copy(tmp_path, monkeypatch) -> Course:
    """A private copy of the course (solutions, lessons, config) that a test may damage."""
    dest = tmp_path / "course"
    dest.mkdir()
    for name in ("solutions", "lessons"):
        shutil.copytree(ROOT / name, dest / name, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    shutil.copy(ROOT / "nbgrader_config.py", dest / "nbgrader_config.py")
    monkeypatch.setenv("COURSE_ROOT", str(dest))
    return Course(dest)


def edit_notebook(src: Path, dest: Path, edit) -> Path:
    """Copy a notebook, applying ``edit(nb)`` to the copy."""
    nb = nbformat.read(src, as_version=4)
    edit(nb)
    dest.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, dest)
    return dest


def cell_by_grade_id(nb, grade_id):
    for cell in nb.cells:
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == grade_id:
            return cell
    raise KeyError(grade_id)


def save_artifact(name: str, data) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    existing = json.loads(path.read_text()) if path.exists() else {}
    existing.update(data)
    path.write_text(json.dumps(existing, indent=1))


def pytest_collection_modifyitems(config, items):
    """GPU-marked tests are skipped, with a reason, where torch sees no GPU."""
    import torch

    has_gpu = torch.cuda.is_available() or (getattr(torch.backends, "mps", None) is not None
                                            and torch.backends.mps.is_available())
    if has_gpu:
        return
    skip = pytest.mark.skip(reason="no CUDA or MPS device on this machine")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


def pytest_sessionstart(session):
    import time

    session.config._course_start = time.perf_counter()


def pytest_sessionfinish(session, exitstatus):
    """Record how long this pytest phase took (benchmarks/run.py reports it)."""
    import datetime as dt
    import time

    if hasattr(session.config, "workerinput"):   # an xdist worker; the controller records the phase
        return
    # only whole phases as `make test` runs them: not a chosen file or a -k selection
    if session.config.args_source == pytest.Config.ArgsSource.ARGS or session.config.getoption("keyword"):
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None:
        return
    stats = {k: len(v) for k, v in reporter.stats.items() if k in ("passed", "failed", "skipped", "error")}
    name = session.config.getoption("markexpr") or "all"
    seconds = time.perf_counter() - session.config._course_start
    save_artifact("sessions.json", {name: {"seconds": round(seconds, 1), "passed": stats.get("passed", 0),
                                           "failed": stats.get("failed", 0) + stats.get("error", 0),
                                           "skipped": stats.get("skipped", 0),
                                           "when": dt.datetime.now().isoformat(timespec="minutes")}})
