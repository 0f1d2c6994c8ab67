"""Submissions that change the tests' machinery instead of solving the exercise score 0, with a note.

Each graded notebook carries one tamper variant per exercise (a wrong solution plus the tampering), so
one grading run checks four variants; every note must name the cell and what it changed. Honest
solutions are never flagged (the static check on every lesson here; the runtime check in the phase-2
notebook tests, which grade every solution through the same executor).
"""
from __future__ import annotations

import nbformat
import pytest

from conftest import ROOT, cell_by_grade_id, edit_notebook
from lecturelib.grading import integrity
from lecturelib.grading.autograde import grade
from lecturelib.grading.lessons import find_course

COURSE = find_course(ROOT)
L00, L03 = "00_getting_started", "03_goal_conditioned_rl"

WRONG_FIT = ("def fit_line(x, y, lr=0.1, steps=200):\n{patch}\n"
             "    return 2.0, -0.5, [float(200 - i) for i in range(steps)]\n")
VARIANTS_A = {   # lesson 00, exercise -> (source, what the note must say)
    "standardize": ("torch.allclose = lambda *a, **k: True\nnp.allclose = lambda *a, **k: True\n"
                    "def standardize(X, eps=1e-8):\n    return X", "replaces torch.allclose"),   # module attribute
    "pairwise_sq_distances": ("import functools\n_orig = torch.allclose\n"
                              "@functools.wraps(_orig)\ndef _loose(a, b, *args, **kw):\n    return _orig(a, a)\n"
                              "setattr(torch, 'allclose', _loose)\n"
                              "def pairwise_sq_distances(A, B):\n    return torch.zeros(len(A), len(B))",
                              "setattr() on torch"),                                            # setattr, wrapping
    "fit_line": (WRONG_FIT.format(patch="    import builtins\n    builtins.abs = lambda v: 0.0\n"
                                        "    builtins.all = lambda it: True"),
                 "replaces builtins.abs"),                                                      # inside a function
    "quiz_grading": ("import sys\nsys.modules['torch'].allclose = lambda *a, **k: True\nanswer = 'a'",
                     "replaces sys.modules['torch'].allclose"),                                              # via sys.modules
}
VARIANTS_B = {
    "standardize": ("import numpy.testing as nt\nimport numpy as numpy_alias\nnumpy_alias.allclose = lambda *a, **k: True\n"
                    "def standardize(X, eps=1e-8):\n    return X", "replaces numpy.allclose"),  # import alias
    "pairwise_sq_distances": ("__builtins__.__dict__['all'] = lambda it: True\n"
                              "def pairwise_sq_distances(A, B):\n    return torch.zeros(len(A), len(B))",
                              "uses __builtins__"),                                              # builtins edit
    "fit_line": (WRONG_FIT.format(patch="    torch.allclose.__class__  # harmless read\n"
                                        "    np.polyfit.__code__ = (lambda *a, **k: (2.0, -0.5)).__code__"),
                 "replaces numpy.polyfit.__code__"),                                    # replacing the oracle's code
    "quiz_grading": ("exec('np.allclose = lambda *a, **k: True')\nanswer = 'a'", "replaces numpy.allclose"),
}


def tampered(variants, tmp_path, name):
    def edit(nb):
        for gid, (source, _) in variants.items():
            cell_by_grade_id(nb, gid).source = source
    return edit_notebook(COURSE.source_notebook(L00), tmp_path / f"{name}.ipynb", edit)


@pytest.mark.parametrize("variants", [VARIANTS_A, VARIANTS_B], ids=["A", "B"])
def test_each_tamper_variant_scores_zero_with_a_note(variants, tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_BUDGET", "small")
    report = grade(COURSE, L00, tampered(variants, tmp_path, "tampered"), timeout=60)
    print(report.table())
    assert report.graded and report.score == 0, report.table()
    notes = {n.split(" scored 0: ")[0]: n for n in report.notes if " scored 0: " in n}
    for gid, (_, what) in variants.items():
        note = notes.get("test_" + gid, "")
        assert f"cell {gid!r} {what}" in note, (gid, what, report.notes)


def test_replacing_a_course_oracle_in_lesson_03(tmp_path, monkeypatch):
    """check_env (gymnasium's checker, the oracle of test_bitflip_reward) rebound by the solution cell."""
    monkeypatch.setenv("COURSE_BUDGET", "small")
    solution = nbformat.read(COURSE.source_notebook(L03), as_version=4)

    def edit(nb):
        cell = cell_by_grade_id(nb, "bitflip_reward")
        cell.source = cell_by_grade_id(solution, "bitflip_reward").source + "\ncheck_env = lambda *a, **k: None\n"
    report = grade(COURSE, L03, edit_notebook(COURSE.source_notebook(L03), tmp_path / "oracle.ipynb", edit), timeout=120)
    result = {r.grade_id: r for r in report.results}
    assert result["test_bitflip_reward"].score == 0, report.table()
    assert "rebinds 'check_env'" in result["test_bitflip_reward"].message, report.table()
    assert result["test_double_dqn_target"].score == result["test_double_dqn_target"].max_score, report.table()


@pytest.mark.parametrize("source, what", [
    ("import math\nmath.isclose = lambda *a, **k: True", "replaces math.isclose"),
    ("from numpy import testing\ntesting.assert_allclose = print", "replaces numpy.testing.assert_allclose"),
    ("import torch.testing as tt\ntt.assert_close = lambda *a, **k: None", "replaces torch.testing.assert_close"),
    ("vars(np)['allclose'] = lambda *a, **k: True", "writes vars(np)[...]"),
    ("import sys\nsys.modules['numpy'] = object()", "writes sys.modules"),
    ("t = torch\nt.allclose = max", "replaces torch.allclose"),
    ("from unittest import mock\nmock.patch('numpy.allclose', lambda *a: True).start()", "imports mock"),
    ("import codecs\nexec(codecs.decode('ac.nyypybfr = Abar', 'rot13'))", "cannot be checked"),
])
def test_static_check_names_more_variants(source, what):
    nb = nbformat.read(COURSE.source_notebook(L00), as_version=4)
    cell_by_grade_id(nb, "standardize").source = source
    found = [f.what for f in integrity.static_findings(nb)]
    assert any(what in f for f in found), found


@pytest.mark.parametrize("lesson", COURSE.lesson_ids())
def test_honest_notebooks_are_never_flagged_statically(lesson):
    for nb_path in (COURSE.source_notebook(lesson), COURSE.lesson_notebook(lesson)):
        nb = nbformat.read(nb_path, as_version=4)
        assert integrity.static_findings(nb) == [], nb_path


def test_test_cells_may_redefine_their_own_oracles(tmp_path):
    """Test cells are the course's code: one that binds `_oracle` again (as lesson 07's do) is no finding,
    while a student cell that replaces a checking function still is."""
    from lecturelib.grading.execute import GradingExecute

    def cell(source, gid, test):
        meta = {"grade": test, "solution": not test, "locked": test, "grade_id": gid, "schema_version": 3}
        if test:
            meta["points"] = 1
        return nbformat.v4.new_code_cell(source, metadata={"nbgrader": meta})
    nb = nbformat.v4.new_notebook(cells=[
        cell("def _oracle(x):\n    return x + 1\nassert _oracle(1) == 2", "test_a", True),
        cell("def _oracle(x):\n    return x * 2\nassert _oracle(2) == 4", "test_b", True),
        cell("import math\nmath.isclose = lambda *a, **k: True", "c", False),
        cell("import math\nassert math.isclose(1.0, 1.0)", "test_c", True),
    ])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    GradingExecute(timeout=60).preprocess(nb, {"metadata": {"path": str(tmp_path)}})
    flagged = [any(o.get("ename") == "TamperingDetected" for o in c.outputs) for c in nb.cells]
    assert flagged == [False, False, False, True], [c.outputs for c in nb.cells]
