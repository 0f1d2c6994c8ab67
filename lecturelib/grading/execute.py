"""nbgrader's ``Execute`` preprocessor with the kernel's replies polled in short slices.

Why: while a cell that builds ipywidgets runs, jupyter_client's asyncio channels can miss the wake-up for
a message that has already arrived (reported upstream as nbclient issue #312). Seen in the message log of a
stalled run of lesson 02: the quiz widget's Output widget makes nbclient send a ``comm_msg`` on the shell
socket while it awaits the cell's ``execute_reply`` on that same socket; the reply arrives, the await is
never woken, and grading sits idle (for minutes, or until the cell's time limit) though the cell took
half a second. Polling in one-second slices turns such a stall into at most one second (the
end of each slice checks the socket directly); a cell that really runs too long still hits its limit and
is interrupted exactly as before.

With ipykernel 7 the cell after a widget cell also stalled; that was seen while this wrapper was not yet
installed on the blocking path (see ``start_new_kernel_client`` below), so it may have been the same
bug. The course still pins ``ipykernel<7`` until a run shows otherwise.

The course's nbgrader configuration (``nbgrader_config.py`` for Validate and the formgrader, and the
temporary course that ``course grade`` builds) uses :class:`SlicedExecute` instead of ``Execute`` for
Validate, and for autograding :class:`GradingExecute`: the same, with the kernel in the sandbox of
:mod:`.sandbox` and the tamper checks of :mod:`.integrity`.
"""
from __future__ import annotations

import time
from queue import Empty

from jupyter_core.utils import run_sync
from nbgrader.preprocessors import Execute

__all__ = ["SlicedExecute", "GradingExecute", "sliced", "AUTOGRADE_PREPROCESSORS", "VALIDATE_PREPROCESSORS", "use_in_validator"]

POLL_SLICE = 1.0   # seconds


def sliced(get_msg, slice_seconds: float = POLL_SLICE):
    """Wrap a channel's async ``get_msg(timeout=None)`` so that it waits in slices of ``slice_seconds``.

    Same contract as the original: returns the next message, or raises ``queue.Empty`` once ``timeout``
    seconds have passed without one (``timeout=None`` waits for ever)."""
    async def get_msg_in_slices(timeout: float | None = None):
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            step = slice_seconds if deadline is None else max(0.0, min(slice_seconds, deadline - time.monotonic()))
            try:
                return await get_msg(timeout=step)
            except Empty:
                if deadline is not None and time.monotonic() >= deadline:
                    raise

    get_msg_in_slices.sliced = True
    return get_msg_in_slices


class SlicedExecute(Execute):
    """``Execute`` whose shell and IOPub channels are read in one-second slices (see the module doc)."""

    async def async_start_new_kernel_client(self):
        kc = await super().async_start_new_kernel_client()
        for channel in (kc.shell_channel, kc.iopub_channel):
            if not getattr(channel.get_msg, "sliced", False):
                channel.get_msg = sliced(channel.get_msg)
        return kc

    # nbclient binds the blocking twin once, to its own coroutine (``run_sync(async_start_...)`` in the
    # class body), and nbconvert's ``preprocess`` (what nbgrader calls) goes through that twin: without
    # binding it again here, the override above would never run when grading.
    start_new_kernel_client = run_sync(async_start_new_kernel_client)


def use_in_validator() -> None:
    """Make nbgrader's Validator (the Validate button, ``nbgrader validate``, ``course validate``) run
    :class:`SlicedExecute`.

    ``Validator.preprocessors`` is a plain, non-configurable trait in nbgrader 0.9, so
    ``c.Validator.preprocessors = ...`` in a config file is ignored (nbgrader only warns); the trait's
    default is set instead. Without this, validating lesson 02 (a widget in its first cells) could wait
    for a whole cell time limit (600 s) on a reply that had already arrived.
    """
    from nbgrader.validator import Validator

    Validator.class_traits()["preprocessors"].default_value = list(VALIDATE_PREPROCESSORS)


class GradingExecute(SlicedExecute):
    """What autograding runs: :class:`SlicedExecute` with the kernel in the sandbox
    (:mod:`.sandbox`) and the tamper checks (:mod:`.integrity`) around every cell.

    A test cell that a finding affects gets an error output first in its outputs, ``TamperingDetected:
    <cell> <what it changed>``; nbgrader scores a test cell with an error 0, like any failed test."""

    def __init__(self, *args, **kwargs):
        from .sandbox import SandboxedKernelManager

        kwargs.setdefault("kernel_manager_class", SandboxedKernelManager)
        # nbgrader waits 4 s for a cell's last output and then fails the whole notebook; a kernel that
        # is getting over a fork bomb (or a loaded machine running jobs in parallel) needs longer
        kwargs.setdefault("iopub_timeout", 30)
        super().__init__(*args, **kwargs)

    def preprocess(self, nb, resources=None, km=None):
        from . import integrity

        self._static = {}
        for f in integrity.static_findings(nb):
            self._static.setdefault(f.cell, []).append(f.what)
        solved = set()
        for cell in nb.cells:
            if cell.get("metadata", {}).get("nbgrader", {}).get("solution"):
                solved |= set(integrity.code_names(cell.source))
        self._probe_expr = integrity.probe_expression(integrity.test_names(nb) - solved)
        self._baseline = self._last = None
        self._changed_by: dict[str, str] = {}
        self._pending: list[str] = []    # static findings waiting for the next test cell
        return super().preprocess(nb, resources, km)

    async def _async_handle_timeout(self, timeout, cell=None):
        # A cell at its time limit may be a fork bomb whose copies keep dying and being replaced: kill
        # them first, so that the interrupt reaches a kernel that can still answer.
        import asyncio

        if hasattr(self.km, "kill_strays"):
            self.km.kill_strays()
        reply = await super()._async_handle_timeout(timeout, cell)
        if hasattr(self.km, "kill_strays"):   # copies forked before the interrupt arrived
            await asyncio.sleep(1.0)
            self.km.kill_strays()
        return reply

    def _probe(self):
        from .integrity import read_probe

        try:
            msg_id = self.kc.execute("", silent=True, store_history=False, allow_stdin=False,
                                     user_expressions={"integrity": self._probe_expr})
            reply = self.wait_for_reply(msg_id)
        except Exception:   # a dead or stuck kernel: its cells report that themselves
            return None
        return read_probe(reply or {})

    def preprocess_cell(self, cell, resources, index):
        import nbformat

        from . import integrity

        if cell.cell_type != "code":
            return super().preprocess_cell(cell, resources, index)
        if self._baseline is None:   # before the first cell: the untouched libraries
            self._baseline = self._last = self._probe() or {}
        label = integrity.cell_label(self.nb, index)
        before = self._last
        cell, resources = super().preprocess_cell(cell, resources, index)
        strays = self.km.kill_strays() if hasattr(self.km, "kill_strays") else 0
        if strays:
            text = (f"the sandbox stopped {strays} processes this cell left running (a fork bomb?); "
                    "a cell may not leave processes behind")
            cell.outputs.append(nbformat.v4.new_output("stream", name="stdout", text=f"[grader] {text}\n"))
        after = self._probe()
        if after is None:
            after = before
            broken = ["the integrity check could not run after this cell (were the builtins changed?)"]
        else:
            broken = []
            for key, mark in after.items():   # oracles are first seen when the course's cell binds them
                self._baseline.setdefault(key, mark)
        if integrity.is_test(cell):
            # a test cell is the course's code (nbgrader restores it): what it binds (its own oracle, say)
            # becomes the reference for the cells after it, never a finding
            for key, mark in after.items():
                if before.get(key) != mark:
                    self._baseline[key] = mark
            for key in set(before) - set(after):
                self._baseline.pop(key, None)
        else:
            for what in integrity.changes(before, after):
                self._changed_by.setdefault(what, label)
        self._last = after
        self._pending += [f"{label} {w}" for w in self._static.get(index, [])]
        if integrity.is_test(cell):
            notes = self._pending + broken + [
                f"{self._changed_by.get(what, label)} {what}" for what in integrity.changes(self._baseline, after)]
            self._pending = []
            if notes:
                text = "; ".join(dict.fromkeys(notes)) + " (the tests rely on it, so this test scores 0)"
                cell.outputs.insert(0, nbformat.v4.new_output("error", ename="TamperingDetected", evalue=text,
                                                              traceback=[f"TamperingDetected: {text}"]))
        return cell, resources


def _replace_execute(preprocessors: list, by) -> list:
    return [by if p is Execute else p for p in preprocessors]


def _defaults():
    from nbgrader.converters.autograde import Autograde
    from nbgrader.validator import Validator

    # autograding runs the student's code in the sandbox; Validate is the student running it themselves
    return (_replace_execute(Autograde.class_traits()["autograde_preprocessors"].make_dynamic_default(), GradingExecute),
            _replace_execute(Validator.class_traits()["preprocessors"].make_dynamic_default(), SlicedExecute))


AUTOGRADE_PREPROCESSORS, VALIDATE_PREPROCESSORS = _defaults()
