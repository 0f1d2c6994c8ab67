"""The course as a student meets it: JupyterLab in a real (headless) Chromium, driven by Playwright.

For each lesson: the blank lesson renders (title, exercises, no errors); a solved copy runs with Run All
and every widget view renders with no cell error; nbgrader's Validate button reports failures on the
blank copy and success on the solved one. The instructor's formgrader page opens. Screenshots are saved
in test-artifacts/screenshots/.

The lab server runs its kernels in small-budget mode (COURSE_BUDGET=small): these tests check what the
browser shows and what the buttons do, never a metric; the full-budget run of each solution, with its
metrics asserted, is tests/test_lessons.py. Without Chromium on PATH the tests are skipped.
"""
from __future__ import annotations

import json
import re
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import ARTIFACTS, ROOT
from lecturelib.grading.lessons import find_course

pytestmark = pytest.mark.browser
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if CHROMIUM is None:
    pytest.skip("browser tests need Debian's chromium on PATH (apt-get install chromium)", allow_module_level=True)

COURSE = find_course(ROOT)
LESSONS = COURSE.lesson_ids()
SHOTS = ARTIFACTS / "screenshots"
TOKEN = "course-browser-test"
RUN_TIMEOUT_MS = 600_000
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
                 "--disable-background-networking", "--disable-component-update", "--disable-dev-shm-usage"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """JupyterLab started as `make lab` starts it, on a copy of the course with a solved copy of each lesson."""
    root = tmp_path_factory.mktemp("lab")
    for name in ("lessons", "solutions"):
        shutil.copytree(ROOT / name, root / name)
    shutil.copy(ROOT / "nbgrader_config.py", root)
    for lesson in LESSONS:
        solved = root / "solved" / lesson
        shutil.copytree(ROOT / "solutions" / lesson, solved)
    # Own settings: render every cell (JupyterLab 4 otherwise keeps off-screen cells out of the page).
    settings = root / "lab-settings" / "@jupyterlab" / "notebook-extension"
    settings.mkdir(parents=True)
    (settings / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
    news = root / "lab-settings" / "@jupyterlab" / "apputils-extension"
    news.mkdir(parents=True)
    (news / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false"}))
    port = free_port()
    env = {**os.environ, "COURSE_BUDGET": "small", "JUPYTERLAB_SETTINGS_DIR": str(root / "lab-settings"),
           "JUPYTERLAB_WORKSPACES_DIR": str(root / "lab-workspaces"), "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    log = open(root / "lab.log", "w")
    proc = subprocess.Popen([str(Path(sys.executable).parent / "jupyter"), "lab", f"--ServerApp.root_dir={root}",
                             f"--port={port}", "--ServerApp.ip=127.0.0.1", "--no-browser", "--allow-root",
                             f"--IdentityProvider.token={TOKEN}", "--LabApp.expose_app_in_browser=True",
                             "--ServerApp.disable_check_xsrf=False"], cwd=root, env=env, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 180
    while True:
        try:
            with urllib.request.urlopen(f"{base}/api/status?token={TOKEN}", timeout=5) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if time.time() > deadline or proc.poll() is not None:
            proc.kill()
            pytest.fail("JupyterLab did not start:\n" + (root / "lab.log").read_text()[-2000:])
        time.sleep(1)
    yield {"base": base, "root": root}
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    pg.set_default_timeout(120_000)
    yield pg
    context.close()


def open_notebook(page, lab, relpath: str):
    page.goto(f"{lab['base']}/lab/tree/{relpath}?token={TOKEN}&reset")
    page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=180_000)
    # wait until the kernel is connected and idle
    page.wait_for_function("""() => { const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
        return w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel &&
               w.sessionContext.session.kernel.status === 'idle'; }""", timeout=180_000)


def shot(page, name: str):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=False)


def run_all_and_save(page):
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
    page.wait_for_function("""() => { const w = window.jupyterapp.shell.currentWidget;
        const k = w.sessionContext.session.kernel;
        const prompts = [...document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-InputPrompt')];
        const cells = w.content.widgets.filter(c => c.model.type === 'code');
        return k.status === 'idle' && cells.length > 0 && cells.every(c => c.model.executionCount !== null)
               && !prompts.some(p => p.textContent.includes('*')); }""", timeout=RUN_TIMEOUT_MS, polling=1000)
    page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
    time.sleep(2)


def click_validate(page) -> str:
    page.click(".validate-button")
    page.wait_for_selector(".validation-success, .validation-failed", timeout=RUN_TIMEOUT_MS)
    kind = "success" if page.query_selector(".validation-success") else "failed"
    return kind


@pytest.mark.parametrize("lesson", LESSONS)
def test_blank_lesson_renders(page, lab, lesson):
    open_notebook(page, lab, f"lessons/{lesson}/{lesson}.ipynb")
    title = page.inner_text(".jp-NotebookPanel .jp-MarkdownOutput h1")
    assert title.startswith(f"Lesson {lesson[:2]}"), title
    text = page.inner_text(".jp-NotebookPanel .jp-Notebook")
    assert "YOUR CODE HERE" in text or "raise NotImplementedError" in text, "the exercises are shown"
    assert not page.query_selector(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.error']")
    shot(page, f"{lesson}-blank")
    assert click_validate(page) == "failed", "Validate must report failing tests on the blank lesson"
    shot(page, f"{lesson}-validate-blank")


def is_progress_bar(output) -> bool:
    """tqdm's notebook bars are widgets too; those with leave=False are closed (and vanish) when done."""
    text = "".join(output.get("data", {}).get("text/plain", ""))
    return bool(re.search(r"\d+%\|", text)) or "it/s" in text or "s/it" in text


@pytest.mark.parametrize("lesson", LESSONS)
def test_solved_lesson_runs_widgets_render_and_validates(page, lab, lesson):
    rel = f"solved/{lesson}/{lesson}.ipynb"
    open_notebook(page, lab, rel)
    run_all_and_save(page)
    nb = json.loads((lab["root"] / rel).read_text())
    errors = [(k, o.get("ename"), o.get("evalue")) for k, c in enumerate(nb["cells"]) if c["cell_type"] == "code"
              for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, errors
    widget_outputs = [o for c in nb["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])
                      if "application/vnd.jupyter.widget-view+json" in o.get("data", {})
                      and not is_progress_bar(o)]
    outputs = page.evaluate("""() => [...document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-OutputArea-output')]
        .map(e => ({widget: !!e.querySelector('.jupyter-widgets'), text: e.innerText.slice(0, 300)}))""")
    rendered = [o for o in outputs if o["widget"]]
    broken = [o["text"] for o in outputs if "Error displaying widget" in o["text"] or "Loading widget" in o["text"]]
    assert not broken, broken
    assert len(rendered) >= len(widget_outputs), f"{len(widget_outputs)} widget outputs, {len(rendered)} rendered"
    if widget_outputs:
        page.locator(".jp-OutputArea-output .jupyter-widgets").first.scroll_into_view_if_needed()
    shot(page, f"{lesson}-solved")
    assert click_validate(page) == "success", "Validate must report success on the solved lesson"
    shot(page, f"{lesson}-validate-solved")


def test_formgrader_opens_for_the_instructor(page, lab):
    page.goto(f"{lab['base']}/formgrader?token={TOKEN}")
    page.wait_for_load_state("networkidle")
    page.wait_for_selector("text=Manage Assignments", timeout=60_000)
    shot(page, "formgrader")
