"""Trainer behaviour beyond the basic loop: a CamVid recipe end to end, gradient accumulation equal
to the larger batch, resume refusing changed batch settings, per-group lr logging and the
CSRNet from-scratch warning."""

from __future__ import annotations

import logging

import pytest
import torch
from torch import nn

from frrn_seg_ros.core.checkpoint import load_model
from frrn_seg_ros.core.labels import get_label_set
from frrn_seg_training.config import load_recipe
from frrn_seg_training.export_checkpoint import export_checkpoint
from frrn_seg_training.state import load_training_state
from frrn_seg_training.trainer import Trainer


def _frrn_overrides(root, batch: int, accumulate: int = 1) -> list[str]:
    """FRRN A on the 64x128 synthetic set at downsample 4 (16x32 input); no validation or saving."""
    return [
        f"data.root={root}",
        "data.dataset=synthetic",
        "data.workers=0",
        "data.downsample=4",
        "data.translate=2",
        "data.limit_val=1",
        f"train.batch_size={batch}",
        f"train.accumulate={accumulate}",
        "train.iterations=4",
        "train.val_every=1000",
        "train.ckpt_every=1000",
        "train.log_images=0",
    ]


def _freeze_batchnorm(trainer: Trainer) -> None:
    """Keep BatchNorm on running statistics whenever the loop calls ``train()``: batch statistics
    of b and 2b images differ by design, everything else must agree exactly."""
    module = trainer.ddp
    original = module.train

    def train(mode: bool = True) -> nn.Module:
        original(mode)
        for m in module.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.eval()
        return module

    module.train = train  # type: ignore[method-assign]


def test_accumulate_two_equals_double_batch(synth_root, tmp_path):
    """accumulate=2 at batch 2 gives the gradient (and loss) of one batch of 4: the same 4 images
    in the same order, per-image bootstrapped CE averaged over the batch."""
    grads, losses = [], []
    for batch, accumulate in ((4, 1), (2, 2)):
        cfg = load_recipe("frrn_a_cityscapes", _frrn_overrides(synth_root, batch, accumulate))
        trainer = Trainer(cfg, tmp_path / f"b{batch}", device="cpu", show_progress=False)
        _freeze_batchnorm(trainer)
        losses.append(trainer.train_step(trainer.batches()))
        grads.append({n: p.grad.clone() for n, p in trainer.model.named_parameters()})
    assert losses[1] == pytest.approx(losses[0], rel=1e-5)
    assert sum(float(g.abs().sum()) for g in grads[0].values()) > 0
    for name, g in grads[0].items():  # float32 sums in another order: 1e-5 of each tensor's scale
        scale = float(g.abs().max())
        torch.testing.assert_close(grads[1][name], g, rtol=1e-4, atol=1e-5 * scale + 1e-12, msg=name)


def test_resume_refuses_changed_batch_settings(synth_root, tmp_path, caplog):
    overrides = _frrn_overrides(synth_root, batch=2)
    cfg = load_recipe("frrn_a_cityscapes", overrides)
    with caplog.at_level(logging.WARNING, logger="frrn_seg_training"):
        trainer = Trainer(cfg, tmp_path, device="cpu", show_progress=False)
    assert "FROM SCRATCH" not in caplog.text  # FRRN has no pre-trained backbone to miss
    trainer.fit(max_iters=1)
    latest = tmp_path / "latest.pt"
    assert load_training_state(latest)["run"] == {
        "recipe": "frrn_a_cityscapes",
        "protocol": "released",
        "dataset": "synthetic",
        "batch_size": 2,
        "accumulate": 1,
        "world_size": 1,
    }
    changes = {
        "train.batch_size=3": "batch_size: checkpoint 2, now 3",
        "train.accumulate=2": "accumulate: checkpoint 1, now 2",
        "data.dataset=cityscapes": "dataset: checkpoint 'synthetic', now 'cityscapes'",
        "protocol=paper": "protocol: checkpoint 'released', now 'paper'",
    }
    for change, message in changes.items():
        changed = load_recipe("frrn_a_cityscapes", [*overrides, change])
        with pytest.raises(ValueError, match=f"cannot resume .*{message}"):
            Trainer(changed, tmp_path / "x", device="cpu", resume=latest, show_progress=False)
    with pytest.raises(ValueError, match="recipe: checkpoint 'frrn_a_cityscapes', now 'frrn_b_cityscapes'"):
        Trainer(load_recipe("frrn_b_cityscapes", overrides), tmp_path / "x", device="cpu", resume=latest)
    resumed = Trainer(cfg, tmp_path, device="cpu", resume=latest, show_progress=False)
    assert resumed.iteration == 1


def test_camvid_recipe_end_to_end(tmp_path, camvid_writer, caplog):
    """csrnet_light_camvid as shipped (camvid_color, train+val -> test, 11 classes, paper scales),
    only smaller: 48x64 images, 32x32 crops, batch 2, 2 iterations."""
    root = tmp_path / "CamVid"
    for split, names in {"train": ["a_0001", "a_0002"], "val": ["b_0001"], "test": ["c_0001"]}.items():
        camvid_writer(root, split, names, "color", size=(48, 64))
    overrides = [
        f"data.root={root}",
        "data.crop=[32, 32]",
        "data.workers=0",
        "train.batch_size=2",
        "train.iterations=2",
        "train.log_images=1",
    ]
    cfg = load_recipe("csrnet_light_camvid", overrides)
    assert (cfg["data"]["dataset"], cfg["data"]["train_split"], cfg["data"]["val_split"]) == (
        "camvid_color",
        "train+val",
        "test",
    )
    with caplog.at_level(logging.WARNING, logger="frrn_seg_training"):
        trainer = Trainer(cfg, tmp_path / "run", device="cpu", show_progress=False)
    assert "FROM SCRATCH" in caplog.text and "model.pretrained_backbone=" in caplog.text
    assert len(trainer.data.train_set) == 3 and len(trainer.data.val_set) == 1
    logged: dict[str, float] = {}
    trainer.logger.scalars = lambda values, step: logged.update(values)  # type: ignore[method-assign]
    metrics = trainer.fit()
    assert trainer.iteration == 2 and torch.isfinite(torch.tensor(metrics["train_loss"]))
    camvid = get_label_set("camvid")
    assert list(metrics["iou"]) == camvid.names and len(camvid.names) == 11
    # Every parameter group's lr is logged; the backbone runs 4x lower (cosine factor shared).
    assert logged["train/lr/backbone"] == pytest.approx(0.25 * logged["train/lr/head"])
    # No checkpoint is selected on CamVid's test split: only the last one exists.
    assert not (tmp_path / "run" / "best.pt").exists()
    node = export_checkpoint(tmp_path / "run" / "latest.pt", tmp_path / "camvid.pt")
    model, meta = load_model(node)
    assert meta.num_classes == 11 and meta.provenance["training_dataset"] == "camvid_color"
    with torch.no_grad():
        assert model.eval()(torch.zeros(1, 3, 32, 32)).shape == (1, 11, 32, 32)


def test_scratch_on_purpose_builds_without_the_warning():
    from frrn_seg_training.builders import SCRATCH, make_model, scratch_backbone_warning

    cfg = load_recipe("csrnet_light_cityscapes", [f"model.pretrained_backbone={SCRATCH}"])
    assert scratch_backbone_warning(cfg) is None
    assert scratch_backbone_warning(load_recipe("csrnet_light_cityscapes", [])) is not None
    assert sum(p.numel() for p in make_model(cfg).parameters()) > 1_000_000
