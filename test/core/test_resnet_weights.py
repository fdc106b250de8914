"""Loading a torchvision resnet18 state-dict file into the in-project ResNet-18 backbone."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from frrn_seg_ros.core.checkpoint import CheckpointError
from frrn_seg_ros.core.models import build_model
from frrn_seg_ros.core.models.resnet import ResNet18Backbone, load_torchvision_resnet18


def _bn(prefix: str, ch: int) -> dict[str, tuple[int, ...]]:
    return {f"{prefix}.weight": (ch,), f"{prefix}.bias": (ch,), f"{prefix}.running_mean": (ch,),
            f"{prefix}.running_var": (ch,), f"{prefix}.num_batches_tracked": ()}


def torchvision_resnet18_shapes() -> dict[str, tuple[int, ...]]:
    """Keys and shapes of ``torchvision.models.resnet18().state_dict()``, written out by hand."""
    shapes: dict[str, tuple[int, ...]] = {"conv1.weight": (64, 3, 7, 7), **_bn("bn1", 64)}
    in_ch = 64
    for layer, ch in enumerate((64, 128, 256, 512), start=1):
        for block in (0, 1):
            p = f"layer{layer}.{block}"
            shapes[f"{p}.conv1.weight"] = (ch, in_ch if block == 0 else ch, 3, 3)
            shapes.update(_bn(f"{p}.bn1", ch))
            shapes[f"{p}.conv2.weight"] = (ch, ch, 3, 3)
            shapes.update(_bn(f"{p}.bn2", ch))
            if block == 0 and layer > 1:
                shapes[f"{p}.downsample.0.weight"] = (ch, in_ch, 1, 1)
                shapes.update(_bn(f"{p}.downsample.1", ch))
        in_ch = ch
    shapes["fc.weight"] = (1000, 512)
    shapes["fc.bias"] = (1000,)
    return shapes


def _fake_state(seed: int = 0) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape in torchvision_resnet18_shapes().items():
        if key.endswith("num_batches_tracked"):
            state[key] = torch.tensor(7, dtype=torch.long)
        else:
            state[key] = torch.randn(shape, generator=gen)
    return state


def test_backbone_keys_match_torchvision_without_fc() -> None:
    expected = {k: v for k, v in torchvision_resnet18_shapes().items() if not k.startswith("fc.")}
    own = {k: tuple(v.shape) for k, v in ResNet18Backbone().state_dict().items()}
    assert own == expected
    assert len(expected) == 122 - 2


def test_load_values_land(tmp_path: Path) -> None:
    state = _fake_state()
    path = tmp_path / "resnet18.pth"
    torch.save(state, path)
    backbone = ResNet18Backbone()
    load_torchvision_resnet18(backbone, path)
    own = backbone.state_dict()
    assert torch.equal(own["layer3.0.conv1.weight"], state["layer3.0.conv1.weight"])
    assert torch.equal(own["layer4.1.bn2.running_var"], state["layer4.1.bn2.running_var"])
    assert torch.equal(own["layer2.0.downsample.1.weight"], state["layer2.0.downsample.1.weight"])
    assert int(own["bn1.num_batches_tracked"]) == 7
    assert torch.equal(backbone.conv1.weight, state["conv1.weight"])


def test_csrnet_pretrained_backbone_kwarg(tmp_path: Path) -> None:
    state = _fake_state(seed=1)
    path = tmp_path / "r18.pth"
    torch.save(state, path)
    model = build_model("csrnet_light", num_classes=3, pretrained_backbone=str(path))
    assert torch.equal(model.backbone.layer1[1].conv2.weight, state["layer1.1.conv2.weight"])


def test_old_files_without_num_batches_tracked_load(tmp_path: Path) -> None:
    state = {k: v for k, v in _fake_state().items() if not k.endswith("num_batches_tracked")}
    torch.save(state, tmp_path / "old.pth")
    backbone = ResNet18Backbone()
    load_torchvision_resnet18(backbone, tmp_path / "old.pth")
    assert torch.equal(backbone.layer1[0].bn1.bias, state["layer1.0.bn1.bias"])


def test_wrong_shape_names_the_key(tmp_path: Path) -> None:
    state = _fake_state()
    state["layer2.1.conv2.weight"] = torch.zeros(128, 128, 1, 1)
    torch.save(state, tmp_path / "bad.pth")
    with pytest.raises(ValueError, match=r"layer2\.1\.conv2\.weight"):
        load_torchvision_resnet18(ResNet18Backbone(), tmp_path / "bad.pth")


def test_missing_key_names_the_key(tmp_path: Path) -> None:
    state = _fake_state()
    del state["layer3.1.bn1.running_mean"]
    torch.save(state, tmp_path / "missing.pth")
    backbone = ResNet18Backbone()
    before = backbone.conv1.weight.detach().clone()
    with pytest.raises(KeyError, match=r"layer3\.1\.bn1\.running_mean"):
        load_torchvision_resnet18(backbone, tmp_path / "missing.pth")
    assert torch.equal(backbone.conv1.weight, before)  # nothing half-loaded


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "resnet18-f37072fd.pth"
    with pytest.raises(FileNotFoundError, match=r"resnet18-f37072fd\.pth"):
        load_torchvision_resnet18(ResNet18Backbone(), path)
    with pytest.raises(FileNotFoundError, match="nowhere"):
        build_model("csrnet_heavy", pretrained_backbone=str(path))


class _RunsCodeOnLoad:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_code_running_pickle_is_refused_naming_the_path(tmp_path: Path) -> None:
    marker, path = tmp_path / "pwned", tmp_path / "resnet18-evil.pth"
    torch.save({**_fake_state(), "x": _RunsCodeOnLoad(marker)}, path)
    with pytest.raises(CheckpointError, match=r"refused .*ResNet-18 weights file .*resnet18-evil\.pth"):
        load_torchvision_resnet18(ResNet18Backbone(), path)
    assert not marker.exists()


@pytest.mark.parametrize("cut", [None, 2, 5000])
def test_corrupt_file_is_reported_corrupt_naming_the_path(tmp_path: Path, cut: int | None) -> None:
    path = tmp_path / "resnet18-broken.pth"
    if cut is None:
        path.write_text("<html>404 Not Found</html>\n")  # a failed download saved as the weights
    else:
        torch.save(_fake_state(), path)
        path.write_bytes(path.read_bytes()[:cut])
    with pytest.raises(CheckpointError, match=r"resnet18-broken\.pth is truncated or corrupt") as info:
        build_model("csrnet_light", num_classes=3, pretrained_backbone=str(path))
    assert "refused" not in str(info.value)
