"""Evaluation at full label resolution, trimap evaluation, and Cityscapes-server prediction files.

Logits are computed on the (possibly subsampled) network input padded to the model's size
divisor, cropped back, upsampled bilinearly to the label resolution and arg-maxed (FRRN paper
Sec. 5; CSRNet evaluates single scale at full resolution).

    python -m frrn_seg_training.evaluate --checkpoint model.pt --dataset cityscapes --data-root DIR \
        --split val [--downsample N] [--trimap 1,2,4,8,16,32,64,80] [--write-predictions OUT]

Without ``--downsample`` the input subsampling the model was trained at is used: the value the
export stored (``provenance.input_downsample``), else the architecture's paper setting
(FRRN A 4, FRRN B 2, CSRNet 1). Inputs are scaled with the checkpoint's own mean/std.
"""

from __future__ import annotations

import argparse
import json
import logging
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from frrn_seg_ros.core.labels import cityscapes_train_ids_to_label_ids

from .metrics import ConfusionMeter, TrimapMeter

log = logging.getLogger(__name__)

#: Datasets whose labels are Cityscapes trainIds, the only ones --write-predictions can convert.
CITYSCAPES_LAYOUT_DATASETS = ("cityscapes", "synthetic")


def autocast_context(device: torch.device, amp: str):
    """``torch.autocast`` for ``amp`` in {'none', 'fp16', 'bf16'} (fp16 needs CUDA)."""
    if amp in (None, "none", "fp32"):
        return nullcontext()
    if amp == "fp16" and device.type != "cuda":
        raise ValueError("train.amp=fp16 needs CUDA; use bf16 or none on CPU")
    if amp not in ("fp16", "bf16"):
        raise ValueError(f"amp={amp!r}: expected none, fp16 or bf16")
    return torch.autocast(device.type, dtype=torch.float16 if amp == "fp16" else torch.bfloat16)


def predict_logits(
    model: nn.Module, images: torch.Tensor, out_size: tuple[int, int], size_divisor: int, amp: str = "none"
) -> torch.Tensor:
    """``[N,3,h,w]`` normalised images -> ``[N,C,H,W]`` float32 logits at ``out_size = (H, W)``.

    The input is zero-padded right/bottom to a multiple of ``size_divisor`` and the logits cropped back.
    """
    h, w = images.shape[-2:]
    ph, pw = (-h) % size_divisor, (-w) % size_divisor
    x = F.pad(images, (0, pw, 0, ph)) if (ph or pw) else images
    with autocast_context(images.device, amp):
        logits = model(x)
    logits = logits[..., :h, :w].float()
    if tuple(out_size) != (h, w):
        logits = F.interpolate(logits, size=tuple(out_size), mode="bilinear", align_corners=False)
    return logits


@torch.no_grad()
def evaluate(
    model: nn.Module,
    loader,
    num_classes: int,
    device: torch.device,
    size_divisor: int,
    class_names: list[str] | None = None,
    amp: str = "none",
    trimap_radii: list[int] | None = None,
    keep_samples: int = 0,
    max_batches: int | None = None,
) -> dict:
    """mIoU (and trimap mIoU) of ``model`` over ``loader`` of (image [N,3,h,w], label [N,H,W]) batches.

    Returns ``{'miou', 'pixel_acc', 'iou': {name: iou}, 'trimap': {r: miou}, 'samples': [...]}``,
    where ``samples`` holds up to ``keep_samples`` ``(image, label, prediction)`` CPU tensors.
    Confusion matrices are summed over the distributed group when one is initialised.
    """
    was_training = model.training
    model.eval()
    meter = ConfusionMeter(num_classes, device=device)
    trimap = TrimapMeter(num_classes, trimap_radii, device=device) if trimap_radii else None
    samples: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
    for i, (images, labels) in enumerate(loader):
        if max_batches is not None and i >= max_batches:
            break
        images, labels = images.to(device), labels.to(device)
        pred = predict_logits(model, images, tuple(labels.shape[-2:]), size_divisor, amp).argmax(1)
        meter.update(pred, labels)
        if trimap is not None:
            trimap.update(pred, labels)
        if len(samples) < keep_samples:
            samples.append((images[0].cpu(), labels[0].cpu(), pred[0].cpu()))
    meter.all_reduce()
    result = meter.summary(class_names)
    if trimap is not None:
        trimap.all_reduce()
        result["trimap"] = trimap.summary()
    result["samples"] = samples
    model.train(was_training)
    return result


def write_cityscapes_prediction(pred_train_ids: np.ndarray, image_name: str, out_dir: str | Path) -> Path:
    """Write an ``(H, W)`` trainId prediction as a labelId PNG the official evaluation accepts.

    ``image_name`` ``berlin_000000_000019_leftImg8bit.png`` -> ``berlin_000000_000019_pred_labelIds.png``.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = image_name.replace("_leftImg8bit", "").rsplit(".", 1)[0]
    path = out_dir / f"{stem}_pred_labelIds.png"
    Image.fromarray(cityscapes_train_ids_to_label_ids(pred_train_ids)).save(path)
    return path


@torch.no_grad()
def write_predictions(
    model: nn.Module, dataset, out_dir: str | Path, device: torch.device, size_divisor: int, amp: str = "none"
) -> list[Path]:
    """Predict every sample of a Cityscapes-layout ``dataset`` and write labelId PNGs to ``out_dir``."""
    model.eval()
    paths = []
    for index in range(len(dataset)):
        image, label = dataset[index]
        logits = predict_logits(model, image[None].to(device), tuple(label.shape[-2:]), size_divisor, amp)
        pred = logits.argmax(1)[0].cpu().numpy().astype(np.uint8)
        paths.append(write_cityscapes_prediction(pred, dataset.name(index), out_dir))
    return paths


def default_downsample(architecture: str, provenance: dict | None = None) -> tuple[int, str]:
    """Input subsampling for a checkpoint and where it came from: the exported
    ``provenance['input_downsample']``, else the ``data.downsample`` of the architecture's
    Cityscapes paper recipe (FRRN A 4, FRRN B 2, CSRNet 1), else 1."""
    from .config import ConfigError, load_recipe

    provenance = provenance or {}
    stored = provenance.get("input_downsample")
    if stored is not None:
        origin = provenance.get("recipe") or provenance.get("source_file", "?")
        return int(stored), f"the checkpoint's provenance ({origin})"
    recipe = f"{architecture}_cityscapes"
    try:
        return int(load_recipe(recipe)["data"]["downsample"]), f"the {recipe} recipe"
    except ConfigError:
        return 1, "no recipe for this architecture"


def main(argv: list[str] | None = None) -> int:
    """``python -m frrn_seg_training.evaluate``: score a node checkpoint on a dataset split."""
    from frrn_seg_ros.core.checkpoint import load_model
    from frrn_seg_ros.core.models import architecture_info

    from .datasets import build_dataset
    from .sample_pipeline import PipelineConfig, SamplePipeline

    parser = argparse.ArgumentParser(
        prog="python -m frrn_seg_training.evaluate", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--dataset", default="cityscapes")
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--split", default="val")
    parser.add_argument(
        "--downsample",
        type=int,
        default=None,
        help="input subsampling (default: the training recipe's; FRRN A 4, B 2, CSRNet 1)",
    )
    parser.add_argument("--trimap", default="", help="comma-separated radii, e.g. 1,2,4,8,16,32,64,80")
    parser.add_argument("--write-predictions", default=None, help="folder for labelId PNGs (Cityscapes)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--amp", default="none")
    args = parser.parse_args(argv)
    if args.write_predictions and args.dataset not in CITYSCAPES_LAYOUT_DATASETS:
        parser.error(
            f"--write-predictions writes Cityscapes labelId PNGs for the official Cityscapes "
            f"evaluation; it cannot be used with --dataset {args.dataset}"
        )
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    device = torch.device(args.device)
    model, meta = load_model(args.checkpoint)
    model.to(device)
    info = architecture_info(meta.architecture)
    if args.downsample is None:
        args.downsample, source = default_downsample(meta.architecture, meta.provenance)
        log.info("input downsample %d (from %s; override with --downsample)", args.downsample, source)
    # the checkpoint's own input scaling (its metadata is the one schema), not the architecture's default
    pipeline = SamplePipeline(
        PipelineConfig(kind="frrn", downsample=args.downsample, mean=meta.mean, std=meta.std)
    )
    dataset = build_dataset(args.dataset, args.data_root, args.split, pipeline, train=False)
    loader = torch.utils.data.DataLoader(dataset, batch_size=1)
    radii = [int(r) for r in args.trimap.split(",") if r.strip()]
    result = evaluate(
        model, loader, meta.num_classes, device, info.size_divisor, meta.class_names, args.amp, radii
    )
    result.pop("samples")
    result["input_downsample"] = args.downsample
    print(json.dumps(result, indent=2))
    if args.write_predictions:
        paths = write_predictions(model, dataset, args.write_predictions, device, info.size_divisor, args.amp)
        log.info("wrote %d prediction files to %s", len(paths), args.write_predictions)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
