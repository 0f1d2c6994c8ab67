"""Side experiments on the second CPU core while the main model trains.

The models of lesson 08 are so small that two CPU threads do not speed one of them up (they wait for
each other), but two *processes* each train their own model at full speed. So the runs that do not
need the main model, the LAVA executor and the comparison models of the frozen-LM and positive-transfer
experiments, go to a worker process (:class:`SideJobs`), and the notebook collects their results when it
gets there. The worker is started with ``spawn``: a fresh interpreter that imports lecturelib again,
instead of a copy of the notebook's process and its threads.

With one CPU (or ``workers=0``) the jobs run in the calling process when submitted, with the same results.
"""
from __future__ import annotations

import os
from concurrent.futures import Future, ProcessPoolExecutor
from multiprocessing import get_context

__all__ = ["SideJobs"]


def _one_thread() -> None:
    import torch

    torch.set_num_threads(1)


class SideJobs:
    """``jobs.submit(fn, *args)`` -> a Future whose ``result()`` is ``fn(*args)``, computed in a worker.

    ``fn`` must be importable (a function of a module, not of the notebook), its arguments and result
    picklable. Use as a context manager, or call :meth:`close`.
    """

    def __init__(self, workers: int | None = None):
        if workers is None:
            workers = 1 if (os.cpu_count() or 1) > 1 else 0
        self.pool = ProcessPoolExecutor(workers, mp_context=get_context("spawn"), initializer=_one_thread) \
            if workers > 0 else None

    def submit(self, fn, *args, **kwargs) -> Future:
        if self.pool is not None:
            return self.pool.submit(fn, *args, **kwargs)
        done = Future()
        try:
            done.set_result(fn(*args, **kwargs))
        except Exception as err:        # handed to whoever asks for the result, as a worker would
            done.set_exception(err)
        return done

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> "SideJobs":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
