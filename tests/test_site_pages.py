"""The website's pages, without executing anything: a lesson page hides the solutions and the hidden
tests and keeps every other output; widgets become pictures of their state; the home page carries the
course map, the quick start and each lesson's objectives. (tests/test_site.py builds the real site.)"""
from __future__ import annotations

import base64
import json

import nbformat
import pytest

from conftest import ROOT
from lecturelib.grading.lessons import find_course
from lecturelib.website import home, pages, widgets

COURSE = find_course(ROOT)


def fake_execution(lesson: str):
    """The solution as if executed: every code cell prints its own source (so a kept solution output
    would leak the solution), the first prints the device line, the run ended at a known time."""
    nb = nbformat.read(COURSE.source_notebook(lesson), as_version=4)
    first = True
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        text = ("computing on: cpu (2 threads)\n" if first else "") + cell.source
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=text)]
        cell.metadata["execution"] = {"shell.execute_reply": "2026-01-02T03:04:05.000Z"}
        first = False
    return nb


@pytest.mark.parametrize("lesson", ["00_getting_started", "02_meta_learning"])
def test_page_shows_stubs_and_keeps_other_outputs(lesson):
    executed = fake_execution(lesson)
    student = nbformat.read(COURSE.lesson_notebook(lesson), as_version=4)
    page = pages.lesson_page(executed, student, lesson=lesson)
    assert pages.solution_lines(executed), "the solution has solution code to hide"
    assert pages.leaks(page, executed, student) == []
    by_id = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in student.cells}
    shown = [c for c in page.cells if c.cell_type == "code" and "YOUR CODE HERE" in c.source]
    solutions = [c for c in executed.cells if c.metadata.get("nbgrader", {}).get("solution")]
    assert len(shown) == sum(1 for c in solutions if c.cell_type == "code")
    written = [c for c in page.cells if c.cell_type == "markdown" and "YOUR ANSWER HERE" in c.source]
    assert len(written) == sum(1 for c in solutions if c.cell_type == "markdown") == 1, "the written answer's stub"
    assert not any("Rubric" in c.source or "Model answer" in c.source for c in page.cells)
    assert all(not c.get("outputs") for c in shown)
    kept = [c for c in page.cells if c.cell_type == "code" and c.outputs]
    assert kept and all(c.outputs[0]["text"].endswith(c.source) for c in kept[1:])
    assert any(c.source == by_id[k].source for k in by_id if k for c in page.cells)
    note = page.cells[1].source
    assert "cpu (2 threads)" in note and "2026-01-02 at 03:04 UTC" in note and "full-budget" in note
    assert f"lessons/{lesson}/{lesson}.ipynb" in note


def test_leaks_finds_solution_code_and_hidden_tests():
    lesson = "00_getting_started"
    executed = fake_execution(lesson)
    student = nbformat.read(COURSE.lesson_notebook(lesson), as_version=4)
    assert pages.leaks(executed, executed, student), "the executed solution itself leaks"
    page = pages.lesson_page(executed, student, lesson=lesson)
    page.cells.append(nbformat.v4.new_code_cell(pages.solution_lines(executed)[0]))
    assert any("solution code" in p for p in pages.leaks(page, executed, student))


def test_a_lesson_out_of_step_with_the_solution_is_refused():
    lesson = "00_getting_started"
    student = nbformat.read(COURSE.lesson_notebook(lesson), as_version=4)
    student.cells = [c for c in student.cells if not c.metadata.get("nbgrader", {}).get("solution")]
    with pytest.raises(pages.PageError, match="course release"):
        pages.lesson_page(fake_execution(lesson), student, lesson=lesson)


def test_widgets_become_pictures_of_their_state():
    png = base64.b64encode(b"\x89PNG fake").decode()
    state = {"box": {"model_name": "VBoxModel", "state": {"children": ["IPY_MODEL_img", "IPY_MODEL_txt",
                                                                       "IPY_MODEL_bar", "IPY_MODEL_ok"]}},
             "img": {"model_name": "ImageModel", "state": {"format": "png", "width": "120"},
                     "buffers": [{"path": ["value"], "data": png, "encoding": "base64"}]},
             "txt": {"model_name": "HTMLModel", "state": {"value": "<b>reward 0.75</b>"}},
             "bar": {"model_name": "FloatProgressModel", "state": {"value": 3, "min": 0, "max": 4}},
             "ok": {"model_name": "ButtonModel", "state": {"description": "Step"}}}
    nb = nbformat.v4.new_notebook()
    nb.metadata["widgets"] = {widgets.STATE: {"state": state, "version_major": 2, "version_minor": 0}}
    cell = nbformat.v4.new_code_cell("ui")
    cell.outputs = [nbformat.v4.new_output("display_data", data={widgets.VIEW: {"model_id": "box"},
                                                                 "text/plain": "VBox(...)"}),
                    nbformat.v4.new_output("display_data", data={widgets.VIEW: {"model_id": "gone"}})]
    nb.cells.append(cell)
    assert widgets.freeze_views(nb) == 2
    first, second = (o["data"]["text/html"] for o in cell.outputs)
    assert f"data:image/png;base64,{png}" in first and "<b>reward 0.75</b>" in first
    assert 'value="0.750"' in first and "Step</button>" in first
    assert "open the notebook" in second
    assert all(widgets.VIEW not in o["data"] for o in cell.outputs) and "widgets" not in nb.metadata


def test_home_page_has_map_quick_start_and_objectives():
    readme = (ROOT / "README.md").read_text()
    lessons = {l: nbformat.read(COURSE.lesson_notebook(l), as_version=4) for l in COURSE.lesson_ids()}
    text = home.home_page(readme, lessons, {})
    assert "make lab" in text and "make test" in text
    for lesson, nb in lessons.items():
        assert f"](lessons/{lesson}.ipynb)" in text, lesson
        assert home.objectives(nb), f"{lesson} states no objectives ('**In this lesson you will**' list)"
        assert home.objectives(nb) in text
    _, slides = home.course_map(readme, list(lessons))
    assert set(slides) == set(lessons) and "MAML" in slides["02_meta_learning"]
    assert "benchmarks/RESULTS.md" not in text, "links to repository files are not on the site"
    assert json.dumps(text)   # plain text


def test_leaks_finds_a_written_answers_model_answer():
    lesson = "00_getting_started"
    executed = fake_execution(lesson)
    student = nbformat.read(COURSE.lesson_notebook(lesson), as_version=4)
    page = pages.lesson_page(executed, student, lesson=lesson)
    written = next(c for c in executed.cells if c.cell_type == "markdown"
                   and c.metadata.get("nbgrader", {}).get("solution"))
    answer = next(l.strip() for l in written.source.splitlines() if len(l.strip()) >= 12 and "###" not in l)
    assert pages.leaks(page, executed, student) == []
    page.cells.append(nbformat.v4.new_markdown_cell(answer))
    assert any("solution code" in p for p in pages.leaks(page, executed, student))
