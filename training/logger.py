"""TensorBoard logging (scalars, per-class IoU, colourised predictions); silent no-op when
``tensorboard`` is missing or on non-zero ranks."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from frrn_seg_ros.core.labels import LabelSet, colorize

log = logging.getLogger(__name__)


class RunLogger:
    """Writes to ``<output>/tb`` when enabled and TensorBoard imports."""

    def __init__(self, output_dir: str | Path, enabled: bool = True) -> None:
        self.writer = None
        if not enabled:
            return
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as exc:  # tensorboard not installed
            log.warning("TensorBoard logging disabled (%s)", exc)
            return
        self.writer = SummaryWriter(str(Path(output_dir) / "tb"))

    def scalars(self, values: dict[str, float], step: int) -> None:
        if self.writer is not None:
            for key, value in values.items():
                if value is not None:
                    self.writer.add_scalar(key, value, step)

    def evaluation(self, result: dict, step: int, label_set: LabelSet, mean, std) -> None:
        """mIoU, pixel accuracy, per-class IoU and ``[image | ground truth | prediction]`` strips."""
        if self.writer is None:
            return
        self.scalars({"val/miou": result["miou"], "val/pixel_acc": result["pixel_acc"]}, step)
        self.scalars({f"val_iou/{name}": v for name, v in result["iou"].items()}, step)
        for r, miou in result.get("trimap", {}).items():
            self.writer.add_scalar(f"val_trimap/r{r}", miou, step)
        for i, (image, label, pred) in enumerate(result.get("samples", [])):
            self.writer.add_image(
                f"val/sample{i}",
                visual_strip(image, label, pred, label_set, mean, std),
                step,
                dataformats="HWC",
            )

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def visual_strip(
    image: torch.Tensor, label: torch.Tensor, pred: torch.Tensor, label_set: LabelSet, mean, std
) -> np.ndarray:
    """``[3,h,w]`` normalised image, ``[H,W]`` label and prediction -> ``(H, 3W, 3)`` uint8 strip."""
    h, w = label.shape
    rgb = image.float() * torch.tensor(std).view(3, 1, 1) + torch.tensor(mean).view(3, 1, 1)
    rgb = torch.nn.functional.interpolate(rgb[None], size=(h, w), mode="bilinear", align_corners=False)[0]
    rgb_np = (rgb.clamp(0, 1).permute(1, 2, 0).numpy() * 255).astype(np.uint8)
    gt = colorize(label.clamp(0, 255).to(torch.uint8).numpy(), label_set.palette)
    pr = colorize(pred.to(torch.uint8).numpy(), label_set.palette)
    return np.concatenate([rgb_np, gt, pr], axis=1)
