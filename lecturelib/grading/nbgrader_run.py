"""Run nbgrader in a throw-away course directory.

Grading and releasing never touch the student's files or the repository's own gradebook: the lesson's
source is copied into a temporary nbgrader course, nbgrader runs there as a subprocess (so a crashing or
hanging notebook cannot take the ``course`` command with it), and only the results come back.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from .lessons import Course, CourseError

CONFIG = """\
from lecturelib.grading.execute import AUTOGRADE_PREPROCESSORS, use_in_validator
c = get_config()
c.Autograde.autograde_preprocessors = AUTOGRADE_PREPROCESSORS
use_in_validator()
c.CourseDirectory.root = {root!r}
c.CourseDirectory.course_id = "embodied-lm"
c.CourseDirectory.source_directory = "source"
c.CourseDirectory.release_directory = "release"
c.ClearSolutions.code_stub = {{"python": "# YOUR CODE HERE\\nraise NotImplementedError()"}}
c.ClearOutput.enabled = True
c.OverwriteCells.add_missing_cells = True
c.Execute.timeout = {timeout}
c.Execute.interrupt_on_timeout = True
c.Execute.allow_errors = True
"""


def nbgrader_env() -> dict[str, str]:
    """nbgrader starts ``alembic`` by name: put this Python's bin/ first on PATH."""
    env = dict(os.environ)
    bindir = str(Path(sys.executable).parent)
    env["PATH"] = bindir + os.pathsep + env.get("PATH", "")
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


class Workspace:
    """A temporary nbgrader course holding one lesson's source, removed on exit."""

    def __init__(self, course: Course, lesson: str, *, timeout: int = 600):
        self.course, self.lesson, self.timeout = course, lesson, timeout

    def __enter__(self) -> "Workspace":
        self._tmp = tempfile.TemporaryDirectory(prefix="course-grade-")
        self.root = Path(self._tmp.name)
        (self.root / "nbgrader_config.py").write_text(CONFIG.format(root=str(self.root), timeout=int(self.timeout)))
        shutil.copytree(self.course.solutions / self.lesson, self.root / "source" / self.lesson,
                        ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
        return self

    def __exit__(self, *exc):
        self._tmp.cleanup()
        return False

    def nbgrader(self, *args: str, timeout: float | None = None) -> subprocess.CompletedProcess:
        cmd = [sys.executable, "-m", "nbgrader", *args, "--CourseDirectory.root=" + str(self.root)]
        try:
            return subprocess.run(cmd, cwd=self.root, env=nbgrader_env(), capture_output=True, text=True,
                                  timeout=timeout)
        except subprocess.TimeoutExpired:
            raise CourseError(f"nbgrader {args[0]} did not finish within {timeout:.0f} s") from None

    def generate(self) -> Path:
        """``nbgrader generate_assignment``: the release notebook and the gradebook of the lesson."""
        proc = self.nbgrader("generate_assignment", self.lesson, "--force", timeout=300)
        out = self.root / "release" / self.lesson / f"{self.lesson}.ipynb"
        if proc.returncode != 0 or not out.exists():
            raise CourseError(f"nbgrader could not generate {self.lesson}: {last_error_line(proc)}")
        return out


def last_error_line(proc: subprocess.CompletedProcess) -> str:
    lines = [l.strip() for l in (proc.stderr + "\n" + proc.stdout).splitlines() if l.strip()]
    errors = [l for l in lines if "ERROR" in l or "Error" in l]
    return (errors or lines or ["no output"])[-1]
