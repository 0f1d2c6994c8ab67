"""lecturelib.transformer.lsa: linear self-attention equals one gradient-descent step."""
import pytest
import torch

from lecturelib.transformer import (
    LinearRegressionTasks,
    LinearSelfAttention,
    gd_lsa_weights,
    gd_step_predictions,
    implicit_weight_update,
    linear_self_attention,
    lsa_tokens,
    train_lsa,
)


def gd_oracle(sx, sy, qx, eta):
    """One step of gradient descent from w = 0 by autograd on L(w) = 1/(2N) sum (w.x - y)^2."""
    w = torch.zeros(sx.shape[0], sx.shape[2], dtype=sx.dtype, requires_grad=True)
    loss = 0.5 * ((torch.einsum("bnd,bd->bn", sx, w) - sy) ** 2).mean(dim=1).sum()
    (grad,) = torch.autograd.grad(loss, w)
    w1 = -eta * grad
    return w1, (w1 * qx).sum(-1)


@pytest.mark.parametrize("d,N,eta", [(1, 3, 0.5), (4, 8, 0.9), (7, 20, 0.1)])
def test_construction_is_one_gd_step(d, N, eta):
    g = torch.Generator().manual_seed(d)
    sx, sy, qx = torch.randn(5, N, d, generator=g), torch.randn(5, N, generator=g), torch.randn(5, d, generator=g)
    w1, y_gd = gd_oracle(sx, sy, qx, eta)
    out = linear_self_attention(lsa_tokens(sx, sy, qx), *gd_lsa_weights(d, eta))
    assert torch.allclose(-out[:, -1, -1], y_gd, atol=1e-5)
    assert torch.allclose(out[:, :-1, -1], sy - torch.einsum("bnd,bd->bn", sx, w1), atol=1e-5)  # residuals
    assert torch.allclose(out[..., :d], lsa_tokens(sx, sy, qx)[..., :d])                        # x unchanged


def test_gd_step_predictions_match_the_oracle():
    g = torch.Generator().manual_seed(0)
    xs, ys = torch.randn(4, 9, 3, generator=g), torch.randn(4, 9, generator=g)
    preds = gd_step_predictions(xs, ys, 0.7)
    for i in (1, 5, 8):
        _, y_gd = gd_oracle(xs[:, :i], ys[:, :i], xs[:, i], 0.7)
        assert torch.allclose(preds[:, i], y_gd, atol=1e-5)
    assert torch.all(preds[:, 0] == 0)


def test_implicit_weight_update_is_the_dual_form():
    g = torch.Generator().manual_seed(1)
    d, eta = 3, 0.4
    sx, sy, qx = torch.randn(2, 6, d, generator=g), torch.randn(2, 6, generator=g), torch.randn(2, d, generator=g)
    Z = lsa_tokens(sx, sy, qx)
    W = gd_lsa_weights(d, eta)
    dW = implicit_weight_update(Z, *W)
    assert torch.allclose(linear_self_attention(Z, *W), Z + Z @ dW.transpose(1, 2), atol=1e-5)
    w1, _ = gd_oracle(sx, sy, qx, eta)
    assert torch.allclose(dW[:, -1, :d], -w1, atol=1e-5)             # the fine-tuning update, with a minus sign
    # the same holds for arbitrary weights
    R = [torch.randn(d + 1, d + 1, generator=g) for _ in range(4)]
    assert torch.allclose(linear_self_attention(Z, *R), Z + Z @ implicit_weight_update(Z, *R).transpose(1, 2), atol=1e-4)


def test_rejects_bad_shapes():
    Z = torch.randn(2, 5, 4)
    good = gd_lsa_weights(3, 0.1)
    with pytest.raises(ValueError):
        linear_self_attention(Z, torch.eye(3), *good[1:])
    with pytest.raises(ValueError):
        linear_self_attention(Z, *good, n_context=0)
    with pytest.raises(ValueError):
        lsa_tokens(torch.randn(2, 5, 3), torch.randn(2, 4), torch.randn(2, 3))
    with pytest.raises(ValueError):
        gd_lsa_weights(0, 0.1)


def test_trained_lsa_is_close_to_the_best_gd_step():
    torch.manual_seed(0)
    tasks = LinearRegressionTasks(d=3, noise_std=0.0)
    model = LinearSelfAttention(3)
    train_lsa(model, tasks, n_context=12, steps=400, batch_size=512, lr=2e-2, progress=False)
    xs, ys, _ = tasks.sample(2000, 13, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        pred = model.predict(xs[:, :-1], ys[:, :-1], xs[:, -1])
    etas = torch.linspace(0.2, 1.5, 27)
    errs = torch.stack([((gd_step_predictions(xs, ys, float(e))[:, -1] - ys[:, -1]) ** 2).mean() for e in etas])
    best = gd_step_predictions(xs, ys, float(etas[errs.argmin()]))[:, -1]
    mse_lsa = ((pred - ys[:, -1]) ** 2).mean()
    assert mse_lsa < 1.05 * errs.min()
    rel = ((pred - best) ** 2).mean() / (best ** 2).mean()
    assert rel < 0.05
