"""Confusion-matrix IoU (the Cityscapes definition) and the FRRN trimap boundary evaluation.

Conventions: ``pred`` and ``target`` are ``[N, H, W]`` (or ``[H, W]``) integer train ids; target
pixels equal to ``ignore_index`` are not scored; rows of the confusion matrix are ground truth,
columns are predictions. A class that is neither in the ground truth nor predicted has IoU NaN
and is left out of the mean, as in ``cityscapesscripts``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from frrn_seg_ros.core.labels import IGNORE_INDEX


def confusion_matrix(
    pred: torch.Tensor,
    target: torch.Tensor,
    num_classes: int,
    ignore_index: int = IGNORE_INDEX,
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """``[C, C + 1]`` int64 counts of (ground truth, prediction) over non-void (and ``mask``ed) pixels.

    Column ``C`` counts predictions outside ``[0, C)`` (e.g. void): they are false negatives of
    the true class and false positives of no class, as in the official Cityscapes evaluation.
    """
    if pred.shape != target.shape:
        raise ValueError(f"prediction {tuple(pred.shape)} and target {tuple(target.shape)} differ in shape")
    target, pred = target.long(), pred.long()
    keep = (target != ignore_index) & (target >= 0) & (target < num_classes)
    if mask is not None:
        keep &= mask.bool()
    t, p = target[keep], pred[keep]
    p = torch.where((p >= 0) & (p < num_classes), p, torch.full_like(p, num_classes))
    counts = torch.bincount(t * (num_classes + 1) + p, minlength=num_classes * (num_classes + 1))
    return counts.reshape(num_classes, num_classes + 1)


def iou_from_confusion(cm: torch.Tensor) -> torch.Tensor:
    """Per-class IoU ``tp / (tp + fp + fn)`` as float64 ``[C]`` from a ``[C, C]`` or ``[C, C + 1]``
    matrix; NaN where the denominator is 0."""
    cm = cm.double()
    c = cm.shape[0]
    tp = cm[:, :c].diag()
    fp = cm[:, :c].sum(0) - tp
    fn = cm.sum(1) - tp
    denom = tp + fp + fn
    return torch.where(denom > 0, tp / denom.clamp(min=1), torch.full_like(tp, float("nan")))


def mean_iou(cm: torch.Tensor) -> float:
    """Mean of the non-NaN per-class IoUs (0.0 when there is none)."""
    iou = iou_from_confusion(cm)
    valid = ~torch.isnan(iou)
    return float(iou[valid].mean()) if valid.any() else 0.0


def pixel_accuracy(cm: torch.Tensor) -> float:
    total = cm.sum()
    return float(cm[:, : cm.shape[0]].diag().sum().double() / total.double()) if total > 0 else 0.0


def label_boundaries(target: torch.Tensor) -> torch.Tensor:
    """``[N, H, W]`` bool: pixels whose label differs from a 4-neighbour (void counts as a label)."""
    t = target if target.dim() == 3 else target[None]
    edge = torch.zeros_like(t, dtype=torch.bool)
    dv = t[:, 1:, :] != t[:, :-1, :]
    dh = t[:, :, 1:] != t[:, :, :-1]
    edge[:, 1:, :] |= dv
    edge[:, :-1, :] |= dv
    edge[:, :, 1:] |= dh
    edge[:, :, :-1] |= dh
    return edge


def boundary_band(target: torch.Tensor, radius: int) -> torch.Tensor:
    """``[N, H, W]`` bool: pixels within ``radius`` (Chebyshev distance, a (2r+1)^2 square) of a
    label boundary, computed by max-pool dilation of :func:`label_boundaries`."""
    edge = label_boundaries(target).float()[:, None]
    if radius > 0:
        edge = F.max_pool2d(edge, kernel_size=2 * radius + 1, stride=1, padding=radius)
    return edge[:, 0] > 0


class ConfusionMeter:
    """Accumulates a ``[C, C + 1]`` confusion matrix over batches (optionally inside a pixel mask)."""

    def __init__(
        self, num_classes: int, ignore_index: int = IGNORE_INDEX, device: str | torch.device = "cpu"
    ):
        self.num_classes, self.ignore_index = num_classes, ignore_index
        self.cm = torch.zeros(num_classes, num_classes + 1, dtype=torch.int64, device=device)

    def update(self, pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> None:
        self.cm += confusion_matrix(pred, target, self.num_classes, self.ignore_index, mask).to(
            self.cm.device
        )

    def all_reduce(self) -> None:
        """Sum the matrix over a torch.distributed group (no-op when not initialised)."""
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.all_reduce(self.cm)

    def summary(self, names: list[str] | None = None) -> dict:
        """``{'miou', 'pixel_acc', 'iou': {name: value}}`` (NaN IoUs reported as None)."""
        iou = iou_from_confusion(self.cm).tolist()
        names = names or [str(i) for i in range(self.num_classes)]
        return {
            "miou": mean_iou(self.cm),
            "pixel_acc": pixel_accuracy(self.cm),
            "iou": {n: (None if v != v else v) for n, v in zip(names, iou, strict=True)},
        }


class TrimapMeter:
    """FRRN trimap evaluation: one confusion matrix per radius, counting only pixels within ``r``
    pixels of a ground-truth label boundary."""

    def __init__(
        self,
        num_classes: int,
        radii: list[int],
        ignore_index: int = IGNORE_INDEX,
        device: str | torch.device = "cpu",
    ) -> None:
        self.radii = [int(r) for r in radii]
        self.meters = {r: ConfusionMeter(num_classes, ignore_index, device) for r in self.radii}

    def update(self, pred: torch.Tensor, target: torch.Tensor) -> None:
        target3 = target if target.dim() == 3 else target[None]
        pred3 = pred if pred.dim() == 3 else pred[None]
        for r, meter in self.meters.items():
            meter.update(pred3, target3, boundary_band(target3, r))

    def all_reduce(self) -> None:
        for meter in self.meters.values():
            meter.all_reduce()

    def summary(self) -> dict[int, float]:
        """``{radius: mIoU within the band}``."""
        return {r: mean_iou(m.cm) for r, m in self.meters.items()}
