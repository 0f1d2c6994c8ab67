"""Every lesson, through the same checks.

* the solution notebook is well formed (nbgrader metadata, no outputs, exercise -> test pairs);
* lessons/ is exactly what nbgrader generates from solutions/;
* the solution, autograded by nbgrader, earns full marks, runs without a single error (its experiment
  cells assert their metrics with `target`), within the 5-minute budget: one execution serves all three;
* the blank lesson earns 0 points: no graded test passes on an unsolved exercise (graded in
  small-budget mode, COURSE_BUDGET=small, where no metric is asserted).
"""
from __future__ import annotations

import json
import os
import re

import nbformat
import pytest

from conftest import ARTIFACTS, ROOT, save_artifact
from lecturelib.grading.autograde import grade
from lecturelib.grading.lessons import find_course
from lecturelib.grading.release import release

COURSE = find_course(ROOT)
LESSONS = COURSE.lesson_ids()
BUDGET_SECONDS = 300
DESIGN_IDS = ["00_getting_started", "01_transfer_and_multitask", "02_meta_learning", "03_goal_conditioned_rl",
              "04_meta_rl", "05_transformers", "06_in_context_learning", "07_language_conditioned_policies",
              "08_embodied_multimodal_lm"]


def test_lessons_exist_with_design_ids():
    assert LESSONS, "no lessons found in solutions/"
    assert set(LESSONS) <= set(DESIGN_IDS), f"unexpected lesson ids: {set(LESSONS) - set(DESIGN_IDS)}"
    assert "00_getting_started" in LESSONS


@pytest.mark.parametrize("lesson", LESSONS)
def test_solution_is_well_formed(lesson):
    nb = nbformat.read(COURSE.source_notebook(lesson), as_version=4)
    nbformat.validate(nb)
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3"
    assert nb.cells[0].cell_type == "markdown" and re.match(rf"# Lesson {lesson[:2]} ", nb.cells[0].source), \
        "the first cell is the title '# Lesson NN · ...'"
    assert all(c.get("id") for c in nb.cells), "every cell needs a stable id (nbformat 4.5)"
    assert not [c for c in nb.cells if c.cell_type == "code" and (c.outputs or c.execution_count)], \
        "commit notebooks without outputs"
    ids, previous = set(), None
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader")
        if not meta:
            continue
        gid = meta["grade_id"]
        assert gid not in ids, f"duplicate grade_id {gid}"
        ids.add(gid)
        if meta.get("solution") and meta.get("grade"):    # a written answer, graded by a person
            assert cell.cell_type == "markdown" and gid.startswith("written_") and not meta.get("locked"), gid
            assert meta.get("points", 0) > 0 and "### BEGIN SOLUTION" in cell.source, gid
            previous = None
            continue
        if meta.get("solution"):
            assert "### BEGIN SOLUTION" in cell.source and "### END SOLUTION" in cell.source, gid
            assert not meta.get("grade"), f"{gid}: solution cells are not graded themselves (a test cell follows)"
        if meta.get("grade"):
            assert meta.get("locked") and meta.get("points", 0) > 0, f"{gid}: test cells are locked and have points"
            assert gid.startswith("test_"), f"{gid}: test cell ids start with test_"
            assert previous is not None and gid == "test_" + previous, \
                f"{gid} should directly follow its solution cell {gid[5:]!r}"
        previous = gid if meta.get("solution") else None
    assert any(c.metadata.get("nbgrader", {}).get("grade") for c in nb.cells), "a lesson has graded exercises"
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "target(" in code, "experiments print their measured figures with lecturelib.experiment.target"
    assert "plotting." in code, "experiments draw with lecturelib.plotting"
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert "References" in text and "Summary" in text, "every lesson ends with a summary and references"


def test_lessons_in_sync_with_solutions():
    release(COURSE, LESSONS, check=True)   # raises CourseError, naming the lesson, when they differ


@pytest.mark.parametrize("lesson", LESSONS)
def test_blank_lesson_scores_zero(lesson, monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_BUDGET", "small")
    report = grade(COURSE, lesson, COURSE.lesson_notebook(lesson), timeout=300, keep=tmp_path / "blank.ipynb")
    assert report.graded, report.table()
    assert report.results and all(r.max_score > 0 for r in report.results)
    passed = [r.grade_id for r in report.results if r.score > 0]
    assert not passed, f"these tests pass on the blank lesson, so they cannot fail:\n{report.table()}"
    assert not report.waiting, f"an unanswered written question scores 0, it does not wait for a grader:\n{report.table()}"
    save_artifact("blank_lessons.json", {lesson: {"seconds": round(report.seconds, 1), "score": report.score,
                                                   "max_score": report.max_score}})


@pytest.mark.notebook
@pytest.mark.parametrize("lesson", LESSONS)
def test_solution_full_marks_clean_run_within_budget(lesson, monkeypatch):
    """One nbgrader execution of the solution: full marks, no errored cell, metrics met, time within budget."""
    ARTIFACTS.mkdir(exist_ok=True)
    metrics = ARTIFACTS / f"metrics-{lesson}.jsonl"
    metrics.unlink(missing_ok=True)
    monkeypatch.setenv("COURSE_METRICS_FILE", str(metrics))
    monkeypatch.delenv("COURSE_BUDGET", raising=False)
    executed = ARTIFACTS / f"solution-{lesson}.ipynb"
    report = grade(COURSE, lesson, COURSE.source_notebook(lesson), timeout=BUDGET_SECONDS, keep=executed)
    print(report.table())
    assert report.graded, report.table()
    assert report.score == report.max_score, report.table()      # the autograded points; written ones:
    assert all(r.needs_grader for r in report.results if r.written), report.table()   # left to a grader
    nb = nbformat.read(executed, as_version=4)
    errors = [(k, o.get("ename"), o.get("evalue")) for k, c in enumerate(nb.cells) if c.cell_type == "code"
              for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, f"cells raised errors (a missed metric target raises too): {errors}"
    save_artifact("lesson_times.json", {lesson: round(report.seconds, 1)})
    assert report.seconds <= BUDGET_SECONDS, f"{lesson} took {report.seconds:.0f} s (budget {BUDGET_SECONDS} s)"
    if metrics.exists():   # every target() printed in the run was met (and really measured: it is recorded)
        rows = [json.loads(l) for l in metrics.read_text().splitlines() if l.strip()]
        missed = [r for r in rows if r.get("met") is False]
        assert not missed, missed
