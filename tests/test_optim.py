import math

import pytest
import torch

from stability_bench.optim import AdamW, linear_schedule

B1, B2, EPS, LR = 0.9, 0.999, 1e-6, 0.1


@pytest.fixture(params=[False, True], ids=["foreach", "fused"])
def fused(request):
    if request.param and not hasattr(torch, "_fused_adamw_"):
        pytest.skip("this torch has no fused AdamW kernel")
    return request.param


def one_step(correct_bias: bool, weight_decay: float = 0.0, fused: bool = False):
    p = torch.nn.Parameter(torch.tensor([1.0, -2.0], dtype=torch.float64))
    p.grad = torch.tensor([0.5, -0.1], dtype=torch.float64)
    AdamW([p], lr=LR, betas=(B1, B2), eps=EPS, weight_decay=weight_decay, correct_bias=correct_bias, fused=fused).step()
    return p.detach()


def hand_step(p0, g, correct_bias, weight_decay=0.0):
    m, v = (1 - B1) * g, (1 - B2) * g * g
    step = LR * math.sqrt(1 - B2) / (1 - B1) if correct_bias else LR
    return (p0 - step * m / (math.sqrt(v) + EPS)) * (1 - LR * weight_decay)


def test_first_step_without_bias_correction_is_bertadam(fused):
    p = one_step(correct_bias=False, fused=fused)
    assert p[0].item() == pytest.approx(hand_step(1.0, 0.5, False), rel=1e-12)
    # BERTAdam's first update is lr * (1 - b1) / sqrt(1 - b2) = 3.16 lr, not lr
    assert 1.0 - p[0].item() == pytest.approx(0.31621, abs=1e-4)


def test_first_step_with_bias_correction_is_about_lr(fused):
    p = one_step(correct_bias=True, fused=fused)
    assert p[0].item() == pytest.approx(hand_step(1.0, 0.5, True), rel=1e-12)
    assert p[1].item() == pytest.approx(hand_step(-2.0, -0.1, True), rel=1e-12)
    assert 1.0 - p[0].item() == pytest.approx(LR, rel=1e-3)


def test_decoupled_weight_decay_is_applied_after_the_update(fused):
    p = one_step(correct_bias=True, weight_decay=0.5, fused=fused)
    assert p[0].item() == pytest.approx(hand_step(1.0, 0.5, True, 0.5), rel=1e-12)


@pytest.mark.parametrize("correct_bias", [True, False])
def test_later_steps_follow_the_hand_recursion(fused, correct_bias):
    p = torch.nn.Parameter(torch.tensor([1.0], dtype=torch.float64))
    opt = AdamW([p], lr=LR, betas=(B1, B2), eps=EPS, correct_bias=correct_bias, fused=fused)
    grads = [0.5, -0.3, 0.2]
    for g in grads:
        p.grad = torch.tensor([g], dtype=torch.float64)
        opt.step()
    m = v = 0.0
    x = 1.0
    for t, g in enumerate(grads, start=1):
        m, v = B1 * m + (1 - B1) * g, B2 * v + (1 - B2) * g * g
        step = LR * math.sqrt(1 - B2 ** t) / (1 - B1 ** t) if correct_bias else LR
        x -= step * m / (math.sqrt(v) + EPS)
    assert p.item() == pytest.approx(x, rel=1e-12)


@pytest.mark.parametrize("weight_decay", [0.0, 0.01])
def test_matches_torch_adamw_with_bias_correction(weight_decay, fused):
    torch.manual_seed(0)
    a = torch.nn.Parameter(torch.randn(7, 5, dtype=torch.float64))
    b = torch.nn.Parameter(a.detach().clone())
    ours = AdamW([a], lr=1e-3, eps=1e-12, weight_decay=weight_decay, correct_bias=True, fused=fused)
    ref = torch.optim.AdamW([b], lr=1e-3, eps=1e-12, weight_decay=weight_decay)
    for _ in range(5):
        g = torch.randn(7, 5, dtype=torch.float64)
        a.grad, b.grad = g.clone(), g.clone()
        ours.step()
        ref.step()
    # eps placement and decay order differ only at O(eps) and O(lr^2 * wd)
    torch.testing.assert_close(a, b, rtol=0, atol=1e-7)


def test_linear_schedule_warms_up_then_decays_to_zero():
    values = [linear_schedule(s, 2, 10) for s in range(11)]
    assert values[:3] == [0.0, 0.5, 1.0]
    assert values[6] == pytest.approx(0.5)
    assert values[10] == 0.0


def test_fused_and_foreach_paths_agree_in_float32():
    if not hasattr(torch, "_fused_adamw_"):
        pytest.skip("this torch has no fused AdamW kernel")
    torch.manual_seed(0)
    for correct_bias in (True, False):
        a = torch.nn.Parameter(torch.randn(50, 20))
        b = torch.nn.Parameter(a.detach().clone())
        fa = AdamW([a], lr=2e-5, eps=1e-6, weight_decay=0.01, correct_bias=correct_bias, fused=True)
        fb = AdamW([b], lr=2e-5, eps=1e-6, weight_decay=0.01, correct_bias=correct_bias, fused=False)
        for _ in range(20):
            g = torch.randn(50, 20)
            a.grad, b.grad = g.clone(), g.clone()
            fa.step()
            fb.step()
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)
