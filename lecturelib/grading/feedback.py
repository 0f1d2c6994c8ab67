"""Feedback for students without the hidden tests.

nbgrader's feedback is the autograded notebook as HTML. The autograder puts the hidden tests back into each
test cell before running it, so by default the feedback shows them; and a failing hidden assertion shows
its own line again in the traceback (``assert answer == "b"`` gives the quiz answer away). A student who
reads the hidden tests can write to them for the next attempt, so :class:`HideHiddenTests` removes the
hidden region from the source *and* every trace of those lines from the outputs: a traceback that quotes a
hidden line is replaced by the exception's one-line message. Visible tests, scores and the messages of
visible assertions stay. It runs in ``GenerateFeedback`` (see nbgrader_config.py).
"""
from __future__ import annotations

import re

from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Integer, Unicode

__all__ = ["HideHiddenTests", "hidden_lines"]

ANSI = re.compile(r"\x1b\[[0-9;]*m")
NOTE = "# (hidden tests: run by the grader, not shown in feedback)"


def hidden_lines(source: str, begin: str = "BEGIN HIDDEN TESTS", end: str = "END HIDDEN TESTS",
                 min_length: int = 8) -> list[str]:
    """The stripped lines between the hidden-test markers, long enough to recognise elsewhere, that do not
    also appear in the visible part of the cell."""
    hidden, shown, inside = [], set(), False
    for line in source.splitlines():
        if begin in line:
            inside = True
        elif end in line:
            inside = False
        elif inside and len(line.strip()) >= min_length:
            hidden.append(line.strip())
        elif not inside:
            shown.add(line.strip())
    return [line for line in hidden if line not in shown]     # a line also in the visible tests is no secret


class HideHiddenTests(NbGraderPreprocessor):
    """Remove hidden tests from the source and outputs of every cell (for feedback)."""

    begin_test_delimeter = Unicode("BEGIN HIDDEN TESTS", help="marker that opens a hidden-test region").tag(config=True)
    end_test_delimeter = Unicode("END HIDDEN TESTS", help="marker that closes a hidden-test region").tag(config=True)
    min_length = Integer(8, help="shorter hidden lines are not searched for in outputs").tag(config=True)

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code" or self.begin_test_delimeter not in cell.source:
            return cell, resources
        secret = hidden_lines(cell.source, self.begin_test_delimeter, self.end_test_delimeter, self.min_length)
        kept, inside = [], False
        for line in cell.source.splitlines():
            if self.begin_test_delimeter in line:
                inside = True
                kept.append(line[:len(line) - len(line.lstrip())] + NOTE)
            elif self.end_test_delimeter in line:
                inside = False
            elif not inside:
                kept.append(line)
        cell.source = "\n".join(kept)
        cell.outputs = [self._scrub(out, secret) for out in cell.get("outputs", [])]
        return cell, resources

    @staticmethod
    def _leaks(text: str, secret: list[str]) -> bool:
        plain = ANSI.sub("", text)
        return any(line in plain for line in secret)

    def _scrub(self, out, secret):
        if out.output_type == "error":
            if self._leaks("\n".join(out.get("traceback", [])), secret) or self._leaks(out.get("evalue", ""), secret):
                value = "" if self._leaks(out.get("evalue", ""), secret) else out.get("evalue", "")
                out.traceback = [f"{out.ename}: {value}  (raised by a hidden test)"]
                out.evalue = value
        elif out.output_type == "stream":
            out.text = "".join(l for l in out.text.splitlines(True) if not self._leaks(l, secret))
        elif "data" in out and "text/plain" in out.data:
            if self._leaks(out.data["text/plain"], secret):
                out.data = {"text/plain": "(output of a hidden test, not shown)"}
        return out
