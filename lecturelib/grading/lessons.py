"""Finding the course, its lessons and notebooks; reading notebooks with clear errors."""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import nbformat

STUB_MARKER = "raise NotImplementedError()"


class CourseError(Exception):
    """A problem the user can fix; the ``course`` command prints it as one line."""


@dataclass(frozen=True)
class Exercise:
    grade_id: str       # id of the test cell, e.g. "test_maml_inner_loop"
    points: float
    solution_id: str | None  # id of the solution cell the test follows, if any
    written: bool = False    # a written answer graded by a person (an nbgrader manually graded answer cell)


@dataclass
class Course:
    root: Path

    @property
    def solutions(self) -> Path:
        return self.root / "solutions"

    @property
    def lessons_dir(self) -> Path:
        return self.root / "lessons"

    @property
    def state_dir(self) -> Path:
        """Where the course keeps the student's grades and backups (git-ignored)."""
        return self.root / ".course"

    def lesson_ids(self) -> list[str]:
        if not self.solutions.is_dir():
            return []
        return sorted(p.name for p in self.solutions.iterdir()
                      if p.is_dir() and (p / f"{p.name}.ipynb").is_file())

    def source_notebook(self, lesson: str) -> Path:
        return self.solutions / lesson / f"{lesson}.ipynb"

    def lesson_notebook(self, lesson: str) -> Path:
        return self.lessons_dir / lesson / f"{lesson}.ipynb"

    def resolve_lesson(self, name: str) -> str:
        """Accept ``02_meta_learning``, ``02``, ``2`` or ``meta_learning``."""
        ids = self.lesson_ids()
        name = name.strip().rstrip("/")
        if name in ids:
            return name
        matches = [i for i in ids
                   if (name.isdigit() and i.split("_", 1)[0] == f"{int(name):02d}") or i.split("_", 1)[-1] == name]
        if len(matches) == 1:
            return matches[0]
        raise CourseError(f"unknown lesson {name!r}; the lessons are: {', '.join(ids) or '(none found)'}")

    def resolve_notebook(self, target: str, lesson: str | None = None) -> tuple[str, Path]:
        """A lesson id or a notebook path -> (lesson id, notebook path)."""
        path = Path(target)
        if target.endswith(".ipynb") or path.suffix or os.sep in target:
            path = path.expanduser().resolve()
            if not path.exists():
                raise CourseError(f"no such file: {target}")
            if path.is_dir():
                candidates = sorted(path.glob("*.ipynb"))
                if len(candidates) != 1:
                    raise CourseError(f"{target} is a folder; name the notebook inside it")
                path = candidates[0]
            if path.suffix != ".ipynb":
                raise CourseError(f"{target} is not a notebook (.ipynb)")
            if lesson is None:
                lesson = self._lesson_of(path)
            else:
                lesson = self.resolve_lesson(lesson)
            return lesson, path
        lesson = self.resolve_lesson(lesson or target)
        path = self.lesson_notebook(lesson)
        if not path.exists():
            raise CourseError(f"{path.relative_to(self.root)} is missing; `course reset {lesson}` makes a fresh copy")
        return lesson, path

    def _lesson_of(self, path: Path) -> str:
        ids = self.lesson_ids()
        for name in (path.stem, path.parent.name):
            if name in ids:
                return name
        # a renamed copy: match the lesson number at the start of the file name
        m = re.match(r"(\d{2})", path.stem)
        if m:
            hits = [i for i in ids if i.startswith(m.group(1) + "_")]
            if len(hits) == 1:
                return hits[0]
        raise CourseError(f"cannot tell which lesson {path.name} belongs to; add --lesson ID")

    def exercises(self, lesson: str) -> list[Exercise]:
        nb = read_notebook(self.source_notebook(lesson))
        out, last_solution = [], None
        for cell in nb.cells:
            meta = cell.get("metadata", {}).get("nbgrader", {})
            if meta.get("solution") and not meta.get("grade"):
                last_solution = meta.get("grade_id")
            if meta.get("grade") and meta.get("solution"):
                out.append(Exercise(meta["grade_id"], float(meta.get("points", 0)), meta["grade_id"], written=True))
            elif meta.get("grade"):
                out.append(Exercise(meta["grade_id"], float(meta.get("points", 0)), last_solution))
        return out


def find_course(start: Path | None = None) -> Course:
    """The course root: $COURSE_ROOT, else the first folder upwards holding solutions/ and
    nbgrader_config.py, else the checkout this package was installed from."""
    env = os.environ.get("COURSE_ROOT")
    if env:
        root = Path(env).expanduser().resolve()
        if not (root / "solutions").is_dir():
            raise CourseError(f"COURSE_ROOT={env} has no solutions/ folder")
        return Course(root)
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "solutions").is_dir() and (folder / "nbgrader_config.py").is_file():
            return Course(folder)
    package_root = Path(__file__).resolve().parents[2]
    if (package_root / "solutions").is_dir():
        return Course(package_root)
    raise CourseError("cannot find the course (a folder with solutions/ and nbgrader_config.py); "
                      "run the command inside the course checkout or set COURSE_ROOT")


def read_notebook(path: Path) -> nbformat.NotebookNode:
    """Read a notebook or raise a one-line :class:`CourseError` saying what is wrong with it."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CourseError(f"no such file: {path}") from None
    except UnicodeDecodeError:
        raise CourseError(f"{path} is not a text file, so not a notebook") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise CourseError(f"{path} is not valid notebook JSON (line {err.lineno}, column {err.colno}: {err.msg}); "
                          "restore it from a backup in .course/backups or with `course reset`") from None
    if not isinstance(data, dict) or "cells" not in data:
        raise CourseError(f"{path} is JSON but not a notebook (no 'cells')")
    try:
        return nbformat.reads(text, as_version=4)
    except Exception as err:  # nbformat raises several types for malformed notebooks
        raise CourseError(f"{path} is not a valid notebook: {str(err).splitlines()[0]}") from None


def attempted(nb: nbformat.NotebookNode) -> tuple[int, int]:
    """(solution cells no longer holding the stub, solution cells) of a student's notebook."""
    cells = [c for c in nb.cells if c.get("metadata", {}).get("nbgrader", {}).get("solution")
             and c.cell_type == "code"]
    done = sum(STUB_MARKER not in c.source for c in cells)
    return done, len(cells)
