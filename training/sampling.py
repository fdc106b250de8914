"""Class-balanced image sampling (FRRN A, released protocol).

The FRRN authors' ``train_frrn_a.py`` draws training images with probability proportional to a
per-image weight read from a pickle (``data_weights.pkl`` / ``train.pkl``: one float per training
image, keyed by the image's file name, e.g. ``aachen_000000_000019_leftImg8bit.png``) through
chianti's ``sample_iterator`` (with replacement). The script that computed those floats is not
published, so the rule here is ours, from the label statistics, and is stated exactly:

    n_c  = number of training images in which class c has at least one labelled pixel
    w_i  = sum over the classes c present in image i of 1 / n_c     (void pixels ignored)

Each class then carries the same total weight (sum over i of its term = 1), so in expectation every
class appears in at least 1/C of the draws however rare it is, while an image showing several rare
classes is drawn more often. An image with no labelled pixel gets weight 0 (it carries no loss).
The weights are written to ``sample_weights.json`` in the run folder in the authors' encoding
(file name -> float, mean 1) and reused from there when the training images are unchanged.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Sampler

from frrn_seg_ros.core.labels import IGNORE_INDEX

log = logging.getLogger(__name__)

WEIGHTS_FILE = "sample_weights.json"


def class_presence(
    labels: list[np.ndarray], num_classes: int, ignore_index: int = IGNORE_INDEX
) -> np.ndarray:
    """``[N, C]`` bool: image i has at least one pixel of class c (void and ids >= C ignored)."""
    present = np.zeros((len(labels), num_classes), dtype=bool)
    for i, label in enumerate(labels):
        ids = np.unique(np.asarray(label))
        ids = ids[(ids != ignore_index) & (ids < num_classes)]
        present[i, ids] = True
    return present


def class_balanced_weights(present: np.ndarray) -> np.ndarray:
    """``[N]`` float64 weights ``w_i = sum_{c in i} 1 / n_c`` from ``present [N, C]``, scaled to mean 1."""
    counts = present.sum(axis=0)
    inverse = np.where(counts > 0, 1.0 / np.maximum(counts, 1), 0.0)
    weights = (present * inverse[None, :]).sum(axis=1)
    total = weights.sum()
    if total <= 0:
        raise ValueError("class-balanced sampling: no training image has a labelled pixel")
    return weights * (len(weights) / total)


def dataset_sample_weights(dataset, cache_dir: str | Path | None = None) -> np.ndarray:
    """Class-balanced weights of ``dataset`` (a :class:`frrn_seg_training.datasets.SegmentationDataset`),
    read from ``cache_dir/sample_weights.json`` when it lists exactly this dataset's images."""
    names = [dataset.name(i) for i in range(len(dataset))]
    cache = Path(cache_dir) / WEIGHTS_FILE if cache_dir is not None else None
    if cache is not None and cache.is_file():
        saved = json.loads(cache.read_text())
        if sorted(saved) == sorted(names):
            log.info("class-balanced sampling: weights of %d images read from %s", len(names), cache)
            return np.asarray([saved[n] for n in names], dtype=np.float64)
    log.info("class-balanced sampling: reading %d training labels for the class statistics", len(names))
    labels = [decode(label_path) for _, label_path, decode in dataset.pairs]
    weights = class_balanced_weights(class_presence(labels, dataset.label_set.num_classes))
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps(dict(zip(names, weights.tolist(), strict=True)), indent=0))
        log.info("class-balanced sampling: weights written to %s", cache)
    return weights


class WeightedResumableSampler(Sampler[int]):
    """Draws ``len(weights)`` indices per epoch with replacement, probability proportional to
    ``weights``; the draw of epoch ``e`` is seeded by ``seed + e`` and sharded ``rank::world_size``,
    so skipping the first ``start`` indices of this rank reproduces an interrupted epoch exactly
    (the interface of :class:`frrn_seg_training.distributed.ResumableSampler`)."""

    def __init__(self, weights: np.ndarray, num_replicas: int = 1, rank: int = 0, seed: int = 0) -> None:
        self.weights = torch.as_tensor(np.asarray(weights, dtype=np.float64))
        if self.weights.ndim != 1 or len(self.weights) == 0 or float(self.weights.min()) < 0:
            raise ValueError("sample weights must be a non-empty 1-D array of non-negative numbers")
        self.num_replicas, self.rank, self.seed = int(num_replicas), int(rank), int(seed)
        self.num_samples = math.ceil(len(self.weights) / self.num_replicas)
        self.epoch, self.start = 0, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def set_start(self, start: int) -> None:
        """Skip the first ``start`` indices of this rank (set back to 0 for the next epoch)."""
        self.start = int(start)

    def epoch_indices(self) -> list[int]:
        """This rank's ``num_samples`` draws of the current epoch."""
        g = torch.Generator().manual_seed(self.seed + self.epoch)
        total = self.num_samples * self.num_replicas
        drawn = torch.multinomial(self.weights, total, replacement=True, generator=g).tolist()
        return drawn[self.rank : total : self.num_replicas]

    def __iter__(self) -> Iterator[int]:
        return iter(self.epoch_indices()[self.start :])

    def __len__(self) -> int:
        return self.num_samples - self.start


def make_train_sampler(
    sampling: str, dataset, world_size: int, rank: int, seed: int, cache_dir: str | Path | None
) -> Sampler[int]:
    """``data.sampling``: ``uniform`` (a shuffled epoch, :class:`ResumableSampler`) or
    ``class_balanced`` (:class:`WeightedResumableSampler` over :func:`dataset_sample_weights`)."""
    from .distributed import ResumableSampler

    if sampling == "uniform":
        return ResumableSampler(dataset, world_size, rank, shuffle=True, seed=seed)
    if sampling == "class_balanced":
        return WeightedResumableSampler(dataset_sample_weights(dataset, cache_dir), world_size, rank, seed)
    raise ValueError(f"data.sampling={sampling!r}: expected 'uniform' or 'class_balanced'")
