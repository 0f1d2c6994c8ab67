"""nbgrader's standard instructor workflow with this repo's lesson 00, end to end, on a local filesystem
exchange: release, three students fetch and submit, collect, autograde, generate and return feedback,
export grades as CSV; the grades must come out right, the written answer graded by hand as in the formgrader."""
from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat

from conftest import ROOT, cell_by_grade_id

LESSON = "00_getting_started"
WRITTEN = "written_learning_rate"


def nbgrader(args, cwd, user, env_extra=None):
    env = {**os.environ, "USER": user, "LOGNAME": user, **(env_extra or {})}
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env["PATH"]
    proc = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, f"nbgrader {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


def test_classroom_workflow(tmp_path):
    exchange, instructor = tmp_path / "exchange", tmp_path / "instructor"
    exchange.mkdir(mode=0o777)
    instructor.mkdir()
    shutil.copytree(ROOT / "solutions" / LESSON, instructor / "solutions" / LESSON)
    config = (ROOT / "nbgrader_config.py").read_text() + f"""
c.Exchange.root = {str(exchange)!r}
c.CourseDirectory.root = {str(instructor)!r}
"""
    (instructor / "nbgrader_config.py").write_text(config)
    student_config = f"""c = get_config()
c.Exchange.root = {str(exchange)!r}
c.CourseDirectory.course_id = "embodied-lm"
"""
    nbgrader(["db", "student", "add", "ada"], instructor, "teacher")
    nbgrader(["db", "student", "add", "bob"], instructor, "teacher")
    nbgrader(["db", "student", "add", "cyd"], instructor, "teacher")
    nbgrader(["generate_assignment", LESSON, "--force"], instructor, "teacher")
    nbgrader(["release_assignment", LESSON, "--force"], instructor, "teacher")

    solution = nbformat.read(ROOT / "solutions" / LESSON / f"{LESSON}.ipynb", as_version=4)
    work = {
        "ada": ["standardize", "pairwise_sq_distances", "fit_line", "quiz_grading"],   # everything: 8 points
        "bob": [],                                                                       # nothing: 0 points
        "cyd": ["standardize", "fit_line"],                                              # 2 + 3 = 5 points
    }
    for student, solved in work.items():
        home = tmp_path / student
        home.mkdir()
        (home / "nbgrader_config.py").write_text(student_config)
        nbgrader(["fetch_assignment", LESSON], home, student)
        path = home / LESSON / f"{LESSON}.ipynb"
        nb = nbformat.read(path, as_version=4)
        for gid in solved:
            cell_by_grade_id(nb, gid).source = cell_by_grade_id(solution, gid).source
        if student == "ada":   # ada also answers the written question, which a person grades
            cell_by_grade_id(nb, WRITTEN).source = "Each step multiplies the error by 1 - eta lambda; beyond 2/lambda it grows."
        nbformat.write(nb, path)
        nbgrader(["submit", LESSON, "--student", student], home, student)   # one machine, three students

    nbgrader(["collect", LESSON], instructor, "teacher")
    for student in work:
        assert (instructor / "submitted" / student / LESSON / f"{LESSON}.ipynb").exists()
    nbgrader(["autograde", LESSON], instructor, "teacher")
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{instructor / 'gradebook.db'}") as gb:   # what the formgrader lists and sets
        written = {s: gb.find_grade(WRITTEN, LESSON, LESSON, s) for s in work}
        assert [s for s, g in written.items() if g.needs_manual_grade] == ["ada"], "only a written answer waits"
        assert written["bob"].auto_score == 0 and written["ada"].auto_score is None
        written["ada"].manual_score = 2
        gb.db.commit()
    nbgrader(["generate_feedback", LESSON], instructor, "teacher")
    nbgrader(["release_feedback", LESSON], instructor, "teacher")
    for student in work:
        feedback = instructor / "feedback" / student / LESSON / f"{LESSON}.html"
        assert feedback.exists() and "test_fit_line" in feedback.read_text()
    nbgrader(["fetch_feedback", LESSON, "--student", "ada"], tmp_path / "ada", "ada")
    assert list((tmp_path / "ada" / LESSON / "feedback").rglob("*.html")), "the student receives the feedback"

    nbgrader(["export", "--to", str(tmp_path / "grades.csv")], instructor, "teacher")
    with open(tmp_path / "grades.csv") as fh:
        rows = {r["student_id"]: r for r in csv.DictReader(fh)}
    scores = {s: float(rows[s]["score"]) for s in work}
    assert scores == {"ada": 10.0, "bob": 0.0, "cyd": 5.0}, scores       # ada: 8 autograded + 2 from the grader
    assert all(float(rows[s]["max_score"]) == 10.0 for s in work)
