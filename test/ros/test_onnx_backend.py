"""The node runs an exported ONNX model through ONNX Runtime (`model.backend`), over real DDS."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from rosutil import Collector, input_qos, publish_until, stamped
from sensor_msgs.msg import Image

from frrn_seg_ros.core.checkpoint import load_model
from frrn_seg_ros.core.engine import EngineConfig, SegmentationEngine
from frrn_seg_ros.core.onnx_model import OnnxSegmentationModel
from frrn_seg_ros.ros.conversions import array_to_image, image_to_array
from frrn_seg_ros.ros.parameters import NodeParams, ParameterError

pytest.importorskip("onnxruntime")
pytestmark = pytest.mark.ros

NET_HW = (64, 96)


@pytest.fixture(scope="module")
def onnx_file(tmp_path_factory, request):
    import torch

    from frrn_seg_ros.core.checkpoint import default_meta, save_checkpoint
    from frrn_seg_ros.core.model_export import export_onnx
    from frrn_seg_ros.core.models import build_model

    torch.manual_seed(1)
    model = build_model("csrnet_light").eval()
    folder = tmp_path_factory.mktemp("onnx")
    ckpt = save_checkpoint(folder / "m.safetensors", model.state_dict(), default_meta("csrnet_light"))
    path = folder / "m.onnx"
    export_onnx(model, default_meta("csrnet_light"), path, NET_HW, dynamic=False)
    return ckpt, path


def test_engine_from_onnx_adopts_the_fixed_size_and_matches_torch(onnx_file) -> None:
    ckpt, path = onnx_file
    rgb = np.random.default_rng(0).integers(0, 256, (80, 130, 3), dtype=np.uint8)
    onnx_engine = SegmentationEngine.from_onnx(path, EngineConfig(device="cpu", warmup_iters=0))
    assert onnx_engine.config.input_size == NET_HW
    model, meta = load_model(ckpt)
    config = EngineConfig(device="cpu", warmup_iters=0, input_size=NET_HW)
    torch_engine = SegmentationEngine(model, meta, config)
    a, b = onnx_engine.segment_rgb(rgb).labels, torch_engine.segment_rgb(rgb).labels
    assert a.shape == (80, 130)
    assert (a == b).mean() > 0.999


def test_backend_parameter_is_validated() -> None:
    with pytest.raises(ParameterError, match=r"model\.backend"):
        NodeParams.defaults(backend="onnxruntime", checkpoint="/x/model.safetensors").validate()
    with pytest.raises(ParameterError, match=r"model\.backend"):
        NodeParams.defaults(backend="tensorflow").validate()


def test_node_serves_an_onnx_checkpoint(ros, onnx_file) -> None:
    _, path = onnx_file
    seg = ros.segmentation_node(**{"model.checkpoint": str(path), "device": "cpu"})
    assert seg.engine.config.input_size == NET_HW
    model = seg.engine._model  # the engine runs ONNX Runtime, not a PyTorch network
    assert isinstance(model, OnnxSegmentationModel) and model.path == path
    assert model.providers == ["CPUExecutionProvider"]
    tester = ros.node()
    ns = seg.get_namespace()
    pub = tester.create_publisher(Image, f"{ns}/camera/image", input_qos())
    labels = Collector(tester, Image, f"{ns}/camera/segmentation/labels")
    rgb = np.random.default_rng(1).integers(0, 256, (70, 110, 3), dtype=np.uint8)
    sent = stamped(array_to_image(rgb, "rgb8"), "cam_optical", 42, 7)
    got = publish_until(pub, sent, labels)
    out = got[0]
    assert out.header.frame_id == "cam_optical" and out.header.stamp.sec == 42
    assert image_to_array(out).shape[:2] == (70, 110)
    assert model.session_device == torch.device("cpu")  # the session was made for the engine's device
