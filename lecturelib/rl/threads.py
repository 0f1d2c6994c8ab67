"""CPU thread count and optimizer kernel for small networks.

The RL networks of lessons 03 and 04 are a few hundred units wide: on a CPU, one thread runs their
updates faster than several (the threads spend more time synchronising than computing), and on a
shared machine it avoids contention. Training loops run inside :func:`cpu_threads` and restore the
previous setting afterwards; on a GPU it changes nothing that matters. For the same reason their Adam
uses torch's fused kernel where there is one (:func:`adam_kernel`): one call per step instead of one per
parameter tensor.
"""
from __future__ import annotations

from contextlib import contextmanager

__all__ = ["cpu_threads", "adam_kernel"]


@contextmanager
def cpu_threads(n: int = 1):
    """``with cpu_threads(1): ...`` runs the block with ``n`` torch CPU threads."""
    import torch

    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def adam_kernel(device) -> dict:
    """Keyword arguments for ``torch.optim.Adam``: the fused kernel on CPU and CUDA, foreach elsewhere."""
    import torch

    return {"fused": True} if torch.device(device).type in ("cpu", "cuda") else {"foreach": True}
