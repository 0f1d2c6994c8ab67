"""The sliced polling that keeps a widget cell from stalling grading until its time limit."""
from __future__ import annotations

import asyncio
import time
from queue import Empty

import pytest

from lecturelib.grading.execute import (AUTOGRADE_PREPROCESSORS, VALIDATE_PREPROCESSORS, GradingExecute,
                                        SlicedExecute, sliced)


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
    assert GradingExecute in AUTOGRADE_PREPROCESSORS and SlicedExecute in VALIDATE_PREPROCESSORS
    assert issubclass(GradingExecute, SlicedExecute)
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


WIDGET_CELLS = 12


def _widget_notebook():
    """Cells like lesson 02's quiz: an Output widget cleared with wait=True, then a figure drawn into it."""
    import nbformat
    setup = ("import ipywidgets as widgets\nimport matplotlib\nmatplotlib.use('agg')\n"
             "import matplotlib.pyplot as plt\nfrom IPython.display import display\n")
    draw = ("out = widgets.Output()\nwith out:\n    out.clear_output(wait=True)\n"
            "    plt.plot([0, 1], [1, 0]); plt.show()\nwidgets.VBox([out, widgets.Button(description='go')])")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(setup)] + [nbformat.v4.new_code_cell(draw) for _ in range(WIDGET_CELLS)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def test_the_blocking_path_that_nbgrader_uses_installs_the_slices():
    """nbconvert's preprocess (what nbgrader calls) starts the client through the blocking twin of
    async_start_new_kernel_client; the wrapper must be installed there too (it was not, once)."""
    ex = SlicedExecute(timeout=30, kernel_name="python3")
    ex.nb = _widget_notebook()
    with ex.setup_kernel():
        assert getattr(ex.kc.shell_channel.get_msg, "sliced", False)
        assert getattr(ex.kc.iopub_channel.get_msg, "sliced", False)


def test_widget_cells_do_not_stall_grading(tmp_path):
    """Output-widget cells, executed as nbgrader executes them: every cell answers within seconds
    (a missed wake-up would hold a cell for its whole 60 s limit and end in a timeout error)."""
    nb = _widget_notebook()
    ex = SlicedExecute(timeout=60, kernel_name="python3")
    t = time.monotonic()
    ex.preprocess(nb, {"metadata": {"path": str(tmp_path)}})
    took = time.monotonic() - t
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, errors
    assert took < 45, f"{WIDGET_CELLS} widget cells took {took:.0f} s"
