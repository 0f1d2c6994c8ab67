"""A lesson's web page, made from an executed run of its solution without giving the exercises away.

The executed solution has everything the page should show (figures, printed metrics, animations) and
two things it must not: the solutions and the hidden tests. So every cell that nbgrader grades or marks
as a solution is matched, by its ``grade_id``, with the same cell of the student's lesson in
``lessons/`` (what nbgrader's release made of it: the stub ``# YOUR CODE HERE`` for a solution, only the
visible asserts for a test) and takes that cell's source, with no outputs: a solution cell's output was
computed by the solution, a test cell's could quote a hidden test. :func:`leaks` checks the result
against the solution's own source, and the site test runs it on every page.
"""
from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import nbformat

from ..grading.lessons import CourseError
from . import widgets

HIDDEN = ("### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")
SOLUTION_MARKS = ("### BEGIN SOLUTION", "### END SOLUTION")
# what lecturelib.describe_device prints, which every lesson's first code cell shows
DEVICE_LINE = re.compile(r"^(?:computing on:\s*)?((?:cuda|mps|cpu) \(.*\))\s*$", flags=re.M)
SMALL_BUDGET = "small-budget run"


# matplotlib's JavaScript animations (plotting.animate) style their buttons with Font Awesome from a CDN;
# offline, the buttons get plain symbols instead
REMOTE_CSS = re.compile(r'<link rel="stylesheet"\s+href="https?://[^"]*font-awesome[^"]*">')
ICON = re.compile(r'<i class="fa fa-([a-z-]+)( fa-flip-horizontal)?"></i>')
SYMBOLS = {"play": "\u25b6", "pause": "\u275a\u275a", "step-forward": "\u25b6\u2759", "step-backward": "\u2759\u25c0",
           "fast-forward": "\u23ed", "fast-backward": "\u23ee", "plus": "+", "minus": "\u2212"}


class PageError(CourseError):
    """The executed notebook and the lesson cannot make a page (named in the message)."""


def _grade_id(cell) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def solution_fragments(solution_nb) -> list[str]:
    """What each solution cell holds between the markers (code, or a written answer's model answer and
    rubric), one string per cell, stripped."""
    fragments = []
    for cell in solution_nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if not meta.get("solution"):
            continue
        found = re.findall(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", cell.source, flags=re.S)
        fragments.extend(f.strip() for f in found if f.strip())
    return fragments


def provenance(executed_nb) -> dict:
    """When the run ended, on what device it computed, and whether it ran at the full budget."""
    stamps = [c.metadata.get("execution", {}).get("shell.execute_reply") for c in executed_nb.cells]
    stamps = [s for s in stamps if s]
    when = max(stamps) if stamps else None
    device = None
    text = []
    for cell in executed_nb.cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                text.append(out.get("text", ""))
    joined = "".join(text)
    found = DEVICE_LINE.search(joined)
    if found:
        device = found.group(1).strip()
    return {"when": when, "device": device, "small_budget": SMALL_BUDGET in joined}


def offline_html(text: str) -> str:
    """``text`` without its Font Awesome stylesheet link, icons replaced by symbols."""
    def symbol(m):
        return "\u25c0" if m.group(1) == "play" and m.group(2) else SYMBOLS.get(m.group(1), m.group(1))

    return ICON.sub(symbol, REMOTE_CSS.sub("", text))


def _offline_outputs(page) -> None:
    for cell in page.cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if "text/html" in data:
                html = data["text/html"]
                data["text/html"] = offline_html("".join(html) if isinstance(html, list) else html)


def _provenance_cell(info: dict, lesson: str, lab_url: str):
    when = "at an unrecorded time"
    if info["when"]:
        stamp = dt.datetime.fromisoformat(info["when"].replace("Z", "+00:00"))
        when = stamp.strftime("on %Y-%m-%d at %H:%M UTC")
    device = info["device"] or "an unrecorded device"
    budget = ("**small-budget** run (COURSE_BUDGET=small: short training, figures not checked against their "
              "targets)" if info["small_budget"] else "full-budget run, every printed target checked")
    path = f"lessons/{lesson}/{lesson}.ipynb"
    text = (f"```{{admonition}} About this page\n:class: note\n"
            f"The figures and numbers below were measured {when} on **{device}**, in a {budget}, by "
            f"executing the lesson's solution. The exercises show the student's starting point, not their "
            f"solutions; widgets are pictures of their last state.\n\n"
            f"To run it yourself, open [`{path}`]({lab_url}{path}) in JupyterLab (`make lab`).\n```")
    return nbformat.v4.new_markdown_cell(text, id=f"course-site-{lesson[:2]}")


def lesson_page(executed_nb, lesson_nb, *, lesson: str, lab_url: str = "http://127.0.0.1:8888/lab/tree/"):
    """The page's notebook: ``executed_nb`` with ``lesson_nb``'s exercises, outputs kept elsewhere."""
    page = nbformat.from_dict(executed_nb)   # a deep copy: the executed notebook is left as it was
    student = {_grade_id(c): c for c in lesson_nb.cells if _grade_id(c)}
    for cell in page.cells:
        gid = _grade_id(cell)
        meta = cell.metadata.get("nbgrader", {})
        if not gid or not (meta.get("solution") or meta.get("grade")):
            continue
        if gid not in student:
            raise PageError(f"{lesson}: cell {gid!r} of the executed solution is not in the lesson; "
                            f"run `course release {lesson}` and `make test` again")
        cell.source = student[gid].source
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    for cell in page.cells:
        if cell.cell_type == "code":   # the grader's bookkeeping is no reader's business
            cell.metadata.pop("nbgrader", None)
    widgets.freeze_views(page)
    _offline_outputs(page)
    info = provenance(executed_nb)
    title = next((k for k, c in enumerate(page.cells) if c.cell_type == "markdown"), 0)
    page.cells.insert(title + 1, _provenance_cell(info, lesson, lab_url))
    page.metadata.pop("nbgrader", None)
    problems = leaks(page)
    if problems:
        raise PageError(f"{lesson}: the page would show {problems[0]}")
    return page


def leaks(page, solution_nb=None, lesson_nb=None) -> list[str]:
    """What of the solution a page shows: hidden-test blocks, solution markers, solution code lines.

    A solution line counts when it is at least 12 characters long and appears nowhere in the student's
    lesson (``return x`` may be in both; ``return x - x.mean(0)`` is the answer).
    """
    everything = []
    for cell in page.cells:
        everything.append(cell.source)
        for out in cell.get("outputs", []):
            everything.append(str(out.get("text", "")) + str(out.get("data", {}).get("text/plain", "")))
    text = "\n".join(everything)
    found = [f"the marker {mark!r}" for mark in HIDDEN + SOLUTION_MARKS if mark in text]
    if solution_nb is not None and lesson_nb is not None:
        student = "\n".join(c.source for c in lesson_nb.cells)
        for line in solution_lines(solution_nb):
            if line not in student and line in text:
                found.append(f"solution code {line!r}")
    return found


def solution_lines(solution_nb) -> list[str]:
    """The distinct lines (stripped, 12 characters or more) of every solution region."""
    lines = {line.strip() for fragment in solution_fragments(solution_nb) for line in fragment.splitlines()}
    return sorted(line for line in lines if len(line) >= 12)


def write_page(executed: Path, lesson_notebook: Path, dest: Path, *, lesson: str, lab_url: str) -> dict:
    """Read, transform, write; returns the provenance shown on the page."""
    executed_nb = nbformat.read(executed, as_version=4)
    page = lesson_page(executed_nb, nbformat.read(lesson_notebook, as_version=4), lesson=lesson, lab_url=lab_url)
    dest.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(page, dest)
    return provenance(executed_nb)
