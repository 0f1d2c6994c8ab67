"""The site's home page, taken from the README and the lessons so that it never drifts from them.

It holds the course map (the README's table, its lesson links pointed at the lesson pages), the
two-command quick start (the README's section, verbatim) and, per lesson, its learning objectives (the
"In this lesson you will" list of its first cells) and the lecture slides it covers (the map's column).
"""
from __future__ import annotations

import re

import nbformat

# "**In this lesson you will**" or "**Learning objectives.** After this lesson you can", then a numbered list
OBJECTIVES = re.compile(r"\*\*(?:In this lesson you will|Learning objectives\.?)\*\*[^\n]*\n\s*"
                        r"((?:\d+\..*\n?(?:[ \t]+\S.*\n?)*)+)")
LINK = re.compile(r"\[([^\]]+)\]\(lessons/([^/)]+)/[^)]+\.ipynb\)")
# a link to a repository file (benchmarks/RESULTS.md): the site does not have it, so keep only the text
OTHER_LINK = re.compile(r"\[([^\]]+)\]\((?!https?://|lessons/)[^)]+\)")


def section(readme: str, heading: str) -> str:
    """The body of the README section ``## heading`` (up to the next ``## ``)."""
    found = re.search(rf"^## {re.escape(heading)}.*?\n(.*?)(?=^## )", readme + "\n## ", flags=re.S | re.M)
    if not found:
        raise ValueError(f"README.md has no section '## {heading}'")
    return found.group(1).strip()


def course_map(readme: str, built: list[str]) -> tuple[str, dict[str, str]]:
    """The map table, linking the ``built`` lesson pages, and ``{lesson: slides it covers}``."""
    table = "\n".join(l for l in section(readme, "The course map").splitlines() if l.startswith("|"))
    slides = {}
    for row in table.splitlines():
        link = LINK.search(row)
        cells = [c.strip() for c in row.strip("|").split("|")]
        if link and len(cells) > 1:
            slides[link.group(2)] = cells[1]
    table = LINK.sub(lambda m: f"[{m.group(1)}](lessons/{m.group(2)}.ipynb)" if m.group(2) in built
                     else m.group(1), table)
    return OTHER_LINK.sub(lambda m: m.group(1), table), slides


def objectives(lesson_nb) -> str:
    """The lesson's numbered learning objectives, as markdown (empty if the lesson states none)."""
    for cell in lesson_nb.cells[:4]:   # the objectives open the lesson
        if cell.cell_type == "markdown":
            found = OBJECTIVES.search(cell.source + "\n")
            if found:
                return found.group(1).rstrip()
    return ""


def title(lesson_nb) -> str:
    first = lesson_nb.cells[0].source.splitlines()[0] if lesson_nb.cells else ""
    return first.lstrip("# ").strip()


def home_page(readme: str, lessons: dict[str, nbformat.NotebookNode], provenance: dict[str, dict]) -> str:
    """The home page in MyST markdown, with a hidden table of contents listing the lesson pages."""
    table, slides = course_map(readme, list(lessons))
    quick = section(readme, "Quick start")
    parts = ["# Embodied Language Models", "",
             "An open, autograded course from multi-task learning towards the generalist robot. Every lesson "
             "page below is its notebook as a student opens it, with the figures and numbers of a real run "
             "of the solution; the exercises are left for you.", "",
             "## Quick start (two commands)", "", quick, "", "## The course map", "", table, "",
             "## The lessons", ""]
    for lesson, nb in lessons.items():
        info = provenance.get(lesson, {})
        parts += [f"### [{title(nb)}](lessons/{lesson}.ipynb)", "",
                  f"**Lecture slides:** {slides.get(lesson, '(not in the course map)')}", ""]
        goals = objectives(nb)
        if goals:
            parts += ["**You will**", "", goals, ""]
        if info.get("device"):
            parts += [f"*Figures measured on {info['device']}"
                      f"{', small budget' if info.get('small_budget') else ''}.*", ""]
    parts += ["```{toctree}", ":hidden:", ":maxdepth: 1", ""]
    parts += [f"lessons/{lesson}" for lesson in lessons] + ["```", ""]
    return "\n".join(parts)
