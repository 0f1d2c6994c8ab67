"""Make the course's Python environment runnable by every user of the hub.

Every student's JupyterLab and kernel runs as that student, so they all need the interpreter behind the
course's ``.venv``. A venv built from a Python under a private home (pyenv in /root, say) cannot be run by
anyone else. Then this module builds a thin venv in the hub's state directory instead: the *same*
site-packages, run by a readable copy of the very interpreter the venv was built from (binary, libpython
and standard library, ~100 MB), with the venv's scripts and kernelspecs pointing at it. (Another Python of
the same minor version is not enough: soupsieve fails on Debian's 3.11.2 where 3.11.7 works.) Nothing under
the original venv or the private home is changed.
"""
from __future__ import annotations

import json
import os
import shutil
import stat
import sys
from pathlib import Path


def reachable_by_all(path: Path, need: int = stat.S_IXOTH) -> bool:
    """True if any user may use ``path``: every folder above it searchable, ``path`` itself allowing
    ``need`` for others (run it, by default; ``stat.S_IROTH`` to read it)."""
    path = Path(os.path.realpath(path))
    return bool(os.stat(path).st_mode & need) and all(os.stat(p).st_mode & stat.S_IXOTH for p in path.parents)


def _copy_interpreter(base: Path, dest: Path) -> Path:
    """The interpreter the venv was built from (binary, libpython, standard library), copied to a place
    everyone can read. The same build, so compiled packages and the standard library's behaviour match."""
    if dest.exists():
        shutil.rmtree(dest)
    python = Path(os.path.realpath(sys.executable))
    (dest / "bin").mkdir(parents=True)
    shutil.copy2(python, dest / "bin" / python.name)
    (dest / "lib").mkdir()
    for lib in (base / "lib").glob("libpython*.so*"):
        shutil.copy2(lib, dest / "lib" / lib.name, follow_symlinks=False)
    stdlib = f"python{sys.version_info.major}.{sys.version_info.minor}"
    shutil.copytree(base / "lib" / stdlib, dest / "lib" / stdlib, symlinks=True,
                    ignore=shutil.ignore_patterns("site-packages", "test", "__pycache__", "idle_test"))
    (dest / "lib" / stdlib / "site-packages").mkdir()
    return dest / "bin" / python.name


def shared_venv_bin(venv_bin: Path, state_dir: Path) -> tuple[Path, dict[str, str]]:
    """The bin/ folder every user can run, and the environment variables it needs: ``venv_bin`` itself if
    reachable, else a thin venv on a readable copy of the same interpreter."""
    python = venv_bin / "python"
    if reachable_by_all(python):
        return venv_bin, {}
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    base = state_dir / "python-base"
    system = _copy_interpreter(Path(sys.base_prefix), base)
    # the copied binary still names the original libpython's folder (RUNPATH); this one comes first
    env = {"LD_LIBRARY_PATH": str(base / "lib")}
    venv = venv_bin.parent
    shim = state_dir / "python"
    if shim.exists():
        shutil.rmtree(shim)
    (shim / "bin").mkdir(parents=True)
    (shim / "lib" / f"python{version}").mkdir(parents=True)
    (shim / "bin" / "python").symlink_to(system)
    (shim / "bin" / f"python{version}").symlink_to(system)
    (shim / "lib" / f"python{version}" / "site-packages").symlink_to(
        venv / "lib" / f"python{version}" / "site-packages")
    (shim / "pyvenv.cfg").write_text(f"home = {system.parent}\ninclude-system-site-packages = false\n"
                                     f"version = {version}\n")
    # console scripts (jupyterhub-singleuser, nbgrader, alembic, ...): same code, shared interpreter
    shebangs = {f"#!{where}/{name}" for where in (venv_bin, Path(os.path.realpath(venv_bin)))
                for name in ("python", "python3", f"python{version}")}
    for script in venv_bin.iterdir():
        if script.is_file() and not script.is_symlink():
            try:
                first, rest = script.read_text().split("\n", 1)
            except (UnicodeDecodeError, ValueError):
                continue
            if first.strip() in shebangs:
                target = shim / "bin" / script.name
                target.write_text(f"#!{shim}/bin/python\n{rest}")
                target.chmod(0o755)
    # Jupyter's data and config as the venv has them, but kernels started with the shared interpreter
    (shim / "etc").symlink_to(venv / "etc")
    data = shim / "share" / "jupyter"
    data.mkdir(parents=True)
    for entry in (venv / "share").iterdir():     # jupyterhub's templates and static files, among others
        if entry.name != "jupyter":
            (shim / "share" / entry.name).symlink_to(entry)
    for entry in (venv / "share" / "jupyter").iterdir():
        if entry.name != "kernels":
            (data / entry.name).symlink_to(entry)
    for spec in (venv / "share" / "jupyter" / "kernels").glob("*/kernel.json"):
        kernel = json.loads(spec.read_text())
        if kernel.get("argv") and "python" in Path(kernel["argv"][0]).name:
            kernel["argv"][0] = str(shim / "bin" / "python")
        dest = data / "kernels" / spec.parent.name
        shutil.copytree(spec.parent, dest)
        (dest / "kernel.json").write_text(json.dumps(kernel, indent=1))
    for path in [shim, *shim.rglob("*")]:
        if not path.is_symlink():
            path.chmod(0o755 if path.is_dir() or os.access(path, os.X_OK) else 0o644)
    for path in [base, *base.rglob("*")]:
        if not path.is_symlink():
            path.chmod(0o755 if path.is_dir() or os.access(path, os.X_OK) else 0o644)
    return shim / "bin", env
