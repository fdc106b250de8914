"""Full-Resolution Residual Networks, FRRN A and FRRN B (Pohlen et al., CVPR 2017, Table 1).

Two streams: the residual stream z (32 ch) stays at full resolution; the pooling stream y is
max-pooled by 2 before each encoder stage and bilinearly upsampled by 2 before each decoder stage
and before the final merge, with Theano's rule as in the authors' code (:func:`theano_upsample2x`).
FRRUs within a stage are chained (each takes the previous y').
Input: RGB in [0, 1], no mean/std. H and W must be multiples of ``size_divisor``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from .blocks import FRRU, RESIDUAL_CHANNELS, RU, ConvBNReLU, conv_bn, theano_upsample2x

# (number of FRRUs, channels, pooling factor k) per stage
FRRN_A_ENCODER = ((3, 96, 2), (4, 192, 4), (2, 384, 8), (2, 384, 16))
FRRN_A_DECODER = ((2, 192, 8), (2, 192, 4), (2, 96, 2))
FRRN_B_ENCODER = (*FRRN_A_ENCODER, (2, 384, 32))
FRRN_B_DECODER = ((2, 192, 16), *FRRN_A_DECODER)

BASE_CHANNELS = 48


class FRRUStage(nn.Module):
    """A chain of FRRUs at one pooling factor: ``(y, z) -> (y', z')``, FRRU i+1 takes FRRU i's y'."""

    def __init__(self, in_ch: int, count: int, channels: int, scale: int) -> None:
        super().__init__()
        self.units = nn.ModuleList(
            FRRU(in_ch if i == 0 else channels, channels, scale) for i in range(count)
        )

    def forward(self, y: torch.Tensor, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        for unit in self.units:
            y, z = unit(y, z)
        return y, z


class _RecomputeOnce:
    """Runs ``stage``; on recomputation (checkpoint backward) restores BN buffers afterwards.

    Without this, BN running statistics would be updated twice per step under checkpointing.
    """

    def __init__(self, stage: FRRUStage) -> None:
        self.stage = stage
        self.calls = 0

    def __call__(self, y: torch.Tensor, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self.calls += 1
        if self.calls == 1:
            return self.stage(y, z)
        buffers = list(self.stage.buffers())
        saved = [b.clone() for b in buffers]
        try:  # recomputation may stop early by raising once the saved tensors are rebuilt
            return self.stage(y, z)
        finally:
            with torch.no_grad():
                for b, s in zip(buffers, saved, strict=True):
                    b.copy_(s)


class FRRN(nn.Module):
    """FRRN with the given encoder/decoder stage tables. ``forward(x [N,3,H,W]) -> [N,C,H,W]``.

    ``gradient_checkpointing``: recompute each FRRU stage in backward (torch.utils.checkpoint,
    non-reentrant) instead of storing its activations; only active in training with grad enabled.
    """

    def __init__(
        self,
        encoder: tuple[tuple[int, int, int], ...],
        decoder: tuple[tuple[int, int, int], ...],
        num_classes: int = 19,
        gradient_checkpointing: bool = False,
    ) -> None:
        super().__init__()
        self.size_divisor = 2 ** len(encoder)
        self.num_classes = num_classes
        self.gradient_checkpointing = gradient_checkpointing
        c = BASE_CHANNELS
        self.stem = ConvBNReLU(3, c, 5)
        self.input_units = nn.Sequential(RU(c), RU(c), RU(c))
        self.split = conv_bn(c, RESIDUAL_CHANNELS, 1)
        self.encoder = nn.ModuleList()
        self.decoder = nn.ModuleList()
        for stages, modules in ((encoder, self.encoder), (decoder, self.decoder)):
            for count, channels, scale in stages:
                modules.append(FRRUStage(c, count, channels, scale))
                c = channels
        self.output_units = nn.Sequential(RU(c + RESIDUAL_CHANNELS, BASE_CHANNELS), RU(BASE_CHANNELS),
                                          RU(BASE_CHANNELS))
        self.classifier = nn.Conv2d(BASE_CHANNELS, num_classes, 1, bias=True)
        self._init_weights()

    def _init_weights(self, scheme: str = "paper") -> None:
        """``paper``: He normal (fan_in, ReLU gain) on every conv. ``released``: the authors'
        Lasagne ``HeUniform`` (fan_in; dltools/architectures.py ``add_conv``): gain 1 on the convs
        not followed by a ReLU (split, RU second conv and shortcut, FRRU 1x1 residual, classifier),
        ReLU gain elsewhere. Biases 0, BatchNorm 1 / 0 in both."""
        if scheme not in ("paper", "released"):
            raise ValueError(f"unknown init scheme {scheme!r}; use 'paper' or 'released'")
        linear = {id(self.split[0]), id(self.classifier)}
        for m in self.modules():
            if isinstance(m, RU):
                linear.update({id(m.conv2[0]), id(m.shortcut)})
            elif isinstance(m, FRRU):
                linear.add(id(m.to_residual))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                if scheme == "released":
                    gain = "linear" if id(m) in linear else "relu"
                    nn.init.kaiming_uniform_(m.weight, mode="fan_in", nonlinearity=gain)
                else:
                    nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def _run_stage(self, stage: FRRUStage, y: torch.Tensor, z: torch.Tensor):
        if self.gradient_checkpointing and self.training and torch.is_grad_enabled():
            return checkpoint(_RecomputeOnce(stage), y, z, use_reentrant=False)
        return stage(y, z)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        d = self.size_divisor
        if h % d or w % d:
            raise ValueError(
                f"FRRN input size {h}x{w} is not divisible by {d}; pad the image to a multiple of {d}"
            )
        y = self.input_units(self.stem(x))
        z = self.split(y)
        for stage in self.encoder:
            y, z = self._run_stage(stage, F.max_pool2d(y, 2, 2), z)
        for stage in self.decoder:
            y, z = self._run_stage(stage, theano_upsample2x(y), z)
        y = theano_upsample2x(y)
        return self.classifier(self.output_units(torch.cat([y, z], dim=1)))


def frrn_a(num_classes: int = 19, gradient_checkpointing: bool = False) -> FRRN:
    """FRRN A (17 FRRUs, size divisor 16), for 256x512 inputs."""
    return FRRN(FRRN_A_ENCODER, FRRN_A_DECODER, num_classes, gradient_checkpointing)


def frrn_b(num_classes: int = 19, gradient_checkpointing: bool = False) -> FRRN:
    """FRRN B (21 FRRUs, size divisor 32), for 512x1024 inputs."""
    return FRRN(FRRN_B_ENCODER, FRRN_B_DECODER, num_classes, gradient_checkpointing)
