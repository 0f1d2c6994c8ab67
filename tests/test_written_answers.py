"""Written questions: one per lesson, graded by a person, its model answer and rubric hidden from the release.

* every lesson with a written question has exactly one nbgrader manually graded answer cell, with points, a
  model answer and a rubric in solutions/, and none of them in lessons/ (the cell says YOUR ANSWER HERE);
* `course grade` reports a written answer as "needs a grader", outside the autograded total, not as a 0;
  an unanswered one scores 0 (nbgrader's own rule: an unchanged answer cell earns nothing);
* `course answer` shows the model answer only once the student has written theirs.
"""
from __future__ import annotations

import os
import subprocess
import sys

import nbformat
import pytest

from conftest import ROOT, cell_by_grade_id, edit_notebook
from lecturelib.grading.answers import STUB, is_written, model_region
from lecturelib.grading.autograde import grade
from lecturelib.grading.lessons import find_course

COURSE = find_course(ROOT)
WITH_WRITTEN = COURSE.lesson_ids()
LESSON = "00_getting_started"
WRITTEN = "written_learning_rate"


def written_cells(nb):
    return [c for c in nb.cells if is_written(c)]


@pytest.mark.parametrize("lesson", WITH_WRITTEN)
def test_one_written_question_with_rubric_hidden_from_the_release(lesson):
    source = nbformat.read(COURSE.source_notebook(lesson), as_version=4)
    cells = written_cells(source)
    assert len(cells) == 1, f"{lesson}: one written question per lesson, found {len(cells)}"
    meta = cells[0].metadata["nbgrader"]
    model = model_region(cells[0].source)
    assert "Model answer" in model and "Rubric" in model and meta["points"] > 0, model[:200]
    rubric_points = model.count("* 1 point:")
    assert rubric_points == meta["points"], f"the rubric gives {rubric_points} points, the cell {meta['points']}"
    k = source.cells.index(cells[0])
    assert "Written question" in source.cells[k - 1].source, "the question comes right before the answer cell"

    release = nbformat.read(COURSE.lesson_notebook(lesson), as_version=4)
    answer = cell_by_grade_id(release, meta["grade_id"])
    assert answer.source.strip() == STUB, answer.source
    shown = "\n".join(c.source for c in release.cells)
    leaked = [line for line in model.splitlines() if len(line.strip()) > 30 and line.strip() in shown]
    assert not leaked and "Rubric (" not in shown, f"the release shows the model answer or rubric: {leaked[:2]}"
    assert "<details>" not in shown, "the folded model answer is gone from the lesson (`course answer` shows it)"


def test_exercises_tell_written_answers_apart():
    exercises = {e.grade_id: e for e in COURSE.exercises(LESSON)}
    assert exercises[WRITTEN].written and exercises[WRITTEN].solution_id == WRITTEN
    assert not exercises["test_fit_line"].written


def test_a_written_answer_needs_a_grader_and_is_not_counted_as_zero(tmp_path):
    def write(nb):
        cell_by_grade_id(nb, WRITTEN).source = "Each step multiplies the error by 1 - eta * lambda."
    report = grade(COURSE, LESSON, edit_notebook(COURSE.lesson_notebook(LESSON), tmp_path / "mine.ipynb", write))
    result = next(r for r in report.results if r.grade_id == WRITTEN)
    assert result.written and result.needs_grader and report.waiting == [result], report.table()
    auto = sum(e.points for e in COURSE.exercises(LESSON) if not e.written)
    assert report.score == 0 and report.max_score == auto, "the written points are outside the autograded total"
    assert report.written_points == result.max_score == 2
    table = report.table()
    row = next(line for line in table.splitlines() if WRITTEN in line)
    assert "needs a grader" in row and " - / 2" in row, row
    assert "+ 2 for written answers" in table and "course answer 00" in table, table


def course_cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "lecturelib.cli", *args], capture_output=True, text=True,
                          cwd=ROOT, env={**os.environ, **(env or {})}, timeout=300)


def test_course_answer_waits_for_the_students_answer(tmp_path):
    blank = course_cli("answer", "00")
    assert blank.returncode == 1, blank.stdout + blank.stderr
    assert "Write your answer first" in blank.stdout and "Rubric" not in blank.stdout, blank.stdout
    model = model_region(cell_by_grade_id(nbformat.read(COURSE.source_notebook(LESSON), as_version=4),
                                          WRITTEN).source)

    def write(nb):
        cell_by_grade_id(nb, WRITTEN).source = "The step overshoots when eta is large."
    mine = edit_notebook(COURSE.lesson_notebook(LESSON), tmp_path / "00_getting_started.ipynb", write)
    proc = course_cli("answer", str(mine))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "The step overshoots when eta is large." in proc.stdout and model in proc.stdout, proc.stdout
    assert "### BEGIN SOLUTION" not in proc.stdout


def test_course_answer_bad_input_is_one_line():
    proc = course_cli("answer", "99")
    assert proc.returncode == 2 and "unknown lesson" in proc.stderr and "Traceback" not in proc.stderr
