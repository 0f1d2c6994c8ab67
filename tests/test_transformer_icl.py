"""lecturelib.transformer.icl: the in-context regression set-up and its baselines."""
import pytest
import torch

from lecturelib.transformer import (
    ICLTrainConfig,
    ICLTransformer,
    LinearRegressionTasks,
    best_gd_step_size,
    error_by_k,
    interleave,
    least_squares_predictions,
    ridge_predictions,
    train_icl,
)


def test_interleave_layout():
    xs = torch.arange(12.0).view(1, 3, 4) + 1
    ys = torch.tensor([[10.0, 20.0, 30.0]])
    z = interleave(xs, ys)
    assert z.shape == (1, 6, 5)
    assert torch.equal(z[0, 0], torch.tensor([1.0, 2, 3, 4, 0]))
    assert torch.equal(z[0, 1], torch.tensor([0.0, 0, 0, 0, 10]))
    assert torch.equal(z[0, 4, :4], xs[0, 2])
    with pytest.raises(ValueError):
        interleave(xs, ys[:, :2])


def test_tasks_have_unit_signal_variance():
    xs, ys, w = LinearRegressionTasks(d=5, noise_std=0.0).sample(4000, 3, generator=torch.Generator().manual_seed(0))
    assert xs.shape == (4000, 3, 5) and ys.shape == (4000, 3) and w.shape == (4000, 5)
    assert torch.allclose(ys, torch.einsum("bnd,bd->bn", xs, w), atol=1e-5)
    assert 0.9 < ys.var().item() < 1.1


def test_model_prediction_i_does_not_see_y_i_or_later():
    torch.manual_seed(0)
    model = ICLTransformer(3, n_layer=2, n_embd=32, max_points=8).eval()
    xs, ys = torch.randn(2, 6, 3), torch.randn(2, 6)
    p = model(xs, ys)
    assert p.shape == (2, 6)
    ys2 = ys.clone()
    ys2[:, 3:] = 100.0
    assert torch.allclose(model(xs, ys2)[:, :4], p[:, :4], atol=1e-5)
    assert not torch.allclose(model(xs, ys2)[:, 4:], p[:, 4:], atol=1e-4)
    # predict() on a support set gives the same number as the full forward pass
    q = model.predict(xs[:, :5], ys[:, :5], xs[:, 5:6])
    assert torch.allclose(q[:, 0], p[:, 5], atol=1e-5)
    # several queries at once: each answer equals the one-query prompt's
    many = model.predict(xs[:, :4], ys[:, :4], xs[:, 4:6])
    for j in range(2):
        single = model(torch.cat([xs[:, :4], xs[:, 4 + j:5 + j]], 1), torch.cat([ys[:, :4], ys[:, :1]], 1))[:, 4]
        assert torch.allclose(many[:, j], single, atol=1e-5)
    with pytest.raises(ValueError):
        model(torch.randn(1, 9, 3), torch.randn(1, 9))
    with pytest.raises(ValueError):
        model.predict(torch.randn(1, 8, 3), torch.randn(1, 8), torch.randn(1, 1, 3))


def test_least_squares_is_exact_without_noise_once_k_reaches_d():
    tasks = LinearRegressionTasks(d=3, noise_std=0.0)
    xs, ys, _ = tasks.sample(16, 8, generator=torch.Generator().manual_seed(1))
    ls = least_squares_predictions(xs, ys)
    assert torch.all(ls[:, 0] == 0)
    assert torch.allclose(ls[:, 3:], ys[:, 3:], atol=1e-4)
    assert not torch.allclose(ls[:, 1:3], ys[:, 1:3], atol=1e-2)


def test_ridge_beats_least_squares_with_noise():
    tasks = LinearRegressionTasks(d=4, noise_std=0.5)
    xs, ys, w = tasks.sample(4000, 9, generator=torch.Generator().manual_seed(2))
    clean = torch.einsum("bnd,bd->bn", xs, w)
    err = error_by_k({"ls": least_squares_predictions(xs, ys), "ridge": ridge_predictions(xs, ys, tasks)}, ys, clean)
    assert err["ridge"][8] < err["ls"][8]
    assert 0.3 < best_gd_step_size(xs, ys, 8) < 1.5


@pytest.mark.parametrize("n_support", [None, 3])
def test_short_training_learns_something(n_support):
    torch.manual_seed(0)
    tasks = LinearRegressionTasks(d=2, noise_std=0.1)
    model = ICLTransformer(2, n_layer=2, n_embd=32, max_points=8)
    cfg = ICLTrainConfig(steps=250, batch_size=64, n_points=8, n_support=n_support, lr=3e-3, progress=False)
    losses = train_icl(model, tasks, cfg)
    assert sum(losses[-30:]) / 30 < 0.8 * sum(losses[:30]) / 30
