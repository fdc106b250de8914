"""ResNet-18 backbone with torchvision's parameter names, and a loader for its checkpoint file.

The module tree (``conv1``, ``bn1``, ``layer1..4`` of BasicBlocks with ``conv1/bn1/conv2/bn2`` and
``downsample.0/.1``) matches ``torchvision.models.resnet18`` minus ``fc``, so the torchvision
state-dict file loads as-is without importing torchvision. Nothing is ever downloaded.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import torch
from torch import nn

from ..safe_load import torch_load_weights_only

LOG = logging.getLogger(__name__)

SKIP_CHANNELS = (64, 128, 256, 512)  # f1 @1/4, f2 @1/8, f3 @1/16, f4 @1/32


class BasicBlock(nn.Module):
    """torchvision's BasicBlock: ``relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))``."""

    conv_bn_pairs = (("conv1", "bn1"), ("conv2", "bn2"))  # bn(conv(x)) directly: foldable

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_ch)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_ch)
        self.downsample: nn.Module | None = None
        if stride != 1 or in_ch != out_ch:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_ch, out_ch, 1, stride=stride, bias=False), nn.BatchNorm2d(out_ch)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x))))) + identity)


def _layer(in_ch: int, out_ch: int, stride: int) -> nn.Sequential:
    return nn.Sequential(BasicBlock(in_ch, out_ch, stride), BasicBlock(out_ch, out_ch))


class ResNet18Backbone(nn.Module):
    """ResNet-18 feature extractor. ``forward(x [N,3,H,W]) -> (f1, f2, f3, f4)``.

    f1 [N,64,H/4,W/4], f2 [N,128,H/8,W/8], f3 [N,256,H/16,W/16], f4 [N,512,H/32,W/32] (sizes
    rounded up), each the output of layer1..layer4, AFTER the last block's ReLU.

    The authors' BasicBlock (Mayy1994/CSRNet csrnet_feat.py) returns ``relu, out`` and hands
    ``out`` to the decoder, but its ``nn.ReLU(inplace=True)`` has already rectified ``out`` in
    place: the released model was trained with these post-ReLU skips.
    """

    conv_bn_pairs = (("conv1", "bn1"),)  # bn1(conv1(x)) directly: foldable

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self.layer1 = _layer(64, 64, 1)
        self.layer2 = _layer(64, 128, 2)
        self.layer3 = _layer(128, 256, 2)
        self.layer4 = _layer(256, 512, 2)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        skips = []
        for layer in (self.layer1, self.layer2, self.layer3, self.layer4):
            x = layer(x)
            skips.append(x)
        return tuple(skips)


def load_torchvision_resnet18(backbone: ResNet18Backbone, path: str | os.PathLike) -> None:
    """Load a torchvision ``resnet18`` state-dict file into ``backbone`` (in place).

    Keys and shapes must match exactly; ``fc.*`` is ignored and ``*.num_batches_tracked`` may be
    absent (older torchvision files lack it). Raises FileNotFoundError naming ``path`` if missing,
    :class:`~frrn_seg_ros.core.checkpoint.CheckpointError` naming it if the file is corrupt or a
    pickle that could run code (read with ``weights_only=True``), KeyError / ValueError naming the
    offending key otherwise.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"ResNet-18 weights file not found: {path}")
    state = torch_load_weights_only(path, what="ResNet-18 weights file")
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ValueError(f"{path}: expected a state dict, got {type(state).__name__}")
    state = {k: v for k, v in state.items() if not k.startswith("fc.")}
    own = backbone.state_dict()
    missing = [k for k in own if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in own]
    if missing or unexpected:
        raise KeyError(f"{path}: not a torchvision resnet18 state dict; missing keys {missing}, "
                       f"unexpected keys {unexpected}")
    for key, value in state.items():
        if not isinstance(value, torch.Tensor) or value.shape != own[key].shape:
            shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
            raise ValueError(f"{path}: key {key!r} has shape {shape}, expected {tuple(own[key].shape)}")
    with torch.no_grad():
        for key, value in state.items():
            own[key].copy_(value)
    LOG.info("loaded ResNet-18 backbone weights from %s", path)
