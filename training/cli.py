"""``frrn_seg_train`` / ``python -m frrn_seg_training.cli``: train a recipe.

    frrn_seg_train --recipe training/recipes/frrn_a_cityscapes.yaml --data-root $CITYSCAPES_DATASET \
        [--set train.batch_size=2 ...] [--output runs/NAME] [--resume runs/NAME/latest.pt] \
        [--max-iters N] [--device auto|cpu|cuda|cuda:N] [--dataset synthetic]

Multi-GPU: ``torchrun --nproc_per_node=4 -m frrn_seg_training.cli --recipe ... --set model.sync_bn=true``.
``--dataset synthetic`` without ``--data-root`` writes a small synthetic set into the output folder.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from .config import ConfigError, load_recipe, recipe_name

log = logging.getLogger("frrn_seg_training")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="frrn_seg_train", description=__doc__.split("\n\n")[0])
    p.add_argument("--recipe", required=True, help="recipe YAML (path, or a name in training/recipes)")
    p.add_argument("--data-root", default=None, help="dataset root (default: recipe data.root or env var)")
    p.add_argument(
        "--dataset",
        default=None,
        choices=["cityscapes", "camvid", "camvid_color", "synthetic"],
        help="override data.dataset",
    )
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a recipe value, e.g. --set train.batch_size=2 (repeatable)",
    )
    p.add_argument("--output", default=None, help="run folder (default runs/<recipe>)")
    p.add_argument("--resume", default=None, help="training checkpoint to resume (e.g. runs/X/latest.pt)")
    p.add_argument("--max-iters", type=int, default=None, help="stop after this many more iterations")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--no-progress", action="store_true", help="no tqdm bar")
    return p


def prepare_config(args: argparse.Namespace) -> dict:
    overrides = list(args.overrides)
    if args.dataset:
        overrides.append(f"data.dataset={args.dataset}")
    if args.data_root:
        overrides.append(f"data.root={json.dumps(str(args.data_root))}")
    return load_recipe(args.recipe, overrides)


def ensure_synthetic(cfg: dict, output: Path) -> None:
    """For ``data.dataset: synthetic`` without a root: write 16/4 scenes at the crop size into ``output``."""
    if cfg["data"]["dataset"] != "synthetic" or cfg["data"]["root"]:
        return
    from .synthetic import write_dataset

    root = output / "synthetic_data"
    crop = cfg["data"]["crop"] or [128, 256]
    f = int(cfg["data"]["downsample"])
    if not (root / "leftImg8bit").is_dir():
        write_dataset(
            root, train=16, val=4, size=(int(crop[0]) * f, int(crop[1]) * f), seed=int(cfg["train"]["seed"])
        )
    cfg["data"]["root"] = str(root)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        cfg = prepare_config(args)
    except ConfigError as exc:
        print(f"frrn_seg_train: {exc}", file=sys.stderr)
        return 2
    output = Path(args.output or Path("runs") / recipe_name(cfg))
    output.mkdir(parents=True, exist_ok=True)
    ensure_synthetic(cfg, output)
    from .trainer import Trainer

    trainer = Trainer(cfg, output, device=args.device, resume=args.resume, show_progress=not args.no_progress)
    metrics = trainer.fit(args.max_iters)
    if trainer.dist.is_main:
        log.info(
            "done at iteration %d; best val mIoU %.4f; checkpoints in %s",
            trainer.iteration,
            trainer.best_miou,
            output,
        )
        print(json.dumps({k: v for k, v in metrics.items() if k != "iou"}, indent=None))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
