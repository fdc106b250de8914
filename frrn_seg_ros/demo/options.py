"""The demo's command line -> :class:`DemoOptions` (what to make, where to keep it).

``--quick`` starts from :data:`QUICK` (the test suite's run), otherwise from :class:`DemoConfig`'s
defaults; ``--size``, ``--frames`` and ``--iters`` override either. A bad value is an argparse
error (exit code 2) naming the option.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, replace
from pathlib import Path

from frrn_seg_ros.core.sizes import parse_hw

from .steps import DemoConfig

DESCRIPTION = "``bash dev.sh demo`` / ``python -m frrn_seg_ros.demo``: the node segmenting street scenes."
QUICK = DemoConfig(size=(64, 128), train_scenes=16, frames=6, iters=40, batch=4, crop=(64, 128))


def _size(text: str) -> tuple[int, int]:
    return parse_hw(text, minimum=64, multiple=32)


def positive_int(text: str) -> int:
    value = int(text)  # a ValueError: argparse says "invalid positive_int value"
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    d = DemoConfig()
    p = argparse.ArgumentParser(
        prog="frrn_seg_demo",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--size", type=_size, default=None, help=f"scene HEIGHTxWIDTH (default {d.size[0]}x{d.size[1]})"
    )
    p.add_argument(
        "--frames", type=positive_int, default=None, help=f"frames in the camera stream (default {d.frames})"
    )
    p.add_argument(
        "--iters", type=positive_int, default=None, help=f"training iterations (default {d.iters})"
    )
    p.add_argument("--cache-dir", type=Path, default=None, help="where everything is kept")
    p.add_argument("--retrain", action="store_true", help="train again even if a model is cached")
    p.add_argument("--quick", action="store_true", help="tiny sizes, few iterations (the test suite's run)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    return p


@dataclass(frozen=True)
class DemoOptions:
    """One demo run: what to make (``config``), where to keep it, whether to retrain, progress bars."""

    config: DemoConfig
    cache_dir: Path
    retrain: bool = False
    progress: bool = True

    @classmethod
    def from_argv(cls, argv: list[str] | None = None) -> DemoOptions:
        """The only place the demo's command line becomes options."""
        args = build_parser().parse_args(argv)
        cache = (args.cache_dir or default_cache_dir()).expanduser().resolve()
        return cls(config_from_args(args), cache, args.retrain, not args.no_progress)


def config_from_args(args: argparse.Namespace) -> DemoConfig:
    """The quick or full configuration with the command line's --size/--frames/--iters over it."""
    cfg = QUICK if args.quick else DemoConfig()
    if args.size is not None:
        cfg = replace(
            cfg, size=args.size, crop=(min(cfg.crop[0], args.size[0]), min(cfg.crop[1], args.size[1]))
        )
    if args.frames is not None:
        cfg = replace(cfg, frames=args.frames)
    if args.iters is not None:
        cfg = replace(cfg, iters=args.iters)
    return cfg


def default_cache_dir() -> Path:
    return Path(os.environ.get("FRRN_SEG_CACHE") or Path.home() / ".cache" / "frrn_seg_ros" / "demo")
