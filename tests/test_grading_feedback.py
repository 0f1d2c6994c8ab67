"""Feedback for students shows no hidden test: neither in the test cell's code nor in an output that
quotes it (a failing hidden assert's traceback), while visible tests and their messages stay."""
from __future__ import annotations

import nbformat
from nbformat.v4 import new_code_cell, new_notebook, new_output

from lecturelib.grading.feedback import HideHiddenTests, hidden_lines

TEST_CELL = '''assert answer in {"a", "b", "c"}, "answer is one of 'a', 'b', 'c'"
### BEGIN HIDDEN TESTS
assert answer == "b"
print("secret checked")
### END HIDDEN TESTS'''
TRACEBACK = ["\x1b[0;31mAssertionError\x1b[0m  Traceback (most recent call last)",
             "Cell \x1b[0;32mIn[7], line 3\x1b[0m\n\x1b[0;32m----> 3\x1b[0m \x1b[38;5;28;01massert\x1b[39;00m answer == \"b\"",
             "\x1b[0;31mAssertionError\x1b[0m: "]


def _notebook():
    hidden = new_code_cell(TEST_CELL, metadata={"nbgrader": {"grade": True, "grade_id": "test_quiz", "points": 1}})
    hidden.outputs = [new_output("stream", name="stdout", text='  assert answer == "b"\nok\n'),
                      new_output("error", ename="AssertionError", evalue="", traceback=TRACEBACK)]
    visible = new_code_cell('assert 1 + 1 == 3, "arithmetic"')
    visible.outputs = [new_output("error", ename="AssertionError", evalue="arithmetic",
                                  traceback=["----> 1 assert 1 + 1 == 3, \"arithmetic\"", "AssertionError: arithmetic"])]
    return new_notebook(cells=[hidden, visible])


def test_hidden_tests_leave_no_trace():
    nb, _ = HideHiddenTests().preprocess(_notebook(), {})
    text = nbformat.writes(nb)
    for line in hidden_lines(TEST_CELL):
        assert line not in text, line
    cell = nb.cells[0]
    assert 'assert answer in {"a", "b", "c"}' in cell.source and "hidden tests" in cell.source
    assert cell.outputs[0].text == "ok\n"
    assert cell.outputs[1].traceback == ["AssertionError:   (raised by a hidden test)"]
    # a visible test's failure is shown in full
    assert nb.cells[1].outputs[0].traceback[0].startswith("----> 1 assert 1 + 1 == 3")


def test_a_hidden_line_also_in_the_visible_tests_is_no_secret():
    source = "Z = f(X)\nassert Z.shape == (2, 2)\n### BEGIN HIDDEN TESTS\nZ = f(X)\nassert Z.sum() == 4.0\n### END HIDDEN TESTS"
    assert hidden_lines(source) == ["assert Z.sum() == 4.0"]
