"""DDP on 2 CPU processes (gloo, env:// like torchrun): gradients equal the single-process ones on
the same batch, samplers shard the data, validation scores every image exactly once (its mIoU
equals the single-process one), and only rank 0 writes checkpoints."""

from __future__ import annotations

import os
import socket

import pytest
import torch
import torch.multiprocessing as mp
from torch import nn

from frrn_seg_training.builders import make_model
from frrn_seg_training.config import load_recipe
from frrn_seg_training.distributed import ResumableSampler, ShardSampler, shard_indices
from frrn_seg_training.evaluate import evaluate
from frrn_seg_training.losses import bootstrapped_cross_entropy
from frrn_seg_training.state import load_training_state

MODEL_CFG = {
    "model": {
        "name": "csrnet_light",
        "num_classes": 19,
        "gradient_checkpointing": False,
        "pretrained_backbone": None,
    }
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _batch() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(7)
    images = torch.randn(4, 3, 32, 32, generator=g)
    labels = torch.randint(0, 19, (4, 32, 32), generator=g)
    labels[1, :8] = 255
    return images, labels


def _model() -> nn.Module:
    torch.manual_seed(0)
    model = make_model(MODEL_CFG)
    model.train()
    for m in model.modules():  # BN on running stats: per-process batch statistics would differ by design
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.eval()
    return model


def _worker(rank: int, world: int, port: int, out_dir: str, synth_root: str) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        WORLD_SIZE=str(world),
        LOCAL_RANK=str(rank),
    )
    torch.set_num_threads(1)
    from frrn_seg_training.distributed import init_distributed
    from frrn_seg_training.trainer import Trainer

    info = init_distributed(torch.device("cpu"))
    assert info.enabled and info.rank == rank and torch.distributed.get_backend() == "gloo"
    ddp = nn.parallel.DistributedDataParallel(_model())
    images, labels = _batch()
    half = slice(2 * rank, 2 * rank + 2)
    bootstrapped_cross_entropy(ddp(images[half]), labels[half], k=64).backward()
    if rank == 0:
        torch.save(
            {n: p.grad for n, p in ddp.module.named_parameters()}, os.path.join(out_dir, "ddp_grads.pt")
        )
    # The real loop under DDP: one iteration; only rank 0 writes.
    overrides = [
        f"data.root={synth_root}",
        "data.dataset=synthetic",
        "data.workers=0",
        "train.batch_size=2",
        "train.iterations=1",
        "data.val_split=train",
        "data.limit_val=5",  # odd: a padding sampler would score one image twice
        "data.downsample=4",
        "model.sync_bn=true",
    ]
    trainer = Trainer(
        load_recipe("frrn_a_cityscapes", overrides),
        os.path.join(out_dir, f"rank{rank}"),
        device="cpu",
        show_progress=False,
    )
    assert isinstance(trainer.ddp, nn.parallel.DistributedDataParallel)
    trainer.fit()
    torch.distributed.barrier()
    torch.distributed.destroy_process_group()


def test_ddp_gradients_match_single_process(tmp_path, synth_root):
    port = _free_port()
    mp.spawn(_worker, args=(2, port, str(tmp_path), str(synth_root)), nprocs=2, join=True)
    model = _model()
    images, labels = _batch()
    # Per-image bootstrapping then batch mean: the 4-image loss is the mean of the two 2-image losses.
    bootstrapped_cross_entropy(model(images), labels, k=64).backward()
    ddp_grads = torch.load(tmp_path / "ddp_grads.pt", weights_only=True)
    assert len(ddp_grads) == len(list(model.parameters()))
    for name, p in model.named_parameters():
        torch.testing.assert_close(ddp_grads[name], p.grad, rtol=1e-4, atol=1e-6, msg=name)
    assert (tmp_path / "rank0" / "latest.pt").is_file()
    assert not (tmp_path / "rank1" / "latest.pt").exists()
    # Validation under DDP (3 + 2 images, confusion matrices summed) = one process on all 5.
    from frrn_seg_training.trainer import Trainer

    best = load_training_state(tmp_path / "rank0" / "best.pt")
    single = Trainer(best["config"], tmp_path / "single", device="cpu", show_progress=False)
    single.model.load_state_dict(best["model"])
    assert len(single.data.val_set) == 5
    loader = torch.utils.data.DataLoader(single.data.val_set, batch_size=1)
    result = evaluate(single.model, loader, 19, torch.device("cpu"), single.info.size_divisor)
    assert best["metrics"]["miou"] == result["miou"]


def test_eval_sharding_covers_each_index_exactly_once():
    shards = [shard_indices(5, 2, r) for r in range(2)]
    assert shards == [[0, 2, 4], [1, 3]]
    assert sorted(shards[0] + shards[1]) == list(range(5))
    assert [list(ShardSampler(range(5), 2, r)) for r in range(2)] == shards
    assert [len(ShardSampler(range(2), 3, r)) for r in range(3)] == [1, 1, 0]  # more ranks than items
    assert list(ShardSampler(range(4))) == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="rank 2"):
        shard_indices(5, 2, 2)


def test_sampler_shards_and_resumes():
    data = list(range(10))
    shards = [list(ResumableSampler(data, 2, r, shuffle=True, seed=3)) for r in range(2)]
    assert sorted(shards[0] + shards[1]) == data and not set(shards[0]) & set(shards[1])
    sampler = ResumableSampler(data, 2, 0, shuffle=True, seed=3)
    sampler.set_start(2)
    assert list(sampler) == shards[0][2:]
    sampler.set_epoch(1)
    sampler.set_start(0)
    assert list(sampler) != shards[0]
