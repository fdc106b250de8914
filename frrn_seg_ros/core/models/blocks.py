"""Building units shared by the FRRN and CSRNet models.

- :class:`ConvBNReLU` (CBR): conv (no bias) -> BatchNorm -> ReLU.
- :class:`RU`: FRRN residual unit (no ReLU after the sum).
- :class:`FRRU`: FRRN full-resolution residual unit (pooling stream y, residual stream z).
- :class:`SPFM`: CSRNet shorted pyramid fusion module.
- :class:`SRM`: CSRNet selective resolution module (soft channel attention over two inputs).
- :func:`theano_upsample2x`: FRRN's x2 bilinear upsampling rule (Theano's, not torch's).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

RESIDUAL_CHANNELS = 32  # width of the FRRN residual stream


def conv_bn(in_ch: int, out_ch: int, kernel: int) -> nn.Sequential:
    """conv (no bias, 'same' padding) -> BatchNorm, no activation."""
    return nn.Sequential(
        nn.Conv2d(in_ch, out_ch, kernel, padding=kernel // 2, bias=False), nn.BatchNorm2d(out_ch)
    )


def _upsample2x_along(x: torch.Tensor, dim: int) -> torch.Tensor:
    """Double ``x`` along ``dim``: out[2i] = x[i], out[2i+1] = (x[i] + x[i+1]) / 2, last repeated."""
    size = x.shape[dim]
    following = torch.cat([x.narrow(dim, 1, size - 1), x.narrow(dim, size - 1, 1)], dim=dim)
    middle = (x + following) * 0.5
    return torch.stack([x, middle], dim=dim + 1).flatten(dim, dim + 1)


def theano_upsample2x(x: torch.Tensor) -> torch.Tensor:
    """x2 bilinear upsampling as the FRRN authors' code computes it. [N,C,H,W] -> [N,C,2H,2W].

    Theano's ``T.nnet.abstract_conv.bilinear_upsampling(x, 2)`` (TobyPDE/FRRN dltools/layers.py,
    ``BilinearUpscaleLayer``): edge-replicating pad, then a stride-2 transposed convolution with the
    kernel [0.5, 1, 0.5]. Per axis: out[2i] = x[i], out[2i+1] = (x[i] + x[i+1]) / 2 and the last
    entry repeated, so [0, 1, 2, 3] -> [0, .5, 1, 1.5, 2, 2.5, 3, 3]. torch's
    ``F.interpolate(align_corners=False)`` gives [0, .25, .75, ...] instead, which moves the
    released FRRN weights' logits by up to 4. Slices, concat and reshape only: exports to ONNX with
    dynamic H and W.
    """
    return _upsample2x_along(_upsample2x_along(x, x.dim() - 2), x.dim() - 1)


class ConvBNReLU(nn.Sequential):
    """CBR: conv k x k (no bias, 'same' padding) -> BN -> ReLU. [N,in,H,W] -> [N,out,H,W]."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int = 1) -> None:
        super().__init__(
            nn.Conv2d(in_ch, out_ch, kernel, padding=kernel // 2, bias=False),
            nn.BatchNorm2d(out_ch),
            nn.ReLU(inplace=True),
        )


CBR = ConvBNReLU


class RU(nn.Module):
    """Residual unit: conv3x3-BN-ReLU, conv3x3-BN, plus shortcut; no ReLU after the sum.

    When channels change the shortcut is a 1x1 conv (no bias, no BN). [N,in,H,W] -> [N,out,H,W].
    """

    def __init__(self, in_ch: int, out_ch: int | None = None) -> None:
        super().__init__()
        out_ch = in_ch if out_ch is None else out_ch
        self.conv1 = ConvBNReLU(in_ch, out_ch, 3)
        self.conv2 = conv_bn(out_ch, out_ch, 3)
        self.shortcut = nn.Conv2d(in_ch, out_ch, 1, bias=False) if in_ch != out_ch else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shortcut(x) + self.conv2(self.conv1(x))


class FRRU(nn.Module):
    """Full-resolution residual unit with pooling factor ``scale`` and width ``channels``.

    ``forward(y [N,in_ch,H/k,W/k], z [N,32,H,W]) -> (y' [N,channels,H/k,W/k], z' [N,32,H,W])``:
    zp = maxpool_k(z); y' = CBR3x3(CBR3x3(concat[y, zp])); z' = z + repeat_k(conv1x1_bias(y')).
    """

    def __init__(self, in_ch: int, channels: int, scale: int) -> None:
        super().__init__()
        self.scale = scale
        self.conv1 = ConvBNReLU(in_ch + RESIDUAL_CHANNELS, channels, 3)
        self.conv2 = ConvBNReLU(channels, channels, 3)
        self.to_residual = nn.Conv2d(channels, RESIDUAL_CHANNELS, 1, bias=True)

    def forward(self, y: torch.Tensor, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        k = self.scale
        zp = F.max_pool2d(z, kernel_size=k, stride=k)
        y = self.conv2(self.conv1(torch.cat([y, zp], dim=1)))
        r = self.to_residual(y)
        if k > 1:
            r = F.interpolate(r, scale_factor=k, mode="nearest")
        return y, z + r


class SPFM(nn.Module):
    """Shorted pyramid fusion module. [N,in_ch,h,w] -> [N,128,h,w].

    x0 = CBR1x1(in -> c); for grid g in (8, 4, 2): adaptive-avg-pool x0 to (g, max(1, round(g*w/h))),
    CBR1x1(c -> branch), bilinear back; out = CBR1x1(concat[x0, branches] -> c).
    """

    GRIDS = (8, 4, 2)

    def __init__(self, in_ch: int, channels: int = 128, branch_channels: int = 42) -> None:
        super().__init__()
        self.reduce = ConvBNReLU(in_ch, channels, 1)
        self.branches = nn.ModuleList(ConvBNReLU(channels, branch_channels, 1) for _ in self.GRIDS)
        self.fuse = ConvBNReLU(channels + len(self.GRIDS) * branch_channels, channels, 1)

    @staticmethod
    def grid_size(grid: int, height: int, width: int) -> tuple[int, int]:
        """Pooling grid (rows, cols) for a feature map of ``height`` x ``width``."""
        return grid, max(1, round(grid * width / height))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x0 = self.reduce(x)
        h, w = int(x0.shape[-2]), int(x0.shape[-1])  # python ints: traceable (TorchScript/ONNX)
        outs = [x0]
        for grid, branch in zip(self.GRIDS, self.branches, strict=True):
            pooled = F.adaptive_avg_pool2d(x0, self.grid_size(grid, h, w))
            outs.append(F.interpolate(branch(pooled), size=(h, w), mode="bilinear", align_corners=False))
        return self.fuse(torch.cat(outs, dim=1))


class SRM(nn.Module):
    """Selective resolution module fusing a low-resolution map with a higher-resolution skip.

    ``forward(low [N,c,h',w'], skip [N,skip_ch,h,w]) -> [N,c,h,w]``:
    s = CBR1x1(skip); l = bilinear(low, size of s); g = GAP(l + s); z = ReLU(BN(conv1x1(g)));
    (a, b) = softmax over the pair (Linear_a(z), Linear_b(z)) per channel;
    out = CBR3x3(CBR1x1(a*l + b*s)). Training needs a batch of >= 2 (BN on the pooled descriptor).
    """

    def __init__(self, skip_ch: int, channels: int = 128) -> None:
        super().__init__()
        self.skip = ConvBNReLU(skip_ch, channels, 1)
        self.squeeze = ConvBNReLU(channels, channels, 1)
        self.fc_low = nn.Linear(channels, channels)
        self.fc_skip = nn.Linear(channels, channels)
        self.mix = ConvBNReLU(channels, channels, 1)
        self.blend = ConvBNReLU(channels, channels, 3)

    def attention(self, u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-channel weights ([N,c,1,1] each, summing to 1) for (low, skip) from U [N,c,h,w]."""
        # the global average as a mean: ATen's adaptive_avg_pool2d(u, 1) on a channels_last CUDA tensor
        # took 3 ms a forward at 1024x2048 (gpu_probe_h200.md), the same reduction as a mean far less
        z = self.squeeze(u.mean(dim=(2, 3), keepdim=True)).flatten(1)
        ab = torch.stack([self.fc_low(z), self.fc_skip(z)], dim=0).softmax(dim=0)
        return ab[0][..., None, None], ab[1][..., None, None]

    def forward(self, low: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        s = self.skip(skip)
        low = F.interpolate(low, size=s.shape[-2:], mode="bilinear", align_corners=False)
        a, b = self.attention(low + s)
        return self.blend(self.mix(a * low + b * s))
