"""Sphinx configuration of the course website (read by Sphinx; ``build.py`` points it at this folder).

MyST-NB renders the lesson pages from their saved outputs and never executes them; the theme is Furo,
whose files all ship in its wheel. MathJax 2 comes from the site's own ``_static/mathjax`` (copied from
the ``jupyter-server-mathjax`` package by ``build.py``), so that math renders offline.
"""
project = "Embodied Language Models"
author = "the course authors"
copyright = "the course authors, MIT license"
extensions = ["myst_nb"]
exclude_patterns = ["_build", "**.ipynb_checkpoints", "executions"]
root_doc = "index"

nb_execution_mode = "off"              # the pages are executed runs; Sphinx only renders them
nb_merge_streams = True
nb_output_stderr = "remove"            # progress-bar residue and warnings, not results
nb_render_markdown_format = "myst"
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "html_image"]
myst_heading_anchors = 3
suppress_warnings = ["myst.header", "mystnb.unknown_mime_type", "misc.highlighting_failure",
                     "myst.xref_missing"]

html_theme = "furo"
html_title = project
html_static_path = ["_static"]
# MathJax 2's own configuration file; its TeX extensions handle what the lessons write (aligned, \mathcal, ...).
mathjax_path = "mathjax/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full"
mathjax3_config = None
mathjax4_config = None
mathjax2_config = {
    "tex2jax": {"inlineMath": [["\\(", "\\)"]], "displayMath": [["\\[", "\\]"]],
                "processRefs": False, "processEnvironments": True,
                "processClass": "math|output_area", "ignoreClass": "tex2jax_ignore|mathjax_ignore|document"},
    # the package ships the STIX-Web fonts only (as Jupyter's own pages configure it)
    "HTML-CSS": {"availableFonts": [], "preferredFont": None, "webFont": "STIX-Web", "imageFont": None},
    "messageStyle": "none",
    "MathMenu": {"showLocale": False},
}
html_last_updated_fmt = None
html_copy_source = False
html_show_sourcelink = False
