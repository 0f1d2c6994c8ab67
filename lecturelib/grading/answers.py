"""Written answers: each lesson's open question, graded by a person, and its model answer for self-learners.

In ``solutions/`` a written question is two cells: the question (ordinary markdown) and an nbgrader
*manually graded answer* cell (markdown, ``solution`` and ``grade`` with points, id ``written_...``) whose
text between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` holds the model answer and the grader's rubric.
``nbgrader generate_assignment`` replaces that region with "YOUR ANSWER HERE", so a class never sees it;
autograding leaves the cell's points to a grader in the formgrader (an unchanged cell scores 0 by itself).

A self-learner has the course's ``solutions/`` beside the lesson, so ``course answer NN`` can show the model
answer, but only for a question whose answer cell no longer holds the stub: writing one's own answer first
is the point of the question.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .lessons import Course, CourseError, read_notebook

STUB = "YOUR ANSWER HERE"
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"


@dataclass
class WrittenQuestion:
    grade_id: str
    points: float
    question: str     # the markdown cell before the answer cell
    model: str        # model answer and rubric, from solutions/
    yours: str | None  # the student's answer; None when the cell is missing from their notebook

    @property
    def answered(self) -> bool:
        return self.yours is not None and bool(self.yours.strip()) and STUB not in self.yours


def is_written(cell) -> bool:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return bool(meta.get("solution") and meta.get("grade")) and cell.cell_type == "markdown"


def model_region(source: str) -> str:
    """The text between the solution markers (the whole cell when it has none, as nbgrader treats it)."""
    lines = source.splitlines()
    starts = [k for k, l in enumerate(lines) if BEGIN in l]
    ends = [k for k, l in enumerate(lines) if END in l]
    if not starts or not ends:
        return source.strip()
    return "\n".join(lines[starts[0] + 1:ends[-1]]).strip()


def written_questions(course: Course, lesson: str, notebook: Path) -> list[WrittenQuestion]:
    source = read_notebook(course.source_notebook(lesson))
    mine = {c.metadata["nbgrader"]["grade_id"]: c.source for c in read_notebook(notebook).cells
            if c.get("metadata", {}).get("nbgrader", {}).get("grade_id")}
    out = []
    for k, cell in enumerate(source.cells):
        if is_written(cell):
            meta = cell.metadata["nbgrader"]
            question = source.cells[k - 1].source.strip() if k > 0 else ""
            out.append(WrittenQuestion(meta["grade_id"], float(meta.get("points", 0)), question,
                                       model_region(cell.source), mine.get(meta["grade_id"])))
    return out


def show(course: Course, lesson: str, notebook: Path) -> tuple[str, bool]:
    """The text ``course answer`` prints, and whether every written question had been answered."""
    questions = written_questions(course, lesson, notebook)
    if not questions:
        raise CourseError(f"lesson {lesson} has no written question")
    parts, complete = [], True
    for q in questions:
        parts.append(f"=== {q.grade_id} ({q.points:g} points, graded by a person) ===\n\n{q.question}\n")
        if q.answered:
            parts.append(f"--- your answer ---\n{q.yours.strip()}\n\n--- model answer and rubric ---\n{q.model}\n")
        else:
            complete = False
            parts.append(f"Write your answer first, in the cell below the question in {notebook.name} (it says "
                         f"{STUB}); the model answer is shown once you have.\n")
    return "\n".join(parts), complete
