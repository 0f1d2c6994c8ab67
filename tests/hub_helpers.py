"""Helpers for the JupyterHub classroom tests: system accounts, a started hub, and an HTTP client that
logs in through the hub's login form as a given user and then talks to that user's own server."""
from __future__ import annotations

import html
import json
import os
import pwd
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

from conftest import ROOT

sys.path.insert(0, str(ROOT / "classroom"))
import setup_hub  # noqa: E402  (classroom/ is a folder of scripts, not a package)

PREFIX = "elmtest_"
SHARED_BIN: list[str] = []      # the bin/ every user runs (set by start_hub)
SHARED_ENV: dict[str, str] = {}


def missing_requirements() -> str | None:
    """Why the hub tests cannot run here (one line), or None."""
    if os.geteuid() != 0:
        return "the hub tests need root (they create system users and spawn their servers as them)"
    for tool in ("useradd", "userdel", "chpasswd", "runuser"):
        if shutil.which(tool) is None:
            return f"the hub tests need {tool} (Debian package passwd / util-linux)"
    if shutil.which("configurable-http-proxy") is None:
        return "the hub tests need configurable-http-proxy (npm install -g configurable-http-proxy)"
    problem = setup_hub.private_packages(Path(sys.executable).parent)
    return f"the hub tests cannot run from this checkout: {problem}" if problem else None


def free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def remove_user(name: str) -> None:
    if not name.startswith(PREFIX):           # never delete an account the tests did not create
        raise ValueError(name)
    subprocess.run(["userdel", "--remove", name], capture_output=True)


def make_user(name: str) -> str:
    try:
        pwd.getpwnam(name)
        remove_user(name)                      # left over by an interrupted run
    except KeyError:
        pass
    return setup_hub.create_user(name)


def as_user(user: str, *cmd: str, cwd: str | None = None, check: bool = True, timeout: float = 900):
    """Run a command as a system user, in their home, with their own environment (runuser)."""
    home = pwd.getpwnam(user).pw_dir
    path = os.pathsep.join([*SHARED_BIN, "/usr/local/bin", "/usr/bin", "/bin"])
    proc = subprocess.run(["runuser", "-u", user, "--", "env", "-i", f"HOME={home}", f"USER={user}",
                           f"LOGNAME={user}", f"PATH={path}", "COURSE_BUDGET=small",
                           *[f"{k}={v}" for k, v in SHARED_ENV.items()], *cmd],
                          cwd=cwd or home, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} as {user} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


class Hub:
    """A started hub: its base URL, the admin service's token, and its log."""

    def __init__(self, room: setup_hub.Classroom, proc: subprocess.Popen, log: Path):
        self.room, self.proc, self.log = room, proc, log
        self.url = f"http://127.0.0.1:{room.port}"
        self.admin = requests.Session()
        self.admin.headers["Authorization"] = f"token {setup_hub.admin_token(room)}"

    def api(self, method: str, path: str, **kw):
        r = self.admin.request(method, f"{self.url}/hub/api{path}", timeout=60, **kw)
        r.raise_for_status()
        return r.json() if r.content else None

    def wait_until_up(self, seconds: float = 180) -> None:
        deadline = time.time() + seconds
        while time.time() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                if requests.get(f"{self.url}/hub/api/", timeout=5).status_code == 200:
                    service = f"{self.url}/services/{self.room.course_id}/api/status"
                    if requests.get(service, timeout=5, allow_redirects=False).status_code in (200, 302, 403):
                        return
            except requests.ConnectionError:
                pass
            time.sleep(1)
        raise AssertionError("JupyterHub did not start:\n" + self.log.read_text()[-4000:])

    def stop(self) -> None:
        self.proc.terminate()               # the hub stops every server and its managed services
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def start_hub(room: setup_hub.Classroom) -> Hub:
    setup_hub.prepare(room)
    SHARED_BIN[:] = [room.venv_bin]
    SHARED_ENV.update(room.extra_env)
    SHARED_ENV["PYTHONPATH"] = json.loads(room.settings_file.read_text())["lecturelib_path"]
    cmd, env = setup_hub.hub_command(room)
    log = Path(room.state_dir) / "hub.log"
    proc = subprocess.Popen(cmd, cwd=Path(room.state_dir) / "hub", env=env, stdout=open(log, "w"),
                            stderr=subprocess.STDOUT)
    hub = Hub(room, proc, log)
    hub.wait_until_up()
    return hub


class UserClient:
    """One person using the hub from a browser-like session: login form, then their own token."""

    def __init__(self, hub: Hub, name: str, password: str):
        self.hub, self.name = hub, name
        self.web = requests.Session()
        login = self.web.get(f"{hub.url}/hub/login", timeout=30)
        xsrf = re.search(r'name="_xsrf" value="([^"]+)"', login.text).group(1)
        r = self.web.post(f"{hub.url}/hub/login", data={"username": name, "password": password, "_xsrf": xsrf},
                          allow_redirects=False, timeout=60)
        if r.status_code != 302:
            raise AssertionError(f"login as {name} failed: HTTP {r.status_code}")
        # a token of one's own, asked for with the login cookie (as the hub's token page does)
        r = self.web.post(f"{hub.url}/hub/api/users/{name}/tokens", json={"note": "classroom test", "expires_in": 3600},
                          headers={"X-XSRFToken": self.web.cookies.get("_xsrf", path="/hub/")}, timeout=60)
        r.raise_for_status()
        self.api = requests.Session()
        self.api.headers["Authorization"] = f"token {r.json()['token']}"

    def hub_api(self, method: str, path: str, **kw):
        return self.api.request(method, f"{self.hub.url}/hub/api{path}", timeout=120, **kw)

    def request_server(self) -> None:
        r = self.hub_api("POST", f"/users/{self.name}/server")
        assert r.status_code in (201, 202), f"{self.name}: {r.status_code} {r.text}"

    def wait_for_server(self, seconds: float = 300) -> None:
        deadline = time.time() + seconds
        while time.time() < deadline:
            model = self.hub_api("GET", f"/users/{self.name}").json()
            if model.get("servers", {}).get("", {}).get("ready"):
                return
            time.sleep(1)
        raise AssertionError(f"{self.name}'s server did not start:\n" + self.hub.log.read_text()[-4000:])

    def server(self, method: str, path: str, **kw):
        """A request to this user's own single-user server, through the hub's proxy."""
        return self.api.request(method, f"{self.hub.url}/user/{self.name}/{path}", timeout=900, **kw)

    def service(self, method: str, path: str, **kw):
        """A request to the course's formgrader service, through the hub's proxy."""
        return self.api.request(method, f"{self.hub.url}/services/{self.hub.room.course_id}/{path}",
                                timeout=900, **kw)

    def read_notebook(self, path: str) -> dict:
        r = self.server("GET", f"api/contents/{path}?content=1&type=notebook")
        r.raise_for_status()
        return r.json()["content"]

    def write_notebook(self, path: str, nb: dict) -> None:
        r = self.server("PUT", f"api/contents/{path}", data=json.dumps({"type": "notebook", "content": nb}))
        r.raise_for_status()


def page_text(page_html: str) -> str:
    """What a reader sees of an HTML page: tags dropped, entities decoded (code is split into spans)."""
    no_code_tags = re.sub(r"<(script|style)\b.*?</\1>", "", page_html, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", "", no_code_tags))


def page_config(lab_html: str) -> dict:
    """The configuration JupyterLab's page hands to the browser (extensions, disabled plugins)."""
    found = re.search(r'<script id="jupyter-config-data" type="application/json">(.*?)</script>', lab_html, re.S)
    assert found, lab_html[:500]
    return json.loads(found.group(1))


def denied(user: str, *cmd: str) -> bool:
    proc = as_user(user, *cmd, check=False)
    return proc.returncode != 0 and "Permission denied" in proc.stderr


def ok(response) -> dict:
    assert response.status_code == 200, f"{response.request.method} {response.url}: {response.status_code} {response.text[:500]}"
    body = response.json()
    if isinstance(body, dict) and body.get("success") is False:
        raise AssertionError(f"{response.url}: {body.get('log') or body.get('error') or body}")
    return body
