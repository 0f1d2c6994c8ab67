"""`course stats`: per exercise, how many students scored full, partial and zero marks, from a real nbgrader
gradebook (auto and manual grades), written as CSV and PNG; bad input gives one line and exit code 2."""
from __future__ import annotations

import csv

from nbgrader.api import Gradebook

from lecturelib.cli import main
from lecturelib.grading.stats import exercise_stats


def _gradebook(path):
    """Five students, two exercises; dan never submitted, eve is not graded yet."""
    with Gradebook(f"sqlite:///{path}") as gb:
        gb.add_assignment("00_demo")
        gb.add_notebook("00_demo", "00_demo")
        gb.add_grade_cell("test_easy", "00_demo", "00_demo", max_score=2, cell_type="code")
        gb.add_grade_cell("test_hard", "00_demo", "00_demo", max_score=3, cell_type="code")
        for student in ("ada", "bob", "cyd", "dan"):
            gb.add_student(student)
        scores = {"ada": (2, 3), "bob": (2, 0), "cyd": (0, 0)}
        for student, (easy, hard) in scores.items():
            gb.add_submission("00_demo", student)
            for cell, score in (("test_easy", easy), ("test_hard", hard)):
                grade = gb.find_grade(cell, "00_demo", "00_demo", student)
                grade.auto_score, grade.needs_manual_grade = score, False     # as autograde leaves it
            gb.db.commit()
        # the instructor gives cyd 1 of 3 by hand on the hard one: a partial score
        grade = gb.find_grade("test_hard", "00_demo", "00_demo", "cyd")
        grade.manual_score = 1
        gb.db.commit()
        # eve submitted but is not graded yet (grades waiting for the grader are not counted as zero)
        gb.add_student("eve")
        gb.add_submission("00_demo", "eve")


def test_counts_per_exercise(tmp_path):
    _gradebook(tmp_path / "gradebook.db")
    rows = {r.exercise: r for r in exercise_stats(tmp_path / "gradebook.db", "00_demo")}
    assert (rows["test_easy"].full, rows["test_easy"].partial, rows["test_easy"].zero) == (2, 0, 1)
    assert (rows["test_hard"].full, rows["test_hard"].partial, rows["test_hard"].zero) == (1, 1, 1)
    assert rows["test_easy"].ungraded == rows["test_hard"].ungraded == 2      # dan and eve
    assert abs(rows["test_hard"].mean - 4 / 3) < 1e-3


def test_cli_writes_csv_and_plot(tmp_path, monkeypatch, capsys):
    _gradebook(tmp_path / "gradebook.db")
    monkeypatch.chdir(tmp_path)
    assert main(["stats", "00_demo"]) == 0
    out = capsys.readouterr().out
    assert "hardest for the class: test_hard" in out
    with open(tmp_path / "stats" / "00_demo_stats.csv") as fh:
        table = list(csv.DictReader(fh))
    assert [(r["exercise"], r["full"], r["partial"], r["zero"]) for r in table] == [
        ("test_easy", "2", "0", "1"), ("test_hard", "1", "1", "1")]
    png = (tmp_path / "stats" / "00_demo_stats.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000


def test_bad_input_is_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["stats", "00_demo"]) == 2
    assert "no gradebook" in capsys.readouterr().err
    _gradebook(tmp_path / "gradebook.db")
    assert main(["stats", "99_nothing"]) == 2
    err = capsys.readouterr().err.strip()
    assert "has no assignment '99_nothing'" in err and "00_demo" in err and len(err.splitlines()) == 1
