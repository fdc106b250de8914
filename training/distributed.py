"""torch.distributed plumbing: env:// initialisation (torchrun), rank helpers, a resumable training
sampler and an exact (unpadded) evaluation sharder."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sized
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch.utils.data import DistributedSampler, Sampler

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


def local_rank_device(name: str | None, dist_info: DistInfo | None = None) -> torch.device:
    """The training device of this rank: ``auto``/None -> ``cuda:<local_rank>`` when CUDA exists,
    else CPU; ``cuda`` under torchrun also picks the local rank's GPU, which becomes the process's
    current CUDA device (unlike the node's :func:`frrn_seg_ros.core.engine.resolve_device`, which
    only checks that the device exists)."""
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


def broadcast_buffers(module: torch.nn.Module, src: int = 0) -> None:
    """Copy every buffer (BatchNorm running statistics) of ``module`` from rank ``src`` to all ranks.

    Without SyncBatchNorm each rank updates its running statistics from its own batch; DDP syncs
    them only at the start of a training forward, so before evaluating with the bare module the
    ranks must be made to agree (else each scores its shard with a different model). No-op when
    torch.distributed is not initialised.
    """
    if not (dist.is_available() and dist.is_initialized()):
        return
    for buffer in module.buffers():
        dist.broadcast(buffer.data, src=src)


def shard_indices(length: int, world_size: int, rank: int) -> list[int]:
    """``range(length)[rank::world_size]``: every index on exactly one rank, none repeated.

    Unlike :class:`DistributedSampler`, nothing is padded, so ranks may get different counts
    (e.g. 5 items on 2 ranks -> ``[0, 2, 4]`` and ``[1, 3]``) and summed statistics stay exact.
    """
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} is not in a world of size {world_size}")
    return list(range(rank, int(length), world_size))


class ShardSampler(Sampler[int]):
    """In-order evaluation sampler over this rank's :func:`shard_indices` (no padding, no shuffle)."""

    def __init__(self, dataset: Sized, world_size: int = 1, rank: int = 0) -> None:
        self.indices = shard_indices(len(dataset), world_size, rank)

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)
