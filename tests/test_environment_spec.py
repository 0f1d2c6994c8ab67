"""environment.yml (the conda route) and pyproject.toml (the pip route) name the same packages with
compatible version bounds."""
from __future__ import annotations

import re

try:
    import tomllib
except ModuleNotFoundError:      # Python 3.10
    tomllib = __import__("pytest").importorskip("tomli")


from conftest import ROOT

# conda-forge names that differ from PyPI's
CONDA_TO_PYPI = {"pytorch": "torch"}
# packages that pyproject installs in a separate, documented step in the conda route
SEPARATE_STEP = {"learn2learn"}
# build tools the conda route needs for learn2learn's Cython build (pip gets them in the Makefile)
BUILD_TOOLS = {"python", "pip", "cython", "setuptools", "wheel"}


def parse(req: str) -> tuple[str, str]:
    m = re.match(r"\s*([A-Za-z0-9_.\-]+)\s*(.*)$", req)
    return m.group(1).lower().replace("_", "-"), m.group(2).replace(" ", "")


def pyproject_requirements() -> dict[str, str]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    reqs = list(data["project"]["dependencies"]) + list(data["project"]["optional-dependencies"]["test"])
    return dict(parse(r) for r in reqs)


def conda_requirements() -> dict[str, str]:
    import yaml  # installed with JupyterLab (jupyter-events)
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    out = {}
    for dep in env["dependencies"]:
        items = dep["pip"] if isinstance(dep, dict) else [dep]
        for item in items:
            name, spec = parse(item)
            out[CONDA_TO_PYPI.get(name, name)] = spec
    return out


def test_same_packages():
    pip, conda = pyproject_requirements(), conda_requirements()
    assert set(pip) - SEPARATE_STEP == set(conda) - BUILD_TOOLS, (
        f"only in pyproject: {set(pip) - SEPARATE_STEP - set(conda)}; "
        f"only in environment.yml: {set(conda) - BUILD_TOOLS - set(pip)}")


def test_compatible_pins():
    pip, conda = pyproject_requirements(), conda_requirements()
    for name in set(pip) & set(conda):
        assert pip[name] == conda[name], f"{name}: pyproject says {pip[name]!r}, environment.yml {conda[name]!r}"


def test_python_range_agrees():
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert data["project"]["requires-python"] == conda_requirements()["python"]


def test_learn2learn_build_step_documented():
    text = (ROOT / "environment.yml").read_text()
    assert "--no-build-isolation -C--build-option=build_ext learn2learn==0.2.0" in text
    assert "-C--build-option=build_ext" in (ROOT / "Makefile").read_text()
