"""The data of a training run: the train/val datasets of a recipe and the order the training
batches come in.

The order is a function of (seed, epoch) and augmentation of (seed, epoch, index), so the stream
can restart at any batch and reproduce an uninterrupted run exactly (see :mod:`.sampling`).
Under torchrun each process reads its own share of the training images and of the validation
images (the latter unpadded, see :class:`~.distributed.ShardSampler`).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

from .builders import make_pipeline
from .datasets import build_dataset
from .distributed import DistInfo, ShardSampler
from .sampling import make_train_sampler


class TrainingData:
    """Datasets, sampler and loaders of one run, built from a recipe dict (``data`` / ``train``).

    ``train_set`` / ``val_set`` yield ``(image [3,H,W] float32, label [H',W'] int64)`` samples.
    """

    def __init__(self, cfg: dict[str, Any], dist: DistInfo, output_dir: Path, pin_memory: bool) -> None:
        t, d = cfg["train"], cfg["data"]
        self.batch_size, self.workers, self.pin_memory = int(t["batch_size"]), int(d["workers"]), pin_memory
        pipeline = make_pipeline(cfg)
        self.train_set = build_dataset(
            d["dataset"],
            d["root"],
            d["train_split"],
            pipeline,
            train=True,
            seed=int(t["seed"]),
            limit=d["limit_train"],
        )
        self.val_set = build_dataset(
            d["dataset"], d["root"], d["val_split"], pipeline, train=False, limit=d["limit_val"]
        )
        self.label_set = self.train_set.label_set
        self.dist = dist
        self.sampler = make_train_sampler(
            str(d["sampling"]),
            self.train_set,
            dist.world_size,
            dist.rank,
            int(t["seed"]),
            output_dir if dist.is_main else None,
        )
        if self.batch_size < 2 and cfg["model"]["name"].startswith("csrnet"):
            raise ValueError(
                "train.batch_size must be >= 2 per process for CSRNet (its SRM attention "
                "batch-normalises globally pooled features)"
            )
        self.batches_per_epoch = self.sampler.num_samples // self.batch_size
        if self.batches_per_epoch < 1:
            raise ValueError(
                f"train.batch_size={self.batch_size} exceeds the {self.sampler.num_samples} "
                "training images per process"
            )

    def loader(self, epoch: int, start_batch: int) -> DataLoader:
        """Training batches of ``epoch`` from batch ``start_batch`` on (earlier ones skipped)."""
        self.train_set.set_epoch(epoch)
        self.sampler.set_epoch(epoch)
        self.sampler.set_start(start_batch * self.batch_size)
        return DataLoader(
            self.train_set,
            batch_size=self.batch_size,
            sampler=self.sampler,
            drop_last=True,
            num_workers=self.workers,
            pin_memory=self.pin_memory,
            persistent_workers=False,
        )

    def batches(self, consumed: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Endless stream of training batches after the first ``consumed`` ones of the run."""
        epoch, start = divmod(consumed, self.batches_per_epoch)
        while True:
            yield from self.loader(epoch, start)
            epoch, start = epoch + 1, 0

    def val_loader(self, batch_size: int) -> DataLoader:
        """This process's share of the validation set, in order (every image on exactly one rank)."""
        return DataLoader(
            self.val_set,
            batch_size=batch_size,
            num_workers=0,
            sampler=ShardSampler(self.val_set, self.dist.world_size, self.dist.rank),
        )
