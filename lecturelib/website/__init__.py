"""The course as a static website: every lesson with its figures, readable before installing anything.

`make site` (``python -m lecturelib.website``) writes ``build/site/html/index.html``. The site is built
with Sphinx and MyST-NB (``conf.py`` here), which render a notebook's markdown, LaTeX and outputs as they
were saved, without executing anything and without network access: MathJax is served from the site
itself (copied from the ``jupyter-server-mathjax`` package), never from a CDN.

* ``pages.py``: a lesson page from an *executed solution*: each solution cell shows the student's stub
  from ``lessons/`` (matched by nbgrader ``grade_id``), test cells show the student's visible tests only,
  both without outputs; every other cell keeps its figures, printed metrics and animations; a first cell
  says when and on what device the run was measured and links the notebook to open in JupyterLab.
* ``widgets.py``: ipywidgets drawn as their saved state, in plain HTML (no widget JavaScript needed).
* ``home.py``: the home page: the README's course map and quick start, each lesson's objectives.
* ``build.py``: finds the executions (those `make test` saved in ``test-artifacts/``; a lesson without one
  is executed here, once, and kept in ``build/site/executions/``), writes the pages and runs Sphinx.

Why these live in ``lecturelib``: like ``lecturelib.grading``, they read the course through
``lecturelib.grading.lessons`` and are tested by the suite (tests/test_site.py).
"""
