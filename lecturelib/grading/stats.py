"""Class statistics for the instructor: which exercise does the class struggle with?

From nbgrader's gradebook (the ``gradebook.db`` in the course directory, after autograding and any manual
grading): for every graded cell of an assignment, how many students scored full marks, part of the marks,
or nothing, and how many have no grade (no submission). Written as a CSV and as a PNG bar chart, one bar
per exercise, so the weak spot of a lesson shows at a glance. ``course stats 00_getting_started``.
"""
from __future__ import annotations

import csv
from dataclasses import asdict, dataclass
from pathlib import Path

from .lessons import CourseError

__all__ = ["ExerciseStats", "exercise_stats", "write_csv", "plot", "main"]


@dataclass
class ExerciseStats:
    notebook: str
    exercise: str
    max_score: float
    full: int
    partial: int
    zero: int
    ungraded: int
    mean: float          # over graded students


def exercise_stats(gradebook: Path, assignment: str) -> list[ExerciseStats]:
    from nbgrader.api import Gradebook, MissingEntry

    if not Path(gradebook).is_file():
        raise CourseError(f"no gradebook at {gradebook} (run this in the course directory, after autograding)")
    rows = []
    with Gradebook(f"sqlite:///{Path(gradebook).resolve()}") as gb:
        try:
            record = gb.find_assignment(assignment)
        except MissingEntry:
            known = ", ".join(a.name for a in gb.assignments) or "none"
            raise CourseError(f"the gradebook has no assignment {assignment!r} (it has: {known})") from None
        students = [s.id for s in gb.students]
        for notebook in record.notebooks:
            for cell in notebook.grade_cells:
                scores = []
                for student in students:
                    try:
                        grade = gb.find_grade(cell.name, notebook.name, assignment, student)
                    except MissingEntry:
                        continue
                    if grade.score is not None and not grade.needs_manual_grade:
                        scores.append(float(grade.score))
                top = float(cell.max_score)
                rows.append(ExerciseStats(
                    notebook=notebook.name, exercise=cell.name, max_score=top,
                    full=sum(s >= top for s in scores), partial=sum(0 < s < top for s in scores),
                    zero=sum(s <= 0 for s in scores), ungraded=len(students) - len(scores),
                    mean=round(sum(scores) / len(scores), 3) if scores else 0.0))
    return rows


def write_csv(rows: list[ExerciseStats], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(ExerciseStats.__dataclass_fields__))
        writer.writeheader()
        writer.writerows(asdict(r) for r in rows)


def plot(rows: list[ExerciseStats], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [r.exercise for r in rows][::-1]             # first exercise on top
    fig, ax = plt.subplots(figsize=(7, 0.5 * len(rows) + 1.5))
    left = [0] * len(rows)
    for field, colour in (("full", "#2e7d32"), ("partial", "#f9a825"), ("zero", "#c62828"), ("ungraded", "#9e9e9e")):
        counts = [getattr(r, field) for r in rows][::-1]
        ax.barh(names, counts, left=left, color=colour, label=field)
        left = [a + b for a, b in zip(left, counts)]
    ax.set_xlabel("students")
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(assignment: str, gradebook: Path, out: Path) -> int:
    rows = exercise_stats(gradebook, assignment)
    if not rows:
        raise CourseError(f"assignment {assignment!r} has no graded cells in {gradebook}")
    write_csv(rows, out / f"{assignment}_stats.csv")
    plot(rows, out / f"{assignment}_stats.png", f"{assignment}: students per outcome")
    width = max(len(r.exercise) for r in rows)
    print(f"{'exercise':<{width}}  points  full  partial  zero  ungraded  mean")
    for r in rows:
        print(f"{r.exercise:<{width}}  {r.max_score:>6g}  {r.full:>4}  {r.partial:>7}  {r.zero:>4}  {r.ungraded:>8}  {r.mean:g}")
    hardest = min(rows, key=lambda r: r.mean / r.max_score if r.max_score else 1)
    print(f"hardest for the class: {hardest.exercise} (mean {hardest.mean:g} of {hardest.max_score:g})")
    print(f"written: {out / f'{assignment}_stats.csv'} and {out / f'{assignment}_stats.png'}")
    return 0
