"""Build the course website: ``python -m lecturelib.website`` (what `make site` runs).

Where a lesson's executed solution comes from, in this order: the copy `make test`'s notebook tests keep
(``test-artifacts/solution-<lesson>.ipynb``, a full-budget, sandboxed nbgrader run whose targets were
checked) or one this command made before (``build/site/executions/``). A lesson with neither is executed
here, the same way (nbgrader autograde of the solution, about two minutes a lesson on a laptop CPU), and
kept for the next build. So after `make test` the site costs only the rendering (well under a minute).

Exit codes: 0 built, 1 a page could not be made or Sphinx failed, 2 bad input.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat

from ..grading.lessons import CourseError, find_course
from . import home, pages

DEFAULT_LAB_URL = "http://127.0.0.1:8888/lab/tree/"


def executions_for(lesson: str, places: list[Path]) -> Path | None:
    """The saved execution of ``lesson``'s solution in the first of ``places`` that has one."""
    found = [p / f"solution-{lesson}.ipynb" for p in places if (p / f"solution-{lesson}.ipynb").is_file()]
    return found[0] if found else None


def execute(course, lesson: str, dest: Path, *, timeout: int) -> Path:
    """Run the solution as the notebook tests do (nbgrader autograde) and keep the executed copy."""
    from ..grading.autograde import grade

    print(f"site: no saved execution of {lesson}; executing its solution (COURSE_BUDGET="
          f"{os.environ.get('COURSE_BUDGET', 'full')}) ...", flush=True)
    report = grade(course, lesson, course.source_notebook(lesson), timeout=timeout, keep=dest)
    if not dest.exists():
        raise CourseError(f"{lesson}: the solution could not be executed: {'; '.join(report.notes)}")
    if report.score < report.max_score:
        print(f"site: warning: {lesson}'s solution scored {report.score:g}/{report.max_score:g}", flush=True)
    return dest


def mathjax_dir() -> Path:
    try:
        import jupyter_server_mathjax
    except ImportError:
        raise CourseError("the site needs MathJax from the jupyter-server-mathjax package: "
                          "run `make env` (or pip install jupyter-server-mathjax)") from None
    return Path(jupyter_server_mathjax.__file__).parent / "static"


def build(root: Path, out: Path, *, lessons: list[str] | None = None, executions: list[Path] | None = None,
          cache: Path | None = None, lab_url: str = DEFAULT_LAB_URL, timeout: int = 600) -> dict:
    """Write ``out/html`` (lessons executed here are kept in ``cache``); returns {"pages": n, "seconds": s, "provenance": {lesson: ...}, "html": path}."""
    start = time.perf_counter()
    course = find_course(root)
    chosen = lessons or course.lesson_ids()
    unknown = [l for l in chosen if l not in course.lesson_ids()]
    if unknown:
        raise CourseError(f"no such lesson: {', '.join(unknown)} (lessons: {', '.join(course.lesson_ids())})")
    cache = cache or out / "executions"
    places = (executions if executions is not None else [course.root / "test-artifacts"]) + [cache]
    src = out / "src"
    if src.exists():
        shutil.rmtree(src)
    (src / "lessons").mkdir(parents=True)
    info, student = {}, {}
    for lesson in chosen:
        executed = executions_for(lesson, places) or execute(course, lesson, cache / f"solution-{lesson}.ipynb",
                                                               timeout=timeout)
        lesson_nb = course.lesson_notebook(lesson)
        if not lesson_nb.exists():
            raise CourseError(f"{lesson}: {lesson_nb} is missing; run `course release {lesson}`")
        student[lesson] = nbformat.read(lesson_nb, as_version=4)
        info[lesson] = pages.write_page(executed, lesson_nb, src / "lessons" / f"{lesson}.ipynb",
                                        lesson=lesson, lab_url=lab_url)
        print(f"site: {lesson} from {executed.relative_to(course.root) if executed.is_relative_to(course.root) else executed}",
              flush=True)
    readme = (course.root / "README.md").read_text(encoding="utf-8")
    (src / "index.md").write_text(home.home_page(readme, student, info), encoding="utf-8")
    shutil.copy(Path(__file__).with_name("conf.py"), src / "conf.py")
    shutil.copytree(mathjax_dir(), src / "_static" / "mathjax")
    html = out / "html"
    proc = subprocess.run([sys.executable, "-m", "sphinx", "-b", "html", "-q", "-E", str(src), str(html)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise CourseError("Sphinx failed:\n" + (proc.stderr or proc.stdout)[-3000:])
    if proc.stderr.strip():
        print(proc.stderr.strip()[-3000:], file=sys.stderr)
    seconds = time.perf_counter() - start
    return {"pages": len(chosen) + 1, "seconds": round(seconds, 1), "provenance": info,
            "html": str(html / "index.html")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lecturelib.website", description=__doc__.splitlines()[0])
    parser.add_argument("lessons", nargs="*", help="lesson ids or numbers (default: every lesson)")
    parser.add_argument("--out", type=Path, default=None, help="build folder (default: build/site)")
    parser.add_argument("--executions", type=Path, action="append", default=None,
                        help="folder with saved executions solution-<lesson>.ipynb (default: test-artifacts)")
    parser.add_argument("--lab-url", default=DEFAULT_LAB_URL, help="JupyterLab URL the pages link notebooks to")
    args = parser.parse_args(argv)
    try:
        course = find_course()
        lessons = [course.resolve_lesson(name) for name in args.lessons] or None
        out = (args.out or course.root / "build" / "site").resolve()
        result = build(course.root, out, lessons=lessons, executions=args.executions, lab_url=args.lab_url)
    except CourseError as exc:
        print(f"site: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 1
    print(f"site: {result['pages']} pages in {result['seconds']} s: {result['html']}")
    print(f"site: serve it with `python -m http.server -d {Path(result['html']).parent} 8000`")
    return 0
