"""Inference BatchNorm folded into the convolution before it: the same logits, fewer passes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from frrn_seg_ros.core.checkpoint import default_meta
from frrn_seg_ros.core.engine import EngineConfig, SegmentationEngine
from frrn_seg_ros.core.engine.preprocess import normalisation
from frrn_seg_ros.core.models import ARCHITECTURES, build_model
from frrn_seg_ros.core.models.batchnorm_folding import fold_batchnorm

HW = (64, 128)


def trained_looking(name: str) -> nn.Module:
    """Random weights and BatchNorm statistics / affine far from their defaults (1, 0): folding them
    is then not the identity."""
    torch.manual_seed(0)
    model = build_model(name, num_classes=19)
    gen = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.rand(n, generator=gen) - 0.5)
            m.running_var.copy_(torch.rand(n, generator=gen) * 1.5 + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=gen) + 0.5)
            m.bias.data.copy_(torch.rand(n, generator=gen) * 0.6 - 0.3)
    return model.eval()


def batchnorms(model: nn.Module) -> int:
    return sum(isinstance(m, nn.BatchNorm2d) for m in model.modules())


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_folded_model_computes_the_same_logits(name: str) -> None:
    model = trained_looking(name)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    folded, count = fold_batchnorm(model)
    # every BatchNorm right after a convolution is gone; CSRNet's head (BN -> ReLU -> conv) stays
    assert batchnorms(folded) == (1 if name.startswith("csrnet") else 0)
    assert count == batchnorms(model) - batchnorms(folded) > 10
    x = torch.rand(2, 3, *HW, generator=torch.Generator().manual_seed(2))
    with torch.inference_mode():
        expected, found = model(x), folded(x)
    scale = expected.abs().max().item()
    assert (found - expected).abs().max().item() <= 1e-4 * scale
    assert (found.argmax(1) == expected.argmax(1)).float().mean().item() >= 0.999
    after = model.state_dict()  # the caller's model is left as it was
    assert after.keys() == before.keys() and all(torch.equal(after[k], before[k]) for k in before)


def test_training_mode_and_models_without_batchnorm_come_back_as_they_are() -> None:
    model = build_model("frrn_a", num_classes=19).train()
    assert fold_batchnorm(model) == (model, 0)
    plain = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU()).eval()
    assert fold_batchnorm(plain) == (plain, 0)


def test_engine_runs_the_folded_model_and_says_so() -> None:
    model = trained_looking("csrnet_light")
    config = EngineConfig(device="cpu", warmup_iters=0, input_size=HW)
    engine = SegmentationEngine(model, default_meta("csrnet_light"), config)
    assert engine.inference_path["batchnorm_folded"] == batchnorms(model) - 1
    assert batchnorms(model) > 1  # the model handed over keeps its BatchNorms
    rgb = np.random.default_rng(3).integers(0, 256, (*HW, 3)).astype(np.uint8)
    labels = engine.segment_rgb(rgb).labels
    x = torch.from_numpy(rgb).permute(2, 0, 1)[None].float()
    scale, bias = normalisation(default_meta("csrnet_light").mean, default_meta("csrnet_light").std,
                                torch.device("cpu"))
    with torch.inference_mode():
        expected = model(x * scale + bias).argmax(1)[0].numpy()
    assert (labels == expected).mean() >= 0.999
