"""Fake models with known outputs for the engine tests (imported by test_engine*.py), and their checks.

``PixelModel`` classifies every pixel by its red value alone: class ``c`` has red level
``LEVELS[c]`` and its logit is ``-|R - LEVELS[c]|``. The labels a correct engine must return are
therefore a known function of the input image, which exposes any error in padding, resizing,
letterboxing or cropping.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from frrn_seg_ros.core.checkpoint import CheckpointMeta

NUM_CLASSES = 6
LEVELS = np.array([10, 60, 100, 150, 200, 245], dtype=np.uint8)  # red value of each class
MEAN, STD = (0.3, 0.4, 0.5), (0.2, 0.25, 0.3)


def make_meta(
    num_classes: int = NUM_CLASSES, mean=MEAN, std=STD, architecture: str = "fake"
) -> CheckpointMeta:
    rng = np.random.default_rng(num_classes)
    colors = rng.integers(0, 256, (num_classes, 3)).tolist()
    return CheckpointMeta(architecture, num_classes, [f"c{i}" for i in range(num_classes)], colors, mean, std)


class PixelModel(nn.Module):
    """Logits ``-|R - LEVELS[c]|`` per pixel (R recovered from the normalised input)."""

    def __init__(self, size_divisor: int = 32, mean=MEAN, std=STD) -> None:
        super().__init__()
        self.size_divisor = size_divisor
        self.register_buffer("levels", torch.tensor(LEVELS, dtype=torch.float32).view(1, -1, 1, 1))
        self.mean, self.std = mean[0], std[0]
        self.seen_shapes: list[tuple[int, ...]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-2] % self.size_divisor or x.shape[-1] % self.size_divisor:
            raise AssertionError(f"input {tuple(x.shape)} not padded to {self.size_divisor}")
        self.seen_shapes.append(tuple(x.shape))
        red = (x[:, :1].float() * self.std + self.mean) * 255.0
        return -(red - self.levels).abs()


class HugeMarginModel(nn.Module):
    """Logit 1000 for class ``(R > 127)`` and 0 elsewhere: softmax max is 1 to float precision."""

    size_divisor = 8

    def __init__(self, num_classes: int = NUM_CLASSES) -> None:
        super().__init__()
        self.num_classes = num_classes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        cls = (x[:, 0] > 0).long()  # unit mean/std: x = rgb / 255
        onehot = torch.nn.functional.one_hot(cls, self.num_classes).permute(0, 3, 1, 2)
        return onehot.float() * 1000.0


class TinyConvNet(nn.Module):
    """A small real network (conv, BatchNorm, stride 2, upsample) with random weights."""

    size_divisor = 4

    def __init__(self, num_classes: int = NUM_CLASSES) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.body = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
            nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
            nn.Conv2d(16, num_classes, 1),
        )
        for module in self.body:
            if isinstance(module, nn.BatchNorm2d):
                module.running_mean.uniform_(-0.2, 0.2)
                module.running_var.uniform_(0.5, 2.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x)
        return nn.functional.interpolate(y, size=x.shape[-2:], mode="bilinear", align_corners=False)


def class_image(classes: np.ndarray) -> np.ndarray:
    """``(H, W)`` class ids -> ``(H, W, 3)`` uint8 RGB whose red channel encodes them."""
    rgb = np.zeros((*classes.shape, 3), dtype=np.uint8)
    rgb[..., 0] = LEVELS[classes]
    rgb[..., 1] = 90
    rgb[..., 2] = (np.arange(classes.shape[1]) % 256).astype(np.uint8)[None, :]
    return rgb


def test_pixel_model_classifies_by_red_and_refuses_unpadded_input() -> None:
    model = PixelModel(size_divisor=8)
    classes = np.random.default_rng(0).integers(0, NUM_CLASSES, (8, 16))
    rgb = torch.from_numpy(class_image(classes)).permute(2, 0, 1)[None].float() / 255.0
    x = (rgb - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)
    assert np.array_equal(model(x).argmax(1)[0].numpy(), classes)
    with pytest.raises(AssertionError, match="not padded"):
        model(x[..., :7, :])
