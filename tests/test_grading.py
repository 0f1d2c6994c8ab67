"""The grading pipeline survives bad submissions, reports clearly, and never touches the student's file.

All cases use lesson 00, whose exercises are quick to run.
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from conftest import ROOT, cell_by_grade_id, edit_notebook
from lecturelib.grading.autograde import grade
from lecturelib.grading.lessons import find_course

LESSON = "00_getting_started"
COURSE = find_course(ROOT)
SOLUTION = COURSE.source_notebook(LESSON)
BLANK = COURSE.lesson_notebook(LESSON)
FULL = sum(e.points for e in COURSE.exercises(LESSON) if not e.written)   # autograded; a person grades the rest


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def graded(path: Path, **kw):
    before = digest(path)
    report = grade(COURSE, LESSON, path, **kw)
    assert digest(path) == before, "grading must leave the student's notebook byte-identical"
    return report


def score_of(report, grade_id):
    return next(r.score for r in report.results if r.grade_id == grade_id)


def course_cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "lecturelib.cli", *args], capture_output=True, text=True,
                          cwd=ROOT, env={**os.environ, **(env or {})}, timeout=900)


def test_infinite_loop_times_out_and_the_rest_is_graded(tmp_path):
    def loop_forever(nb):
        cell_by_grade_id(nb, "standardize").source = "def standardize(X, eps=1e-8):\n    while True:\n        pass"
        cell_by_grade_id(nb, "test_standardize").source = "standardize(torch.ones(2, 2))"
    path = edit_notebook(SOLUTION, tmp_path / "looping.ipynb", loop_forever)
    report = graded(path, timeout=15)
    assert score_of(report, "test_standardize") == 0
    assert report.score == FULL - 2, report.table()      # the other exercises still earn their points
    assert any("longer than 15 s" in n for n in report.notes), report.notes


def test_kernel_crash_is_reported_not_raised(tmp_path):
    def crash(nb):
        cell_by_grade_id(nb, "pairwise_sq_distances").source = "import os\nos._exit(1)"
    path = edit_notebook(SOLUTION, tmp_path / "crashing.ipynb", crash)
    report = graded(path, timeout=60)
    assert not report.graded and report.score == 0
    assert any("kernel died" in n for n in report.notes), report.notes


def test_deleted_and_edited_test_cells_are_restored(tmp_path):
    def tamper(nb):
        nb.cells.remove(cell_by_grade_id(nb, "test_fit_line"))
        cell_by_grade_id(nb, "test_standardize").source = "pass  # nothing to see"
        nb.cells.append(nbformat.v4.new_code_cell("raise RuntimeError('a typo in an ungraded cell')"))
    blank = graded(edit_notebook(BLANK, tmp_path / "blank.ipynb", tamper))
    assert blank.score == 0, "an edited test cell must not pass a blank exercise:\n" + blank.table()
    assert any("'test_fit_line' was missing" in n for n in blank.notes), blank.notes
    assert any("'test_standardize' had been edited" in n for n in blank.notes), blank.notes
    solved = graded(edit_notebook(SOLUTION, tmp_path / "solved.ipynb", tamper))
    assert solved.score == FULL, "restored tests give a correct solution its points:\n" + solved.table()
    assert any("raised RuntimeError: a typo in an ungraded cell" in n for n in solved.notes), solved.notes
    assert not any("NotImplementedError" in n for n in blank.notes), blank.notes


def test_renamed_test_cell_id_does_not_dodge_the_test(tmp_path):
    def rename(nb):
        cell = cell_by_grade_id(nb, "test_quiz_grading")
        cell.metadata["nbgrader"]["grade_id"] = "test_quiz_renamed"
        cell.source = "pass"
        cell.id = "renamed-cell"
    report = graded(edit_notebook(BLANK, tmp_path / "renamed.ipynb", rename))
    assert score_of(report, "test_quiz_grading") == 0 and report.score == 0, report.table()
    assert any("unknown id 'test_quiz_renamed'" in n for n in report.notes), report.notes


def test_partial_solution_scores_partially(tmp_path):
    src = nbformat.read(SOLUTION, as_version=4)

    def half(nb):
        cell_by_grade_id(nb, "standardize").source = cell_by_grade_id(src, "standardize").source
        cell_by_grade_id(nb, "quiz_grading").source = 'answer = "a"'
    report = graded(edit_notebook(BLANK, tmp_path / "half.ipynb", half))
    assert score_of(report, "test_standardize") == 2 and score_of(report, "test_quiz_grading") == 0
    assert report.score == 2, report.table()


def test_cli_grade_blank_and_solution_tables(tmp_path):
    blank = course_cli("grade", str(BLANK), env={"COURSE_BUDGET": "small"})
    assert blank.returncode == 1 and "total" in blank.stdout and "0 / 8" in blank.stdout, blank.stdout + blank.stderr
    assert "not done yet" in blank.stdout
    assert "not answered yet" in blank.stdout and "needs a grader" not in blank.stdout, blank.stdout


def test_cli_validate_reports_failures_on_the_blank_lesson():
    proc = course_cli("validate", "00", env={"COURSE_BUDGET": "small"})
    assert proc.returncode == 1 and "NotImplementedError" in proc.stdout, proc.stdout + proc.stderr
    assert "Traceback (most recent call last)" not in proc.stderr


@pytest.mark.parametrize("args, message", [
    (["grade", "99_no_such_lesson"], "unknown lesson"),
    (["grade", "missing_file.ipynb"], "no such file"),
    (["reset", "nonsense"], "unknown lesson"),
    (["release", "nonsense"], "unknown lesson"),
    (["validate", "/nonexistent/x.ipynb"], "no such file"),
])
def test_bad_input_gets_one_clear_line(args, message):
    proc = course_cli(*args)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr + proc.stdout
    assert message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_invalid_json_notebook(tmp_path):
    bad = tmp_path / "00_getting_started.ipynb"
    bad.write_text('{"cells": [ this is not json')
    before = digest(bad)
    proc = course_cli("grade", str(bad))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "not valid notebook JSON" in proc.stderr, proc.stderr
    assert digest(bad) == before
    not_a_notebook = tmp_path / "00_x.ipynb"
    not_a_notebook.write_text("[1, 2, 3]")
    proc = course_cli("grade", str(not_a_notebook))
    assert proc.returncode == 2 and "not a notebook" in proc.stderr, proc.stderr


def test_reset_backs_up_the_students_work(course_copy):
    nb_path = course_copy.lesson_notebook(LESSON)
    nb = nbformat.read(nb_path, as_version=4)
    cell_by_grade_id(nb, "standardize").source = "def standardize(X, eps=1e-8):\n    return X  # my attempt"
    nbformat.write(nb, nb_path)
    mine = nb_path.read_bytes()
    proc = course_cli("reset", "00", env={"COURSE_ROOT": str(course_copy.root)})
    assert proc.returncode == 0, proc.stderr
    backups = list((course_copy.root / ".course" / "backups" / LESSON).glob("*.ipynb"))
    assert len(backups) == 1 and backups[0].read_bytes() == mine, "the old notebook is kept byte for byte"
    assert nb_path.read_bytes() == (ROOT / "lessons" / LESSON / f"{LESSON}.ipynb").read_bytes()
    assert "saved as" in proc.stdout


def test_release_check_detects_drift_and_release_backs_up(course_copy):
    nb_path = course_copy.lesson_notebook(LESSON)
    nb = nbformat.read(nb_path, as_version=4)
    nb.cells[1].source += "\nA hand edit in lessons/."
    nbformat.write(nb, nb_path)
    edited = nb_path.read_bytes()
    env = {"COURSE_ROOT": str(course_copy.root)}
    check = course_cli("release", "--check", env=env)
    assert check.returncode == 1 and LESSON in check.stderr, check.stderr
    proc = course_cli("release", LESSON, env=env)
    assert proc.returncode == 0 and "previous version saved" in proc.stdout, proc.stdout + proc.stderr
    assert course_cli("release", "--check", env=env).returncode == 0
    backups = list((course_copy.root / ".course" / "backups" / LESSON).glob("*.ipynb"))
    assert [b.read_bytes() for b in backups] == [edited]


def test_list_shows_lessons_points_and_status(course_copy):
    proc = course_cli("list", "-v", env={"COURSE_ROOT": str(course_copy.root)})
    assert proc.returncode == 0, proc.stderr
    assert LESSON in proc.stdout and "not started" in proc.stdout and "test_fit_line" in proc.stdout
    nb_path = course_copy.lesson_notebook(LESSON)
    nb = nbformat.read(nb_path, as_version=4)
    cell_by_grade_id(nb, "quiz_grading").source = 'answer = "b"'
    nbformat.write(nb, nb_path)
    proc = course_cli("list", env={"COURSE_ROOT": str(course_copy.root)})
    assert "in progress (1/4 solutions written)" in proc.stdout, proc.stdout


def test_doctor_reports_every_check():
    proc = course_cli("doctor")
    lines = [l for l in proc.stdout.splitlines() if l[:3] in ("OK ", "FIX")]
    labels = " ".join(lines)
    for label in ("python", "torch", "learn2learn", "kernel", "ipykernel", "nbgrader lab extension",
                  "widgets lab extension"):
        assert label in labels, proc.stdout
    assert proc.returncode == (0 if all(l.startswith("OK") for l in lines) else 1)
