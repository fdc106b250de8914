"""Test-only: the CSRNet authors' network, re-written from their code with THEIR module names.

Written from Mayy1994/CSRNet (csrnet_feat.py: ResNet/BasicBlock/resnet18; util2.py: _BNReluConv,
SK_Block, _Upsample_sk, SpatialPyramidPooling; util.py + csrnet_seg.py: the head and SemsegModel),
restricted to what ``SemsegModel(resnet18(efficient=False, num_features=128), 19)`` in their val.py
builds: BasicBlock, batch norm on, no separable convs, no fixed target size, eval-time forward.
Its state dict has exactly the keys of their ``best.pth`` (``backbone.img_mean``/``img_std``
included). Independent of our model code on purpose: the importer tests compare the two networks.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def upsample(x: torch.Tensor, size) -> torch.Tensor:
    """Their ``upsample`` lambda (util.py / util2.py)."""
    return F.interpolate(x, size, mode="bilinear", align_corners=False)


class ConvNormReluUtil2(nn.Sequential):
    """util2.py ``_BNReluConv``: despite the name conv -> norm -> relu."""

    def __init__(self, num_maps_in: int, num_maps_out: int, k: int = 3) -> None:
        super().__init__()
        self.add_module("conv", nn.Conv2d(num_maps_in, num_maps_out, kernel_size=k, padding=k // 2,
                                          bias=False))
        self.add_module("norm", nn.BatchNorm2d(num_maps_out))
        self.add_module("relu", nn.ReLU(inplace=True))


class NormReluConvUtil(nn.Sequential):
    """util.py ``_BNReluConv`` (the head, ``logits``): norm -> relu -> conv (bias)."""

    def __init__(self, num_maps_in: int, num_maps_out: int, k: int = 1) -> None:
        super().__init__()
        self.add_module("norm", nn.BatchNorm2d(num_maps_in))
        self.add_module("relu", nn.ReLU(inplace=True))
        self.add_module("conv", nn.Conv2d(num_maps_in, num_maps_out, kernel_size=k, padding=k // 2,
                                          bias=True))


class BasicBlock(nn.Module):
    """csrnet_feat.py BasicBlock: returns ``(relu, out)``; in-place ReLU makes them one tensor."""

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample=None) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x):
        residual = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out = out + residual
        relu = self.relu(out)
        return relu, out


class SK_Block(nn.Module):  # their class name
    """util2.py SK_Block: selective-kernel attention over (feat1, feat2)."""

    def __init__(self, in_chan: int, mid_chan: int) -> None:
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.fc = ConvNormReluUtil2(in_chan, mid_chan, k=1)
        self.fc1 = nn.Linear(mid_chan, in_chan)
        self.fc2 = nn.Linear(mid_chan, in_chan)
        self.softmax = nn.Softmax(dim=1)
        self.conv_out = ConvNormReluUtil2(in_chan, in_chan, k=1)

    def forward(self, feat1, feat2):
        feats = feat1 + feat2
        feat_z = self.fc(self.avg_pool(feats)).squeeze()
        feat_1 = self.fc1(feat_z)
        feat_2 = self.fc2(feat_z)
        if len(feat_2.shape) == 1:
            feat_1 = feat_1.unsqueeze(0)
            feat_2 = feat_2.unsqueeze(0)
        feat_1_2 = self.softmax(torch.stack([feat_1, feat_2], 1).unsqueeze(-1))
        feat_1 = feat_1_2[:, 0, :, :].unsqueeze(-1)
        feat_2 = feat_1_2[:, 1, :, :].unsqueeze(-1)
        return self.conv_out(feat1 * feat_1.expand_as(feat1) + feat2 * feat_2.expand_as(feat2))


class _Upsample_sk(nn.Module):  # their class name
    """util2.py _Upsample_sk: bottleneck(skip), upsample x to it, SK fusion, blend 3x3."""

    def __init__(self, num_maps_in: int, skip_maps_in: int, num_maps_out: int, k: int = 3) -> None:
        super().__init__()
        self.bottleneck = ConvNormReluUtil2(skip_maps_in, num_maps_in, k=1)
        self.blend_conv = ConvNormReluUtil2(num_maps_in, num_maps_out, k=k)
        self.sk = SK_Block(num_maps_in, num_maps_in)

    def forward(self, x, skip):
        skip = self.bottleneck(skip)
        x = upsample(x, skip.size()[2:4])
        x = self.sk(x, skip)
        return self.blend_conv(x)


class SpatialPyramidPooling(nn.Module):
    """util2.py SpatialPyramidPooling (num_levels 3, grids (8, 4, 2, 1), not square)."""

    def __init__(self, num_maps_in: int, num_levels: int = 3, bt_size: int = 128,
                 level_size: int = 42, out_size: int = 128, grids=(8, 4, 2, 1)) -> None:
        super().__init__()
        self.grids = grids
        self.spp = nn.Sequential()
        self.spp.add_module("spp_bn", ConvNormReluUtil2(num_maps_in, bt_size, k=1))
        final_size = bt_size
        for i in range(num_levels):
            final_size += level_size
            self.spp.add_module("spp" + str(i), ConvNormReluUtil2(bt_size, level_size, k=1))
        self.spp.add_module("spp_fuse", ConvNormReluUtil2(final_size, out_size, k=1))

    def forward(self, x):
        target_size = x.size()[2:4]
        ar = target_size[1] / target_size[0]
        x = self.spp[0](x)
        levels = [x]
        for i in range(1, len(self.spp) - 1):
            grid_size = (self.grids[i - 1], max(1, round(ar * self.grids[i - 1])))
            level = self.spp[i](F.adaptive_avg_pool2d(x, grid_size))
            levels.append(upsample(level, target_size))
        return self.spp[-1](torch.cat(levels, 1))


class ResNet(nn.Module):
    """csrnet_feat.py ResNet(BasicBlock, [2, 2, 2, 2], num_features=128): backbone + cascade."""

    def __init__(self, num_features: int = 128) -> None:
        super().__init__()
        self.inplanes = 64
        self.register_buffer("img_mean", torch.tensor((73.1584, 82.9090, 72.3924)).view(1, -1, 1, 1))
        self.register_buffer("img_std", torch.tensor((44.9149, 46.1529, 45.3192)).view(1, -1, 1, 1))
        self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        upsamples = []
        self.layer1 = self._make_layer(64, 1)
        upsamples.append(_Upsample_sk(num_features, self.inplanes, num_features))
        self.layer2 = self._make_layer(128, 2)
        upsamples.append(_Upsample_sk(num_features, self.inplanes, num_features))
        self.layer3 = self._make_layer(256, 2)
        upsamples.append(_Upsample_sk(num_features, self.inplanes, num_features))
        self.layer4 = self._make_layer(512, 2)
        upsamples_up2 = [_Upsample_sk(num_features, num_features, num_features) for _ in range(2)]
        upsamples_up3 = [_Upsample_sk(num_features, num_features, num_features)]
        level_size = num_features // 3
        self.spp = SpatialPyramidPooling(self.inplanes, level_size=level_size)
        self.spp_up1 = SpatialPyramidPooling(num_features, level_size=level_size)
        self.spp_up2 = SpatialPyramidPooling(num_features, level_size=level_size)
        self.upsample = nn.ModuleList(list(reversed(upsamples)))  # output_stride 4: none removed
        self.upsample_up2 = nn.ModuleList(upsamples_up2)
        self.upsample_up3 = nn.ModuleList(upsamples_up3)
        self.num_features = num_features

    def _make_layer(self, planes: int, stride: int) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, planes, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(planes))
        layers = [BasicBlock(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes
        layers.append(BasicBlock(self.inplanes, planes))
        return nn.Sequential(*layers)

    @staticmethod
    def forward_resblock(x, layers):
        skip = None
        for layer in layers:
            x = layer(x)
            if isinstance(x, tuple):
                x, skip = x
        return x, skip

    def forward_down(self, image):
        x = self.maxpool(self.relu(self.bn1(self.conv1(image))))
        features = []
        x, skip = self.forward_resblock(x, self.layer1)
        features.append(skip)
        x, skip = self.forward_resblock(x, self.layer2)
        features.append(skip)
        x, skip = self.forward_resblock(x, self.layer3)
        features.append(skip)
        x, skip = self.forward_resblock(x, self.layer4)
        features.append(self.spp(skip))
        return features

    def forward_up1(self, features):
        features = features[::-1]
        x = features[0]
        upsamples = []
        for skip, up in zip(features[1:], self.upsample, strict=False):
            x = up(x, skip)
            upsamples.append(x)
        upsamples[0] = self.spp_up1(upsamples[0])
        return upsamples

    def forward_up2(self, features):
        x = features[0]
        upsamples = []
        for skip, up in zip(features[1:], self.upsample_up2, strict=False):
            x = up(x, skip)
            upsamples.append(x)
        upsamples[0] = self.spp_up2(upsamples[0])
        return upsamples

    def forward_up3(self, features):
        x = features[0]
        for skip, up in zip(features[1:], self.upsample_up3, strict=False):
            features = up(x, skip)
        return features

    def forward(self, image):
        return self.forward_up3(self.forward_up2(self.forward_up1(self.forward_down(image))))


class SemsegModel(nn.Module):
    """csrnet_seg.py SemsegModel(backbone, num_classes): head ``logits``, bilinear to input size."""

    def __init__(self, backbone: ResNet, num_classes: int) -> None:
        super().__init__()
        self.backbone = backbone
        self.num_classes = num_classes
        self.logits = NormReluConvUtil(backbone.num_features, num_classes, k=1)

    def forward(self, image):
        features = self.backbone(image)
        h, w = image.size()[2:]
        return upsample(self.logits(features), [h, w])


def authors_csrnet(num_classes: int = 19) -> SemsegModel:
    """``SemsegModel(resnet18(efficient=False, num_features=128), num_classes)`` as val.py builds it."""
    return SemsegModel(ResNet(num_features=128), num_classes)
