"""Class-balanced sampling (FRRN A, released protocol): the weights' rule on a synthetic label
set, the balance the sampler then achieves, exact resume and sharding, and the trainer's cache of
the weights in the authors' encoding (file name -> weight)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from frrn_seg_training.config import load_recipe
from frrn_seg_training.sampling import (
    WEIGHTS_FILE,
    WeightedResumableSampler,
    class_balanced_weights,
    class_presence,
)


def _rare_class_labels(n: int = 20) -> list[np.ndarray]:
    """``n`` 8x8 label maps of classes 0 and 1; class 2 in image 0 only, class 3 in images 0-1."""
    labels = []
    for i in range(n):
        lab = np.zeros((8, 8), dtype=np.uint8)
        lab[:, 4:] = 1
        lab[0, 0] = 255
        if i == 0:
            lab[:2, :2] = 2
        if i < 2:
            lab[6:, 6:] = 3
        labels.append(lab)
    return labels


def test_class_balanced_weights_and_sampler_balance_a_synthetic_set():
    labels = _rare_class_labels()
    present = class_presence(labels, num_classes=4)
    assert present.sum(axis=0).tolist() == [20, 20, 1, 2]  # void ignored
    w = class_balanced_weights(present)
    assert w.mean() == pytest.approx(1.0) and w[0] > w[1] > w[2] == w[19]
    # Rule: w_i = sum over present classes of 1 / n_c (before the mean-1 scaling).
    raw = np.array([2 / 20 + 1 + 1 / 2, 2 / 20 + 1 / 2] + [2 / 20] * 18)
    assert np.allclose(w, raw * 20 / raw.sum())
    sampler = WeightedResumableSampler(w, seed=0)
    draws = []
    for epoch in range(200):
        sampler.set_epoch(epoch)
        draws += list(sampler)
    with_rare = np.mean([present[i, 2] for i in draws])
    assert with_rare > 0.25  # uniform shuffling: 1/20 = 0.05; each class >= 1/C = 0.25 here
    assert with_rare == pytest.approx(w[0] / w.sum(), abs=0.02)


def test_weighted_sampler_resumes_and_shards_exactly():
    w = np.linspace(0.1, 2.0, 11)
    full = WeightedResumableSampler(w, seed=5)
    full.set_epoch(3)
    order = list(full)
    resumed = WeightedResumableSampler(w, seed=5)
    resumed.set_epoch(3)
    resumed.set_start(4)
    assert list(resumed) == order[4:] and len(resumed) == len(order) - 4
    ranks = [WeightedResumableSampler(w, num_replicas=2, rank=r, seed=5) for r in (0, 1)]
    for s in ranks:
        s.set_epoch(3)
    a, b = list(ranks[0]), list(ranks[1])
    assert len(a) == len(b) == 6  # ceil(11 / 2): equal counts for DDP
    full.set_epoch(4)
    assert list(full) != order  # a new draw every epoch


def test_trainer_uses_and_caches_class_balanced_weights(synth_root, tmp_path):
    from frrn_seg_training.trainer import Trainer

    overrides = [
        f"data.root={synth_root}",
        "data.dataset=synthetic",
        "data.workers=0",
        "data.downsample=2",
        "train.batch_size=2",
        "train.iterations=1",
        "data.limit_val=1",
    ]
    cfg = load_recipe("frrn_a_cityscapes", ["protocol=released", *overrides])
    trainer = Trainer(cfg, tmp_path, device="cpu", show_progress=False)
    assert isinstance(trainer.data.sampler, WeightedResumableSampler)
    cache = tmp_path / WEIGHTS_FILE
    saved = json.loads(cache.read_text())  # the authors' encoding: file name -> weight
    assert sorted(saved) == sorted(trainer.data.train_set.name(i) for i in range(len(trainer.data.train_set)))
    assert all(name.endswith("_leftImg8bit.png") for name in saved)
    assert np.mean(list(saved.values())) == pytest.approx(1.0)
    paper = load_recipe("frrn_a_cityscapes", ["protocol=paper", *overrides])
    assert not isinstance(Trainer(paper, tmp_path / "p", device="cpu").data.sampler, WeightedResumableSampler)
