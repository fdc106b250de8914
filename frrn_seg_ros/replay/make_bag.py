"""Write a rosbag2 (mcap or sqlite3) from an image folder, a Cityscapes root or a CamVid root.

    frrn_seg_make_bag --images DIR [--labels DIR] --out BAG
    frrn_seg_make_bag --cityscapes ROOT --split val --out BAG [--size 512x1024] [--limit 50]
    frrn_seg_make_bag --camvid ROOT --split test --out BAG --compressed jpeg --storage sqlite3
    frrn_seg_make_bag --cityscapes-sequence ROOT --split val --rate 17 --out BAG --limit 60

Images go to ``--image-topic`` (default ``/camera/image``, or ``/camera/image/compressed`` with
``--compressed``) as rgb8 Image or jpeg/png CompressedImage; labels (train ids, mono8) go to
``--gt-topic`` (default ``/camera/segmentation/ground_truth``) with the SAME header stamp as their
image. Stamps start at ``--start-time`` (seconds, or ``now``) and advance by ``1/--rate``; the
bag's log time equals the header stamp. No ROS installation is needed (pure-Python ``rosbags``).
``--cityscapes-sequence`` reads ``leftImg8bit_sequence/<split>/<city>/`` (30-frame snippets,
recorded at 17 Hz: pass ``--rate 17``) and writes ground truth only for each snippet's annotated
frame 19, from ``gtFine`` where present: a video stream scored on its annotated frames.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from frrn_seg_ros.core.sizes import parse_hw

from .bag_io import STORAGES, BagWriter
from .sources import (
    SamplePaths,
    camvid_samples,
    cityscapes_samples,
    folder_samples,
    iter_samples,
)

LOG = logging.getLogger("frrn_seg_make_bag")
DEFAULT_IMAGE_TOPIC = "/camera/image"
DEFAULT_GT_TOPIC = "/camera/segmentation/ground_truth"
DEFAULT_START_TIME = 1_700_000_000.0


@dataclass
class BagSpec:
    """How to write the bag (see the module docstring for the meaning of each field)."""

    out: Path
    storage: str = "mcap"
    rate_hz: float = 10.0
    start_time_s: float = DEFAULT_START_TIME
    frame_id: str = "camera"
    image_topic: str = DEFAULT_IMAGE_TOPIC
    gt_topic: str = DEFAULT_GT_TOPIC
    compressed: str | None = None  # None (raw rgb8), 'jpeg' or 'png'
    jpeg_quality: int = 95
    size: tuple[int, int] | None = None  # (width, height)
    limit: int | None = None


def write_bag(samples: list[SamplePaths], spec: BagSpec) -> dict[str, int]:
    """Write ``samples`` into ``spec.out``; return counts ``{'images': n, 'labels': m}``."""
    if spec.rate_hz <= 0:
        raise ValueError(f"--rate must be > 0 Hz, got {spec.rate_hz}")
    if spec.limit is not None:
        samples = samples[: spec.limit]
    start_ns = round(spec.start_time_s * 1e9)
    period_ns = round(1e9 / spec.rate_hz)
    counts = {"images": 0, "labels": 0}
    with BagWriter(spec.out, spec.storage) as writer:
        for i, sample in enumerate(iter_samples(samples, spec.size)):
            stamp = start_ns + i * period_ns
            if spec.compressed:
                writer.write_compressed(
                    spec.image_topic, sample.rgb, stamp, spec.frame_id, spec.compressed, spec.jpeg_quality
                )
            else:
                writer.write_image(spec.image_topic, sample.rgb, stamp, spec.frame_id, "rgb8")
            counts["images"] += 1
            if sample.label is not None and spec.gt_topic:
                writer.write_image(spec.gt_topic, sample.label, stamp, spec.frame_id, "mono8")
                counts["labels"] += 1
    return counts


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="frrn_seg_make_bag", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--images", type=Path, help="folder of images (searched recursively, sorted)")
    src.add_argument("--cityscapes", type=Path, help="Cityscapes root (leftImg8bit/, gtFine/)")
    src.add_argument("--camvid", type=Path, help="CamVid root in SegNet layout (test/, testannot/, ...)")
    src.add_argument(
        "--cityscapes-sequence",
        type=Path,
        help="Cityscapes root with leftImg8bit_sequence/ (ground truth: frame 19 of each snippet, gtFine/)",
    )
    p.add_argument("--labels", type=Path, help="with --images: folder of train-id label PNGs (same stems)")
    p.add_argument(
        "--split",
        default=None,
        help="dataset split (default: val for Cityscapes and its sequences, test for CamVid)",
    )
    p.add_argument("--out", type=Path, required=True, help="output bag folder (must not exist)")
    p.add_argument("--storage", choices=STORAGES, default="mcap")
    p.add_argument("--rate", type=float, default=10.0, help="frames per second of the stamps (Hz)")
    p.add_argument(
        "--start-time",
        default=str(DEFAULT_START_TIME),
        help="first stamp in seconds since the epoch, or 'now' (default: a fixed time)",
    )
    p.add_argument("--frame-id", default="camera")
    p.add_argument(
        "--image-topic",
        default=None,
        help=f"default {DEFAULT_IMAGE_TOPIC} (raw) or {DEFAULT_IMAGE_TOPIC}/compressed",
    )
    p.add_argument("--gt-topic", default=DEFAULT_GT_TOPIC, help="ground-truth topic ('' to leave out)")
    p.add_argument("--compressed", choices=("jpeg", "png"), default=None, help="write CompressedImage")
    p.add_argument("--jpeg-quality", type=int, default=95)
    p.add_argument(
        "--size", type=parse_hw, default=None, help="resize to HEIGHTxWIDTH, e.g. 512x1024 (labels: nearest)"
    )
    p.add_argument("--limit", type=int, default=None, help="write at most this many frames")
    return p


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = build_parser().parse_args(argv)
    try:
        if args.images is not None:
            samples = folder_samples(args.images, args.labels)
        elif args.cityscapes is not None:
            samples = cityscapes_samples(args.cityscapes, args.split or "val")
        elif args.cityscapes_sequence is not None:
            samples = cityscapes_samples(args.cityscapes_sequence, args.split or "val", sequence=True)
        else:
            samples = camvid_samples(args.camvid, args.split or "test")
        start = time.time() if args.start_time == "now" else float(args.start_time)
        image_topic = args.image_topic or (
            f"{DEFAULT_IMAGE_TOPIC}/compressed" if args.compressed else DEFAULT_IMAGE_TOPIC
        )
        spec = BagSpec(
            out=args.out,
            storage=args.storage,
            rate_hz=args.rate,
            start_time_s=start,
            frame_id=args.frame_id,
            image_topic=image_topic,
            gt_topic=args.gt_topic,
            compressed=args.compressed,
            jpeg_quality=args.jpeg_quality,
            size=None if args.size is None else args.size[::-1],  # (width, height) internally
            limit=args.limit,
        )
        counts = write_bag(samples, spec)
    except (FileNotFoundError, FileExistsError, ValueError) as exc:
        print(f"frrn_seg_make_bag: error: {exc}", file=sys.stderr)
        return 2
    LOG.info(
        "wrote %s (%s): %d images on %s, %d labels on %s",
        args.out,
        args.storage,
        counts["images"],
        image_topic,
        counts["labels"],
        args.gt_topic or "-",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
