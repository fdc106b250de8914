"""Image sources on disk for the bag and evaluation tools: a plain folder, Cityscapes (and its
video sequences), CamVid.

Every source yields :class:`Sample` objects: an RGB image ``(H, W, 3)`` uint8 and, where the
dataset has one, its label map as train ids ``(H, W)`` uint8 (void = 255). Only file finding
and label-id mapping live here; the id tables come from :mod:`frrn_seg_ros.core.labels`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from frrn_seg_ros.core.labels import (
    camvid_segnet_to_train_ids,
    cityscapes_label_ids_to_train_ids,
)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".tif", ".tiff")


@dataclass
class SamplePaths:
    """One image file and (optionally) its label file with the way to read the label."""

    name: str
    image: Path
    label: Path | None = None
    label_kind: str = "train_ids"  # 'train_ids' | 'cityscapes_label_ids' | 'camvid_segnet'


@dataclass
class Sample:
    """A loaded sample: ``rgb`` ``(H, W, 3)`` uint8; ``label`` ``(H, W)`` uint8 train ids or None."""

    name: str
    rgb: np.ndarray
    label: np.ndarray | None


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def folder_samples(images: str | Path, labels: str | Path | None = None) -> list[SamplePaths]:
    """Every image under ``images`` (sorted); labels (train ids) matched by file stem if given."""
    images = Path(images)
    if not images.is_dir():
        raise FileNotFoundError(f"image folder not found: {images}")
    by_stem: dict[str, Path] = {}
    if labels is not None:
        labels = Path(labels)
        if not labels.is_dir():
            raise FileNotFoundError(f"label folder not found: {labels}")
        by_stem = {p.stem: p for p in _images_in(labels)}
    out = [SamplePaths(p.stem, p, by_stem.get(p.stem)) for p in _images_in(images)]
    if not out:
        raise FileNotFoundError(f"no images ({', '.join(IMAGE_SUFFIXES)}) under {images}")
    return out


def cityscapes_samples(root: str | Path, split: str = "val", sequence: bool = False) -> list[SamplePaths]:
    """``leftImg8bit/<split>/<city>/*_leftImg8bit.png`` with ``gtFine`` labels where present.

    Prefers ``*_gtFine_labelTrainIds.png``; falls back to ``*_gtFine_labelIds.png`` (mapped).
    ``sequence=True`` reads ``leftImg8bit_sequence`` instead: the 30-frame snippets at 17 Hz in
    order, where only each snippet's annotated frame (index 19) has a ``gtFine`` label.
    """
    root = Path(root)
    folder = "leftImg8bit_sequence" if sequence else "leftImg8bit"
    image_dir = root / folder / split
    if not image_dir.is_dir():
        kind = "Cityscapes sequence" if sequence else "Cityscapes"
        raise FileNotFoundError(f"not a {kind} root (no {image_dir})")
    out = []
    for image in sorted(image_dir.glob("*/*_leftImg8bit.png")):
        stem = image.name[: -len("_leftImg8bit.png")]
        sample = SamplePaths(stem, image)
        gt = root / "gtFine" / split / image.parent.name
        for suffix, kind in (("labelTrainIds", "train_ids"), ("labelIds", "cityscapes_label_ids")):
            label = gt / f"{stem}_gtFine_{suffix}.png"
            if label.is_file():
                sample.label, sample.label_kind = label, kind
                break
        out.append(sample)
    if not out:
        raise FileNotFoundError(f"no *_leftImg8bit.png under {image_dir}")
    return out


def camvid_samples(root: str | Path, split: str = "test") -> list[SamplePaths]:
    """SegNet-layout CamVid: ``<root>/<split>/*.png`` with labels in ``<root>/<split>annot``."""
    root = Path(root)
    if not (root / split).is_dir() and (root / "CamVid" / split).is_dir():
        root = root / "CamVid"
    image_dir, label_dir = root / split, root / f"{split}annot"
    if not image_dir.is_dir():
        raise FileNotFoundError(f"not a CamVid root (no {image_dir})")
    out = []
    for image in _images_in(image_dir):
        label = label_dir / f"{image.stem}.png"
        out.append(SamplePaths(image.stem, image, label if label.is_file() else None, "camvid_segnet"))
    if not out:
        raise FileNotFoundError(f"no images under {image_dir}")
    return out


def read_label(path: Path, kind: str) -> np.ndarray:
    """Read a label image and return ``(H, W)`` uint8 train ids (void = 255)."""
    raw = np.asarray(Image.open(path))
    if raw.ndim != 2:
        raise ValueError(f"label image {path} is not single-channel (shape {raw.shape})")
    if kind == "cityscapes_label_ids":
        return cityscapes_label_ids_to_train_ids(raw)
    if kind == "camvid_segnet":
        return camvid_segnet_to_train_ids(raw)
    return raw.astype(np.uint8)


def load_sample(paths: SamplePaths, size: tuple[int, int] | None = None) -> Sample:
    """Load one sample; ``size=(width, height)`` resizes (image bilinear, label nearest)."""
    image = Image.open(paths.image).convert("RGB")
    label = read_label(paths.label, paths.label_kind) if paths.label is not None else None
    if label is not None and label.shape != (image.height, image.width):
        raise ValueError(
            f"label {paths.label} is {label.shape[1]}x{label.shape[0]} but image {paths.image} "
            f"is {image.width}x{image.height}"
        )
    if size is not None and size != image.size:
        image = image.resize(size, Image.BILINEAR)
        if label is not None:
            label = np.asarray(Image.fromarray(label).resize(size, Image.NEAREST))
    return Sample(paths.name, np.asarray(image, dtype=np.uint8), label)


def iter_samples(paths: list[SamplePaths], size: tuple[int, int] | None = None) -> Iterator[Sample]:
    """Load ``paths`` one at a time (see :func:`load_sample`)."""
    for p in paths:
        yield load_sample(p, size)
