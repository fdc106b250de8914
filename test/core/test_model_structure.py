"""Structural details of the papers' blocks: where ReLUs are (not), biases, shortcuts, round trips."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from frrn_seg_ros.core.checkpoint import default_meta, load_model, save_checkpoint
from frrn_seg_ros.core.labels import CAMVID
from frrn_seg_ros.core.models import build_model
from frrn_seg_ros.core.models.blocks import FRRU, RESIDUAL_CHANNELS, RU
from frrn_seg_ros.core.models.resnet import ResNet18Backbone


def test_backbone_skips_are_rectified_layer_outputs() -> None:
    """The authors' in-place ReLU rectifies the skip they hand on: skips are post-ReLU."""
    torch.manual_seed(0)
    backbone = ResNet18Backbone().eval()
    x = torch.rand(1, 3, 64, 96)
    with torch.inference_mode():
        skips = backbone(x)
        stem = backbone.maxpool(backbone.relu(backbone.bn1(backbone.conv1(x))))
        f1 = backbone.layer1(stem)
        assert torch.equal(skips[0], f1)
        # the stream entering layer k+1 is the skip f_k itself
        assert torch.equal(backbone.layer2(skips[0]), skips[1])
        last = backbone.layer4[1]
        pre = last.bn2(last.conv2(last.relu(last.bn1(last.conv1(backbone.layer4[0](skips[2]))))))
        pre = pre + backbone.layer4[0](skips[2])
        assert (pre < 0).any(), "the block sum must have negative values for this check to mean anything"
        assert torch.equal(skips[3], torch.relu(pre))
    for i, f in enumerate(skips, start=1):
        assert (f >= 0).all(), f"f{i} has negative values: the skip was taken before the ReLU"
        assert (f > 0).any()


@pytest.mark.parametrize(("in_ch", "out_ch"), [(8, 8), (8, 16)])
def test_ru_output_can_be_negative(in_ch: int, out_ch: int) -> None:
    torch.manual_seed(1)
    ru = RU(in_ch, out_ch).eval()
    with torch.inference_mode():
        out = ru(torch.randn(2, in_ch, 12, 12))
    assert out.shape == (2, out_ch, 12, 12)
    assert (out < 0).any() and (out > 0).any()  # no ReLU after the sum


def test_ru_projection_shortcut_is_a_plain_1x1_conv() -> None:
    torch.manual_seed(2)
    ru = RU(8, 16).train()  # train mode: a BN in the shortcut would renormalise the batch
    assert isinstance(ru.shortcut, nn.Conv2d) and ru.shortcut.kernel_size == (1, 1)
    assert ru.shortcut.bias is None
    bn2 = ru.conv2[1]
    nn.init.zeros_(bn2.weight)
    nn.init.zeros_(bn2.bias)  # the residual branch now adds exactly 0
    x = torch.randn(4, 8, 10, 10) * 3 + 1
    assert torch.allclose(ru(x), F.conv2d(x, ru.shortcut.weight), atol=1e-6)
    assert isinstance(RU(8).shortcut, nn.Identity)


def test_frrn_residual_stream_split_has_no_relu() -> None:
    torch.manual_seed(3)
    model = build_model("frrn_a", num_classes=3).eval()
    assert not any(isinstance(m, nn.ReLU) for m in model.split.modules())
    seen: dict[str, torch.Tensor] = {}
    hooks = [
        model.split.register_forward_hook(lambda m, i, o: seen.__setitem__("split", o)),
        model.encoder[0].units[0].register_forward_hook(lambda m, i, o: seen.__setitem__("z_in", i[1])),
    ]
    with torch.inference_mode():
        model(torch.rand(1, 3, 32, 48))
    for h in hooks:
        h.remove()
    assert seen["split"].shape[1] == RESIDUAL_CHANNELS
    assert (seen["split"] < 0).any()
    assert seen["z_in"] is seen["split"]  # the first FRRU gets the split output untouched


def test_frru_residual_projection_has_a_bias() -> None:
    model = build_model("frrn_b", num_classes=3)
    units = [m for m in model.modules() if isinstance(m, FRRU)]
    assert len(units) == 21
    for unit in units:
        conv = unit.to_residual
        assert conv.kernel_size == (1, 1) and conv.out_channels == RESIDUAL_CHANNELS
        assert conv.bias is not None and conv.bias.shape == (RESIDUAL_CHANNELS,)
    frru = FRRU(16, 24, 4).eval()
    nn.init.zeros_(frru.to_residual.weight)
    with torch.no_grad():
        frru.to_residual.bias.copy_(torch.linspace(-1, 1, RESIDUAL_CHANNELS))
    z = torch.randn(2, RESIDUAL_CHANNELS, 16, 16)
    with torch.inference_mode():
        y2, z2 = frru(torch.randn(2, 16, 4, 4), z)
    assert y2.shape == (2, 24, 4, 4)
    # z' = z + repeat(conv1x1(y')): with zero weights only the bias reaches every pixel
    assert torch.allclose(z2 - z, torch.linspace(-1, 1, RESIDUAL_CHANNELS)[None, :, None, None].expand_as(z))


@pytest.mark.parametrize("suffix", [".pt", ".safetensors"])
def test_frrn_save_load_gives_identical_logits(tmp_path: Path, suffix: str) -> None:
    torch.manual_seed(4)
    model = build_model("frrn_a", num_classes=CAMVID.num_classes).train()
    with torch.no_grad():
        for _ in range(2):  # move the BN running statistics away from their initial values
            model(torch.rand(2, 3, 32, 48))
    model.eval()
    path = save_checkpoint(tmp_path / f"frrn{suffix}", model.state_dict(), default_meta("frrn_a", CAMVID))
    loaded, meta = load_model(path)
    assert meta.architecture == "frrn_a" and meta.num_classes == 11
    x = torch.rand(1, 3, 32, 48)
    with torch.inference_mode():
        expected, got = model(x), loaded(x)
    assert got.shape == (1, 11, 32, 48)
    assert torch.equal(expected, got)
    bn = model.input_units[0].conv1[1]
    assert not torch.equal(bn.running_mean, torch.zeros_like(bn.running_mean))
