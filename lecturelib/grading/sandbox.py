"""Run the grading kernel, the one that executes a student's code, inside a bubblewrap sandbox.

Autograding runs whatever a student wrote. Without a sandbox that code runs with the grader's rights: it
could read ``solutions/`` (the hidden tests), rewrite ``gradebook.db``, read the other submissions, reach
the network, fork without end or fill the memory. :class:`SandboxedKernelManager` is a jupyter_client
kernel manager that starts the kernel under ``bwrap`` (Debian package ``bubblewrap``) so that it sees:

* read-only: the system's libraries and programs (/usr, /etc's few files Python reads), the Python that
  runs the course (its installation and the virtual environment), and the ``lecturelib`` package;
* read-write: a private copy of the notebook's working folder (the kernel's cwd, at its usual path) and
  a private /tmp; nothing it writes there outlives the kernel;
* nothing else: no course folder, no ``solutions/``, no gradebook, no exchange, no other submission, no
  network (a fresh network namespace holds only a loopback that nobody else uses), no other process
  (a fresh PID namespace, torn down with the kernel).

Inside, ``prlimit`` caps private memory (RLIMIT_DATA: what ``malloc``/NumPy/torch allocate; CUDA's large
address-space reservations do not count), processes and threads (RLIMIT_NPROC, counted per user
namespace or per uid, so a fork bomb meets its own limit), CPU seconds (RLIMIT_CPU) and the size of any one
file (RLIMIT_FSIZE). When the grader runs as root the kernel drops to an unused uid of its own with no
capabilities (``setpriv``), because Linux exempts root from RLIMIT_NPROC.

The kernel talks to the grader over ZeroMQ ``ipc`` sockets (files in a private run folder bound into the
sandbox), since a TCP port on the grader's loopback is unreachable from the sandbox's own network.

The hidden tests never exist on disk in the sandbox: nbgrader injects them into the notebook, and the
grader sends each cell to the kernel only when it runs it.

Where bubblewrap is missing or user namespaces are disabled, grading still works, unsandboxed, and says
so plainly (:func:`status_line`); ``SandboxedKernelManager.require = True`` (or ``COURSE_SANDBOX=require``)
refuses to grade then. ``COURSE_SANDBOX=off`` turns the sandbox off on purpose.
"""
from __future__ import annotations

import functools
import importlib.util
import os
import shutil
import site
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager
from traitlets import Bool, Integer, List, Unicode

# When the grader runs as root the kernel gets a uid of its own, from this range, that no account uses:
# RLIMIT_NPROC counts processes per uid, so one sandbox's fork bomb cannot starve another.
SANDBOX_UID_BASE, SANDBOX_UID_SPAN = 200000, 60000
ETC_FILES = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "passwd", "group", "nsswitch.conf",
             "hosts", "ssl", "ca-certificates", "fonts", "mime.types", "alternatives", "os-release")
# Environment the kernel may see; everything else (tokens, paths to the course) is dropped.
PASSED_ENV = ("COURSE_BUDGET", "COURSE_DEVICE", "COURSE_METRICS_FILE", "LANG", "LC_ALL", "TZ",
              "OMP_NUM_THREADS", "MKL_NUM_THREADS", "CUDA_VISIBLE_DEVICES", "PYTHONHASHSEED",
              # a Python copied where every user can read it (classroom/shared_python.py) finds its libpython here
              "LD_LIBRARY_PATH")


HELPER_PROCESSES = 8     # worker processes a cell may leave running for later cells (not kernel copies)

def _mode() -> str:
    return os.environ.get("COURSE_SANDBOX", "auto").strip().lower()


@functools.lru_cache(maxsize=None)
def availability() -> tuple[bool, str]:
    """(can we sandbox, why not): runs a trivial command in the same kind of sandbox once."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return False, "bubblewrap (bwrap) is not installed (Debian/Ubuntu: apt-get install bubblewrap)"
    cmd = [bwrap, *_namespaces(), "--die-with-parent", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
           "--", *_drop_to(SANDBOX_UID_BASE), "true"]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as err:
        return False, f"bwrap could not start: {err}"
    if proc.returncode != 0:
        reason = (proc.stderr.strip().splitlines() or ["no message"])[-1]
        return False, f"bwrap cannot create namespaces here ({reason}); user namespaces may be disabled"
    return True, ""


def enabled() -> bool:
    return _mode() != "off" and availability()[0]


def status_line() -> str:
    """One line for the grading report: sandboxed, or plainly not."""
    if _mode() == "off":
        return "UNSANDBOXED: COURSE_SANDBOX=off, so student code ran with the grader's rights"
    ok, why = availability()
    if ok:
        return "sandboxed: bubblewrap, no network, no course files, limits on memory, processes and CPU time"
    return f"UNSANDBOXED: {why}; student code ran with the grader's rights"


def _namespaces() -> list[str]:
    """Fresh namespaces for everything. As root, bwrap sets the mounts up with root's rights (it can read
    a Python installed under /root) and the kernel drops to its own uid inside (:func:`_drop_to`); as
    anyone else, bwrap makes a user namespace itself."""
    if os.geteuid() == 0:
        return ["--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"]
    return ["--unshare-all"]


def _drop_to(uid: int) -> list[str]:
    """As root: become ``uid`` with no capabilities and no way back (no setuid binaries either)."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv") or "setpriv"
    return [setpriv, f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--inh-caps=-all",
            "--bounding-set=-all", "--no-new-privs", "--"]


def _sandbox_uid() -> int:
    return SANDBOX_UID_BASE + os.getpid() % SANDBOX_UID_SPAN   # one kernel at a time per grading process


def _ro_paths() -> list[Path]:
    """What the kernel must read: this Python, its environment and the lecturelib package."""
    paths = {Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve(), Path(sys.executable).resolve().parent}
    # site-packages may be a link out of the prefix (the hub's shared Python links the course's venv)
    paths |= {Path(p).resolve() for p in site.getsitepackages()}
    spec = importlib.util.find_spec("lecturelib")
    for loc in (spec.submodule_search_locations or []) if spec else []:
        paths.add(Path(loc).resolve())
    return sorted(p for p in paths if p.exists())


def _library_dirs(value: str) -> list[Path]:
    """The existing folders named in an LD_LIBRARY_PATH value (the kernel needs them read-only)."""
    return sorted({Path(d).resolve() for d in value.split(os.pathsep) if d and Path(d).is_dir()})


def _ancestors(paths: list[Path]) -> list[Path]:
    found = {a for p in paths for a in p.parents if a not in (Path("/"), Path("/tmp"))}
    return sorted(found, key=lambda a: len(a.parts))


class SandboxedKernelManager(AsyncKernelManager):
    """An ``AsyncKernelManager`` whose kernel runs under bwrap + prlimit (see the module docstring)."""

    memory_mb = Integer(8192, help="private memory (RLIMIT_DATA) the kernel may allocate, in MiB").tag(config=True)
    max_processes = Integer(512, help="processes and threads in the sandbox (RLIMIT_NPROC)").tag(config=True)
    cpu_seconds = Integer(7200, help="CPU seconds per process (RLIMIT_CPU); the cell timeout bounds "
                                     "wall time").tag(config=True)
    file_mb = Integer(2048, help="largest file the kernel may write, in MiB (RLIMIT_FSIZE)").tag(config=True)
    tmp_mb = Integer(1024, help="size of the sandbox's private /tmp, in MiB").tag(config=True)
    extra_ro_paths = List(Unicode(), help="further folders the notebooks need, read-only").tag(config=True)
    require = Bool(False, help="refuse to start a kernel when the sandbox is unavailable").tag(config=True)

    _scratch: str | None = None

    async def _async_pre_start_kernel(self, **kw):
        self.sandboxed = enabled()
        if not self.sandboxed:
            if self.require or _mode() == "require":
                raise RuntimeError("grading needs the sandbox, but " + availability()[1])
            self.log.warning(status_line())
            return await super()._async_pre_start_kernel(**kw)
        # Interrupt (a cell's time limit) by a message on the control channel: a SIGINT to the process
        # group would reach bwrap itself and end the sandbox, kernel and all.
        self.kernel_spec.interrupt_mode = "message"
        self._scratch = tempfile.mkdtemp(prefix="course-sandbox-")
        run = Path(self._scratch) / "run"
        run.mkdir()
        # ipc sockets are files: the kernel binds them in run/, the grader connects from outside.
        self.transport, self.ip = "ipc", str(run / "kernel")
        self.connection_file = str(run / "kernel.json")
        self._outer_cwd = kw.get("cwd") or os.getcwd()
        kw["cwd"] = self._scratch
        return await super()._async_pre_start_kernel(**kw)

    async def _async_launch_kernel(self, kernel_cmd, **kw):
        if self._scratch is not None:
            kernel_cmd, kw["env"] = self._wrap(kernel_cmd, kw.get("env") or dict(os.environ))
        return await super()._async_launch_kernel(kernel_cmd, **kw)

    def _wrap(self, kernel_cmd: list[str], env: dict) -> tuple[list[str], dict]:
        scratch = Path(self._scratch)
        work, home = scratch / "work", scratch / "home"
        shutil.copytree(self._outer_cwd, work, symlinks=True,
                        ignore=shutil.ignore_patterns(".ipynb_checkpoints", "gradebook.db"))
        _seed_home(home)
        inner_env = {k: env[k] for k in PASSED_ENV if k in env}
        # JPY_PARENT_PID=1: ipykernel's parent poller would take the sandbox's PID 1 for a dead parent
        inner_env.update(JPY_PARENT_PID="1", HOME=str(home), TMPDIR="/tmp", MPLBACKEND="agg", PYTHONNOUSERSITE="1",
                         COURSE_CACHE_DIR=str(home / ".cache" / "lecturelib"),
                         PATH=f"{Path(sys.executable).parent}:/usr/bin:/bin",
                         PYTHONPATH=os.pathsep.join(str(p.parent) for p in _ro_paths() if p.name == "lecturelib"))
        # /tmp first: the scratch folders and the notebook's cwd may live below it.
        args = [shutil.which("bwrap"), *_namespaces(), "--die-with-parent", "--clearenv",
                "--dev", "/dev", "--proc", "/proc", "--size", str(self.tmp_mb << 20), "--perms", "1777", "--tmpfs", "/tmp",
                # multiprocessing's locks and queues live in /dev/shm (lesson 08 trains on the second core)
                "--size", str(256 << 20), "--perms", "1777", "--tmpfs", "/dev/shm"]
        for name in ("usr", "bin", "sbin", "lib", "lib32", "lib64", "opt"):
            p = Path("/") / name
            if p.is_symlink():
                args += ["--symlink", os.readlink(p), str(p)]
            elif p.is_dir() and name != "opt":
                args += ["--ro-bind", str(p), str(p)]
        for name in ETC_FILES:
            if (Path("/etc") / name).exists():
                args += ["--ro-bind", f"/etc/{name}", f"/etc/{name}"]
        ro = _ro_paths() + [Path(x) for x in self.extra_ro_paths]
        ro += [p for p in _library_dirs(inner_env.get("LD_LIBRARY_PATH", "")) if not any(p.is_relative_to(r) for r in ro)]
        # bwrap would create the folders above each mount point as 0700 (root's): open them for the kernel
        metrics = inner_env.get("COURSE_METRICS_FILE")
        mounts = ro + [Path(self._outer_cwd), scratch / "run"] + ([Path(metrics).resolve()] if metrics else [])
        for d in _ancestors(mounts):
            args += ["--perms", "0755", "--dir", str(d)]
        for p in ro:
            args += ["--ro-bind", str(p), str(p)]
        if Path(sys.prefix) != Path(sys.prefix).resolve():   # a symlinked venv: keep its usual path too
            args += ["--ro-bind", str(Path(sys.prefix).resolve()), sys.prefix]
        if metrics:   # the one file outside the sandbox a notebook may append to: its measured figures
            Path(metrics).parent.mkdir(parents=True, exist_ok=True)
            Path(metrics).touch()
            os.chmod(metrics, 0o666)
            metrics = str(Path(metrics).resolve())
            inner_env["COURSE_METRICS_FILE"] = metrics
            args += ["--bind", metrics, metrics]
        args += ["--bind", str(work), self._outer_cwd, "--bind", str(scratch / "run"), str(scratch / "run"),
                 "--bind", str(home), str(home), "--chdir", self._outer_cwd]
        for k, v in inner_env.items():
            args += ["--setenv", k, v]
        limits = [shutil.which("prlimit") or "prlimit", f"--data={self.memory_mb << 20}",
                  f"--nproc={self.max_processes}", f"--cpu={self.cpu_seconds}", f"--fsize={self.file_mb << 20}",
                  "--core=0", "--"]
        uid = _sandbox_uid()
        if os.geteuid() == 0:   # the unprivileged uid must own what it writes
            _chown_tree(scratch, uid)
        return args + ["--"] + _drop_to(uid) + limits + kernel_cmd, dict(os.environ)

    def kill_strays(self) -> int:
        """Kill the processes the kernel started that outlived their cell (a fork bomb's copies, a forgotten
        subprocess; up to HELPER_PROCESSES workers may stay); returns how many. Called after each cell: leftovers would hold the sandbox's process
        slots and CPU, and a kernel that cannot start a thread stops answering."""
        proc = getattr(self.provisioner, "process", None)
        if self._scratch is None or proc is None:
            return 0
        killed, kernel = 0, None
        try:   # everything in the sandbox's process group stops at once (a fork in flight included)
            os.killpg(proc.pid, signal.SIGSTOP)
        except OSError:
            pass
        for _ in range(20):
            inside = [p for p in _descendants(proc.pid, _children())
                      if Path(_cmdline(p).split(b"\0")[0].decode(errors="replace")).name != "bwrap"]
            kernels = sorted((p for p in inside if b"ipykernel" in _cmdline(p)), key=_start_time)
            # the kernel is the oldest; a fork's copies carry its command line, and orphans are adopted by
            # the sandbox's PID 1, so neither their name nor their parent tells them apart
            kernel = kernel or (kernels[0] if kernels else None)
            strays = [p for p in inside if p != kernel]
            if not strays:
                break
            # a few worker processes that a lesson starts on purpose (lesson 08 trains on the second core in a
            # multiprocessing worker that later cells collect) may stay; a fork's copies carry the kernel's
            # command line, and a bomb is many
            if len(strays) <= HELPER_PROCESSES and not any(b"ipykernel" in _cmdline(p) for p in strays):
                break
            for pid in inside:   # stopped first: a process that is still forking would refill the slots
                _signal(pid, signal.SIGSTOP)
            for pid in strays:
                killed += _signal(pid, signal.SIGKILL)
        try:
            os.killpg(proc.pid, signal.SIGCONT)
        except OSError:
            pass
        if kernel is not None:
            _signal(kernel, signal.SIGCONT)
        return killed

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        await super()._async_cleanup_resources(restart=restart)
        if self._scratch is not None and not restart:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None

    cleanup_resources = _async_cleanup_resources   # AsyncKernelManager binds the base method by name


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            tree.setdefault(ppid, []).append(int(entry))
    return tree


def _descendants(pid: int, tree: dict[int, list[int]]) -> list[int]:
    out, todo = [], list(tree.get(pid, []))
    while todo:
        p = todo.pop()
        out.append(p)
        todo += tree.get(p, [])
    return out


def _signal(pid: int, sig: int) -> int:
    try:
        os.kill(pid, sig)
        return 1
    except OSError:
        return 0


def _start_time(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return 1 << 62


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _seed_home(home: Path) -> None:
    """A fresh home with copies of the caches that make startup fast (matplotlib fonts, sentence embeddings)."""
    (home / ".cache").mkdir(parents=True)
    for name in ("matplotlib", "lecturelib"):
        src = Path.home() / ".cache" / name
        if src.is_dir():
            shutil.copytree(src, home / ".cache" / name, ignore=shutil.ignore_patterns("*.lock"))


def _chown_tree(root: Path, uid: int) -> None:
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [dirpath] + [os.path.join(dirpath, n) for n in dirnames + filenames]:
            os.lchown(name, uid, uid)
