"""The course website, built for real and read in headless Chromium.

`make site` turns the executed solutions into lesson pages. Those executions are the ones the notebook
tests of tests/test_lessons.py just made (they keep test-artifacts/solution-<lesson>.ipynb), so this
file is marked ``notebook`` too: it runs in the second phase of `make test`, after test_lessons.py
(pytest runs the files in name order), and costs only the rendering, not a second execution. Run on its
own, it executes each lesson that has no saved execution in small-budget mode (quick; the page then says
so).

Every lesson page must show its title, at least one figure, rendered math, no solution code (compared
with the solution cells' source), no hidden test and no error output, and load nothing from the network.
Screenshots of two pages go to test-artifacts/site/. Without Chromium the test is skipped.
"""
from __future__ import annotations

import shutil

import nbformat
import pytest

from conftest import ARTIFACTS, ROOT, save_artifact
from lecturelib.grading.lessons import find_course
from lecturelib.website import build, pages

pytestmark = [pytest.mark.notebook, pytest.mark.browser]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if CHROMIUM is None:
    pytest.skip("the site test needs Debian's chromium on PATH (apt-get install chromium)", allow_module_level=True)

COURSE = find_course(ROOT)
LESSONS = COURSE.lesson_ids()
SHOTS = ARTIFACTS / "site"
# the two screenshots: the pizza puzzle (math and emoji), and lesson 00's first figure
SCREENSHOTS = {"02_meta_learning": "top", "00_getting_started": "figure"}


@pytest.fixture(scope="module")
def site(tmp_path_factory, request):
    places = [ARTIFACTS, ARTIFACTS / "site" / "executions"]
    missing = [lesson for lesson in LESSONS if build.executions_for(lesson, places) is None]
    mp = pytest.MonkeyPatch()
    if missing:   # a standalone run: execute those quickly rather than at full budget
        print(f"no saved execution of {missing}: executing them in small-budget mode")
        mp.setenv("COURSE_BUDGET", "small")
    try:
        result = build.build(ROOT, tmp_path_factory.mktemp("site"), executions=places[:1],
                             cache=places[1])   # kept for the next standalone run
    finally:
        mp.undo()
    save_artifact("site.json", {"pages": result["pages"], "seconds": result["seconds"],
                                "executed_here": missing})
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:   # CI's log says what the site cost
        reporter.write_line(f"\nsite: {result['pages']} pages built in {result['seconds']} s"
                            + (f" (executed here: {', '.join(missing)})" if missing else ""))
    return result


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu",
                                                              "--disable-dev-shm-usage"])
        yield b
        b.close()


def open_page(browser, url):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    remote = []
    page.on("request", lambda r: remote.append(r.url) if not r.url.startswith(("file:", "data:", "about:")) else None)
    page.goto(url)
    page.wait_for_load_state("load")
    return page, remote


def test_home_page(site, browser):
    page, remote = open_page(browser, "file://" + site["html"])
    try:
        text = page.inner_text("article")
        assert "make lab" in text and "make test" in text, "the quick start is on the home page"
        rows = page.locator("article table tr").count()
        assert rows >= len(LESSONS) + 1, "the course map lists every lesson"
        for lesson in LESSONS:
            link = page.locator(f'article a[href="lessons/{lesson}.html"]')
            assert link.count() >= 2, f"{lesson}: linked from the map and the lesson list"
        assert "You will" in text and "Lecture slides" in text
        assert not remote, f"the home page loads from the network: {remote[:3]}"
    finally:
        page.close()


@pytest.mark.parametrize("lesson", LESSONS)
def test_lesson_page(site, browser, lesson):
    html = site["html"].replace("index.html", f"lessons/{lesson}.html")
    solution = nbformat.read(COURSE.source_notebook(lesson), as_version=4)
    student = nbformat.read(COURSE.lesson_notebook(lesson), as_version=4)
    page, remote = open_page(browser, "file://" + html)
    try:
        title = solution.cells[0].source.splitlines()[0].lstrip("# ").strip()
        assert page.locator("article h1").first.inner_text().strip().rstrip("#").strip() == title
        # MathJax 2 replaces each formula by a rendered element; wait until its queue is empty
        page.wait_for_function("() => window.MathJax && MathJax.Hub && MathJax.Hub.queue.pending === 0 "
                               "&& !MathJax.Hub.queue.running", timeout=60_000)
        rendered = page.locator(".MathJax, .MathJax_Display, .MathJax_SVG").count()
        assert rendered > 0, "no formula was rendered by MathJax"
        assert page.locator(".MathJax_Error, .merror").count() == 0, "MathJax reports a formula error"
        figures = page.locator("article .cell_output img")
        assert figures.count() > 0, "no figure on the page (was the solution executed with figures?)"
        widths = figures.evaluate_all("els => els.map(e => e.naturalWidth)")
        assert max(widths) > 100, f"the figures did not load: {widths}"
        text = page.inner_text("article")
        assert "YOUR CODE HERE" in text, "the exercises show the student's stub"
        # a solution line (that the student's lesson does not contain) in any cell's code or output
        cells = "\n".join(page.locator("article .cell").all_inner_texts())
        assert "YOUR CODE HERE" in cells
        leaked = [line for line in pages.solution_lines(solution) if line not in
                  "\n".join(c.source for c in student.cells) and line in cells]
        assert not leaked, f"solution code on the page: {leaked[:3]}"
        for mark in pages.HIDDEN + pages.SOLUTION_MARKS:
            assert mark not in text, mark
        assert page.locator("article .output.traceback, article .output.error").count() == 0, "an error output"
        assert "Traceback (most recent call last)" not in text
        assert "were measured on" in text and "in JupyterLab" in text, "the page says when, where, and links"
        assert not remote, f"the page loads from the network: {remote[:3]}"
        if lesson in SCREENSHOTS:
            SHOTS.mkdir(parents=True, exist_ok=True)
            if SCREENSHOTS[lesson] == "figure":
                figures.first.scroll_into_view_if_needed()
            page.screenshot(path=str(SHOTS / f"{lesson}.png"))
    finally:
        page.close()
