"""lecturelib.transformer.operators: lesson 02's operator family as an in-context task sampler."""
import torch

from lecturelib.meta.tasks import OperatorFamily
from lecturelib.transformer import PIZZA_QUERY, PIZZA_SUPPORT, OperatorTasks, pizza


def test_pizza_matches_the_slide():
    for a, b, y in PIZZA_SUPPORT:
        assert pizza(a, b) == y
    assert pizza(*PIZZA_QUERY) == 28


def test_samples_follow_the_family_and_hold_pizza_out():
    tasks = OperatorTasks()
    xs, ys, coeffs = tasks.sample(512, 6, generator=torch.Generator().manual_seed(0))
    assert xs.shape == (512, 6, 2) and ys.shape == (512, 6) and coeffs.shape == (512, 3)
    a, b = xs[..., 0] * 6, xs[..., 1] * 6
    expected = coeffs[:, :1] * a * b + coeffs[:, 1:2] * a + coeffs[:, 2:] * b
    assert torch.allclose(tasks.decode(ys), expected, atol=1e-4)
    assert not (coeffs == torch.tensor([1.0, 1.0, 0.0])).all(dim=1).any()
    pairs = torch.stack([a, b], -1).round()
    assert all(len({tuple(p) for p in row.tolist()}) == 6 for row in pairs)   # distinct operand pairs


def test_pizza_prompt_and_table():
    tasks = OperatorTasks(OperatorFamily())
    sx, sy, qx = tasks.pizza_prompt()
    assert sx.shape == (1, 4, 2) and sy.shape == (1, 4) and qx.shape == (1, 1, 2)
    assert torch.allclose(tasks.decode(sy[0]), torch.tensor([18.0, 3.0, 8.0, 12.0]))
    assert torch.allclose(qx[0, 0] * 6, torch.tensor([4.0, 6.0]))
    x, pairs = tasks.table_queries()
    assert x.shape == (1, 36, 2) and pairs.shape == (36, 2)
