"""Set up and start the course's JupyterHub for a class on one machine (``make classroom``).

Run as root (the hub must become each user to spawn their JupyterLab). What it writes:

    <state>/classroom.json         roster, ports, paths: read by classroom/jupyterhub_config.py
    <state>/hub/        (0700)     the hub's database, cookie secret, proxy pid, the admin service token
    <state>/etc/student/           Jupyter config for students: nbgrader's exchange, no formgrader
    <state>/etc/instructor/        for instructors' own servers: the course list links to the formgrader
    <state>/etc/grader/            for the formgrader service (the only server that may be framed)
    <exchange>/         (1777)     nbgrader's exchange root; <exchange>/<course> belongs to the grader
    ~grader/<course>/   (0700)     the instructor's course directory: solutions/, nbgrader_config.py

Nothing is overwritten that an instructor or student may have edited: an existing course directory is
kept as it is. Home directories of the roster are made 0700, so classmates cannot read each other's work.

    python classroom/setup_hub.py --instructor alice --students bob,cyd [--port 8000] [--no-start]
"""
from __future__ import annotations

import argparse
import json
import os
import pwd
import secrets
import shutil
import stat
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from shared_python import reachable_by_all, shared_venv_bin

REPO = Path(__file__).resolve().parents[1]
COURSE_ID = "embodied-lm"
HUB_CONFIG = REPO / "classroom" / "jupyterhub_config.py"


class SetupError(Exception):
    """A problem the person running the setup can fix; printed as one line."""


@dataclass
class Classroom:
    instructors: list[str]
    students: list[str]
    state_dir: str = "/srv/embodied-lm"
    exchange: str = "/srv/nbgrader/exchange"
    ip: str = "127.0.0.1"
    port: int = 8000
    hub_port: int = 0                   # 0: port + 1, and so on
    proxy_api_port: int = 0
    service_port: int = 0
    course_id: str = COURSE_ID
    budget: str = "full"
    authenticator: str = "pam"
    ssl_cert: str = ""
    ssl_key: str = ""
    venv_bin: str = field(default_factory=lambda: str(Path(sys.executable).parent))
    extra_env: dict = field(default_factory=dict)     # what the shared Python needs (see shared_python.py)

    def __post_init__(self):
        self.hub_port = self.hub_port or self.port + 1
        self.proxy_api_port = self.proxy_api_port or self.port + 2
        self.service_port = self.service_port or self.port + 3

    @property
    def grader(self) -> str:
        return self.instructors[0]

    @property
    def course_root(self) -> str:
        return str(Path(pwd.getpwnam(self.grader).pw_dir) / self.course_id)

    @property
    def settings_file(self) -> Path:
        return Path(self.state_dir) / "classroom.json"


def create_user(name: str) -> str:
    """A system account with a private home and a random password (returned): for trying the hub out."""
    password = secrets.token_urlsafe(12)
    subprocess.run(["useradd", "--create-home", "--shell", "/bin/bash", name], check=True, capture_output=True)
    subprocess.run(["chpasswd"], input=f"{name}:{password}\n", text=True, check=True, capture_output=True)
    return password


def _check(room: Classroom) -> None:
    if os.geteuid() != 0:
        raise SetupError("run as root: the hub spawns each user's JupyterLab as that user")
    if not room.instructors:
        raise SetupError("name at least one instructor (--instructor NAME)")
    for name in room.instructors + room.students:
        try:
            pwd.getpwnam(name)
        except KeyError:
            raise SetupError(f"no system account {name!r}: create it (useradd -m {name}; passwd {name}) "
                             "or pass --create-users") from None
    if shutil.which("configurable-http-proxy") is None:
        raise SetupError("configurable-http-proxy is missing: npm install -g configurable-http-proxy")
    problem = private_packages(Path(room.venv_bin))
    if problem:
        raise SetupError(problem)


def private_packages(venv_bin: Path) -> str | None:
    """Why the hub's users could not import the course's packages from ``venv_bin``'s environment, or None.

    Every user's server runs as that user, so the venv's site-packages must be readable by all (a readable
    interpreter can be made, see shared_python.py, but copying gigabytes of packages is not worth it)."""
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    site = Path(os.path.realpath(venv_bin)).parent / "lib" / version / "site-packages"
    if not site.is_dir() or reachable_by_all(site, stat.S_IROTH):
        return None
    closed = next((p for p in [site, *site.parents] if not os.stat(p).st_mode & stat.S_IXOTH), site)
    return (f"other users cannot read the course's packages in {site} ({closed} is closed to them): put the "
            "checkout where every user can read it (e.g. /srv/embodied-lm), or open its folders (chmod o+rx)")


def _write(path: Path, text: str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    os.chmod(path, mode)


def _nbgrader_config(room: Classroom) -> str:
    return f'''"""nbgrader for everyone on this hub (written by classroom/setup_hub.py)."""
from nbgrader.auth import JupyterHubAuthPlugin

c = get_config()  # noqa: F821
c.CourseDirectory.course_id = {room.course_id!r}
c.Exchange.root = {room.exchange!r}
c.Exchange.path_includes_course = True
c.Authenticator.plugin_class = JupyterHubAuthPlugin
'''


# Which of nbgrader's pieces each kind of server shows: (server extensions off, lab plugins off).
ROLES = {
    "student": (["formgrader", "course_list"], ["formgrader", "create-assignment", "course-list"]),
    "instructor": (["formgrader"], ["formgrader", "create-assignment"]),
    "grader": (["assignment_list", "course_list"], ["assignment-list", "course-list"]),
}


def write_jupyter_configs(room: Classroom) -> None:
    for role, (server_off, lab_off) in ROLES.items():
        etc = Path(room.state_dir) / "etc" / role
        _write(etc / "nbgrader_config.py", _nbgrader_config(room))
        off = {f"nbgrader.server_extensions.{name}": False for name in server_off}
        server = f"c = get_config()  # noqa: F821\nc.ServerApp.jpserver_extensions.update({off!r})\n"
        if role == "grader":
            # JupyterHub forbids framing every server (frame-ancestors 'none'); the formgrader alone is
            # shown inside its own JupyterLab, so it alone may be framed, by pages of this origin.
            server += ("c.ServerApp.tornado_settings = {'headers': "
                       "{'Content-Security-Policy': \"frame-ancestors 'self'\"}}\n")
        _write(etc / "jupyter_server_config.py", server)
        page = {"disabledExtensions": {f"@jupyter/nbgrader:{name}": True for name in lab_off}}
        _write(etc / "labconfig" / "page_config.json", json.dumps(page, indent=1))


def prepare_exchange(room: Classroom) -> None:
    grader = pwd.getpwnam(room.grader)
    root = Path(room.exchange)
    root.mkdir(parents=True, exist_ok=True)
    # nbgrader wants the root writable by all; the sticky bit stops a student renaming the course folder
    os.chmod(root, 0o1777)
    course = root / room.course_id
    if not course.exists():
        course.mkdir(mode=0o755)
        os.chown(course, grader.pw_uid, grader.pw_gid)


def prepare_course(room: Classroom) -> Path:
    """The grader's course directory: the repo's solutions and nbgrader config; kept if it exists."""
    grader = pwd.getpwnam(room.grader)
    root = Path(room.course_root)
    if not root.exists():
        root.mkdir(parents=True)
        shutil.copytree(REPO / "solutions", root / "solutions",
                        ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
        shutil.copy(REPO / "nbgrader_config.py", root / "nbgrader_config.py")
        for path in [root, *root.rglob("*")]:
            os.chown(path, grader.pw_uid, grader.pw_gid)
    os.chmod(root, 0o700)
    return root


def shared_lecturelib(state: Path) -> Path:
    """Where every user's Python finds lecturelib: this checkout, or a copy if others cannot read it."""
    if reachable_by_all(REPO / "lecturelib" / "__init__.py", stat.S_IROTH):
        return REPO
    dest = state / "lib"
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(REPO / "lecturelib", dest / "lecturelib", ignore=shutil.ignore_patterns("__pycache__"))
    for path in [dest, *dest.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    print(f"{REPO} is private: the hub's users import a copy of lecturelib from {dest}")
    return dest


def prepare(room: Classroom) -> None:
    _check(room)
    state = Path(room.state_dir)
    (state / "hub").mkdir(parents=True, exist_ok=True)
    os.chmod(state, 0o755)
    os.chmod(state / "hub", 0o700)
    token = state / "hub" / "admin_token"
    if not token.exists():
        _write(token, secrets.token_hex(32), 0o600)
    for name in room.instructors + room.students:
        os.chmod(pwd.getpwnam(name).pw_dir, 0o700)
    try:
        bin_dir, room.extra_env = shared_venv_bin(Path(room.venv_bin), state)
        room.venv_bin = str(bin_dir)
    except RuntimeError as e:
        raise SetupError(str(e)) from None
    write_jupyter_configs(room)
    prepare_exchange(room)
    prepare_course(room)
    settings = {**asdict(room), "grader": room.grader, "course_root": room.course_root,
                "lecturelib_path": str(shared_lecturelib(state))}
    _write(room.settings_file, json.dumps(settings, indent=1))


def hub_command(room: Classroom) -> tuple[list[str], dict[str, str]]:
    env = {**os.environ, **room.extra_env, "ELM_CLASSROOM": str(room.settings_file),
           "PATH": f"{room.venv_bin}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}"}
    return [f"{room.venv_bin}/jupyterhub", "-f", str(HUB_CONFIG)], env


def admin_token(room: Classroom) -> str:
    return (Path(room.state_dir) / "hub" / "admin_token").read_text().strip()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="Set up and start the course's JupyterHub (run as root).")
    p.add_argument("--instructor", action="append", default=[], help="instructor account (repeatable); "
                   "the first one runs the formgrader and owns the course directory")
    p.add_argument("--students", default="", help="comma-separated student accounts")
    p.add_argument("--ip", default="127.0.0.1", help="address to listen on (default: loopback only)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--state", default="/srv/embodied-lm", help="the hub's own files")
    p.add_argument("--exchange", default="/srv/nbgrader/exchange", help="nbgrader's exchange root")
    p.add_argument("--ssl-cert", default="", help="certificate for HTTPS (a real class)")
    p.add_argument("--ssl-key", default="")
    p.add_argument("--create-users", action="store_true",
                   help="create missing accounts with random passwords (printed once): for a trial")
    p.add_argument("--no-start", action="store_true", help="only write the set-up")
    args = p.parse_args(argv)
    students = [s for s in args.students.split(",") if s]
    room = Classroom(args.instructor, students, state_dir=args.state, exchange=args.exchange, ip=args.ip,
                     port=args.port, ssl_cert=args.ssl_cert, ssl_key=args.ssl_key)
    try:
        if args.create_users and os.geteuid() == 0:
            for name in room.instructors + room.students:
                try:
                    pwd.getpwnam(name)
                except KeyError:
                    print(f"created {name} with password {create_user(name)}")
        prepare(room)
    except (SetupError, OSError, subprocess.CalledProcessError) as e:
        print(f"classroom: {e}", file=sys.stderr)
        return 2
    scheme = "https" if room.ssl_cert else "http"
    print(f"Set up in {room.state_dir}; course directory {room.course_root}; exchange {room.exchange}.")
    if args.no_start:
        return 0
    cmd, env = hub_command(room)
    print(f"Starting JupyterHub on {scheme}://{room.ip}:{room.port} (Ctrl-C stops it and every server).")
    os.chdir(Path(room.state_dir) / "hub")
    os.execvpe(cmd[0], cmd, env)


if __name__ == "__main__":
    sys.exit(main())
