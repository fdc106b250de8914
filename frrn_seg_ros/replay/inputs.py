"""What a replay evaluation runs on: the frames (from a bag or a dataset) and the model settings.

:func:`open_source` turns the options into a stream of :class:`~frrn_seg_ros.replay.bag_io.BagFrame`
(image + optional ground truth / recorded prediction); :func:`make_engine` builds the engine
(engine mode: the checkpoint is read there, once, and its metadata taken from the engine),
:func:`model_meta` reads the metadata alone (node and recorded modes), :func:`model_info` describes
the model for the report and :func:`node_params` gives the node's parameters.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from frrn_seg_ros.core.labels import get_label_set
from frrn_seg_ros.ros.node_process import parse_param_overrides

from .bag_io import IMAGE_TYPE, BagFrame, BagImage, bag_topics, frame_count, read_frames
from .options import ReplayOptions
from .sources import camvid_samples, cityscapes_samples, folder_samples, load_sample


def open_source(opts: ReplayOptions) -> tuple[Iterator[BagFrame], int, dict[str, Any]]:
    """The frames to evaluate, their count and a description for the report.

    For a bag the count is the number of distinct header stamps over the image, ground-truth and
    prediction topics, so a frame whose image or recorded prediction is missing still counts
    (and is reported as dropped)."""
    if opts.bag is not None:
        topics = bag_topics(opts.bag)
        image_topic = opts.image_topic or _guess_image_topic(topics, opts.predictions_topic is not None)
        total = frame_count(opts.bag, [image_topic, opts.gt_topic, opts.predictions_topic])
        frames = read_frames(opts.bag, image_topic, opts.gt_topic, opts.predictions_topic)
        desc = {
            "description": f"bag {opts.bag}",
            "bag": str(opts.bag),
            "image_topic": image_topic,
            "gt_topic": opts.gt_topic if opts.gt_topic in topics else None,
            "predictions_topic": opts.predictions_topic,
        }
        return frames, total, desc
    if opts.cityscapes is not None:
        paths, dataset = cityscapes_samples(opts.cityscapes, opts.split or "val"), "cityscapes"
    elif opts.camvid is not None:
        paths, dataset = camvid_samples(opts.camvid, opts.split or "test"), "camvid"
    else:
        paths, dataset = folder_samples(opts.images, opts.labels), None

    def frames() -> Iterator[BagFrame]:
        from frrn_seg_ros.core.engine import Frame

        for i, sp in enumerate(paths):
            sample = load_sample(sp)
            image = BagImage(IMAGE_TYPE, Frame(sample.rgb, "rgb8"))
            yield BagFrame(i * 100_000_000, "camera", image=image, ground_truth=sample.label)

    root = opts.dataset_root
    desc = {
        "description": f"{dataset or 'folder'} {root} ({opts.split or 'default split'})",
        "dataset": dataset,
        "root": str(root),
        "image_topic": "/camera/image",
    }
    return frames(), len(paths), desc


def _guess_image_topic(topics: dict[str, str], optional: bool) -> str | None:
    for name in ("/camera/image", "/camera/image/compressed"):
        if name in topics:
            return name
    images = [
        t
        for t, ty in topics.items()
        if ty.endswith(("/Image", "/CompressedImage")) and "segmentation" not in t
    ]
    if len(images) == 1:
        return images[0]
    if optional:
        return None
    raise ValueError(f"cannot tell the image topic among {sorted(topics)}: pass --image-topic")


def is_onnx(opts: ReplayOptions) -> bool:
    """Whether ``--checkpoint`` is an exported ONNX file (run through ONNX Runtime)."""
    from frrn_seg_ros.core.engine import is_onnx_file

    return opts.checkpoint is not None and is_onnx_file(opts.checkpoint)


def model_meta(opts: ReplayOptions, dataset: str | None) -> Any:
    """The CheckpointMeta of the model (node mode) or of the label set (recorded labels), read
    without building the model; engine mode takes it from its engine (``engine.meta``) instead."""
    from frrn_seg_ros.core.checkpoint import CheckpointMeta, default_meta, load_checkpoint

    if opts.checkpoint is not None:
        if is_onnx(opts):
            from frrn_seg_ros.core.model_export import read_onnx_meta

            return read_onnx_meta(opts.checkpoint)[0]
        return load_checkpoint(opts.checkpoint)[0]
    label_set = get_label_set(opts.dataset or dataset or "cityscapes")
    if opts.architecture:
        return default_meta(opts.architecture, label_set, weights="random")
    return CheckpointMeta("recorded", label_set.num_classes, label_set.names, label_set.colors.tolist())


def model_info(opts: ReplayOptions, meta: Any, dataset: str | None) -> dict[str, Any]:
    """What the report says about the model (``meta`` from :func:`model_meta` or the engine)."""
    if opts.checkpoint is not None:
        return {
            "architecture": meta.architecture,
            "checkpoint": str(opts.checkpoint),
            "backend": "onnxruntime" if is_onnx(opts) else "torch",
            "random_weights": False,
        }
    if opts.architecture:
        return {"architecture": opts.architecture, "checkpoint": None, "random_weights": True}
    label_set = get_label_set(opts.dataset or dataset or "cityscapes")
    return {"architecture": "recorded predictions", "label_set": label_set.name}


def make_engine(opts: ReplayOptions, dataset: str | None) -> Any:
    """The engine for engine mode: checkpoint, exported ONNX file (ONNX Runtime) or random weights."""
    from frrn_seg_ros.core.engine import EngineConfig, SegmentationEngine

    config = EngineConfig(
        device=opts.device, precision=opts.precision, input_size=opts.input_size, warmup_iters=opts.warmup
    )
    if opts.checkpoint is not None:
        return SegmentationEngine.from_file(opts.checkpoint, config)
    return SegmentationEngine.from_architecture(
        opts.architecture, config, get_label_set(opts.dataset or dataset or "cityscapes")
    )


def node_params(opts: ReplayOptions) -> dict[str, Any]:
    """The node's parameters for node mode (``--node-param KEY:=VALUE`` last, overriding)."""
    params: dict[str, Any] = {
        "device": opts.device,
        "precision": opts.precision,
        "model.warmup_iters": opts.warmup,
    }
    if opts.checkpoint is not None:
        params["model.checkpoint"] = str(Path(opts.checkpoint).resolve())
        params["model.backend"] = "onnxruntime" if is_onnx(opts) else "torch"
    else:
        params["model.architecture"] = opts.architecture
    if opts.input_size:
        params["model.input_height"], params["model.input_width"] = opts.input_size
    params.update(parse_param_overrides(opts.node_params))
    return params


def to_ros_message(image: BagImage, stamp_ns: int, frame_id: str) -> Any:
    """The rclpy message for a frame: the bag's own bytes when it came from a bag."""
    from rclpy.serialization import deserialize_message
    from sensor_msgs.msg import CompressedImage, Image

    if image.cdr:
        return deserialize_message(image.cdr, CompressedImage if "Compressed" in image.msgtype else Image)
    from frrn_seg_ros.ros.conversions import array_to_image
    from frrn_seg_ros.ros.stamps import set_stamp_ns

    msg = array_to_image(image.frame.data, image.frame.encoding)
    msg.header.frame_id = frame_id
    set_stamp_ns(msg.header, stamp_ns)
    return msg


def frame_rgb(frame: Any) -> np.ndarray:
    """``(H, W, 3)`` uint8 RGB of an engine Frame (the engine's own conversion, on the CPU)."""
    from frrn_seg_ros.core.engine import check_frame, to_rgb
    from frrn_seg_ros.core.engine.convert import upload

    raw = upload([check_frame(frame, 1 << 30)], torch.device("cpu"))
    return to_rgb(raw, frame.encoding)[0].permute(1, 2, 0).contiguous().numpy()
