"""Autograde a whole collected assignment in parallel sandboxes, with one writer for the gradebook.

``course autograde 00 --jobs N``, run in an nbgrader course folder (``submitted/<student>/<assignment>/``):

1. **run, in parallel**: each submission is autograded by nbgrader in a private copy of the course
   (the assignment's source, a copy of the gradebook, that one submission), so the kernels run side by
   side, each in its own sandbox (:mod:`.sandbox`), and no two processes write one SQLite file;
2. **record, serially**: one ``nbgrader autograde`` in the real course replays each executed notebook's
   outputs (:class:`ReplayExecute` instead of executing again), so nbgrader itself writes the gradebook,
   the autograded notebooks and the late penalties, once per submission, one after the other.

A submission whose private run failed (the kernel died, nbgrader stopped) is recorded with every test
cell failed and a note, never with the points of an empty, error-free output.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
from traitlets import Unicode

from nbgrader.preprocessors import NbGraderPreprocessor

from .execute import AUTOGRADE_PREPROCESSORS, GradingExecute
from .lessons import CourseError
from .nbgrader_run import last_error_line, nbgrader_env

# nbgrader autograde in the real course, with the executor replaced (command-line config would not
# reach a list of classes reliably, so the merge happens after nbgrader has read the course's config)
RECORD = """\
import json, sys
from traitlets.config import Config
from nbgrader.apps.autogradeapp import AutogradeApp
settings = json.loads(sys.argv[1])
app = AutogradeApp.instance()
app.initialize([settings["assignment"], "--force"])
app.config.merge(Config(settings["config"]))
app.start()
"""


class ReplayExecute(NbGraderPreprocessor):
    """Takes each code cell's outputs from the notebook executed in the parallel phase."""

    executed_root = Unicode("", help="folder holding <student>/<notebook>.ipynb from the parallel run").tag(config=True)

    def preprocess(self, nb, resources=None, km=None):
        student = resources["nbgrader"]["student"]
        name = resources["nbgrader"]["notebook"]
        path = Path(self.executed_root) / student / f"{name}.ipynb"
        executed = nbformat.read(path, as_version=4) if path.exists() else None
        done = {c.get("id"): c for c in executed.cells} if executed is not None else {}
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            ran = done.get(cell.get("id"))
            if ran is not None and ran.source == cell.source:
                cell.outputs, cell.execution_count = ran.outputs, ran.get("execution_count")
            elif cell.get("metadata", {}).get("nbgrader", {}).get("grade"):
                why = "the sandboxed run of this submission did not finish" if executed is None else \
                      "this cell was not in the sandboxed run"
                cell.outputs = [nbformat.v4.new_output("error", ename="NotGraded", evalue=why, traceback=[why])]
        return nb, resources


def _config_lines(course_root: Path) -> str:
    cfg = course_root / "nbgrader_config.py"
    return cfg.read_text() if cfg.exists() else "c = get_config()\n"


def _run_one(course_root: Path, assignment: str, student: str, source_dir: str, work: Path,
             timeout: float, threads: int = 0) -> tuple[str, float, str]:
    """nbgrader autograde of one submission in a private course copy; returns (student, seconds, error)."""
    root = work / student
    shutil.copytree(course_root / source_dir / assignment, root / source_dir / assignment)
    shutil.copytree(course_root / "submitted" / student / assignment, root / "submitted" / student / assignment)
    shutil.copyfile(course_root / "gradebook.db", root / "gradebook.db")
    (root / "nbgrader_config.py").write_text(_config_lines(course_root) + f"\nc.CourseDirectory.root = {str(root)!r}\n")
    # N kernels side by side: each gets its share of the cores, else torch's threads fight over them
    env = {**nbgrader_env(), "OMP_NUM_THREADS": str(threads)} if threads else nbgrader_env()
    start = time.perf_counter()
    cmd = [sys.executable, "-m", "nbgrader", "autograde", assignment, "--student", student, "--force",
           f"--CourseDirectory.root={root}", f"--CourseDirectory.db_url=sqlite:///{root / 'gradebook.db'}"]
    try:
        proc = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=timeout)
        error = "" if proc.returncode == 0 else _why(proc.stderr) or last_error_line(proc)
    except subprocess.TimeoutExpired:
        error = f"did not finish within {timeout:.0f} s"
    return student, time.perf_counter() - start, error


def _why(stderr: str) -> str:
    """nbgrader's own last line only says 'see the traceback above': name the cause instead."""
    low = stderr.lower()
    if "deadkernel" in low or "kernel died" in low:
        return "the kernel died while the notebook ran (a crash, os._exit or running out of memory)"
    if "timeout waiting for iopub output" in low:
        return "the kernel stopped answering after a cell (it may have been flooded by processes or output)"
    return ""


def autograde_all(course_root: Path, assignment: str, *, jobs: int = 2, timeout: float = 3600, log=print) -> dict:
    """Grade every submission of ``assignment``; returns the timings and each failed student's error."""
    course_root = Path(course_root).resolve()
    source_dir = _source_directory(course_root)
    if not (course_root / source_dir / assignment).is_dir() and (course_root / source_dir).is_dir():
        named = [p.name for p in (course_root / source_dir).iterdir() if p.is_dir() and assignment.isdigit()
                 and p.name.split("_", 1)[0] == f"{int(assignment):02d}"]
        assignment = named[0] if len(named) == 1 else assignment    # `course autograde 00`
    if not (course_root / "gradebook.db").exists() or not (course_root / source_dir / assignment).is_dir():
        raise CourseError(f"{course_root} is not an nbgrader course with assignment {assignment!r} "
                          f"(run nbgrader generate_assignment {assignment} there first)")
    submitted = course_root / "submitted"
    students = sorted(p.parent.name for p in submitted.glob(f"*/{assignment}") if p.is_dir())
    if not students:
        raise CourseError(f"no submissions of {assignment!r} in {submitted} (run nbgrader collect first)")
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="course-autograde-") as tmp:
        work = Path(tmp)
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            threads = 0 if "OMP_NUM_THREADS" in os.environ else max(1, (os.cpu_count() or 1) // max(1, jobs))
            runs = list(pool.map(lambda s: _run_one(course_root, assignment, s, source_dir, work, timeout, threads),
                                 students))
        for student, seconds, error in runs:
            log(f"  {student}: ran in {seconds:.0f} s" + (f" (failed: {error})" if error else ""))
        executed = work / "_executed"
        for student in students:
            out = work / student / "autograded" / student / assignment
            for nb in out.glob("*.ipynb") if out.is_dir() else []:
                (executed / student).mkdir(parents=True, exist_ok=True)
                shutil.copyfile(nb, executed / student / nb.name)
        parallel = time.perf_counter() - start
        replay = [p for p in AUTOGRADE_PREPROCESSORS if p is not GradingExecute]
        settings = {"assignment": assignment, "config": {
            "Autograde": {"autograde_preprocessors":
                          ["lecturelib.grading.batch.ReplayExecute"] + [f"{p.__module__}.{p.__name__}" for p in replay]},
            "ReplayExecute": {"executed_root": str(executed)}}}
        proc = subprocess.run([sys.executable, "-c", RECORD, json.dumps(settings)], cwd=course_root,
                              env=nbgrader_env(), capture_output=True, text=True)
        if proc.returncode != 0:
            raise CourseError(f"nbgrader could not record the grades: {last_error_line(proc)}")
    total = time.perf_counter() - start
    return {"assignment": assignment, "students": len(students), "jobs": jobs, "seconds": round(total, 1), "parallel_seconds": round(parallel, 1),
            "per_minute": round(60 * len(students) / total, 2), "errors": {s: e for s, _, e in runs if e}}


def _source_directory(course_root: Path) -> str:
    """The course's source folder name as its nbgrader_config.py sets it (``source`` by default)."""
    probe = ("from traitlets.config import Config\nc = Config()\n"
             "exec(open('nbgrader_config.py').read(), {'get_config': lambda: c})\n"
             "print(c.CourseDirectory.get('source_directory', 'source'))")
    if not (course_root / "nbgrader_config.py").exists():
        return "source"
    out = subprocess.run([sys.executable, "-c", probe], cwd=course_root, env={**os.environ, **nbgrader_env()},
                         capture_output=True, text=True)
    return (out.stdout.strip().splitlines() or ["source"])[-1]
