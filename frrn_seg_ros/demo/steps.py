"""The demo's cached steps: synthetic scenes, a small trained model, a camera-stream bag.

Each step builds into a hidden ``<cache>/.<kind>-<key>.<random>.tmp`` folder and renames it to
``<cache>/<kind>-<key>`` when complete (:func:`~frrn_seg_ros.core.files.atomic_folder`), so an
interrupted run never leaves a half-made entry and a second run finds and reuses the finished
one. ``key`` hashes everything the result depends on (sizes, counts, seed, the recipe and
overrides, the source of the synthetic renderer), so a changed setting or recipe makes a new
entry instead of reusing a stale one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from frrn_seg_ros.core.files import atomic_folder

DEMO_VERSION = 1
DEFAULT_RECIPE = "csrnet_light_cityscapes"
#: Demo training on top of the paper recipe (its ``paper`` protocol: per-iteration cosine, no colour
#: jitter, which fit 400 iterations on tiny scenes): small crops at the scenes' own scale, no
#: pretrained backbone, a higher learning rate for the whole network (nothing pretrained to protect).
TRAIN_OVERRIDES = (
    "protocol=paper",
    "model.pretrained_backbone=scratch",
    "optim.lr=2e-3",
    "optim.backbone_lr_factor=1.0",
    "optim.backbone_wd_factor=1.0",
    "optim.weight_decay=0.0",
    "schedule.min_lr=1e-5",
    "data.scales=[1.0]",
    "data.workers=0",
    "train.log_images=0",
    "train.log_every=1000000",
)


@dataclass(frozen=True)
class DemoConfig:
    """What the demo makes. ``size`` and ``crop`` are ``(H, W)``; ``frames`` = val scenes streamed."""

    size: tuple[int, int] = (128, 256)
    train_scenes: int = 48
    frames: int = 60
    iters: int = 400
    batch: int = 8
    crop: tuple[int, int] = (64, 128)
    seed: int = 0
    recipe: str = DEFAULT_RECIPE
    overrides: tuple[str, ...] = field(default=TRAIN_OVERRIDES)


@dataclass
class StepResult:
    """A step's product: ``path`` (folder or file), whether it was reused, and facts for the report."""

    path: Path
    reused: bool
    info: dict[str, Any] = field(default_factory=dict)


def _digest(*parts: Any) -> str:
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _source_digest(module_file: str | Path) -> str:
    return hashlib.sha256(Path(module_file).read_bytes()).hexdigest()[:12]


def data_key(cfg: DemoConfig) -> str:
    from frrn_seg_training import synthetic

    return _digest(
        DEMO_VERSION, cfg.size, cfg.train_scenes, cfg.frames, cfg.seed, _source_digest(synthetic.__file__)
    )


def model_key(cfg: DemoConfig) -> str:
    from frrn_seg_ros.core import models
    from frrn_seg_training.config import resolve_recipe_path

    recipe = resolve_recipe_path(cfg.recipe)
    # the model code too: a cached model trained by another version of the network is not reused
    network = sorted(_source_digest(f) for f in Path(models.__file__).parent.glob("*.py"))
    return _digest(
        data_key(cfg), recipe.read_text(), cfg.overrides, cfg.iters, cfg.batch, cfg.crop, cfg.seed, network
    )


def ensure_data(cfg: DemoConfig, cache: Path) -> StepResult:
    """Synthetic train/val scenes in the Cityscapes layout
    (:func:`frrn_seg_training.synthetic.write_dataset`)."""
    from frrn_seg_training.synthetic import write_dataset

    final = cache / f"data-{data_key(cfg)}"
    info = {"train": cfg.train_scenes, "val": cfg.frames, "size_hw": list(cfg.size)}
    if (final / "leftImg8bit").is_dir():
        return StepResult(final, True, info)
    t0 = time.perf_counter()
    with atomic_folder(final) as tmp:
        write_dataset(tmp, train=cfg.train_scenes, val=cfg.frames, size=cfg.size, seed=cfg.seed)
    return StepResult(final, False, {**info, "seconds": time.perf_counter() - t0})


def training_config(cfg: DemoConfig, data_root: Path) -> dict[str, Any]:
    """The recipe dict the demo trains with (paper recipe + :data:`TRAIN_OVERRIDES` + sizes)."""
    from frrn_seg_training.config import load_recipe

    overrides = [
        f"data.root={json.dumps(str(data_root))}",
        "data.dataset=synthetic",
        "model.num_classes=19",
        "model.pretrained_backbone=null",
        f"data.crop=[{cfg.crop[0]}, {cfg.crop[1]}]",
        f"train.batch_size={cfg.batch}",
        f"train.iterations={cfg.iters}",
        f"train.val_every={cfg.iters}",
        f"train.ckpt_every={cfg.iters}",
        f"train.seed={cfg.seed}",
        *cfg.overrides,
    ]
    return load_recipe(cfg.recipe, overrides)


def ensure_model(
    cfg: DemoConfig, cache: Path, data_root: Path, retrain: bool = False, progress: bool = True
) -> StepResult:
    """Train (or reuse) the demo model; ``path`` is the node checkpoint (``model.safetensors``)."""
    final = cache / f"model-{model_key(cfg)}"
    checkpoint, summary = final / "model.safetensors", final / "training.json"
    if not retrain and checkpoint.is_file() and summary.is_file():
        return StepResult(checkpoint, True, json.loads(summary.read_text()))
    from frrn_seg_training.export_checkpoint import export_checkpoint
    from frrn_seg_training.trainer import Trainer

    for suffix in ("", ".trainer", ".evaluate", ".datasets"):
        logging.getLogger(f"frrn_seg_training{suffix}").setLevel(logging.WARNING)
    train_cfg = training_config(cfg, data_root)
    t0 = time.perf_counter()
    with atomic_folder(final) as tmp:
        trainer = Trainer(train_cfg, tmp / "run", device="cpu", show_progress=progress)
        metrics = trainer.fit()
        seconds = time.perf_counter() - t0
        export_checkpoint(tmp / "run" / "best.pt", tmp / "model.safetensors")
        for name in ("best.pt", "latest.pt"):  # optimizer state is not needed by the demo
            (tmp / "run" / name).unlink(missing_ok=True)
        info = {
            "architecture": train_cfg["model"]["name"],
            "recipe": cfg.recipe,
            "iterations": trainer.iteration,
            "val_miou": float(metrics["miou"]),
            "val_iou": metrics.get("iou", {}),
            "train_seconds": seconds,
            "seconds_per_iteration": metrics.get("seconds_per_iteration"),
            "config": asdict(cfg),
        }
        (tmp / "training.json").write_text(json.dumps(info, indent=2, default=str))
    return StepResult(checkpoint, False, info)


def ensure_bag(cfg: DemoConfig, cache: Path, data_root: Path) -> StepResult:
    """An mcap rosbag2 of the val scenes on ``/camera/image`` with ground truth (make_bag)."""
    from ..replay.make_bag import BagSpec, write_bag
    from ..replay.sources import cityscapes_samples

    final = cache / f"bag-{data_key(cfg)}"
    bag = final / "stream"
    if (bag / "metadata.yaml").is_file():
        return StepResult(bag, True, {"frames": cfg.frames})
    with atomic_folder(final) as tmp:
        counts = write_bag(cityscapes_samples(data_root, "val"), BagSpec(out=tmp / "stream", rate_hz=10.0))
    return StepResult(bag, False, {"frames": counts["images"], "labels": counts["labels"]})
