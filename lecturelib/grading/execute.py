"""nbgrader's ``Execute`` preprocessor with the kernel's replies polled in short slices.

Why: while a cell that builds ipywidgets runs, jupyter_client's asyncio channels can miss the wake-up for
a message that has already arrived (reported upstream as nbclient issue #312). The execute reply then
sits unread until the cell's whole time limit has passed: a widget cell that took half a second held up
lesson 02's grading for the full 600 s limit, and the cell still counted as a success. Polling in
one-second slices turns such a stall into at most one second; a cell that really runs too long still
hits its limit and is interrupted exactly as before.

A second stall lives in the kernel: ipykernel 7 sometimes does not start the cell after a widget cell
until the time limit interrupts it; no polling helps there, so the course pins ``ipykernel<7``.

The course's nbgrader configuration (``nbgrader_config.py`` for Validate and the formgrader, and the
temporary course that ``course grade`` builds) uses :class:`SlicedExecute` instead of ``Execute``.
"""
from __future__ import annotations

import time
from queue import Empty

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
