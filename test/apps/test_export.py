"""ONNX / TorchScript export: parity with PyTorch, metadata inside the files, the ORT model wrapper."""

from __future__ import annotations

import pytest
import torch

from frrn_seg_ros.core.checkpoint import CheckpointError, default_meta, save_checkpoint
from frrn_seg_ros.core.model_export import (
    MIN_ARGMAX_AGREEMENT,
    compare_outputs,
    export_onnx,
    export_torchscript,
    load_torchscript,
    read_onnx_meta,
    verify_export,
)
from frrn_seg_ros.core.models import build_model
from frrn_seg_ros.core.onnx_model import OnnxSegmentationModel, load_onnx_model

HW = (32, 64)


@pytest.fixture(scope="module")
def models():
    torch.manual_seed(0)
    return {
        name: (build_model(name, num_classes=19).eval(), default_meta(name))
        for name in ("frrn_a", "csrnet_light")
    }


def _inputs(*shapes):
    gen = torch.Generator().manual_seed(1)
    return [torch.rand(*s, generator=gen) for s in shapes]


@pytest.mark.parametrize("name", ["frrn_a", "csrnet_light"])
def test_onnx_fixed_size_parity_and_metadata(models, tmp_path, capfd, name):
    import onnx

    model, meta = models[name]
    path = tmp_path / f"{name}.onnx"
    capfd.readouterr()
    info = export_onnx(model, meta, path, HW, dynamic=False)
    printed = capfd.readouterr()
    # CSRNet goes straight to dynamo: a TorchScript attempt fails and dumps its whole graph to stdout
    assert info.exporter == ("dynamo" if name.startswith("csrnet") else "torchscript")
    assert "Torch IR graph" not in printed.out + printed.err, (printed.out + printed.err)[:300]
    assert info.opset >= 17 and info.input_size == HW and not info.dynamic
    props = {p.key for p in onnx.load(str(path)).metadata_props}
    assert {"frrn_seg_ros", "frrn_seg_ros.export"} <= props
    onnx_model, onnx_meta = load_onnx_model(path, providers=["CPUExecutionProvider"])
    assert isinstance(onnx_model, torch.nn.Module) and onnx_meta.to_dict() == meta.to_dict()
    assert onnx_model.size_divisor == (16 if name == "frrn_a" else 32)
    assert onnx_model.input_size == HW
    parity = verify_export(model, onnx_model, _inputs((1, 3, *HW), (2, 3, *HW)))
    assert parity.ok, str(parity)
    assert parity.argmax_agreement >= MIN_ARGMAX_AGREEMENT
    with pytest.raises(ValueError, match="fixed"):
        onnx_model(torch.rand(1, 3, HW[0] * 2, HW[1]))
    # drop-in for the engine (what SegmentationEngine.from_onnx does): same labels as PyTorch
    from frrn_seg_ros.core.engine import EngineConfig, SegmentationEngine

    config = dict(device="cpu", warmup_iters=0, input_size=HW)
    rgb = (torch.rand(HW[0] * 2, HW[1] * 2, 3) * 255).to(torch.uint8).numpy()
    onnx_labels = SegmentationEngine(onnx_model, onnx_meta, EngineConfig(**config)).segment_rgb(rgb).labels
    torch_labels = SegmentationEngine(model, meta, EngineConfig(**config)).segment_rgb(rgb).labels
    assert onnx_labels.shape == rgb.shape[:2]
    assert (onnx_labels == torch_labels).mean() >= MIN_ARGMAX_AGREEMENT


def test_onnx_dynamic_size_parity_frrn(models, tmp_path):
    model, meta = models["frrn_a"]
    path = tmp_path / "frrn_a_dyn.onnx"
    info = export_onnx(model, meta, path, HW, dynamic=True)
    assert info.dynamic
    onnx_model = OnnxSegmentationModel(path, providers=["CPUExecutionProvider"])
    assert onnx_model.input_size is None
    out = onnx_model(torch.rand(1, 3, 16, 32))
    assert out.shape == (1, 19, 16, 32) and out.dtype == torch.float32
    parity = verify_export(model, onnx_model, _inputs((1, 3, *HW), (1, 3, 48, 80)))
    assert parity.ok, str(parity)
    with pytest.raises(ValueError, match="multiple of 16"):
        onnx_model(torch.rand(1, 3, 24, 32))
    assert read_onnx_meta(path)[1].dynamic


@pytest.mark.parametrize("name", ["frrn_a", "csrnet_light"])
def test_torchscript_parity(models, tmp_path, name):
    model, meta = models[name]
    path = tmp_path / f"{name}.ts"
    export_torchscript(model, meta, path, HW)
    traced, ts_meta, info = load_torchscript(path)
    assert ts_meta.to_dict() == meta.to_dict() and info.input_size == HW
    parity = verify_export(model, traced, _inputs((1, 3, *HW)))
    assert parity.ok, str(parity)


def test_parity_check_detects_a_wrong_export():
    ref = torch.randn(1, 5, 8, 8)
    assert compare_outputs(ref, ref.clone()).ok
    assert not compare_outputs(ref, ref + 0.01).ok  # logit error above tolerance
    shuffled = ref[:, [1, 0, 2, 3, 4]]
    assert not compare_outputs(ref, shuffled).ok  # classes swapped: argmax disagreement


def test_foreign_onnx_is_refused(tmp_path):
    path = tmp_path / "plain.onnx"
    torch.onnx.export(torch.nn.Conv2d(3, 2, 1).eval(), (torch.rand(1, 3, 4, 4),), str(path), dynamo=False)
    with pytest.raises(CheckpointError, match="no 'frrn_seg_ros' metadata"):
        load_onnx_model(path)
    with pytest.raises(CheckpointError, match="not found"):
        load_onnx_model(tmp_path / "missing.onnx")


def test_cli_export_with_verify(models, tmp_path, capsys):
    from frrn_seg_ros.cli import export

    model, meta = models["frrn_a"]
    ckpt = save_checkpoint(tmp_path / "frrn_a.pt", model.state_dict(), meta)
    rc = export.main(
        ["--checkpoint", str(ckpt), "--onnx", str(tmp_path / "m.onnx"), "--size", "32x64", "--verify"]
    )
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "ONNX Runtime vs PyTorch" in out and out.count(": OK") == 1 and "fixed 32x64" in out
    assert read_onnx_meta(tmp_path / "m.onnx")[0].to_dict() == meta.to_dict()
    assert export.main(["--checkpoint", str(tmp_path / "nope.pt"), "--onnx", str(tmp_path / "x.onnx")]) == 2
    assert (
        export.main(["--architecture", "frrn_a", "--onnx", str(tmp_path / "y.onnx"), "--size", "60x96"]) == 2
    )
    assert "multiple of 16" in capsys.readouterr().err
