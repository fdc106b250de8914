"""Importing the CSRNet authors' ``best.pth``: our csrnet_heavy then computes what their network does.

No real file here: files in their format are written from an independent re-implementation of
their network (``csrnet_authors_reference``, their module names and forward), with random weights
and BatchNorm statistics; our imported model must give the same logits as theirs.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path

import pytest
import torch
from csrnet_authors_reference import authors_csrnet
from torch import nn

from frrn_seg_ros.core.checkpoint import file_sha256, load_model, save_checkpoint
from frrn_seg_ros.core.importers import WeightsImportError, import_weights
from frrn_seg_ros.core.importers.csrnet_authors import DROPPED_KEYS, convert
from frrn_seg_ros.core.models import build_model
from frrn_seg_ros.core.models.blocks import SPFM
from frrn_seg_ros.core.models.resnet import ResNet18Backbone

SIZES = [(64, 128), (96, 160)]  # non-square; their SPFM grids depend on the aspect ratio


def _randomise(model: nn.Module, seed: int) -> nn.Module:
    """Random weights everywhere, BatchNorm affine and running statistics included."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.weight.copy_(torch.rand(module.weight.shape, generator=gen) + 0.5)
                module.bias.copy_(torch.randn(module.bias.shape, generator=gen) * 0.2)
                module.running_mean.copy_(torch.randn(module.running_mean.shape, generator=gen) * 0.2)
                module.running_var.copy_(torch.rand(module.running_var.shape, generator=gen) * 1.5 + 0.5)
                module.num_batches_tracked.fill_(int(torch.randint(1, 10_000, (), generator=gen)))
            elif isinstance(module, nn.Conv2d | nn.Linear):
                fan_in = module.weight[0].numel()
                module.weight.copy_(torch.randn(module.weight.shape, generator=gen) * (2 / fan_in) ** 0.5)
                if module.bias is not None:
                    module.bias.copy_(torch.randn(module.bias.shape, generator=gen) * 0.1)
    return model.eval()


@pytest.fixture(scope="module")
def theirs() -> nn.Module:
    """Their SemsegModel(resnet18(...), 19) in eval mode with random weights (float32, as saved)."""
    return _randomise(authors_csrnet(19), seed=10)


@pytest.fixture(scope="module")
def their_state(theirs) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in theirs.state_dict().items()}


@pytest.fixture(scope="module")
def best_pth(tmp_path_factory, their_state) -> Path:
    """A plain state dict, as their train.py saves ``best.pth`` and val.py loads it."""
    path = tmp_path_factory.mktemp("csrnet") / "best.pth"
    torch.save(their_state, path)
    return path


@pytest.fixture(scope="module")
def ours_from_plain(best_pth) -> nn.Module:
    imported = convert(best_pth, None)
    model = build_model("csrnet_heavy", num_classes=19)
    model.load_state_dict(imported.state_dict, strict=True)
    return model.eval()


def _save(tmp_path: Path, payload, name: str = "best.pth") -> Path:
    path = tmp_path / name
    torch.save(payload, path)
    return path


def test_their_reference_has_the_released_models_size(theirs) -> None:
    # MODELS.md: 12,817,863 parameters; the file adds the two unused input-scaling buffers.
    assert sum(p.numel() for p in theirs.parameters()) == 12_817_863
    assert set(DROPPED_KEYS) <= set(theirs.state_dict())


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_imported_model_gives_their_logits(theirs, ours_from_plain, size) -> None:
    torch.manual_seed(size[0])
    images = torch.randn(2, 3, *size, dtype=torch.float64)
    with torch.no_grad():
        expected = copy.deepcopy(theirs).double()(images.clone())
        found = copy.deepcopy(ours_from_plain).double()(images.clone())
    assert found.shape == expected.shape == (2, 19, *size)
    scale = expected.abs().max().item()
    assert scale > 1.0  # random weights give logits well away from zero: the comparison means something
    assert (found - expected).abs().max().item() <= 1e-9 * scale
    assert torch.equal(found.argmax(1), expected.argmax(1))


def test_a_single_image_too(theirs, ours_from_plain) -> None:
    # Their SK_Block squeezes the batch dimension away at N=1 and adds it back: same result.
    images = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        expected, found = theirs(images.clone()), ours_from_plain(images.clone())
    assert (found - expected).abs().max().item() <= 1e-4 * expected.abs().max().item()


# (wrapper key or None, DataParallel 'module.' prefix)
LAYOUTS = [("state_dict", False), ("model", False), (None, True), ("state_dict", True)]


@pytest.mark.parametrize(("wrapper", "prefixed"), LAYOUTS, ids=["state_dict", "model", "module", "both"])
def test_wrapped_and_data_parallel_files_give_the_same_weights(
    tmp_path, their_state, best_pth, wrapper, prefixed
) -> None:
    state = {f"module.{k}": v for k, v in their_state.items()} if prefixed else their_state
    payload = state if wrapper is None else {wrapper: state, "epoch": 42}
    imported = convert(_save(tmp_path, payload), "csrnet_heavy")
    reference = convert(best_pth, None).state_dict
    assert imported.state_dict.keys() == reference.keys()
    assert all(torch.equal(imported.state_dict[k], reference[k]) for k in reference)
    layout = imported.provenance["source_layout"]
    assert ("'module.'" in layout) == prefixed
    assert (f"under {wrapper!r}" in layout) == (wrapper is not None)


def test_every_key_is_mapped_and_values_land_where_they_belong(best_pth, their_state) -> None:
    imported = convert(best_pth, None)
    ours = imported.state_dict
    assert len(ours) == len(their_state) - len(DROPPED_KEYS)
    # A few mappings checked by hand against their module names (csrnet_feat.py, util2.py, util.py).
    pairs = {
        "backbone.layer3.0.downsample.1.running_var": "backbone.layer3.0.downsample.1.running_var",
        "spfm32.reduce.0.weight": "backbone.spp.spp.spp_bn.conv.weight",
        "spfm16.branches.2.1.running_mean": "backbone.spp_up1.spp.spp2.norm.running_mean",
        "spfm8.fuse.1.bias": "backbone.spp_up2.spp.spp_fuse.norm.bias",
        "srm1_16.skip.0.weight": "backbone.upsample.0.bottleneck.conv.weight",
        "srm1_4.fc_low.weight": "backbone.upsample.2.sk.fc1.weight",
        "srm2_8.fc_skip.bias": "backbone.upsample_up2.0.sk.fc2.bias",
        "srm2_4.mix.1.weight": "backbone.upsample_up2.1.sk.conv_out.norm.weight",
        "srm3_4.blend.0.weight": "backbone.upsample_up3.0.blend_conv.conv.weight",
        "srm3_4.squeeze.1.num_batches_tracked": "backbone.upsample_up3.0.sk.fc.norm.num_batches_tracked",
        "head.0.running_var": "logits.norm.running_var",
        "head.2.bias": "logits.conv.bias",
    }
    for our_key, their_key in pairs.items():
        assert torch.equal(ours[our_key], their_state[their_key]), our_key
    prov = imported.provenance
    assert prov["paper_miou"]["cityscapes_val"] == 77.3 and prov["input_downsample"] == 1
    assert "backbone.img_mean" in prov["source_layout"] and "backbone.img_std" in prov["source_layout"]


def test_missing_batch_counters_become_zero(tmp_path, their_state) -> None:
    state = {k: v for k, v in their_state.items() if not k.endswith("num_batches_tracked")}
    assert all(int(v) > 0 for k, v in their_state.items() if k.endswith("num_batches_tracked"))
    imported = convert(_save(tmp_path, state), None)
    counters = [v for k, v in imported.state_dict.items() if k.endswith("num_batches_tracked")]
    assert len(counters) == len(their_state) - len(state) > 0
    assert all(v.dtype == torch.long and int(v) == 0 for v in counters)


def test_import_weights_gives_a_node_checkpoint_with_their_logits(tmp_path, best_pth, theirs) -> None:
    state, meta = import_weights("csrnet-authors", best_pth)
    assert meta.architecture == "csrnet_heavy" and meta.num_classes == 19
    assert meta.provenance["source_sha256"] == file_sha256(best_pth)
    assert meta.provenance["source_file"] == "best.pth"
    assert meta.provenance["paper_miou"]["cityscapes_val"] == 77.3
    out = save_checkpoint(tmp_path / "csrnet_heavy.safetensors", state, meta)
    model, loaded_meta = load_model(out)
    assert loaded_meta.provenance["input_downsample"] == 1
    images = torch.randn(1, 3, 64, 128)
    with torch.no_grad():
        expected, found = theirs(images.clone()), model(images.clone())
    assert (found - expected).abs().max().item() <= 1e-4 * expected.abs().max().item()


def test_command_line_writes_the_checkpoint_or_one_line_and_exit_2(tmp_path, best_pth, capsys) -> None:
    from frrn_seg_ros.cli.import_weights import main as import_main

    out = tmp_path / "csrnet_heavy.safetensors"
    argv = ["--format", "csrnet-authors", "--input", str(best_pth), "--output", str(out)]
    assert import_main(argv) == 0
    assert "csrnet_heavy" in capsys.readouterr().out
    assert load_model(out)[1].provenance["source_format"] == "csrnet-authors"
    cut = tmp_path / "cut.pth"
    cut.write_bytes(best_pth.read_bytes()[:1000])
    bad_out = tmp_path / "bad.safetensors"
    assert import_main(["--format", "csrnet-authors", "--input", str(cut), "--output", str(bad_out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "truncated or corrupt" in err and str(cut) in err
    assert not bad_out.exists()


def test_spfm_pooling_grids_equal_their_formula_for_every_small_feature_map() -> None:
    # util2.py SpatialPyramidPooling: grid (g, max(1, round(ar * g))), ar = w / h, grids 8, 4, 2.
    for h in range(1, 41):
        for w in range(1, 41):
            for g in (8, 4, 2):
                assert SPFM.grid_size(g, h, w) == (g, max(1, round((w / h) * g))), (g, h, w)


# --- malformed files: one line naming the key and the expected and found shapes -------------------


def test_other_architecture_names_are_refused(best_pth) -> None:
    for name in ("csrnet_light", "frrn_a"):
        with pytest.raises(WeightsImportError, match=f"csrnet_heavy only, not '{name}'"):
            convert(best_pth, name)


def test_another_models_state_dict_is_refused(tmp_path) -> None:
    resnet = ResNet18Backbone().state_dict()  # a torchvision-style resnet18 file (no fc here)
    with pytest.raises(WeightsImportError) as info:
        convert(_save(tmp_path, resnet), None)
    msg = str(info.value)
    assert "missing key 'backbone.conv1.weight'" in msg and "(64, 3, 7, 7)" in msg
    assert "not a CSRNet SemsegModel state dict" in msg


def test_truncated_file_is_reported_as_such(tmp_path, best_pth) -> None:
    cut = tmp_path / "cut.pth"
    cut.write_bytes(best_pth.read_bytes()[: best_pth.stat().st_size // 2])
    with pytest.raises(WeightsImportError, match="truncated or corrupt") as info:
        convert(cut, None)
    assert str(cut) in str(info.value)


def test_missing_key_is_named_with_its_shape(tmp_path, their_state) -> None:
    state = dict(their_state)
    del state["backbone.upsample.1.sk.fc1.weight"]
    with pytest.raises(WeightsImportError) as info:
        convert(_save(tmp_path, state), None)
    msg = str(info.value)
    assert "missing key 'backbone.upsample.1.sk.fc1.weight'" in msg and "(128, 128)" in msg
    assert "1 keys of 385 missing" in msg and "not a CSRNet" not in msg


def test_extra_key_is_named_with_its_shape(tmp_path, their_state) -> None:
    state = {**their_state, "backbone.upsample.3.blend_conv.conv.weight": torch.zeros(128, 128, 3, 3)}
    with pytest.raises(WeightsImportError) as info:
        convert(_save(tmp_path, state), None)
    msg = str(info.value)
    assert "unexpected key 'backbone.upsample.3.blend_conv.conv.weight'" in msg
    assert "(128, 128, 3, 3)" in msg


def test_shape_mismatch_is_named_with_both_shapes(tmp_path, their_state) -> None:
    state = {**their_state, "logits.conv.weight": torch.zeros(20, 128, 1, 1)}
    with pytest.raises(WeightsImportError) as info:
        convert(_save(tmp_path, state), None)
    msg = str(info.value)
    assert "'logits.conv.weight'" in msg
    assert "expected shape (19, 128, 1, 1), found (20, 128, 1, 1)" in msg


def test_non_tensor_value_and_non_dict_payload_are_refused(tmp_path, their_state) -> None:
    state = {**their_state, "logits.conv.bias": [0.0] * 19}
    with pytest.raises(WeightsImportError, match=r"'logits.conv.bias' holds a list.*\(19,\)"):
        convert(_save(tmp_path, state), None)
    with pytest.raises(WeightsImportError, match="expected a state dict"):
        convert(_save(tmp_path, [torch.zeros(3)], "list.pth"), None)


class _RunsCodeOnLoad:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_pickle_that_would_run_code_is_refused_without_running_it(tmp_path, their_state) -> None:
    marker = tmp_path / "pwned"
    evil = _save(tmp_path, {**their_state, "logits.extra": _RunsCodeOnLoad(marker)}, "evil.pth")
    with pytest.raises(WeightsImportError, match=r"refused to load .*could run code"):
        convert(evil, None)
    assert not marker.exists()
