"""CSRNet heavy / medium / light (Xiong et al., cascaded selective resolution network).

ResNet-18 backbone skips f1..f4 (1/4..1/32), three cascaded stages of SPFM + SRM fusion at width
128, head BN-ReLU-conv1x1 at 1/4, logits bilinearly upsampled to the input size.
Input: RGB in [0, 1] normalised with ImageNet mean/std. Works for any H, W >= 32.
"""

from __future__ import annotations

import os

import torch
import torch.nn.functional as F
from torch import nn

from .blocks import SPFM, SRM
from .resnet import SKIP_CHANNELS, ResNet18Backbone, load_torchvision_resnet18

VARIANTS = ("heavy", "medium", "light")
WIDTH = 128
MIN_SIZE = 32


class CSRNet(nn.Module):
    """CSRNet ``variant`` in {heavy, medium, light}. ``forward(x [N,3,H,W]) -> logits [N,C,H,W]``.

    heavy: 3 SPFMs, 6 SRMs; medium drops the 1/4 SRMs of stages 1-2 (stage 3's takes f1; 4 SRMs);
    light also drops stage 1's 1/8 SRM (stage 2's takes f2; 3 SRMs).
    ``pretrained_backbone``: path of a torchvision resnet18 state-dict file, or None.
    Training needs batches of >= 2 images (BatchNorm on the SRM's pooled descriptor).
    """

    size_divisor = 32

    def __init__(
        self,
        variant: str = "heavy",
        num_classes: int = 19,
        pretrained_backbone: str | os.PathLike | None = None,
    ) -> None:
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"unknown CSRNet variant {variant!r}; valid: {', '.join(VARIANTS)}")
        self.variant = variant
        self.num_classes = num_classes
        c1, c2, c3, c4 = SKIP_CHANNELS
        self.backbone = ResNet18Backbone()
        # Stage 1 (from 1/32), stage 2 (from 1/16), stage 3 (from 1/8).
        self.spfm32 = SPFM(c4, WIDTH)
        self.srm1_16 = SRM(c3, WIDTH)
        self.srm1_8 = SRM(c2, WIDTH) if variant != "light" else None
        self.srm1_4 = SRM(c1, WIDTH) if variant == "heavy" else None
        self.spfm16 = SPFM(WIDTH, WIDTH)
        self.srm2_8 = SRM(WIDTH if variant != "light" else c2, WIDTH)
        self.srm2_4 = SRM(WIDTH, WIDTH) if variant == "heavy" else None
        self.spfm8 = SPFM(WIDTH, WIDTH)
        self.srm3_4 = SRM(WIDTH if variant == "heavy" else c1, WIDTH)
        self.head = nn.Sequential(nn.BatchNorm2d(WIDTH), nn.ReLU(inplace=True),
                                  nn.Conv2d(WIDTH, num_classes, 1, bias=True))
        self._init_decoder()
        if pretrained_backbone is not None:
            load_torchvision_resnet18(self.backbone, pretrained_backbone)

    def _init_decoder(self, scheme: str = "paper") -> None:
        """``paper``: Kaiming normal (fan_in, ReLU) on convs and Linear, biases 0. ``released``:
        the authors' csrnet_feat.py: Kaiming normal fan_out on the convs, Linear layers and the
        head's conv at PyTorch's defaults. BatchNorm 1 / 0 in both; the backbone is not touched."""
        if scheme not in ("paper", "released"):
            raise ValueError(f"unknown init scheme {scheme!r}; use 'paper' or 'released'")
        for name, m in self.named_modules():
            if name.startswith("backbone"):
                continue
            if scheme == "released" and (isinstance(m, nn.Linear) or m is self.head[-1]):
                m.reset_parameters()
            elif scheme == "released" and isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Conv2d | nn.Linear):
                nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        if h < MIN_SIZE or w < MIN_SIZE:
            raise ValueError(f"CSRNet input size {h}x{w} is below the minimum {MIN_SIZE}x{MIN_SIZE}")
        f1, f2, f3, f4 = self.backbone(x)
        s1_16 = self.srm1_16(self.spfm32(f4), f3)
        s1_8 = self.srm1_8(s1_16, f2) if self.srm1_8 is not None else None
        s1_4 = self.srm1_4(s1_8, f1) if self.srm1_4 is not None else None
        s2_8 = self.srm2_8(self.spfm16(s1_16), s1_8 if s1_8 is not None else f2)
        s2_4 = self.srm2_4(s2_8, s1_4) if self.srm2_4 is not None else None
        s3_4 = self.srm3_4(self.spfm8(s2_8), s2_4 if s2_4 is not None else f1)
        logits = self.head(s3_4)
        return F.interpolate(logits, size=(h, w), mode="bilinear", align_corners=False)
