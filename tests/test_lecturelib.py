"""lecturelib's core: device selection and seeding."""
import random

import numpy as np
import pytest
import torch

import lecturelib


def test_device_defaults_to_best_available(monkeypatch):
    monkeypatch.delenv("COURSE_DEVICE", raising=False)
    dev = lecturelib.device()
    expected = "cuda" if torch.cuda.is_available() else ("mps" if lecturelib._mps_available() else "cpu")
    assert dev.type == expected
    assert dev.type in lecturelib.describe_device(dev)


def test_device_override(monkeypatch):
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    assert lecturelib.device() == torch.device("cpu")
    assert lecturelib.device("cpu").type == "cpu"


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message shown without CUDA")
def test_asking_for_missing_cuda_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("COURSE_DEVICE", "cuda")
    with pytest.raises(RuntimeError, match="no CUDA device"):
        lecturelib.device()


def test_seed_everything_repeats_all_generators():
    lecturelib.seed_everything(123)
    a = (random.random(), np.random.rand(), torch.rand(3))
    lecturelib.seed_everything(123)
    b = (random.random(), np.random.rand(), torch.rand(3))
    assert a[0] == b[0] and a[1] == b[1] and torch.equal(a[2], b[2])
    lecturelib.seed_everything(124)
    assert not torch.equal(torch.rand(3), a[2])


@pytest.mark.gpu
def test_tensors_move_to_the_gpu():
    dev = lecturelib.device()
    x = torch.randn(64, 64, device=dev)
    assert x.device.type in ("cuda", "mps")
    assert torch.allclose((x @ x.T).cpu(), x.cpu() @ x.cpu().T, atol=1e-3)
