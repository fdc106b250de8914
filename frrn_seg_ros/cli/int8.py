"""int8 static quantization of an exported ONNX model, calibrated on the user's own images.

    frrn_seg_export --checkpoint m.safetensors --onnx m_int8.onnx --size 256x512 --int8 \\
        --calibration DIR_OR_BAG [--calibration-topic /camera/image] [--calibration-frames 64]

Calibration frames come from a folder of images (``*.png``, ``*.jpg``, ``*.jpeg``, sorted by
name) or a rosbag2 folder (the image topic, raw or compressed, decoded as the node decodes it).
Each frame goes through the engine's own CPU preprocessing (conversion, resize to the export
size, normalisation), so the activation ranges are those the node will feed. Quantization is
ONNX Runtime's ``quantize_static``: QDQ format, int8 weights per output channel, uint8
activations, MinMax calibration. The result keeps the checkpoint metadata, so the node and
``frrn_seg_replay_eval`` load it like any exported ``.onnx``.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image as PILImage

from frrn_seg_ros.core.checkpoint import CheckpointMeta
from frrn_seg_ros.core.engine import Frame, check_frame, plan_geometry
from frrn_seg_ros.core.engine.host_input import host_sources
from frrn_seg_ros.core.engine.preprocess import normalisation, preprocess_host
from frrn_seg_ros.core.model_export import save_self_contained

LOG = logging.getLogger(__name__)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def calibration_frames(source: Path, topic: str = "/camera/image", limit: int = 64) -> Iterator[Frame]:
    """Up to ``limit`` frames from an image folder or a rosbag2 folder (ValueError if neither)."""
    source = Path(source)
    if (source / "metadata.yaml").is_file():
        from ..replay.bag_io import read_frames

        frames = (item.image.frame for item in read_frames(source, topic, gt_topic=None) if item.image)
    elif source.is_dir():
        files = sorted(p for p in source.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise ValueError(f"--calibration {source}: no {'/'.join(IMAGE_SUFFIXES)} images in it")
        frames = (Frame(np.array(PILImage.open(p).convert("RGB")), "rgb8") for p in files)
    else:
        raise ValueError(f"--calibration {source}: not an image folder or a rosbag2 folder")
    for count, frame in enumerate(frames):
        if count >= limit:
            return
        yield frame


def network_inputs(frames: Iterator[Frame], meta: CheckpointMeta, size: tuple[int, int],
                   divisor: int) -> list[np.ndarray]:
    """Each frame as the engine's CPU path feeds it: ``(1, 3, H, W)`` float32 at ``size``."""
    import torch

    scale, bias = normalisation(meta.mean, meta.std, torch.device("cpu"))
    inputs = []
    for frame in frames:
        array = check_frame(frame, 1 << 30)
        geometry = plan_geometry(array.shape[:2], size, "resize", divisor)
        images, after_resize, _ = host_sources([array], frame.encoding, geometry.resized, camera_rgb=False)
        x = preprocess_host(images, geometry, scale, bias, channels_last=False, after_resize=after_resize)
        inputs.append(x.numpy())
    if not inputs:
        raise ValueError("no calibration frames were read")
    return inputs


def quantize_int8(fp32_onnx: Path, out: Path, inputs: list[np.ndarray]) -> None:
    """Write the int8 (QDQ) version of ``fp32_onnx`` to ``out``, calibrated on ``inputs``."""
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    input_name = onnx.load(str(fp32_onnx), load_external_data=False).graph.input[0].name

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._items = iter(inputs)

        def get_next(self) -> dict[str, np.ndarray] | None:
            item = next(self._items, None)
            return None if item is None else {input_name: item}

    work = Path(tempfile.mkdtemp(prefix="frrn_int8_"))
    try:
        single, prepared = work / "fp32.onnx", work / "prepared.onnx"
        save_self_contained(fp32_onnx, single)
        quant_pre_process(str(single), str(prepared), skip_symbolic_shape=True)
        quantized = work / "int8.onnx"
        quantize_static(
            str(prepared), str(quantized), Reader(), quant_format=QuantFormat.QDQ,
            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=True,
            calibrate_method=CalibrationMethod.MinMax,
        )
        proto = onnx.load(str(quantized))
        source_props = onnx.load(str(fp32_onnx), load_external_data=False).metadata_props
        del proto.metadata_props[:]
        proto.metadata_props.extend(source_props)  # checkpoint meta + export info
        out.parent.mkdir(parents=True, exist_ok=True)
        onnx.save(proto, str(work / "final.onnx"), save_as_external_data=False)
        shutil.move(str(work / "final.onnx"), str(out))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    LOG.info("int8: wrote %s from %d calibration frames", out, len(inputs))
