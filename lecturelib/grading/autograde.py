"""Grade a student's notebook with nbgrader and report a score per exercise.

The student's notebook is copied, byte for byte, into a temporary nbgrader course built from
``solutions/`` (so the hidden tests are restored from the course, never trusted from the student), and
autograded there. Deleted or edited test cells are put back from the course, every cell has a time limit,
and a crashing kernel ends in a report, not a traceback. The student's file is never written.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import re
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .lessons import Course, CourseError, read_notebook
from .nbgrader_run import Workspace, last_error_line

ANSI = re.compile(r"\x1b\[[0-9;]*m")


@dataclass
class ExerciseResult:
    grade_id: str
    score: float
    max_score: float
    message: str = ""   # why the test failed: the last line of its error
    written: bool = False          # a written answer, graded by a person (nbgrader's manually graded answer)
    needs_grader: bool = False     # written, and waiting for that person: its points are not yet known


@dataclass
class GradeReport:
    lesson: str
    notebook: str
    results: list[ExerciseResult]
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    graded: bool = True     # False when nbgrader could not finish (the kernel died, ...)

    # score and max_score are the autograded points: a written answer is not a 0 that a grader may raise
    # later but an unknown, so its points are kept apart (written_points) and never counted as missing
    @property
    def score(self) -> float:
        return sum(r.score for r in self.results if not r.written)

    @property
    def max_score(self) -> float:
        return sum(r.max_score for r in self.results if not r.written)

    @property
    def written_points(self) -> float:
        return sum(r.max_score for r in self.results if r.written)

    @property
    def waiting(self) -> list[ExerciseResult]:
        """The written answers that a grader still has to score."""
        return [r for r in self.results if r.needs_grader]

    def table(self) -> str:
        width = max([len("exercise")] + [len(r.grade_id) for r in self.results])
        lines = [f"Lesson {self.lesson}: {self.notebook}", "",
                 f"  {'exercise':<{width}}  {'points':>9}  result",
                 f"  {'-' * width}  {'-' * 9}  {'-' * 30}"]
        for r in self.results:
            verdict = "passed" if r.score >= r.max_score else ("failed: " + (r.message or "see the notebook"))
            if r.message.startswith("NotImplementedError"):
                verdict = "not done yet (the exercise still raises NotImplementedError)"
            got = _num(r.score)
            if r.written:
                verdict = "needs a grader (a written answer)" if r.needs_grader else \
                    "not answered yet (the cell still says YOUR ANSWER HERE)"
                got = "-" if r.needs_grader else got
            lines.append(f"  {r.grade_id:<{width}}  {got:>4} / {_num(r.max_score):<2}  {verdict}")
        lines.append(f"  {'-' * width}  {'-' * 9}")
        extra = f", + {_num(self.written_points)} for written answers" if self.written_points else ""
        lines.append(f"  {'total':<{width}}  {_num(self.score):>4} / {_num(self.max_score):<2}"
                     f"  (autograded{extra}; {self.seconds:.0f} s)")
        if self.waiting:
            lines.append(f"  written answers wait for a grader; `course answer {self.lesson[:2]}` shows the model "
                         "answer to compare yours with")
        if self.notes:
            lines.append("")
            lines.extend(f"  note: {n}" for n in self.notes)
        return "\n".join(lines)


def _num(x: float) -> str:
    return f"{x:g}"


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def grade(course: Course, lesson: str, notebook: Path, *, timeout: int = 600,
          total_timeout: float = 3600, keep: Path | None = None) -> GradeReport:
    """Autograde ``notebook`` as lesson ``lesson``; ``keep`` saves the executed copy there."""
    notebook = Path(notebook)
    student_nb = read_notebook(notebook)          # clear error for missing or malformed files
    before = sha256(notebook)
    start = time.perf_counter()
    with Workspace(course, lesson, timeout=timeout) as ws:
        release_nb = read_notebook(ws.generate())
        source_nb = read_notebook(course.source_notebook(lesson))
        notes = _compare_with_release(student_nb, release_nb, source_nb)
        target = ws.root / "submitted" / "student" / lesson / f"{lesson}.ipynb"
        target.parent.mkdir(parents=True)
        shutil.copyfile(notebook, target)
        proc = ws.nbgrader("autograde", lesson, "--student", "student", "--force", timeout=total_timeout)
        executed = ws.root / "autograded" / "student" / lesson / f"{lesson}.ipynb"
        results, graded = _scores(ws.root, lesson, executed)
        if not graded:
            if "DeadKernel" in proc.stderr or "Kernel died" in proc.stderr or "kernel died" in proc.stderr.lower():
                notes.append("the kernel died while the notebook ran (a crash, os._exit or running out of memory), "
                             "so no exercise could be scored; run the notebook top to bottom to find the cell")
            else:
                notes.append(f"nbgrader could not grade the notebook: {last_error_line(proc)}")
        if executed.exists():
            notes.extend(_timeouts(read_notebook(executed), timeout))
            notes.extend(_other_errors(read_notebook(executed)))
            notes.extend(_tampering(read_notebook(executed)))
            if keep is not None:
                Path(keep).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(executed, keep)
    if sha256(notebook) != before:   # cannot happen by construction; proven by the tests
        raise CourseError(f"internal error: {notebook} changed while it was graded")
    from .sandbox import status_line

    notes.append(status_line())
    report = GradeReport(lesson, str(notebook), results, notes, time.perf_counter() - start, graded)
    return report


def _compare_with_release(student, release, source) -> list[str]:
    """Notes on test cells the student deleted, edited or renamed (nbgrader then restores them).

    A test cell counts as edited when it matches neither the lesson's version nor the solution's."""
    def graded(nb):
        return {c.metadata["nbgrader"]["grade_id"]: c for c in nb.cells
                if c.get("metadata", {}).get("nbgrader", {}).get("grade_id")}
    mine, theirs, original = graded(student), graded(release), graded(source)
    notes = []
    for gid, cell in theirs.items():
        if not cell.metadata["nbgrader"].get("grade") or cell.metadata["nbgrader"].get("solution"):
            continue        # not a test cell, or a written answer: the student's to edit
        if gid not in mine:
            notes.append(f"test cell {gid!r} was missing from the notebook; it was restored from the course")
        elif mine[gid].source.strip() not in (cell.source.strip(), original[gid].source.strip()):
            notes.append(f"test cell {gid!r} had been edited; the course's original was used")
    for gid in mine:
        if gid not in theirs:
            notes.append(f"a cell carries the unknown id {gid!r}; it ran as an ordinary cell")
    return notes


def _scores(root: Path, lesson: str, executed: Path) -> tuple[list[ExerciseResult], bool]:
    from nbgrader.api import Gradebook, MissingEntry

    messages = _error_messages(read_notebook(executed)) if executed.exists() else {}
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        notebook = gb.find_notebook(lesson, lesson)
        cells = [c for c in notebook.grade_cells]
        written = {c.name for c in notebook.solution_cells}     # a grade cell that is also an answer cell
        order = {c.name: i for i, c in enumerate(notebook.source_cells)}
        cells.sort(key=lambda c: order.get(c.name, 0))
        try:
            sub = gb.find_submission_notebook(lesson, lesson, "student")
            grades = {g.name: g for g in sub.grades}
        except MissingEntry:
            grades = {}
        graded = executed.exists() and bool(grades)
        results = []
        for cell in cells:
            g = grades.get(cell.name)
            score = float(g.score) if (g is not None and graded and g.score is not None) else 0.0
            msg = messages.get(cell.name, "" if graded else "not graded")
            # nbgrader scores an unchanged answer 0 itself; a changed one has no score until a person gives it
            waiting = (cell.name in written and graded and g is not None and g.needs_manual_grade
                       and g.auto_score is None and g.manual_score is None)    # (g.score reads 0 then)
            results.append(ExerciseResult(cell.name, score, float(cell.max_score), msg,
                                          written=cell.name in written, needs_grader=waiting))
    return results, graded


def _error_messages(nb) -> dict[str, str]:
    out = {}
    for cell in nb.cells:
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if not gid or cell.cell_type != "code":
            continue
        for o in cell.get("outputs", []):
            if o.get("output_type") == "error" and gid not in out:   # the first: a tampering note comes first
                text = ANSI.sub("", f"{o.get('ename', 'Error')}: {o.get('evalue', '')}").strip().rstrip(":")
                out[gid] = (text.splitlines() or ["error"])[0][:160]
    return out


def _timeouts(nb, timeout: int) -> list[str]:
    notes = []
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    for k, cell in enumerate(code_cells):
        for o in cell.get("outputs", []):
            if o.get("output_type") == "error" and o.get("ename") == "CellTimeoutError":
                gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
                where = f"cell {gid!r}" if gid else f"code cell {k + 1}"
                notes.append(f"{where} ran longer than {timeout} s and was interrupted (an endless loop?)")
    return notes


def _tampering(nb) -> list[str]:
    """The integrity checks' findings in full (the table shows the first 160 characters)."""
    return [f"{c.metadata['nbgrader']['grade_id']} scored 0: {o.get('evalue', '')}" for c in nb.cells
            if c.cell_type == "code" and c.get("metadata", {}).get("nbgrader", {}).get("grade")
            for o in c.get("outputs", []) if o.get("ename") == "TamperingDetected"]


def _other_errors(nb, limit: int = 3) -> list[str]:
    """Notes on ungraded cells that raised (a missed experiment target, a typo): they cost no points
    themselves, but what comes after them may have run without their results."""
    notes = []
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    for k, cell in enumerate(code_cells):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("grade"):
            continue
        for o in cell.get("outputs", []):
            if o.get("output_type") != "error" or o.get("ename") in ("CellTimeoutError", "NotImplementedError"):
                continue
            text = ANSI.sub("", f"{o.get('ename', 'Error')}: {o.get('evalue', '')}").strip()
            where = f"cell {meta['grade_id']!r}" if meta.get("grade_id") else f"code cell {k + 1}"
            notes.append(f"{where} raised {(text.splitlines() or ['an error'])[0][:160]}")
    if len(notes) > limit:
        notes = notes[:limit] + [f"... and {len(notes) - limit} more cells raised errors"]
    return notes


def save_report(course: Course, report: GradeReport) -> None:
    """Remember the latest grade of each lesson in .course/grades.json (for `course list`)."""
    path = course.state_dir / "grades.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        data = json.loads(path.read_text()) if path.exists() else {}
    except json.JSONDecodeError:
        data = {}
    data[report.lesson] = {
        "notebook": report.notebook, "score": report.score, "max_score": report.max_score,
        "written_points": report.written_points, "waiting_for_grader": [r.grade_id for r in report.waiting],
        "when": _dt.datetime.now().isoformat(timespec="seconds"),
        "results": [asdict(r) for r in report.results],
    }
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1))
    tmp.replace(path)
