"""Training losses: the FRRN bootstrapped cross-entropy and plain cross-entropy with a void label.

Both take logits ``[N, C, H, W]`` and train-id targets ``[N, H, W]`` (int64, void = 255).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from frrn_seg_ros.core.labels import IGNORE_INDEX

#: Fraction of the pixels the FRRN recipe bootstraps on: 512*64 of 512x1024 and 512*16 of 256x512.
DEFAULT_BOOTSTRAP_FRACTION = 0.0625


def _at_least_fp32(x: torch.Tensor) -> torch.Tensor:
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


def bootstrap_k(height: int, width: int, fraction: float = DEFAULT_BOOTSTRAP_FRACTION) -> int:
    """K for an ``height x width`` label map: ``fraction`` of the pixels, at least 1."""
    return max(1, round(fraction * height * width))


def bootstrapped_cross_entropy(
    logits: torch.Tensor,
    target: torch.Tensor,
    k: int | None = None,
    fraction: float = DEFAULT_BOOTSTRAP_FRACTION,
    ignore_index: int = IGNORE_INDEX,
) -> torch.Tensor:
    """FRRN bootstrapped cross-entropy (Pohlen et al., CVPR 2017, Sec. 4).

    Per image: drop void pixels, keep the ``K`` pixels with the highest cross-entropy, average
    them; then average over the batch. With fewer than ``K`` valid pixels, all valid pixels are
    averaged; an image with no valid pixel contributes 0 (its term is still part of the batch mean).
    A NaN logit on a non-void pixel makes the loss NaN (it is never silently dropped).

    Args:
        logits: ``[N, C, H, W]`` raw scores.
        target: ``[N, H, W]`` train ids, ``ignore_index`` for void.
        k: pixels kept per image; ``None`` uses ``fraction * H * W`` (6.25% by default).
        fraction: used when ``k`` is None.
        ignore_index: the void label.

    Returns:
        A scalar tensor.
    """
    if logits.dim() != 4 or target.dim() != 3 or logits.shape[0] != target.shape[0]:
        raise ValueError(
            f"expected logits [N,C,H,W] and target [N,H,W], got {tuple(logits.shape)} "
            f"and {tuple(target.shape)}"
        )
    n, _, h, w = logits.shape
    if k is None:
        k = bootstrap_k(h, w, fraction)
    if k < 1:
        raise ValueError(f"bootstrap K must be >= 1, got {k}")
    # Per-pixel loss in fp32 (autocast may hand us fp16 logits); void pixels get -inf so topk skips them.
    pixel_loss = F.cross_entropy(
        _at_least_fp32(logits), target.long(), ignore_index=ignore_index, reduction="none"
    )
    flat_loss = pixel_loss.reshape(n, -1)  # [N, H*W]
    flat_valid = (target != ignore_index).reshape(n, -1)  # [N, H*W]
    masked = flat_loss.masked_fill(~flat_valid, float("-inf"))
    k_eff = min(k, flat_loss.shape[1])
    top, _ = masked.topk(k_eff, dim=1)  # [N, k_eff], descending; NaN sorts first, void (-inf) last
    # k_i = min(K, valid pixels of image i), counted from the void mask (never from the values, so a
    # NaN loss is kept and propagates instead of being dropped as "not finite").
    counts = flat_valid.sum(dim=1).clamp(max=k_eff)  # [N]
    kept = torch.arange(k_eff, device=top.device)[None, :] < counts[:, None]  # [N, k_eff]
    sums = torch.where(kept, top, torch.zeros_like(top)).sum(dim=1)
    per_image = sums / counts.clamp(min=1)  # 0 for images with no valid pixel
    return per_image.mean()


class BootstrappedCrossEntropy(nn.Module):
    """Module form of :func:`bootstrapped_cross_entropy` (``k`` fixed, or ``fraction`` of pixels)."""

    def __init__(
        self,
        k: int | None = None,
        fraction: float = DEFAULT_BOOTSTRAP_FRACTION,
        ignore_index: int = IGNORE_INDEX,
    ) -> None:
        super().__init__()
        self.k, self.fraction, self.ignore_index = k, fraction, ignore_index

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return bootstrapped_cross_entropy(logits, target, self.k, self.fraction, self.ignore_index)


class CrossEntropy(nn.Module):
    """Plain cross-entropy over non-void pixels (CSRNet recipe). Logits ``[N,C,H,W]``, target ``[N,H,W]``.

    A batch with no valid pixel gives 0 instead of NaN.
    """

    def __init__(self, ignore_index: int = IGNORE_INDEX) -> None:
        super().__init__()
        self.ignore_index = ignore_index

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        pixel_loss = F.cross_entropy(
            _at_least_fp32(logits), target.long(), ignore_index=self.ignore_index, reduction="sum"
        )
        count = (target != self.ignore_index).sum().clamp(min=1)
        return pixel_loss / count


def build_loss(name: str, **kwargs) -> nn.Module:
    """``'bootstrapped_ce'`` (kwargs ``k``, ``fraction``) or ``'cross_entropy'``."""
    if name == "bootstrapped_ce":
        return BootstrappedCrossEntropy(**kwargs)
    if name == "cross_entropy":
        return CrossEntropy(**kwargs)
    raise ValueError(f"unknown loss {name!r}; known: 'bootstrapped_ce', 'cross_entropy'")
