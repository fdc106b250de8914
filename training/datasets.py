"""Cityscapes and CamVid (SegNet 11-class layout, or full-resolution 32-class colour labels).

Every dataset yields ``(image [3, H, W] float32, label [H', W'] int64)`` through a pipeline
(:mod:`frrn_seg_training.sample_pipeline`); label maps hold train ids with void = 255. File pairing is checked
when the dataset is built: a missing or misnamed file raises :class:`DatasetError` naming it.
Per-sample randomness is drawn from ``numpy.random.default_rng([seed, epoch, index])``, so a
sample does not depend on worker count or order and resumed runs see the same augmentations.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from frrn_seg_ros.core.labels import (
    CAMVID,
    CITYSCAPES,
    LabelSet,
    camvid_color_to_train_ids,
    camvid_segnet_to_train_ids,
    cityscapes_label_ids_to_train_ids,
)

log = logging.getLogger(__name__)

Pipeline = Callable[[np.ndarray, np.ndarray, np.random.Generator, bool], tuple[torch.Tensor, torch.Tensor]]
LabelDecoder = Callable[[Path], np.ndarray]


class DatasetError(RuntimeError):
    """A dataset folder or file is missing, misnamed or unreadable."""


def read_rgb(path: Path) -> np.ndarray:
    """``(H, W, 3)`` uint8 RGB of an image file; raise :class:`DatasetError` naming it if unreadable."""
    try:
        with Image.open(path) as img:
            return np.asarray(img.convert("RGB"))
    except (OSError, ValueError) as exc:
        raise DatasetError(f"cannot read image {path}: {exc}") from None


def read_gray(path: Path) -> np.ndarray:
    """``(H, W)`` uint8 of a single-channel label file."""
    try:
        with Image.open(path) as img:
            arr = np.asarray(img)
    except (OSError, ValueError) as exc:
        raise DatasetError(f"cannot read label {path}: {exc}") from None
    if arr.ndim != 2:
        raise DatasetError(f"label {path} has shape {arr.shape}; expected one channel (H, W)")
    return arr.astype(np.uint8)


def decode_cityscapes_label_ids(path: Path) -> np.ndarray:
    return cityscapes_label_ids_to_train_ids(read_gray(path))


def decode_camvid_segnet(path: Path) -> np.ndarray:
    return camvid_segnet_to_train_ids(read_gray(path))


def decode_camvid_color(path: Path) -> np.ndarray:
    return camvid_color_to_train_ids(read_rgb(path))


class SegmentationDataset(Dataset):
    """A list of (image file, label file, label decoder) pairs fed through a pipeline."""

    def __init__(
        self,
        pairs: list[tuple[Path, Path, LabelDecoder]],
        label_set: LabelSet,
        pipeline: Pipeline | None = None,
        train: bool = False,
        seed: int = 0,
    ) -> None:
        if not pairs:
            raise DatasetError("dataset is empty")
        self.pairs, self.label_set, self.pipeline = pairs, label_set, pipeline
        self.train, self.seed, self.epoch = train, seed, 0

    def __len__(self) -> int:
        return len(self.pairs)

    def set_epoch(self, epoch: int) -> None:
        """Change the augmentation stream (call before creating each epoch's loader iterator)."""
        self.epoch = int(epoch)

    def load(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Raw ``(H, W, 3)`` uint8 image and ``(H, W)`` uint8 train-id label of sample ``index``."""
        image_path, label_path, decode = self.pairs[index]
        image, label = read_rgb(image_path), decode(label_path)
        if image.shape[:2] != label.shape:
            raise DatasetError(
                f"image {image_path} is {image.shape[:2]} but label {label_path} is {label.shape}"
            )
        return image, label

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image, label = self.load(index)
        if self.pipeline is None:
            return torch.from_numpy(image.copy()), torch.from_numpy(label.astype(np.int64))
        rng = np.random.default_rng([self.seed, self.epoch, index])
        return self.pipeline(image, label, rng, self.train)

    def name(self, index: int) -> str:
        """The image file's stem (used to name prediction files)."""
        return self.pairs[index][0].name


def _resolve_root(root: str | os.PathLike | None, env: str, what: str) -> Path:
    if root is None:
        root = os.environ.get(env)
        if not root:
            raise DatasetError(f"no {what} root given: pass --data-root or set {env}")
    path = Path(root).expanduser()
    if not path.is_dir():
        raise DatasetError(f"{what} root {path} does not exist or is not a folder")
    return path


def cityscapes_pairs(root: str | os.PathLike | None, split: str) -> list[tuple[Path, Path, LabelDecoder]]:
    """Pairs of ``leftImg8bit/<split>/<city>/*_leftImg8bit.png`` with their gtFine labels.

    ``_gtFine_labelTrainIds.png`` is used when present, else ``_gtFine_labelIds.png`` is mapped
    to train ids on the fly. ``root`` defaults to ``$CITYSCAPES_DATASET``.
    """
    base = _resolve_root(root, "CITYSCAPES_DATASET", "Cityscapes")
    image_dir = base / "leftImg8bit" / split
    images = sorted(image_dir.glob("*/*_leftImg8bit.png"))
    if not images:
        raise DatasetError(f"no images matching {image_dir}/<city>/*_leftImg8bit.png")
    pairs: list[tuple[Path, Path, LabelDecoder]] = []
    for image in images:
        stem = image.name[: -len("_leftImg8bit.png")]
        gt_dir = base / "gtFine" / split / image.parent.name
        train_ids = gt_dir / f"{stem}_gtFine_labelTrainIds.png"
        label_ids = gt_dir / f"{stem}_gtFine_labelIds.png"
        if train_ids.is_file():
            pairs.append((image, train_ids, read_gray))
        elif label_ids.is_file():
            pairs.append((image, label_ids, decode_cityscapes_label_ids))
        else:
            raise DatasetError(f"missing label for {image}: expected {label_ids} (or {train_ids.name})")
    return pairs


def camvid_pairs(
    root: str | os.PathLike | None, split: str, layout: str = "segnet"
) -> list[tuple[Path, Path, LabelDecoder]]:
    """Pairs of one CamVid split.

    - ``layout='segnet'``: ``<root>/<split>/*.png`` with ``<root>/<split>annot/<same name>``
      (0..10, 11 = void; 480x360).
    - ``layout='color'``: ``<root>/<split>/*.png`` with ``<root>/<split>_labels/<stem>_L.png``
      (32-class colour labels, 960x720, grouped into the 11 classes).
    ``split`` may join splits with ``+`` (``train+val``). ``root`` defaults to ``$CAMVID_DATASET``.
    """
    base = _resolve_root(root, "CAMVID_DATASET", "CamVid")
    if layout not in ("segnet", "color"):
        raise DatasetError(f"unknown CamVid layout {layout!r}; use 'segnet' or 'color'")
    pairs: list[tuple[Path, Path, LabelDecoder]] = []
    for part in split.split("+"):
        image_dir = base / part
        images = sorted(p for p in image_dir.glob("*.png") if not p.name.endswith("_L.png"))
        if not images:
            raise DatasetError(f"no images matching {image_dir}/*.png")
        for image in images:
            if layout == "segnet":
                label, decode = base / f"{part}annot" / image.name, decode_camvid_segnet
            else:
                label, decode = base / f"{part}_labels" / f"{image.stem}_L.png", decode_camvid_color
            if not label.is_file():
                raise DatasetError(f"missing label for {image}: expected {label}")
            pairs.append((image, label, decode))
    return pairs


def build_dataset(
    name: str,
    root: str | os.PathLike | None,
    split: str,
    pipeline: Pipeline | None = None,
    train: bool = False,
    seed: int = 0,
    limit: int | None = None,
) -> SegmentationDataset:
    """Dataset ``name`` in {'cityscapes', 'synthetic', 'camvid', 'camvid_color'} for ``split``.

    'synthetic' is a folder written by :mod:`frrn_seg_training.synthetic` (Cityscapes layout).
    ``limit`` keeps the first ``limit`` samples (quick runs).
    """
    if name in ("cityscapes", "synthetic"):
        pairs, label_set = cityscapes_pairs(root, split), CITYSCAPES
    elif name == "camvid":
        pairs, label_set = camvid_pairs(root, split, "segnet"), CAMVID
    elif name == "camvid_color":
        pairs, label_set = camvid_pairs(root, split, "color"), CAMVID
    else:
        raise DatasetError(f"unknown dataset {name!r}; known: cityscapes, synthetic, camvid, camvid_color")
    if limit is not None:
        pairs = pairs[: max(1, int(limit))]
    log.info("%s/%s: %d samples", name, split, len(pairs))
    return SegmentationDataset(pairs, label_set, pipeline, train=train, seed=seed)
