"""JupyterHub configuration for teaching the course to a class on one machine.

Every student and instructor is a real system account; the hub (run as root) spawns each one's JupyterLab
as that account, so the operating system, not the course, keeps students apart. nbgrader's exchange is a
directory shared by all of them; the instructor grades in a formgrader that runs as a hub *service* under
the instructor's account, reachable only by the group ``formgrade-<course>``.

Nothing here is edited by hand for a class: ``classroom/setup_hub.py`` (``make classroom``) writes the
roster, ports and directories to a JSON file and points ``ELM_CLASSROOM`` at it. Read that script's
docstring for the layout on disk.
"""
import json
import os
from pathlib import Path

c = get_config()  # noqa: F821  (provided by JupyterHub when it loads this file)

settings = json.loads(Path(os.environ.get("ELM_CLASSROOM", "/srv/embodied-lm/classroom.json")).read_text())
course = settings["course_id"]
state = Path(settings["state_dir"])
venv_bin = settings["venv_bin"]
instructors, students = settings["instructors"], settings["students"]
grader = settings["grader"]            # the account the formgrader service runs as (an instructor)

# -- network: the public port on the chosen address (loopback unless told otherwise); internals on loopback
c.JupyterHub.ip = settings["ip"]
c.JupyterHub.port = settings["port"]
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = settings["hub_port"]
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{settings['proxy_api_port']}"
c.ConfigurableHTTPProxy.pid_file = str(state / "hub" / "proxy.pid")
c.JupyterHub.db_url = f"sqlite:///{state / 'hub' / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(state / "hub" / "cookie_secret")
if settings.get("ssl_cert"):           # a real class: HTTPS directly on the hub (or put a TLS proxy in front)
    c.JupyterHub.ssl_cert, c.JupyterHub.ssl_key = settings["ssl_cert"], settings["ssl_key"]

# -- who may log in: system accounts, checked by PAM (a real class may swap in an OAuth authenticator,
# keeping usernames equal to the system accounts: see classroom/README.md)
c.JupyterHub.authenticator_class = settings.get("authenticator", "pam")
c.Authenticator.allowed_users = set(instructors) | set(students)
c.Authenticator.admin_users = set()    # nobody needs the hub's admin powers to teach or grade

# -- each user's JupyterLab, spawned as that system account with the course's environment
c.JupyterHub.spawner_class = "localprocess"
c.Spawner.cmd = [f"{venv_bin}/jupyterhub-singleuser"]
c.Spawner.ip = "127.0.0.1"
c.Spawner.default_url = "/lab"
c.Spawner.notebook_dir = "~"
c.Spawner.start_timeout = 180          # two busy cores can take a while to import JupyterLab
c.Spawner.http_timeout = 180


def _config_path(spawner):
    """Students and instructors see different nbgrader extensions (written by setup_hub.py)."""
    role = "instructor" if spawner.user.name in instructors else "student"
    return str(state / "etc" / role)


c.Spawner.environment = {
    "PATH": f"{venv_bin}:/usr/local/bin:/usr/bin:/bin",    # nbgrader runs `alembic` by name
    "PYTHONPATH": settings["lecturelib_path"],    # the checkout the classroom was set up from (or its copy)
    "JUPYTER_CONFIG_PATH": _config_path,
    "COURSE_BUDGET": settings.get("budget", "full"),
    **settings["extra_env"],
}

# -- the course's groups, as nbgrader's JupyterHubAuthPlugin expects them
c.JupyterHub.load_groups = {
    f"formgrade-{course}": {"users": sorted(instructors)},
    f"nbgrader-{course}": {"users": sorted(students)},
}
c.JupyterHub.load_roles = [
    # instructors reach the formgrader service; students and instructors can discover it
    {"name": f"formgrade-{course}", "groups": [f"formgrade-{course}"],
     "scopes": [f"access:services!service={course}", "list:services", f"read:services!service={course}"]},
    {"name": f"nbgrader-{course}", "groups": [f"nbgrader-{course}"],
     "scopes": ["list:services", f"read:services!service={course}"]},
    # a user's server may ask the hub which course groups its owner is in (nbgrader's course list)
    {"name": "server", "scopes": ["inherit"]},
    # the formgrader adds students to nbgrader-<course> when the instructor adds them to the gradebook
    {"name": f"{course}-service", "services": [course],
     "scopes": ["read:users", "list:users", "list:groups", "read:groups", f"groups!group=nbgrader-{course}"]},
    # the setup script's and the tests' own token: start, stop and inspect servers, issue tokens
    {"name": "classroom-admin", "services": ["classroom-admin"],
     "scopes": ["admin:users", "admin:servers", "tokens", "read:hub", "list:users", "read:users"]},
]

# -- the formgrader: a JupyterLab run by the hub as the instructor's account, in the course directory
c.JupyterHub.services = [
    {
        "name": course,
        "url": f"http://127.0.0.1:{settings['service_port']}",
        "command": [f"{venv_bin}/jupyterhub-singleuser"],
        "user": grader,
        "cwd": settings["course_root"],
        "oauth_no_confirm": True,
        "environment": {
            "PATH": f"{venv_bin}:/usr/local/bin:/usr/bin:/bin",
            "PYTHONPATH": settings["lecturelib_path"],
            "JUPYTER_CONFIG_PATH": str(state / "etc" / "grader"),
            "JUPYTERHUB_DEFAULT_URL": "/lab",
            "COURSE_BUDGET": settings.get("budget", "full"),
            **settings["extra_env"],
        },
    },
    {"name": "classroom-admin",
     "api_token": (state / "hub" / "admin_token").read_text().strip(),
     "display": False},
]
