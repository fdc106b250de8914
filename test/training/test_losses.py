"""Bootstrapped cross-entropy and plain CE against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from frrn_seg_training.losses import (
    BootstrappedCrossEntropy,
    CrossEntropy,
    bootstrap_k,
    bootstrapped_cross_entropy,
)


def _logits_from_margins(margins: list[float]) -> torch.Tensor:
    """Two classes; class 0 logit 0, class 1 logit d: CE for target 0 is log(1 + e^d). -> [1, 2, 1, W]."""
    d = torch.tensor(margins, dtype=torch.float64)
    return torch.stack([torch.zeros_like(d), d])[None, :, None, :]


def ce0(d: float) -> float:
    return math.log1p(math.exp(d))


def test_topk_mean_per_image_then_batch_mean():
    img0 = _logits_from_margins([0.0, 1.0, -1.0, 2.0])
    img1 = _logits_from_margins([0.0, 3.0, 1.0, -2.0])
    logits = torch.cat([img0, img1])
    target = torch.tensor([[[0, 0, 0, 0]], [[255, 0, 255, 255]]])
    loss = bootstrapped_cross_entropy(logits, target, k=2)
    # image 0: two highest of ln2, ln(1+e), ln(1+e^-1), ln(1+e^2); image 1: one valid pixel (< K) -> itself.
    expected = ((ce0(2.0) + ce0(1.0)) / 2 + ce0(3.0)) / 2
    assert loss.item() == pytest.approx(expected, rel=1e-9)


def test_all_void_image_contributes_zero_and_no_nan():
    logits = torch.cat(
        [_logits_from_margins([0.0, 1.0, -1.0, 2.0]), _logits_from_margins([5.0, 5.0, 5.0, 5.0])]
    )
    logits.requires_grad_(True)
    target = torch.tensor([[[0, 0, 0, 0]], [[255, 255, 255, 255]]])
    loss = bootstrapped_cross_entropy(logits, target, k=3)
    expected = (ce0(2.0) + ce0(1.0) + ce0(0.0)) / 3 / 2
    assert loss.item() == pytest.approx(expected, rel=1e-9)
    loss.backward()
    assert torch.isfinite(logits.grad).all()
    assert logits.grad[1].abs().sum() == 0  # the void image gets no gradient


def test_only_void_batch_is_zero():
    logits = torch.randn(2, 3, 4, 4, requires_grad=True)
    loss = bootstrapped_cross_entropy(logits, torch.full((2, 4, 4), 255))
    assert loss.item() == 0.0
    loss.backward()
    assert torch.isfinite(logits.grad).all()


def test_default_k_scales_with_pixels_and_matches_paper():
    assert bootstrap_k(256, 512) == 512 * 16  # FRRN A
    assert bootstrap_k(512, 1024) == 512 * 64  # FRRN B
    # 4x8 = 32 pixels -> K = 2: the loss equals the mean of the 2 largest per-pixel losses.
    torch.manual_seed(0)
    logits = torch.randn(1, 5, 4, 8, dtype=torch.float64)
    target = torch.randint(0, 5, (1, 4, 8))
    per_pixel = F.cross_entropy(logits, target, reduction="none").flatten()
    expected = per_pixel.sort(descending=True).values[:2].mean()
    assert BootstrappedCrossEntropy()(logits, target).item() == pytest.approx(expected.item(), rel=1e-9)


def test_k_larger_than_pixels_averages_all_valid():
    logits = _logits_from_margins([0.0, 1.0, -1.0, 2.0])
    target = torch.tensor([[[0, 255, 0, 0]]])
    expected = (ce0(0.0) + ce0(-1.0) + ce0(2.0)) / 3
    assert bootstrapped_cross_entropy(logits, target, k=100).item() == pytest.approx(expected, rel=1e-9)


def test_cross_entropy_ignores_void_and_matches_hand_value():
    logits = _logits_from_margins([0.0, 1.0, -1.0, 2.0])
    target = torch.tensor([[[0, 255, 1, 0]]])
    # class 1 target for margin -1: CE = log(1 + e^(0 - (-1))) = log(1 + e)
    expected = (ce0(0.0) + ce0(1.0) + ce0(2.0)) / 3
    assert CrossEntropy()(logits, target).item() == pytest.approx(expected, rel=1e-9)
    assert CrossEntropy()(logits, torch.full_like(target, 255)).item() == 0.0


def test_bad_shapes_raise():
    with pytest.raises(ValueError, match="expected logits"):
        bootstrapped_cross_entropy(torch.zeros(1, 2, 3), torch.zeros(1, 3, dtype=torch.long))


@pytest.mark.parametrize("where", ["one_logit", "all_logits"])
def test_nan_logits_give_nan_loss(where):
    """A NaN logit on a valid pixel must surface as a NaN loss, never be masked as 'not finite'."""
    logits = torch.cat(
        [_logits_from_margins([0.0, 1.0, -1.0, 2.0]), _logits_from_margins([0.5, 0.5, 0.5, 0.5])]
    )
    if where == "one_logit":
        logits[0, 1, 0, 2] = float("nan")  # one class score of one valid pixel
    else:
        logits[:] = float("nan")
    target = torch.tensor([[[0, 0, 0, 0]], [[0, 1, 0, 255]]])
    assert torch.isnan(bootstrapped_cross_entropy(logits, target, k=2))
    assert torch.isnan(bootstrapped_cross_entropy(logits, target, k=100))  # fewer valid pixels than K


def test_nan_logit_on_void_pixel_is_ignored():
    logits = _logits_from_margins([0.0, 1.0, float("nan"), 2.0])
    target = torch.tensor([[[0, 0, 255, 0]]])
    expected = (ce0(2.0) + ce0(1.0)) / 2
    assert bootstrapped_cross_entropy(logits, target, k=2).item() == pytest.approx(expected, rel=1e-9)
