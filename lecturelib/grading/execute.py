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
temporary course that ``course grade`` builds) uses :class:`SlicedExecute` instead of ``Execute``.
"""
from __future__ import annotations

import time
from queue import Empty

from jupyter_core.utils import run_sync
from nbgrader.preprocessors import Execute

__all__ = ["SlicedExecute", "sliced", "AUTOGRADE_PREPROCESSORS", "VALIDATE_PREPROCESSORS", "use_in_validator"]

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


def _replace_execute(preprocessors: list) -> list:
    return [SlicedExecute if p is Execute else p for p in preprocessors]


def _defaults():
    from nbgrader.converters.autograde import Autograde
    from nbgrader.validator import Validator

    return (_replace_execute(Autograde.class_traits()["autograde_preprocessors"].make_dynamic_default()),
            _replace_execute(Validator.class_traits()["preprocessors"].make_dynamic_default()))


AUTOGRADE_PREPROCESSORS, VALIDATE_PREPROCESSORS = _defaults()


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
