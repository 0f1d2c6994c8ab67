"""The course taught on a real JupyterHub (classroom/): one instructor and three students, each a system
account, each logged in through the hub's login form (PAM), each with their own JupyterLab spawned by the
hub as that account. The whole assignment cycle goes through HTTP to the users' own servers and to the
formgrader service, as the nbgrader buttons in JupyterLab send it:

    instructor (formgrader service): add students, generate, release     POST /services/embodied-lm/formgrader/api/...
    students (their own servers):     fetch, edit the notebook, submit    POST /user/<name>/assignments/...
    instructor:                       collect, autograde*, feedback, release it
    students:                         fetch feedback, read it             /user/<name>/api/contents/...
    instructor:                       export CSV*, class statistics*

(* run as the instructor's account with `runuser`: plain `nbgrader autograde` / `nbgrader export`, as
tests/test_classroom.py does.) Checked: the grades (8, 5, 0), feedback without hidden tests, and that a
student cannot read another student's work, the exchange's inbound folder or the instructor's files.
Needs root, useradd and configurable-http-proxy; otherwise skipped with one line.
"""
from __future__ import annotations

import csv
import hashlib
import json
import os
import pwd
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import nbformat
import pytest

from conftest import ROOT, cell_by_grade_id, save_artifact
from hub_helpers import PREFIX, UserClient, as_user, denied, free_ports, make_user, missing_requirements, ok, \
    page_config, page_text, remove_user, setup_hub, start_hub
from hub_load import summarize

_why = missing_requirements()
if _why:
    pytest.skip(_why, allow_module_level=True)

LESSON = "00_getting_started"
COURSE = setup_hub.COURSE_ID
TEACHER = PREFIX + "teacher"
WORK = {   # grade ids solved from the solution notebook; cyd also answers the quiz wrongly ("a")
    PREFIX + "ada": ["standardize", "pairwise_sq_distances", "fit_line", "quiz_grading"],
    PREFIX + "bob": [],
    PREFIX + "cyd": ["standardize", "fit_line"],
}
EXPECTED = {PREFIX + "ada": 8.0, PREFIX + "bob": 0.0, PREFIX + "cyd": 5.0}
CROWD = [f"{PREFIX}s{i:02d}" for i in range(30)]      # the load test's students


@pytest.fixture(scope="module")
def classroom():
    """A hub set up by classroom/setup_hub.py on loopback, with four fresh system accounts."""
    names = [TEACHER, *WORK, *CROWD]
    state = Path(tempfile.mkdtemp(prefix="elmtest-hub-", dir="/tmp"))
    state.chmod(0o755)                        # users read their Jupyter config and the shared Python here
    passwords = {name: make_user(name) for name in names}
    port, hub_port, proxy_port, service_port = free_ports(4)
    room = setup_hub.Classroom([TEACHER], [*WORK, *CROWD], state_dir=str(state / "state"),
                               exchange=str(state / "exchange"), port=port, hub_port=hub_port,
                               proxy_api_port=proxy_port, service_port=service_port, budget="small")
    hub = None
    try:
        hub = start_hub(room)
        yield {"hub": hub, "passwords": passwords, "room": room}
    finally:
        if hub is not None:
            hub.stop()
            (ROOT / "test-artifacts").mkdir(exist_ok=True)
            shutil.copy(hub.log, ROOT / "test-artifacts" / "classroom_hub.log")
        for name in names:
            remove_user(name)
        shutil.rmtree(state, ignore_errors=True)


def test_assignment_cycle_on_the_hub(classroom):
    hub, room = classroom["hub"], classroom["room"]
    transcript = {"hub_url": hub.url, "users": {}, "steps": []}
    t0 = time.time()

    def step(what):
        transcript["steps"].append(f"{time.time() - t0:6.1f} s  {what}")

    users = {name: UserClient(hub, name, classroom["passwords"][name]) for name in [TEACHER, *WORK]}
    step("4 users logged in through the hub's login form (PAM) and got their own API tokens")
    for name, user in users.items():
        transcript["users"][name] = {"groups": user.hub_api("GET", "/user").json()["groups"]}
    assert transcript["users"][TEACHER]["groups"] == [f"formgrade-{COURSE}"]
    assert all(transcript["users"][s]["groups"] == [f"nbgrader-{COURSE}"] for s in WORK)

    users = {name: users[name] for name in [TEACHER, *WORK]}
    for user in users.values():
        user.request_server()
    for user in users.values():
        user.wait_for_server()
    step("4 servers started through the hub's REST API, each as its own system user")
    teacher = users[TEACHER]
    # the servers really run as their users
    for name, user in users.items():
        assert user.server("GET", "api/status").status_code == 200
    # the formgrader is the instructor's alone; nobody's server may be framed but the formgrader's
    assert teacher.service("GET", "formgrader/api/status").status_code == 200
    assert users[PREFIX + "ada"].service("GET", "formgrader/api/status").status_code == 403
    assert users[PREFIX + "ada"].server("GET", "formgrader").status_code == 404
    assert "frame-ancestors 'none'" in users[PREFIX + "ada"].server("GET", "lab").headers["Content-Security-Policy"]
    assert teacher.service("GET", "formgrader").headers["Content-Security-Policy"] == "frame-ancestors 'self'"
    # every JupyterLab has the course's nbgrader extension; students see no formgrader, instructors do (the service)
    for who, user in ((PREFIX + "ada", users[PREFIX + "ada"]), (TEACHER, teacher)):
        lab = page_config(user.server("GET", "lab").text)
        assert "@jupyter/nbgrader" in [e["name"] for e in lab["federated_extensions"]], who
        assert "@jupyter/nbgrader:formgrader" in lab["disabledExtensions"], who
        assert ("@jupyter/nbgrader:course-list" in lab["disabledExtensions"]) == (who != TEACHER), who
    assert "@jupyter/nbgrader:formgrader" not in page_config(teacher.service("GET", "lab").text)["disabledExtensions"]
    courses = ok(teacher.server("GET", "formgraders"))
    assert any(COURSE in json.dumps(c) for c in courses["value"]), courses

    for student in WORK:
        ok(teacher.service("PUT", f"formgrader/api/student/{student}", json={"first_name": student}))
    ok(teacher.service("POST", f"formgrader/api/assignment/{LESSON}/assign"))
    ok(teacher.service("POST", f"formgrader/api/assignment/{LESSON}/release"))
    step("instructor (formgrader service): 3 students added, lesson generated and released")

    solution = nbformat.read(ROOT / "solutions" / LESSON / f"{LESSON}.ipynb", as_version=4)
    form = {"course_id": COURSE, "assignment_id": LESSON}
    nb_path = f"{COURSE}/{LESSON}/{LESSON}.ipynb"
    for student, solved in WORK.items():
        user = users[student]
        listed = ok(user.server("GET", f"assignments?course_id={COURSE}"))
        assert [a["assignment_id"] for a in listed["value"]] == [LESSON], listed
        ok(user.server("POST", "assignments/fetch", data=form))
        nb = nbformat.from_dict(user.read_notebook(nb_path))
        for gid in solved:
            cell_by_grade_id(nb, gid).source = cell_by_grade_id(solution, gid).source
        if student == PREFIX + "cyd":
            cell_by_grade_id(nb, "quiz_grading").source = 'answer = "a"'
        user.write_notebook(nb_path, nb)
        ok(user.server("POST", "assignments/submit", data=form))
    step("3 students (their own servers): fetched, edited (full / blank / partial) and submitted")

    # what a student can and cannot read, tried as that student
    ada, bob = PREFIX + "ada", PREFIX + "bob"
    course_root = Path(room.course_root)
    inbound = Path(room.exchange) / COURSE / "inbound"
    isolation = {
        "another student's notebook": denied(ada, "cat", f"/home/{bob}/{nb_path}"),
        "the exchange's inbound (others' submissions)": denied(ada, "ls", str(inbound)),
        "the instructor's course (hidden tests)": denied(ada, "cat", str(course_root / "solutions" / LESSON / f"{LESSON}.ipynb")),
        "the instructor's gradebook": denied(ada, "ls", str(course_root)),
    }
    transcript["student_cannot_read"] = isolation
    assert all(isolation.values()), isolation
    assert as_user(ada, "ls", str(Path(room.exchange) / COURSE / "outbound" / LESSON)).returncode == 0

    ok(teacher.service("POST", f"formgrader/api/assignment/{LESSON}/collect"))
    assert set(WORK) <= {p.name for p in (course_root / "submitted").iterdir()}
    step("instructor: collected 3 submissions")
    # The one step not over HTTP: plain nbgrader autograde, as the instructor, in the course directory.
    as_user(TEACHER, "nbgrader", "autograde", LESSON, cwd=str(course_root))
    step("instructor: nbgrader autograde (3 notebooks)")
    ok(teacher.service("POST", f"formgrader/api/assignment/{LESSON}/generate_feedback"))
    ok(teacher.service("POST", f"formgrader/api/assignment/{LESSON}/release_feedback"))
    step("instructor: feedback generated and released")

    hidden = _hidden_test_lines(solution)
    visible = "assert Z.shape == X.shape"
    for student in WORK:
        user = users[student]
        ok(user.server("POST", "assignments/fetch_feedback", data=form))
        folder = user.server("GET", f"api/contents/{COURSE}/{LESSON}/feedback").json()["content"]
        assert len(folder) == 1, folder
        page = user.server("GET", f"api/contents/{folder[0]['path']}/{LESSON}.html?content=1&type=file&format=text")
        text = page_text(page.json()["content"])
        leaked = [line for line in hidden if line in text]
        assert not leaked, f"{student}'s feedback shows hidden tests: {leaked[:3]}"
        assert visible in text and f"Score: {EXPECTED[student]:g}" in " ".join(text.split()).replace(".0 ", " ")
        transcript["users"][student]["feedback"] = f"{len(text)} characters, 0 of {len(hidden)} hidden-test lines"
    step("3 students fetched their feedback: no hidden-test line in any of it")

    as_user(TEACHER, "nbgrader", "export", "--to", "grades.csv", cwd=str(course_root))
    grades_csv = (course_root / "grades.csv").read_text()
    rows = {r["student_id"]: r for r in csv.DictReader(grades_csv.splitlines())}
    scores = {s: float(rows[s]["score"]) for s in WORK}
    transcript["grades_csv"] = grades_csv.splitlines()
    transcript["scores"] = scores
    step("instructor: nbgrader export")

    as_user(TEACHER, "course", "stats", LESSON, "--out", "stats", cwd=str(course_root))
    stats = list(csv.DictReader((course_root / "stats" / f"{LESSON}_stats.csv").read_text().splitlines()))
    transcript["stats_csv"] = (course_root / "stats" / f"{LESSON}_stats.csv").read_text().splitlines()
    step("instructor: course stats")
    save_artifact("classroom_hub.json", transcript)
    print(json.dumps(transcript, indent=1))
    assert scores == EXPECTED, scores
    by_exercise = {r["exercise"]: (int(r["full"]), int(r["partial"]), int(r["zero"])) for r in stats}
    assert by_exercise == {"test_standardize": (2, 0, 1), "test_pairwise_sq_distances": (1, 0, 2),
                           "test_fit_line": (2, 0, 1), "test_quiz_grading": (1, 0, 2),
                           # nobody wrote the written answer: nbgrader scores an untouched answer cell 0
                           "written_learning_rate": (0, 0, 3)}, by_exercise


def _hidden_test_lines(solution) -> list[str]:
    from lecturelib.grading.feedback import hidden_lines

    released = nbformat.read(ROOT / "lessons" / LESSON / f"{LESSON}.ipynb", as_version=4)
    shown = {line.strip() for cell in released.cells for line in cell.source.splitlines()}
    lines = [line for cell in solution.cells for line in hidden_lines(cell.source) if line not in shown]
    assert len(lines) > 10
    return lines


def test_formgrader_inside_jupyterlab_in_a_browser(classroom):
    """The instructor logs in with the hub's form in Chromium, opens the formgrader service's JupyterLab
    and its Formgrader panel: the formgrader renders inside JupyterLab's iframe (allowed for this service
    only), while an ordinary server of the same hub still refuses to be framed."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("the formgrader browser check needs Debian's chromium on PATH (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    from test_browser import CHROMIUM_ARGS

    hub = classroom["hub"]
    shots = ROOT / "test-artifacts" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
        page.set_default_timeout(180_000)
        page.goto(f"{hub.url}/hub/login")
        page.fill("#username_input", TEACHER)
        page.fill("#password_input", classroom["passwords"][TEACHER])
        page.click("#login_submit")
        page.wait_for_url(re.compile(r"/(hub/home|hub/spawn|user/)"))
        page.goto(f"{hub.url}/services/{COURSE}/lab")
        page.get_by_text("Nbgrader", exact=True).first.click()
        page.get_by_text("Formgrader", exact=True).first.click()
        frame = page.frame_locator("#formgrader iframe")
        frame.get_by_text("Manage Assignments").first.wait_for()
        frame.get_by_text(LESSON).first.wait_for()          # released by the cycle test, or by the load test
        page.screenshot(path=str(shots / "hub_formgrader.png"))
        # the same embedding from the instructor's own server is refused by the browser (frame-ancestors 'none')
        page.goto(f"{hub.url}/user/{TEACHER}/lab")
        page.wait_for_selector(".jp-LabShell")
        framed = page.evaluate("""async (url) => {
            const f = document.createElement('iframe'); f.src = url; document.body.appendChild(f);
            await new Promise(r => setTimeout(r, 4000));
            try { return f.contentDocument !== null && f.contentDocument.body.innerText.length > 0; }
            catch (e) { return false; } }""", f"{hub.url}/user/{TEACHER}/tree")
        browser.close()
    assert framed is False, "an ordinary server of the hub could be framed"


def test_thirty_students_at_once(classroom):
    """30 students log in, call the hub's API, fetch and submit at the same moment, each as their own
    system account (tests/hub_load.py); the instructor collects: 30 submissions, byte for byte.
    ELM_LOAD_SERVERS=1: each student also starts a server and works through it (heavier; not in CI)."""
    through_servers = os.environ.get("ELM_LOAD_SERVERS") == "1"
    hub, room = classroom["hub"], classroom["room"]
    teacher = UserClient(hub, TEACHER, classroom["passwords"][TEACHER])
    course_root = Path(room.course_root)
    assignment = "load_00"
    src = course_root / "solutions" / assignment
    if not src.exists():
        shutil.copytree(course_root / "solutions" / LESSON, src)
        teacher_pw = pwd.getpwnam(TEACHER)
        for path in [src, *src.rglob("*")]:
            os.chown(path, teacher_pw.pw_uid, teacher_pw.pw_gid)
    ok(teacher.service("POST", f"formgrader/api/assignment/{assignment}/assign"))
    ok(teacher.service("POST", f"formgrader/api/assignment/{assignment}/release"))

    spec = Path(room.state_dir) / "load.json"
    spec.write_text(json.dumps({"hub": hub.url, "exchange": room.exchange, "course": COURSE,
                                "assignment": assignment, "notebook": f"{LESSON}.ipynb",
                                "students": {name: classroom["passwords"][name] for name in CROWD}}))
    proc = subprocess.run([f"{room.venv_bin}/python", str(ROOT / "tests" / "hub_load.py"), str(spec),
                           *(["--servers"] if through_servers else [])],
                          capture_output=True, text=True, timeout=600, env={**os.environ, **room.extra_env})
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    errors = [r for r in report["results"] if "error" in r]

    ok(teacher.service("POST", f"formgrader/api/assignment/{assignment}/collect"))
    collected = {}
    for r in report["results"]:
        path = course_root / "submitted" / r["name"] / assignment / f"{LESSON}.ipynb"
        collected[r["name"]] = path.exists() and hashlib.sha256(path.read_bytes()).hexdigest() == r.get("sha256")

    figures = summarize(report, sum(collected.values()))
    save_artifact("classroom_load_servers.json" if through_servers else "classroom_load.json", figures)
    print(json.dumps(figures, indent=1))
    assert not errors, errors[:2]
    assert figures["students"] == len(CROWD), figures
    assert through_servers or figures["hub_requests"] == 9 * len(CROWD), figures
    assert figures["errors"] == 0 and figures["submissions_collected_intact"] == len(CROWD), figures
