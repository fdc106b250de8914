"""torch.distributed plumbing: env:// initialisation (torchrun), rank helpers, a resumable sampler."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch.utils.data import DistributedSampler

log = logging.getLogger(__name__)


@dataclass
class DistInfo:
    """Rank facts of this process (``world_size == 1`` and ``enabled == False`` when not distributed)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    enabled: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed(device: torch.device) -> DistInfo:
    """Join the process group torchrun describes (``WORLD_SIZE`` > 1), with ``env://`` init.

    Backend: nccl on CUDA, gloo on CPU. Without ``WORLD_SIZE`` (or with 1) nothing is initialised.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend, init_method="env://")
    info = DistInfo(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")), True)
    log.info(
        "distributed: rank %d/%d (local %d), backend %s",
        info.rank,
        info.world_size,
        info.local_rank,
        dist.get_backend(),
    )
    return info


def resolve_device(name: str | None, dist_info: DistInfo | None = None) -> torch.device:
    """``auto``/None -> ``cuda:<local_rank>`` when CUDA exists, else CPU; ``cuda`` under torchrun
    also picks the local rank's GPU."""
    local = dist_info.local_rank if dist_info else int(os.environ.get("LOCAL_RANK", "0"))
    if name in (None, "auto"):
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        name = f"cuda:{local}"
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError(f"device {name} requested but CUDA is not available")
        torch.cuda.set_device(device)
    return device


class ResumableSampler(DistributedSampler):
    """A :class:`DistributedSampler` (also used with one process) that can start mid-epoch.

    The order of epoch ``e`` is a permutation seeded by ``seed + e`` (DistributedSampler's rule),
    so skipping the first ``start`` indices of this rank reproduces an interrupted epoch exactly.
    """

    def __init__(
        self,
        dataset,
        num_replicas: int = 1,
        rank: int = 0,
        shuffle: bool = True,
        seed: int = 0,
        drop_last: bool = False,
    ) -> None:
        super().__init__(
            dataset, num_replicas=num_replicas, rank=rank, shuffle=shuffle, seed=seed, drop_last=drop_last
        )
        self.start = 0

    def set_start(self, start: int) -> None:
        """Skip the first ``start`` indices of this rank (set back to 0 for the next epoch)."""
        self.start = int(start)

    def __iter__(self) -> Iterator[int]:
        return iter(list(super().__iter__())[self.start :])

    def __len__(self) -> int:
        return self.num_samples - self.start
