"""Segmentation models: FRRN A/B and CSRNet light/medium/heavy.

``build_model(name, num_classes=19, **kwargs)`` builds one; ``architecture_info(name)`` tells its
input scaling and size divisor without building it. Every model maps ``[N,3,H,W]`` float to logits
``[N,C,H,W]`` at the input size and has a ``size_divisor`` attribute.
"""

from __future__ import annotations

import os

from torch import nn

from .info import (
    ARCHITECTURES,
    IMAGENET_MEAN,
    IMAGENET_STD,
    UNIT_MEAN,
    UNIT_STD,
    ArchitectureInfo,
    architecture_info,
)

__all__ = [
    "ARCHITECTURES",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "UNIT_MEAN",
    "UNIT_STD",
    "ArchitectureInfo",
    "architecture_info",
    "build_model",
    "count_parameters",
]


def build_model(
    name: str,
    num_classes: int = 19,
    *,
    gradient_checkpointing: bool = False,
    pretrained_backbone: str | os.PathLike | None = None,
) -> nn.Module:
    """Build architecture ``name`` (one of :data:`ARCHITECTURES`) for ``num_classes`` classes.

    ``gradient_checkpointing`` (FRRN only): recompute the FRRU stages in backward.
    ``pretrained_backbone`` (CSRNet only): path of a torchvision resnet18 state-dict file.
    Both accept their "off" value (False / None) for every architecture, so callers can pass them
    generically. Unknown name, or an option the architecture lacks -> ValueError.
    """
    architecture_info(name)  # validates the name
    if name.startswith("frrn_"):
        if pretrained_backbone is not None:
            raise ValueError(f"{name} has no pretrained backbone (it is trained from scratch)")
        from .frrn import frrn_a, frrn_b

        return (frrn_a if name == "frrn_a" else frrn_b)(num_classes, gradient_checkpointing)
    if gradient_checkpointing:
        raise ValueError(f"gradient_checkpointing is implemented for FRRN only, not {name}")
    from .csrnet import CSRNet

    return CSRNet(name.removeprefix("csrnet_"), num_classes, pretrained_backbone)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameter elements of ``model``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
