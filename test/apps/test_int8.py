"""int8 export: calibration from an image folder or a bag, a quantized file the engine runs."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from frrn_seg_ros.cli import export
from frrn_seg_ros.cli.int8 import calibration_frames
from frrn_seg_ros.core.engine import EngineConfig, SegmentationEngine
from frrn_seg_ros.replay.bag_io import BagWriter

pytest.importorskip("onnxruntime")
HW = (64, 96)


def scenes(count: int) -> list[np.ndarray]:
    """Smooth colour scenes (large regions), like camera images rather than noise."""
    y, x = np.mgrid[0 : HW[0], 0 : HW[1]]
    out = []
    for k in range(count):
        rgb = np.stack([(x * 2 + 40 * k) % 256, (y * 3 + 20 * k) % 256, ((x + y) + 60 * k) % 256], -1)
        out.append(rgb.astype(np.uint8))
    return out


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("calib")
    for index, rgb in enumerate(scenes(3)):
        Image.fromarray(rgb).save(folder / f"{index:02d}.png")
    return folder


def test_calibration_frames_from_a_folder_and_a_bag(image_folder, tmp_path):
    from_folder = list(calibration_frames(image_folder))
    assert [f.encoding for f in from_folder] == ["rgb8"] * 3
    for frame, rgb in zip(from_folder, scenes(3), strict=True):
        np.testing.assert_array_equal(frame.data, rgb)
    bag = tmp_path / "bag"
    with BagWriter(bag, "mcap") as writer:
        for index, rgb in enumerate(scenes(3)):
            writer.write_image("/cam/image", rgb, stamp_ns=(index + 1) * 10**8, frame_id="cam")
    from_bag = list(calibration_frames(bag, topic="/cam/image", limit=2))
    assert len(from_bag) == 2
    np.testing.assert_array_equal(from_bag[1].data.reshape(*HW, 3), scenes(3)[1])
    with pytest.raises(ValueError, match=r"no .*images"):
        list(calibration_frames(_empty(tmp_path)))
    with pytest.raises(ValueError, match="not an image folder"):
        list(calibration_frames(tmp_path / "missing"))


def _empty(tmp_path):
    folder = tmp_path / "empty"
    folder.mkdir()
    return folder


def test_int8_export_is_quantized_and_runs_in_the_engine(image_folder, tmp_path, capsys):
    import onnx

    out = tmp_path / "m_int8.onnx"
    argv = ["--architecture", "frrn_a", "--onnx", str(out), "--size", f"{HW[0]}x{HW[1]}",
            "--exporter", "torchscript", "--int8", "--calibration", str(image_folder), "--verify"]
    assert export.main(argv) == 0
    assert "argmax agreement" in capsys.readouterr().out
    ops = {node.op_type for node in onnx.load(str(out)).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    config = EngineConfig(device="cpu", warmup_iters=0)
    engine = SegmentationEngine.from_file(out, config)
    assert engine.config.input_size == HW and engine.backend_info == {"backend": "onnxruntime"}
    result = engine.segment_rgb(scenes(1)[0])
    assert result.labels.shape == HW and result.labels.max() < 19


def test_int8_needs_a_calibration_source(tmp_path, capsys):
    argv = ["--architecture", "frrn_a", "--onnx", str(tmp_path / "m.onnx"), "--int8"]
    assert export.main(argv) == 2
    assert "--calibration" in capsys.readouterr().err
    argv += ["--calibration", str(_empty(tmp_path)), "--size", "64x96", "--exporter", "torchscript"]
    assert export.main(argv) == 2
    assert "no .png/.jpg/.jpeg images" in capsys.readouterr().err


def test_calibration_inputs_are_what_the_engine_feeds_its_model() -> None:
    """For RGB and YUV frames alike (YUV converts after resizing on the CPU path), the calibration
    input equals the tensor the engine's CPU path hands the network."""
    import torch
    from torch import nn

    from frrn_seg_ros.bench.stages import pack, synthetic_scene
    from frrn_seg_ros.cli.int8 import network_inputs
    from frrn_seg_ros.core.checkpoint import default_meta
    from frrn_seg_ros.core.engine import Frame

    class Recorder(nn.Module):  # a 1x1 conv to 19 classes that keeps what it was given
        def __init__(self) -> None:
            super().__init__()
            self.conv, self.seen = nn.Conv2d(3, 19, 1), []

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            self.seen.append(x.detach().clone())
            return self.conv(x)

    meta, size = default_meta("csrnet_light"), (32, 48)
    scene = synthetic_scene(128, 192)
    for encoding in ("rgb8", "yuv422"):
        model = Recorder()
        config = EngineConfig(device="cpu", input_size=size, warmup_iters=0, channels_last=False)
        engine = SegmentationEngine(model, meta, config)
        frame = Frame(pack(scene, encoding), encoding)
        engine.segment([frame])
        (calibration,) = network_inputs(iter([frame]), meta, size, engine._size_divisor)
        np.testing.assert_array_equal(calibration, model.seen[-1].numpy())
