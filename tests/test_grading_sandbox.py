"""Attacks on the grader, each a real lesson-00 submission in a class graded by `course autograde --jobs 2`.

Each attack sits in an extra cell of an otherwise correct solution; the attack cell prints what it got.
The sandbox must stop each one, the attacker's exercises are still graded, and the honest students'
grades come out as without the attackers. Skipped, with one line, where bubblewrap cannot run.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from conftest import ROOT, cell_by_grade_id
from lecturelib.grading import sandbox

LESSON = "00_getting_started"
OK, WHY = sandbox.availability()
needs_sandbox = pytest.mark.skipif(not OK, reason=f"no sandbox here: {WHY}")


def nbgrader(args, cwd):
    env = {**os.environ, "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"]}
    proc = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, f"nbgrader {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


def make_class(root: Path, submissions: dict, timeout: int = 60) -> Path:
    """An nbgrader course at root with one submitted notebook per student (name -> edit(nb))."""
    course = root / "instructor"
    shutil.copytree(ROOT / "solutions" / LESSON, course / "solutions" / LESSON)
    (course / "nbgrader_config.py").write_text((ROOT / "nbgrader_config.py").read_text() +
                                               f"\nc.CourseDirectory.root = {str(course)!r}\nc.Execute.timeout = {timeout}\n")
    nbgrader(["generate_assignment", LESSON, "--force"], course)
    for student, edit in submissions.items():
        nbgrader(["db", "student", "add", student], course)
        nb = nbformat.read(ROOT / "solutions" / LESSON / f"{LESSON}.ipynb", as_version=4)
        edit(nb)
        dest = course / "submitted" / student / LESSON / f"{LESSON}.ipynb"
        dest.parent.mkdir(parents=True)
        nbformat.write(nb, dest)
    return course


def scores(course: Path) -> dict[str, float]:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        return {s.id: gb.find_submission(LESSON, s.id).score for s in gb.students}


def attack_cell(code: str):
    def edit(nb):
        nb.cells.insert(3, nbformat.v4.new_code_cell(code))
    return edit


def only(*solved):
    """The blank lesson with these exercises solved."""
    def edit(nb):
        blank = nbformat.read(ROOT / "lessons" / LESSON / f"{LESSON}.ipynb", as_version=4)
        for gid in ("standardize", "pairwise_sq_distances", "fit_line", "quiz_grading"):
            if gid not in solved:
                cell_by_grade_id(nb, gid).source = cell_by_grade_id(blank, gid).source
    return edit


def report(what: str, code: str) -> str:
    return f"try:\n{code}\n    print('ATTACK SUCCEEDED: {what}')\nexcept BaseException as e:\n" \
           f"    print('ATTACK STOPPED: {what}:', type(e).__name__, e)\n"


def test_without_the_sandbox_grading_works_and_says_so(monkeypatch, tmp_path):
    """COURSE_SANDBOX=off stands for a machine without bubblewrap: same grades, a plain UNSANDBOXED note,
    and the tamper checks still on."""
    from conftest import edit_notebook
    from lecturelib.grading.autograde import grade
    from lecturelib.grading.lessons import find_course

    monkeypatch.setenv("COURSE_SANDBOX", "off")
    sandbox.availability.cache_clear()
    course = find_course(ROOT)

    def tamper(nb):
        cell_by_grade_id(nb, "quiz_grading").source = "import math\nmath.isclose = lambda *a, **k: True\nanswer = 'b'"
    report = grade(course, LESSON, edit_notebook(course.source_notebook(LESSON), tmp_path / "x.ipynb", tamper))
    assert report.score == report.max_score - 1, report.table()
    assert any(n.startswith("UNSANDBOXED: COURSE_SANDBOX=off") for n in report.notes), report.notes
    assert any("replaces math.isclose" in n for n in report.notes), report.notes


@needs_sandbox
def test_attacks_are_stopped_and_other_grades_unchanged(tmp_path):
    course_dir = tmp_path / "instructor"
    solutions = course_dir / "solutions" / LESSON / f"{LESSON}.ipynb"
    gradebook = course_dir / "gradebook.db"
    other = course_dir / "submitted" / "ada" / LESSON / f"{LESSON}.ipynb"
    attacks = {
        "read_solutions": report("read the hidden tests", f"    print(open({str(solutions)!r}).read()[:100])"),
        "write_gradebook": report("write the gradebook", f"    open({str(gradebook)!r}, 'r+b').write(b'x')"),
        "read_other": report("read another submission", f"    print(open({str(other)!r}).read()[:100])"),
        "socket": report("open a socket", "    import socket\n    socket.create_connection(('1.1.1.1', 80), timeout=5)"),
        "fork_bomb": report("fork bomb", "    import os\n    while True:\n        os.fork()"),
        "memory": report("allocate 64 GiB", "    block = bytearray(64 << 30)"),
        "sleep": "import time\ntime.sleep(10 ** 9)",
    }
    honest = {"ada": lambda nb: None, "bob": only("standardize"), "cyd": only()}
    course = make_class(tmp_path, {**honest, **{k: attack_cell(v) for k, v in attacks.items()}}, timeout=20)
    proc = subprocess.run([sys.executable, "-m", "lecturelib.cli", "autograde", LESSON, "--jobs", "2",
                           "--course-dir", str(course)], capture_output=True, text=True, timeout=1200,
                          env={**os.environ, "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"],
                               "COURSE_METRICS_FILE": str(tmp_path / "out" / "metrics.jsonl")})
    print(proc.stdout, proc.stderr)
    assert "sandboxed: bubblewrap" in proc.stdout, proc.stdout + proc.stderr
    got = scores(course)
    assert (got["ada"], got["bob"], got["cyd"]) == (8, 2, 0), got
    for name in attacks:   # every attacker's own solutions still graded: the attack cell is ungraded
        assert got[name] == 8, (name, got)
    for name in attacks:
        nb = nbformat.read(course / "autograded" / name / LESSON / f"{LESSON}.ipynb", as_version=4)
        text = "".join(o.get("text", "") + o.get("ename", "") + o.get("evalue", "") for o in nb.cells[3].outputs)
        print(f"{name}: {text.strip()[:200]}")
        assert "ATTACK SUCCEEDED" not in text, (name, text)
        assert "ATTACK STOPPED" in text or (name == "sleep" and "CellTimeoutError" in text), (name, text)
        if name == "fork_bomb":
            assert "the sandbox stopped" in text, text
    assert scores(course)["ada"] == 8 and gradebook.stat().st_size > 0
    # the one file a sandboxed notebook may write outside: its measured figures (the notebook tests read it)
    rows = (tmp_path / "out" / "metrics.jsonl").read_text().splitlines()
    assert len(rows) >= len(honest), rows


def test_the_kernel_can_read_a_linked_site_packages_and_its_libpython(tmp_path, monkeypatch):
    """The hub's shared Python (classroom/shared_python.py) links site-packages out of its prefix and
    finds libpython through LD_LIBRARY_PATH: both must be mounted in the sandbox, or the kernel dies."""
    import site

    outside = tmp_path / "venv" / "site-packages"
    outside.mkdir(parents=True)
    (tmp_path / "prefix").mkdir()
    (tmp_path / "prefix" / "site-packages").symlink_to(outside)
    monkeypatch.setattr(site, "getsitepackages", lambda: [str(tmp_path / "prefix" / "site-packages")])
    assert outside.resolve() in sandbox._ro_paths()
    libs = tmp_path / "lib"
    libs.mkdir()
    assert sandbox._library_dirs(f"{libs}{os.pathsep}{tmp_path / 'missing'}{os.pathsep}") == [libs.resolve()]
    assert "LD_LIBRARY_PATH" in sandbox.PASSED_ENV
