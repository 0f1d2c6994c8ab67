"""`course doctor`: check the student's set-up, one line per check, each OK or how to fix it."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from .nbgrader_run import nbgrader_env

FIX_ENV = "run `make env` (it rebuilds .venv from pyproject.toml)"


def _run(args: list[str], timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, env=nbgrader_env(), timeout=timeout)


def checks():
    """Yield (ok, label, detail) for each check."""
    v = sys.version_info
    yield (3, 10) <= v[:2] <= (3, 12), "python", f"{sys.version.split()[0]} at {sys.executable}" + (
        "" if (3, 10) <= v[:2] <= (3, 12) else " (the course needs 3.10-3.12: make PYTHON=python3.11 env)")

    try:
        import torch
        import lecturelib

        dev = lecturelib.device()
        yield True, "torch", f"{torch.__version__}; computing on {lecturelib.describe_device(dev)}"
        cuda = torch.cuda.is_available()
        mps = lecturelib._mps_available()
        yield True, "accelerator", ("CUDA: " + torch.cuda.get_device_name(0)) if cuda else (
            "Apple MPS" if mps else "none found; every lesson runs on the CPU within its time budget")
    except Exception as err:  # report, never crash the doctor
        yield False, "torch", f"cannot import torch ({err}); {FIX_ENV}"

    probe = _run([sys.executable, "-c", "import gym_notices.notices as n; n.notices.clear()\n"
                  "import learn2learn as l2l; print(l2l.__version__, l2l.algorithms.MAML.__name__)"])
    if probe.returncode == 0:
        yield True, "learn2learn", f"{probe.stdout.split()[0]} imports; learn2learn.algorithms.MAML is there"
    else:
        yield False, "learn2learn", ("import failed; on Python >= 3.11 it must be built from its .pyx sources: "
                                      "`make env` does it (README, Troubleshooting)")

    try:
        from jupyter_client.kernelspec import KernelSpecManager

        specs = KernelSpecManager().find_kernel_specs()
        if "embodied-lm" in specs:
            yield True, "kernel", f"'embodied-lm' registered ({specs['embodied-lm']})"
        else:
            yield False, "kernel", ("'embodied-lm' not registered: python -m ipykernel install --sys-prefix "
                                    "--name embodied-lm --display-name 'Python (Embodied LM course)'")
    except Exception as err:
        yield False, "kernel", f"jupyter_client unavailable ({err}); {FIX_ENV}"

    try:
        from importlib.metadata import version

        ipk = version("ipykernel")
        ok = int(ipk.split(".")[0]) < 7
        yield ok, "ipykernel", (f"{ipk}" if ok else f"{ipk}: version 7 can leave a cell unstarted after a widget "
                                "cell until its time limit; pip install \"ipykernel<7\" (README, Troubleshooting)")
    except Exception as err:
        yield False, "ipykernel", f"not installed ({err}); {FIX_ENV}"

    jupyter = str(Path(sys.executable).parent / "jupyter")
    try:
        labext = _run([jupyter, "labextension", "list"])
        labext = labext.stdout + labext.stderr
        serverext = _run([jupyter, "server", "extension", "list"])
        serverext = serverext.stdout + serverext.stderr
    except (OSError, subprocess.TimeoutExpired) as err:
        labext = serverext = ""
        yield False, "jupyter", f"cannot run {jupyter} ({err}); {FIX_ENV}"
    for label, name, text in [("nbgrader lab extension", "@jupyter/nbgrader", labext),
                              ("widgets lab extension", "@jupyter-widgets/jupyterlab-manager", labext),
                              ("nbgrader validate", "nbgrader.server_extensions.validate_assignment", serverext),
                              ("nbgrader formgrader", "nbgrader.server_extensions.formgrader", serverext)]:
        line = next((l for l in text.splitlines() if name in l), "")
        ok = "enabled" in line
        yield ok, label, (f"{name} enabled" if ok else f"{name} not enabled: jupyter labextension enable {name}"
                          if "server" not in name else f"{name} not enabled: jupyter server extension enable {name}")

    alembic = shutil.which("alembic", path=nbgrader_env()["PATH"])
    yield alembic is not None, "alembic", (f"found at {alembic}" if alembic else
                                           "not found; nbgrader needs it on PATH: " + FIX_ENV)


def doctor() -> int:
    failures = 0
    for ok, label, detail in checks():
        failures += not ok
        print(f"{'OK ' if ok else 'FIX'}  {label:<24} {detail}")
    print("\nAll checks passed." if not failures else f"\n{failures} check(s) need a fix (see the FIX lines).")
    return 0 if not failures else 1
