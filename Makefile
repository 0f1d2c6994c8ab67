# Embodied Language Models: the two commands a student needs are `make lab` and `make test`.
# Both build .venv themselves; it is rebuilt only when the dependency spec changes.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PORT   ?= 8888
HOST   ?= 127.0.0.1
# Set NO_BROWSER=1 for a headless machine (JupyterLab then prints its URL and token).
NO_BROWSER ?=
PYTEST_ARGS ?=
# `make classroom`: the course's JupyterHub for a class (classroom/README.md)
HUB_PORT ?= 8000
INSTRUCTOR ?=
STUDENTS ?=
CLASSROOM_ARGS ?=
BENCH_ARGS ?=
SITE_ARGS ?=

# Everything below runs with the environment's bin/ first on PATH: nbgrader starts `alembic` by name.
export PATH := $(CURDIR)/$(BIN):$(PATH)

STAMP := $(VENV)/.course-installed

.PHONY: lab test site bench env doctor release classroom clean-venv help

help:
	@echo "make lab    build .venv if needed, then start JupyterLab on the course (PORT=$(PORT), NO_BROWSER=1 for headless)"
	@echo "make test   build .venv if needed, then run the whole test suite"
	@echo "make site   build .venv if needed, then the course website in build/site/html (README, 'The course website')"
	@echo "make bench  build .venv if needed, then write benchmarks/RESULTS.md"
	@echo "make env    only build or update .venv"
	@echo "make classroom  (root) set up and start the course's JupyterHub on $(HOST):$(HUB_PORT) for"
	@echo "            INSTRUCTOR=name STUDENTS=a,b,c (system accounts; see classroom/README.md)"

env: $(STAMP)

# The stamp depends on the dependency spec: editing pyproject.toml re-installs (`make env`); else nothing runs.
$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; v = sys.version_info; sys.exit(0 if (3, 10) <= v[:2] <= (3, 12) else "This course needs Python 3.10, 3.11 or 3.12; $(PYTHON) is %d.%d. Run: make PYTHON=python3.11 ..." % v[:2])'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=25.1"
	@# learn2learn 0.2.0: its shipped C files do not compile on Python >= 3.11, so build them again
	@# from the .pyx sources with Cython (build_ext switches its setup.py to the .pyx files).
	$(BIN)/python -m pip install --quiet "cython>=3.0" "numpy>=1.26" "setuptools>=77" wheel
	$(BIN)/python -c 'import learn2learn' 2>/dev/null || \
	  $(BIN)/python -m pip install --quiet --no-build-isolation -C--build-option=build_ext "learn2learn==0.2.0"
	$(BIN)/python -m pip install --quiet -e ".[test]"
	$(BIN)/python -m ipykernel install --sys-prefix --name embodied-lm --display-name "Python (Embodied LM course)" >/dev/null
	$(BIN)/jupyter labextension list 2>&1 | grep -q "@jupyter/nbgrader" || { echo "nbgrader's JupyterLab extension is missing"; exit 1; }
	@touch $(STAMP)
	@echo "Environment ready in $(VENV)."

lab: $(STAMP)
	$(BIN)/jupyter lab --ServerApp.root_dir="$(CURDIR)" --port=$(PORT) --ServerApp.ip=$(HOST) \
	  $(if $(NO_BROWSER),--no-browser,) $(if $(filter 0,$(shell id -u)),--allow-root,) \
	  --LabApp.default_url=/lab/tree/lessons

# Two phases. First everything whose speed is not measured, spread over the cores, one test file per
# worker (unit tests, grading, blank lessons, browser); then the solution notebooks one at a time, so
# that each lesson's execution time is measured on an otherwise idle machine. The last file of that phase,
# tests/test_site.py, builds the course website from those very runs (no second execution of any lesson).
# pytest's exit code 5 ("no tests collected") counts as a failure, never as a pass.
test: $(STAMP)
	@$(BIN)/python -m pytest -m "not notebook" -n 2 --dist loadfile $(PYTEST_ARGS); rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "make test: no tests were collected"; exit 1; fi; [ $$rc -eq 0 ] || exit $$rc
	@$(BIN)/python -m pytest -m notebook $(PYTEST_ARGS); rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "make test: no notebook tests were collected"; exit 1; fi; exit $$rc

# The lesson pages are made from the solution runs `make test` saves in test-artifacts/; a lesson with
# none is executed first (about two minutes each). SITE_ARGS: e.g. "00 02" for two lessons only.
site: $(STAMP)
	$(BIN)/python -m lecturelib.website $(SITE_ARGS)

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[test,bench]"
	$(BIN)/python benchmarks/run.py $(BENCH_ARGS)

doctor: $(STAMP)
	$(BIN)/course doctor

release: $(STAMP)
	$(BIN)/course release

# The hub runs as root (it spawns every user's JupyterLab as that user); loopback unless HOST says otherwise.
classroom: $(STAMP)
	@command -v configurable-http-proxy >/dev/null || { echo "classroom: configurable-http-proxy is missing: npm install -g configurable-http-proxy"; exit 2; }
	@test -n "$(INSTRUCTOR)" || { echo "classroom: name the instructor: make classroom INSTRUCTOR=name STUDENTS=a,b,c"; exit 2; }
	$(BIN)/python classroom/setup_hub.py --instructor "$(INSTRUCTOR)" --students "$(STUDENTS)" \
	  --ip $(HOST) --port $(HUB_PORT) $(CLASSROOM_ARGS)

clean-venv:
	rm -rf $(VENV)
