"""What a replay evaluation runs on: the frames (from a bag or a dataset) and the model settings.

:func:`open_source` turns the CLI arguments into a stream of :class:`~frrn_seg_ros.replay.bag_io.BagFrame`
(image + optional ground truth / recorded prediction); :func:`model_meta`, :func:`make_engine` and
:func:`node_params` turn them into the model's metadata, an engine, or the node's parameters.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from frrn_seg_ros.core.labels import get_label_set

from .bag_io import IMAGE_TYPE, BagFrame, BagImage, bag_topics, frame_count, read_frames
from .sources import camvid_samples, cityscapes_samples, folder_samples, load_sample


def open_source(args: argparse.Namespace) -> tuple[Iterator[BagFrame], int, dict[str, Any]]:
    """The frames to evaluate, their count and a description for the report.

    For a bag the count is the number of distinct header stamps over the image, ground-truth and
    prediction topics, so a frame whose image or recorded prediction is missing still counts
    (and is reported as dropped)."""
    if args.bag is not None:
        topics = bag_topics(args.bag)
        image_topic = args.image_topic or _guess_image_topic(topics, args.predictions_topic is not None)
        total = frame_count(args.bag, [image_topic, args.gt_topic, args.predictions_topic])
        frames = read_frames(args.bag, image_topic, args.gt_topic, args.predictions_topic)
        desc = {
            "description": f"bag {args.bag}",
            "bag": str(args.bag),
            "image_topic": image_topic,
            "gt_topic": args.gt_topic if args.gt_topic in topics else None,
            "predictions_topic": args.predictions_topic,
        }
        return frames, total, desc
    if args.cityscapes is not None:
        paths, dataset = cityscapes_samples(args.cityscapes, args.split or "val"), "cityscapes"
    elif args.camvid is not None:
        paths, dataset = camvid_samples(args.camvid, args.split or "test"), "camvid"
    else:
        paths, dataset = folder_samples(args.images, args.labels), None
    if args.predictions_topic:
        raise ValueError("--predictions-topic needs --bag")

    def frames() -> Iterator[BagFrame]:
        from frrn_seg_ros.core.engine import Frame

        for i, sp in enumerate(paths):
            sample = load_sample(sp)
            image = BagImage(IMAGE_TYPE, Frame(sample.rgb, "rgb8"))
            yield BagFrame(i * 100_000_000, "camera", image=image, ground_truth=sample.label)

    root = args.cityscapes or args.camvid or args.images
    desc = {
        "description": f"{dataset or 'folder'} {root} ({args.split or 'default split'})",
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


def is_onnx(args: argparse.Namespace) -> bool:
    """Whether ``--checkpoint`` is an exported ONNX file (run through ONNX Runtime)."""
    from frrn_seg_ros.core.engine import is_onnx_file

    return args.checkpoint is not None and is_onnx_file(args.checkpoint)


def model_meta(args: argparse.Namespace, dataset: str | None) -> tuple[Any, dict[str, Any]]:
    """The CheckpointMeta of the model the run uses (or of the label set, for recorded labels)."""
    from frrn_seg_ros.core.checkpoint import default_meta, load_checkpoint

    if args.checkpoint is not None:
        if is_onnx(args):
            from frrn_seg_ros.core.export import read_onnx_meta

            meta, _ = read_onnx_meta(args.checkpoint)
        else:
            meta, _ = load_checkpoint(args.checkpoint)
        return meta, {
            "architecture": meta.architecture,
            "checkpoint": str(args.checkpoint),
            "backend": "onnxruntime" if is_onnx(args) else "torch",
            "random_weights": False,
        }
    label_set = get_label_set(args.dataset or dataset or "cityscapes")
    if args.architecture:
        meta = default_meta(args.architecture, label_set, weights="random")
        return meta, {"architecture": args.architecture, "checkpoint": None, "random_weights": True}
    from frrn_seg_ros.core.checkpoint import CheckpointMeta

    meta = CheckpointMeta("recorded", label_set.num_classes, label_set.names, label_set.colors.tolist())
    return meta, {"architecture": "recorded predictions", "label_set": label_set.name}


def make_engine(args: argparse.Namespace, dataset: str | None) -> Any:
    """The engine for engine mode: checkpoint, exported ONNX file (ONNX Runtime) or random weights."""
    from frrn_seg_ros.core.engine import EngineConfig, SegmentationEngine

    config = EngineConfig(
        device=args.device, precision=args.precision, input_size=args.input_size, warmup_iters=args.warmup
    )
    if args.checkpoint is not None:
        return SegmentationEngine.from_file(args.checkpoint, config)
    return SegmentationEngine.from_architecture(
        args.architecture, config, get_label_set(args.dataset or dataset or "cityscapes")
    )


def node_params(args: argparse.Namespace) -> dict[str, Any]:
    """The node's parameters for node mode (``--node-param KEY:=VALUE`` last, overriding)."""
    params: dict[str, Any] = {
        "device": args.device,
        "precision": args.precision,
        "model.warmup_iters": args.warmup,
    }
    if args.checkpoint is not None:
        params["model.checkpoint"] = str(Path(args.checkpoint).resolve())
        params["model.backend"] = "onnxruntime" if is_onnx(args) else "torch"
    else:
        params["model.architecture"] = args.architecture
    if args.input_size:
        params["model.input_height"], params["model.input_width"] = args.input_size
    for item in getattr(args, "node_param", None) or []:
        key, sep, value = item.partition(":=")
        if not sep or not key:
            raise ValueError(f"--node-param must look like KEY:=VALUE, got {item!r}")
        params[key.strip()] = yaml.safe_load(value)
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
