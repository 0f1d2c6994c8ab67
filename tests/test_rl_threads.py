"""lecturelib.rl.threads: the thread count is set inside the block and restored after it."""
import pytest
import torch

from lecturelib.rl.threads import cpu_threads


def test_cpu_threads_restores_the_previous_setting():
    before = torch.get_num_threads()
    with cpu_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with pytest.raises(ValueError):
        with cpu_threads(0):
            pass
