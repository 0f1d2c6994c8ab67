"""lecturelib.transformer.finetune: ICL vs fine-tuning helpers."""
import pytest
import torch

from lecturelib.transformer import (
    FinetuneConfig,
    ICLTransformer,
    LinearRegressionTasks,
    finetune_on_support,
    icl_vs_finetune,
)


def small_model():
    torch.manual_seed(0)
    return ICLTransformer(2, n_layer=2, n_embd=32, max_points=10).eval()


def test_finetune_changes_only_the_chosen_parameters_and_fits_the_support():
    model = small_model()
    sx, sy = torch.randn(6, 2), torch.randn(6)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    tuned = finetune_on_support(model, sx, sy, FinetuneConfig(steps=40, lr=3e-3, params="attention"))
    for n, p in tuned.named_parameters():
        changed = not torch.equal(p, before[n])
        assert changed == ("attn.in_proj" in n), n
    for n, p in model.named_parameters():                       # the original is untouched
        assert torch.equal(p, before[n])

    def support_mse(m):
        with torch.no_grad():
            return ((m(sx[:, None], torch.zeros(6, 1))[:, 0] - sy) ** 2).mean()

    full = finetune_on_support(model, sx, sy, FinetuneConfig(steps=60, lr=3e-3, params="all"))
    assert support_mse(full) < 0.5 * support_mse(model)
    with pytest.raises(ValueError):
        finetune_on_support(model, sx, sy, FinetuneConfig(params="heads"))


def test_icl_vs_finetune_report_shapes():
    model = small_model()
    rep = icl_vs_finetune(model, LinearRegressionTasks(d=2), n_tasks=3, k=4, n_queries=5,
                          cfg=FinetuneConfig(steps=3))
    assert set(rep) == {"mse_zero_shot", "mse_icl", "mse_ft", "pred_corr", "cos_same", "cos_other"}
    assert all(v.shape == (3,) for v in rep.values())
    assert torch.all(rep["cos_same"].abs() <= 1 + 1e-6)
