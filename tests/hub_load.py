"""Thirty students at once (run as root by tests/test_classroom_hub.py::test_thirty_students_at_once).

Each simulated student is a forked process that drops to that student's system account, then, all at
the same moment: logs in through the hub's login form, gets a token, calls the hub's REST API, fetches the
assignment from nbgrader's exchange, writes a notebook of its own (a different one per student, so nothing
can be mixed up unnoticed) and submits it. The hub's latency is timed per request; every error is
counted. nbgrader is imported once, before forking, so thirty students cost thirty forks, not thirty
interpreters. Prints one JSON object: per-student results and the latencies.

    python tests/hub_load.py SPEC.json      (SPEC: hub url, exchange, course, assignment, students)
    python tests/hub_load.py SPEC.json --servers

With ``--servers`` (heavier: thirty JupyterLabs; not run in CI) every student instead starts their own
server through the hub and fetches, edits and submits through it, as the Assignments tab does: all of
that traffic then goes through the hub's proxy, and the server start-up time is reported too.
"""
from __future__ import annotations

import hashlib
import json
import os
import pwd
import re
import statistics
import sys
import time
import traceback

import nbformat
import requests
from nbgrader.auth import Authenticator
from nbgrader.coursedir import CourseDirectory
from nbgrader.exchange.default import ExchangeFetchAssignment, ExchangeSubmit
from traitlets.config import Config


def timed(latencies, what, fn, *args, **kw):
    t = time.perf_counter()
    response = fn(*args, timeout=120, **kw)
    latencies.append((what, time.perf_counter() - t, response.status_code))
    response.raise_for_status()
    return response


def student(spec, name, password) -> dict:
    hub, lat = spec["hub"], []
    web = requests.Session()
    page = timed(lat, "GET /hub/login", web.get, f"{hub}/hub/login")
    xsrf = re.search(r'name="_xsrf" value="([^"]+)"', page.text).group(1)
    r = timed(lat, "POST /hub/login", web.post, f"{hub}/hub/login", allow_redirects=False,
              data={"username": name, "password": password, "_xsrf": xsrf})
    assert r.status_code == 302, f"login: HTTP {r.status_code}"
    token = timed(lat, "POST /hub/api/users/:name/tokens", web.post, f"{hub}/hub/api/users/{name}/tokens",
                  json={"note": "load test"}, headers={"X-XSRFToken": web.cookies.get("_xsrf", path="/hub/")}).json()["token"]
    api = requests.Session()
    api.headers["Authorization"] = f"token {token}"
    for _ in range(3):
        me = timed(lat, "GET /hub/api/user", api.get, f"{hub}/hub/api/user").json()
        assert me["name"] == name
        timed(lat, "GET /hub/api/services", api.get, f"{hub}/hub/api/services")

    home = pwd.getpwnam(name).pw_dir
    config = Config()
    config.CourseDirectory.root = home
    config.CourseDirectory.course_id = spec["course"]
    config.CourseDirectory.assignment_id = spec["assignment"]
    config.Exchange.root = spec["exchange"]
    config.Exchange.path_includes_course = True
    coursedir = CourseDirectory(config=config)
    auth = Authenticator(config=config)
    ExchangeFetchAssignment(coursedir=coursedir, authenticator=auth, config=config).start()
    folder = os.path.join(home, spec["course"], spec["assignment"])
    notebook = os.path.join(folder, spec["notebook"])
    nb = nbformat.read(notebook, as_version=4)
    nb.cells.append(nbformat.v4.new_markdown_cell(f"Submitted by {name} at {time.time():.6f}"))
    nbformat.write(nb, notebook)
    with open(notebook, "rb") as fh:
        digest = hashlib.sha256(fh.read()).hexdigest()
    ExchangeSubmit(coursedir=coursedir, authenticator=auth, config=config).start()
    return {"name": name, "sha256": digest, "latencies": lat}


def run_as(spec, name, password, go_read, out_write) -> None:
    """In the child: become the student, wait for the start signal, do the work, report, exit."""
    user = pwd.getpwnam(name)
    os.setgroups([])
    os.setgid(user.pw_gid)
    os.setuid(user.pw_uid)
    os.environ.update(HOME=user.pw_dir, USER=name, LOGNAME=name)
    os.chdir(user.pw_dir)
    os.read(go_read, 1)
    try:
        result = student(spec, name, password)
    except Exception as e:      # reported, counted as an error by the test
        result = {"name": name, "error": f"{type(e).__name__}: {e}", "trace": traceback.format_exc()[-1500:]}
    os.write(out_write, json.dumps(result).encode())
    os._exit(0)


def through_server(spec, name, password, barrier) -> dict:
    """One student on their own server, over HTTP only (a thread; no change of uid needed)."""
    hub, lat = spec["hub"], []
    barrier.wait()
    try:
        web = requests.Session()
        page = timed(lat, "GET /hub/login", web.get, f"{hub}/hub/login")
        xsrf = re.search(r'name="_xsrf" value="([^"]+)"', page.text).group(1)
        timed(lat, "POST /hub/login", web.post, f"{hub}/hub/login", allow_redirects=False,
              data={"username": name, "password": password, "_xsrf": xsrf})
        token = timed(lat, "POST /hub/api/users/:name/tokens", web.post, f"{hub}/hub/api/users/{name}/tokens",
                      json={"note": "load test"}, headers={"X-XSRFToken": web.cookies.get("_xsrf", path="/hub/")}).json()["token"]
        api = requests.Session()
        api.headers["Authorization"] = f"token {token}"
        t = time.perf_counter()
        timed(lat, "POST /hub/api/users/:name/server", api.post, f"{hub}/hub/api/users/{name}/server")
        while not timed(lat, "GET /hub/api/users/:name", api.get, f"{hub}/hub/api/users/{name}").json().get(
                "servers", {}).get("", {}).get("ready"):
            time.sleep(1)
        spawn = time.perf_counter() - t
        server = f"{hub}/user/{name}"
        form = {"course_id": spec["course"], "assignment_id": spec["assignment"]}
        timed(lat, "POST /user/:name/assignments/fetch", api.post, f"{server}/assignments/fetch", data=form)
        path = f"{server}/api/contents/{spec['course']}/{spec['assignment']}/{spec['notebook']}"
        nb = timed(lat, "GET /user/:name/api/contents", api.get, f"{path}?type=notebook").json()["content"]
        nb["cells"].append(nbformat.v4.new_markdown_cell(f"Submitted by {name} at {time.time():.6f}"))
        timed(lat, "PUT /user/:name/api/contents", api.put, path, data=json.dumps({"type": "notebook", "content": nb}))
        saved = timed(lat, "GET /user/:name/api/contents", api.get, f"{path}?type=file&format=text").json()["content"]
        timed(lat, "POST /user/:name/assignments/submit", api.post, f"{server}/assignments/submit", data=form)
        timed(lat, "DELETE /hub/api/users/:name/server", api.delete, f"{hub}/hub/api/users/{name}/server")
        return {"name": name, "sha256": hashlib.sha256(saved.encode()).hexdigest(), "spawn_seconds": spawn,
                "latencies": lat}
    except Exception as e:
        return {"name": name, "error": f"{type(e).__name__}: {e}", "latencies": lat}


def main_servers(spec) -> int:
    from concurrent.futures import ThreadPoolExecutor
    from threading import Barrier

    barrier = Barrier(len(spec["students"]))
    start = time.perf_counter()
    with ThreadPoolExecutor(len(spec["students"])) as pool:
        results = list(pool.map(lambda item: through_server(spec, *item, barrier), spec["students"].items()))
    print(json.dumps({"seconds": time.perf_counter() - start, "results": results}))
    return 0


def summarize(report: dict, intact: int) -> dict:
    """The figures: hub latency (median, p95; overall and per request), errors, submissions intact."""
    http = [lat for r in report["results"] for lat in r.get("latencies", [])]

    def ms(values, q):
        values = sorted(values)
        return round(1000 * values[int(q * (len(values) - 1))], 1) if values else None

    return {
        "students": len(report["results"]), "wall_seconds": round(report["seconds"], 1), "hub_requests": len(http),
        "hub_latency_median_ms": round(1000 * statistics.median(s for _, s, _ in http), 1) if http else None,
        "hub_latency_p95_ms": ms([s for _, s, _ in http], 0.95),
        "p95_ms_per_request": {what: ms([s for w, s, _ in http if w == what], 0.95) for what in sorted({w for w, _, _ in http})},
        "errors": sum("error" in r for r in report["results"]) + sum(code >= 400 for _, _, code in http),
        "submissions_collected_intact": intact,
        **({"server_start_median_s": round(statistics.median(spawns), 1), "server_start_max_s": round(max(spawns), 1)}
           if (spawns := [r["spawn_seconds"] for r in report["results"] if "spawn_seconds" in r]) else {}),
    }


def main(spec_path: str) -> int:
    spec = json.loads(open(spec_path).read())
    go_read, go_write = os.pipe()
    children = []
    for name, password in spec["students"].items():
        out_read, out_write = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(out_read)
            run_as(spec, name, password, go_read, out_write)
        os.close(out_write)
        children.append((pid, out_read))
    start = time.perf_counter()
    os.write(go_write, b"x" * len(children))          # everyone starts now
    results = []
    for pid, out_read in children:
        chunks = []
        while chunk := os.read(out_read, 65536):
            chunks.append(chunk)
        os.waitpid(pid, 0)
        results.append(json.loads(b"".join(chunks) or b'{"error": "no report"}'))
    print(json.dumps({"seconds": time.perf_counter() - start, "results": results}))
    return 0


if __name__ == "__main__":
    if "--servers" in sys.argv:
        sys.exit(main_servers(json.loads(open(sys.argv[1]).read())))
    sys.exit(main(sys.argv[1]))
