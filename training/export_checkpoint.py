"""Training checkpoint (model + optimizer + RNG ...) -> node checkpoint (weights + metadata).

    python -m frrn_seg_training.export_checkpoint runs/frrn_a_cityscapes/best.pt models/frrn_a_cityscapes.pt
    python -m frrn_seg_training.export_checkpoint IN OUT.safetensors

The output is written by :func:`frrn_seg_ros.core.checkpoint.save_checkpoint` with
:func:`~frrn_seg_ros.core.checkpoint.default_meta` plus provenance (dataset, recipe, iterations,
mIoU, and ``input_downsample``, the input subsampling ``frrn_seg_training.evaluate`` defaults to), so
:func:`~frrn_seg_ros.core.checkpoint.load_model` and the node can use it directly.
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

from frrn_seg_ros.core.checkpoint import default_meta, save_checkpoint
from frrn_seg_ros.core.labels import get_label_set

from .state import load_training_state

log = logging.getLogger(__name__)

#: data.dataset -> label set name.
DATASET_LABELS = {
    "cityscapes": "cityscapes",
    "synthetic": "cityscapes",
    "camvid": "camvid",
    "camvid_color": "camvid",
}


def export_checkpoint(src: str | os.PathLike, dst: str | os.PathLike) -> Path:
    """Convert training checkpoint ``src`` into a node checkpoint at ``dst`` (.pt or .safetensors)."""
    state = load_training_state(src)
    cfg = state.get("config", {})
    model_cfg, data_cfg = cfg.get("model", {}), cfg.get("data", {})
    architecture = model_cfg.get("name")
    if not architecture:
        raise ValueError(f"{src}: the training checkpoint has no config.model.name")
    dataset = data_cfg.get("dataset", "cityscapes")
    label_set = get_label_set(DATASET_LABELS.get(dataset, dataset))
    metrics = state.get("metrics", {}) or {}
    miou = metrics.get("miou")
    meta = default_meta(
        architecture,
        label_set,
        training_dataset=dataset,
        recipe=cfg.get("_recipe", {}).get("name", "custom"),
        iterations=int(state.get("iteration", 0)),
        miou=None if miou is None else float(miou),
        best_miou=float(state.get("best_miou", -1.0)),
        source_checkpoint=Path(src).name,
        input_downsample=int(data_cfg.get("downsample", 1)),
    )
    if meta.num_classes != int(model_cfg.get("num_classes", meta.num_classes)):
        raise ValueError(
            f"{src}: model has {model_cfg.get('num_classes')} classes but {label_set.name} has "
            f"{meta.num_classes}"
        )
    weights = {k.removeprefix("module."): v for k, v in state["model"].items()}
    path = save_checkpoint(dst, weights, meta)
    log.info("exported %s (%s, iteration %d) -> %s", src, architecture, meta.provenance["iterations"], path)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m frrn_seg_training.export_checkpoint", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("src", help="training checkpoint (best.pt / latest.pt)")
    parser.add_argument("dst", help="node checkpoint to write (.pt or .safetensors)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    export_checkpoint(args.src, args.dst)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
