"""Fold inference BatchNorm into the convolution before it: one pass over the feature map less.

In eval mode ``bn(conv(x)) = conv'(x)`` with ``W' = W * g / sqrt(v + eps)`` per output channel and
``b' = (b - m) * g / sqrt(v + eps) + beta`` (running mean ``m``, variance ``v``). The same function
up to float rounding; on an H200 the unfused BatchNorm kernels were a third of csrnet_light's
eager time at 1024x2048 (``benchmarks/results/gpu_probe_h200.md``).

Pairs folded: consecutive ``Conv2d`` -> ``BatchNorm2d`` children of an ``nn.Sequential``
(``ConvBNReLU``, ``conv_bn``, shortcut projections), and the attribute pairs a module lists in
its ``conv_bn_pairs`` (names whose forward computes ``bn(conv(x))`` directly, as ResNet's
``bn1(conv1(x))``). A BatchNorm after anything else (CSRNet's head: BN -> ReLU -> conv) stays.
"""

from __future__ import annotations

import copy
import itertools

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval


def fold_batchnorm(model: nn.Module) -> tuple[nn.Module, int]:
    """A folded copy of eval-mode ``model`` and the number of BatchNorms folded (``model`` itself is
    left as it is). A model in training mode, or a TorchScript one, comes back as it is, with 0."""
    if model.training or isinstance(model, torch.jit.ScriptModule):
        return model, 0
    if not any(isinstance(m, nn.BatchNorm2d) for m in model.modules()):
        return model, 0
    folded = copy.deepcopy(model)
    count = 0
    for module in folded.modules():
        if isinstance(module, nn.Sequential):
            count += _fold_sequential(module)
        for conv_name, bn_name in getattr(module, "conv_bn_pairs", ()):
            conv, bn = getattr(module, conv_name), getattr(module, bn_name)
            if _foldable(conv, bn):
                setattr(module, conv_name, fuse_conv_bn_eval(conv, bn))
                setattr(module, bn_name, nn.Identity())
                count += 1
    return folded, count


def _fold_sequential(sequence: nn.Sequential) -> int:
    count = 0
    for (first, conv), (second, bn) in itertools.pairwise(list(sequence.named_children())):
        if _foldable(conv, bn):
            setattr(sequence, first, fuse_conv_bn_eval(conv, bn))
            setattr(sequence, second, nn.Identity())
            count += 1
    return count


def _foldable(conv: nn.Module | None, bn: nn.Module | None) -> bool:
    return (isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d) and bn.track_running_stats
            and conv.out_channels == bn.num_features)

