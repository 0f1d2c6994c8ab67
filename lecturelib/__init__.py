"""lecturelib: the reference implementations behind the course
"Embodied Language Models: from multi-task learning towards the generalist robot".

One module (or small sub-package) per lecture topic. Everything that trains takes a ``device``;
:func:`device` picks CUDA, then MPS, then the CPU, and ``COURSE_DEVICE=cpu`` forces a choice.
"""
from __future__ import annotations

import os
import random

__version__ = "0.1.0"

__all__ = ["device", "seed_everything", "describe_device", "__version__"]


def device(prefer: str | None = None):
    """The torch device the course computes on.

    ``prefer`` (or the environment variable ``COURSE_DEVICE``) may name one of ``cuda``, ``mps``,
    ``cpu``; without it the fastest available device is used.
    """
    import torch

    choice = (prefer or os.environ.get("COURSE_DEVICE") or "").strip().lower()
    if choice:
        if choice.startswith("cuda") and not torch.cuda.is_available():
            raise RuntimeError(f"COURSE_DEVICE={choice!r} but torch finds no CUDA device")
        if choice == "mps" and not _mps_available():
            raise RuntimeError("COURSE_DEVICE='mps' but torch finds no MPS device")
        return torch.device(choice)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if _mps_available():
        return torch.device("mps")
    return torch.device("cpu")


def _mps_available() -> bool:
    import torch

    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def describe_device(dev=None) -> str:
    """One line naming the device, e.g. ``cuda (NVIDIA H100, 80 GB)`` or ``cpu (2 threads)``."""
    import torch

    dev = torch.device(dev) if dev is not None else device()
    if dev.type == "cuda":
        props = torch.cuda.get_device_properties(dev)
        return f"cuda ({props.name}, {props.total_memory / 2**30:.0f} GiB)"
    if dev.type == "mps":
        return "mps (Apple GPU)"
    return f"cpu ({torch.get_num_threads()} threads)"


def seed_everything(seed: int = 0) -> None:
    """Seed Python, NumPy and torch (all devices) so that a run can be repeated."""
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
