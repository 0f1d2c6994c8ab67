"""The sliced polling that keeps a widget cell from stalling grading until its time limit."""
from __future__ import annotations

import asyncio
import time
from queue import Empty

import pytest

from lecturelib.grading.execute import AUTOGRADE_PREPROCESSORS, VALIDATE_PREPROCESSORS, SlicedExecute, sliced


def missed_wakeup_channel(arrival: float):
    """A channel whose wait only notices a message when the wait's own timeout ends (the upstream bug)."""
    start = time.monotonic()

    async def get_msg(timeout=None):
        await asyncio.sleep(timeout if timeout is not None else 3600)
        if time.monotonic() - start >= arrival:
            return {"msg_type": "execute_reply"}
        raise Empty
    return get_msg


def test_a_missed_wakeup_costs_one_slice_not_the_whole_timeout():
    get_msg = sliced(missed_wakeup_channel(arrival=0.3), slice_seconds=0.2)
    t = time.monotonic()
    msg = asyncio.run(get_msg(timeout=60))
    assert msg["msg_type"] == "execute_reply"
    assert time.monotonic() - t < 2.0


def test_the_unsliced_channel_really_stalls():   # the fake reproduces the bug the wrapper fixes
    get_msg = missed_wakeup_channel(arrival=0.0)
    t = time.monotonic()
    asyncio.run(get_msg(timeout=1.0))
    assert time.monotonic() - t >= 1.0


def test_timeouts_still_fire():
    get_msg = sliced(missed_wakeup_channel(arrival=1e9), slice_seconds=0.2)
    t = time.monotonic()
    with pytest.raises(Empty):
        asyncio.run(get_msg(timeout=0.7))
    assert 0.6 <= time.monotonic() - t < 2.0


def test_nbgrader_runs_the_sliced_executor():
    assert SlicedExecute in AUTOGRADE_PREPROCESSORS and SlicedExecute in VALIDATE_PREPROCESSORS
    from nbgrader.preprocessors import Execute
    assert Execute not in AUTOGRADE_PREPROCESSORS and Execute not in VALIDATE_PREPROCESSORS
    from conftest import ROOT
    assert "AUTOGRADE_PREPROCESSORS" in (ROOT / "nbgrader_config.py").read_text()


def test_validate_runs_the_sliced_executor_with_the_course_config(tmp_path):
    """nbgrader's Validator ignores c.Validator.preprocessors (not a configurable trait): the course's
    config must reach it another way, or Validate on lesson 02 can wait out a whole cell time limit."""
    import subprocess
    import sys

    from conftest import ROOT
    probe = ("from traitlets.config import Config\n"
             "from nbgrader.validator import Validator\n"
             "c = Config()\n"
             f"exec(open({str(ROOT / 'nbgrader_config.py')!r}).read(), {{'get_config': lambda: c}})\n"
             "print([p.__name__ for p in Validator(config=c).preprocessors])\n")
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert "SlicedExecute" in out and "'Execute'" not in out, out
