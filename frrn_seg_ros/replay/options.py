"""The options of a replay evaluation: one typed object, built from the command line in one place.

:class:`ReplayOptions` is what :func:`frrn_seg_ros.replay.evaluate.evaluate` and the modules it
drives read; :meth:`ReplayOptions.from_argv` is the only place an argv list becomes options (the
demo builds its options directly). :meth:`ReplayOptions.validate` names what does not fit together.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from frrn_seg_ros.core.sizes import parse_hw

DEFAULT_GT_TOPIC = "/camera/segmentation/ground_truth"


@dataclass(frozen=True)
class ReplayOptions:
    """What to replay, through what, and where the report goes (``--help`` explains each)."""

    out: Path
    # the source: exactly one of bag / cityscapes / camvid / images
    bag: Path | None = None
    cityscapes: Path | None = None
    camvid: Path | None = None
    images: Path | None = None
    labels: Path | None = None
    split: str | None = None
    image_topic: str | None = None
    gt_topic: str = DEFAULT_GT_TOPIC
    predictions_topic: str | None = None
    # the model: a checkpoint, random weights of an architecture, or none (recorded predictions)
    checkpoint: Path | None = None
    architecture: str | None = None
    dataset: str | None = None
    mode: str = "engine"  # 'engine' | 'node'
    node_params: tuple[str, ...] = ()  # node mode: extra 'KEY:=VALUE' parameters
    device: str = "auto"
    precision: str = "fp32"
    input_size: tuple[int, int] | None = None
    warmup: int = 1
    # the run
    limit: int | None = None
    panels: int = 3
    frame_timeout: float = 60.0
    startup_timeout: float = 180.0
    domain_id: int | None = None
    record_bag: Path | None = None
    progress: bool = True

    @property
    def run_mode(self) -> str:
        """'recorded' (scoring labels already in the bag), else :attr:`mode`."""
        return "recorded" if self.predictions_topic else self.mode

    @property
    def dataset_root(self) -> Path | None:
        return self.cityscapes or self.camvid or self.images

    def validate(self) -> None:
        """Raise ValueError naming the options that do not fit together."""
        sources = [s for s in (self.bag, self.cityscapes, self.camvid, self.images) if s is not None]
        if len(sources) != 1:
            raise ValueError("give exactly one source: --bag, --cityscapes, --camvid or --images")
        if self.predictions_topic is None and self.checkpoint is None and self.architecture is None:
            raise ValueError(
                "give --checkpoint or --architecture (or --predictions-topic to score recorded labels)"
            )
        if self.checkpoint is not None and self.architecture is not None:
            raise ValueError("give --checkpoint or --architecture, not both")
        if self.mode not in ("engine", "node"):
            raise ValueError(f"--mode must be engine or node, got {self.mode!r}")
        if self.predictions_topic and self.bag is None:
            raise ValueError("--predictions-topic needs --bag")
        if self.record_bag is not None and self.run_mode != "node":
            raise ValueError("--record-bag records the node's outputs: it needs --mode node")

    @classmethod
    def from_argv(cls, argv: Sequence[str] | None = None, description: str | None = None) -> ReplayOptions:
        """Parse a command line (argparse errors exit with code 2, as usual)."""
        args = build_parser(description).parse_args(argv)
        fields = {k: v for k, v in vars(args).items() if k not in ("node_param", "no_progress")}
        return cls(**fields, node_params=tuple(args.node_param), progress=not args.no_progress)


def build_parser(description: str | None = None) -> argparse.ArgumentParser:
    """The command line of ``frrn_seg_replay_eval`` (``description``: its --help text)."""
    p = argparse.ArgumentParser(
        prog="frrn_seg_replay_eval",
        description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--bag", type=Path, help="rosbag2 folder (mcap or sqlite3)")
    src.add_argument("--cityscapes", type=Path, help="Cityscapes root")
    src.add_argument("--camvid", type=Path, help="CamVid root (SegNet layout)")
    src.add_argument("--images", type=Path, help="image folder (no ground truth unless --labels)")
    p.add_argument("--labels", type=Path, help="with --images: train-id label folder")
    p.add_argument("--split", default=None, help="dataset split (Cityscapes: val, CamVid: test)")
    p.add_argument(
        "--image-topic", default=None, help="bag image topic (default: /camera/image[/compressed])"
    )
    p.add_argument("--gt-topic", default=DEFAULT_GT_TOPIC, help="bag ground-truth topic (mono8 train ids)")
    p.add_argument("--predictions-topic", default=None, help="score recorded labels on this topic (no model)")
    model = p.add_mutually_exclusive_group()
    model.add_argument("--checkpoint", type=Path, help="model checkpoint")
    model.add_argument("--architecture", help="random weights of this architecture (plumbing/speed only)")
    p.add_argument(
        "--dataset",
        default=None,
        help="label set for --architecture/--predictions-topic (cityscapes|camvid; default from the source)",
    )
    p.add_argument("--mode", choices=("engine", "node"), default="engine")
    p.add_argument(
        "--node-param",
        action="append",
        default=[],
        metavar="KEY:=VALUE",
        help="node mode: extra node parameter, repeatable (e.g. publish.overlay:=true)",
    )
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    p.add_argument("--precision", default="fp32", choices=("fp32", "fp16", "bf16"))
    p.add_argument(
        "--input-size", type=parse_hw, default=None, help="network input HEIGHTxWIDTH (default: native)"
    )
    p.add_argument("--warmup", type=int, default=1, help="warm-up forward passes")
    p.add_argument("--limit", type=int, default=None, help="evaluate at most this many frames")
    p.add_argument("--panels", type=int, default=3, help="input/label/prediction PNG panels to save")
    p.add_argument("--frame-timeout", type=float, default=60.0, help="node mode: seconds to wait per frame")
    p.add_argument(
        "--startup-timeout", type=float, default=180.0, help="node mode: seconds for the node to start"
    )
    p.add_argument(
        "--domain-id", type=int, default=None, help="node mode: ROS_DOMAIN_ID (default: env, else 42)"
    )
    p.add_argument(
        "--record-bag",
        type=Path,
        default=None,
        help="node mode: also record the node's labels (as received), the images sent and the ground "
        "truth into this new bag, to score later with --predictions-topic",
    )
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--no-progress", action="store_true", help="no tqdm progress bar")
    return p
