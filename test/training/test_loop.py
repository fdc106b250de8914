"""The training loop end to end on synthetic data: every recipe runs, the loop learns, resume is
exact, the CLI works, and an exported checkpoint loads in the node's loader."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from frrn_seg_ros.core.checkpoint import load_model
from frrn_seg_training.cli import main as cli_main
from frrn_seg_training.config import RECIPE_DIR, load_recipe
from frrn_seg_training.evaluate import evaluate, predict_logits
from frrn_seg_training.evaluate import main as eval_main
from frrn_seg_training.export_checkpoint import export_checkpoint
from frrn_seg_training.state import load_training_state
from frrn_seg_training.synthetic import write_dataset
from frrn_seg_training.trainer import Trainer

RECIPES = sorted(p.stem for p in RECIPE_DIR.glob("*.yaml"))


def tiny_overrides(root, recipe: str, iterations: int = 2, batch: int = 2) -> list[str]:
    """Shrink a paper recipe to the 64x128 synthetic set (structure and loss/optimizer unchanged).

    Batch 2 at least: CSRNet's SRM normalises globally pooled features, which needs > 1 sample."""
    out = [
        f"data.root={root}",
        "data.dataset=synthetic",
        "data.train_split=train",
        "data.val_split=val",
        "model.num_classes=19",
        "data.workers=0",
        f"train.batch_size={batch}",
        f"train.iterations={iterations}",
        "data.limit_val=1",
        "train.log_images=1",
    ]
    if recipe.startswith("frrn"):
        out += ["data.downsample=2", "data.translate=4"]  # 64x128 -> 32x64 input, majority-voted labels
    else:
        out += ["data.crop=[64, 64]", "data.scales=[0.75, 1.0, 1.25]"]
    return out


def numpy_miou(pred: np.ndarray, label: np.ndarray, ignore: int = 255) -> float:
    """Reference mIoU from sets: classes present (in ground truth or prediction) on non-void pixels."""
    valid = label != ignore
    ious = []
    for c in np.union1d(np.unique(label[valid]), np.unique(pred[valid])):
        p, g = (pred == c) & valid, (label == c) & valid
        ious.append((p & g).sum() / (p | g).sum())
    return float(np.mean(ious))


@torch.no_grad()
def reference_val_miou(trainer: Trainer) -> float:
    """mIoU of ``trainer.model`` on its (one-image) validation set, computed independently of
    the confusion-matrix code."""
    assert len(trainer.data.val_set) == 1
    image, label = trainer.data.val_set[0]
    model = trainer.model.eval()
    pred = predict_logits(model, image[None], tuple(label.shape), trainer.info.size_divisor).argmax(1)
    return numpy_miou(pred[0].numpy(), label.numpy())


@pytest.mark.parametrize("protocol", ["paper", "released"])
@pytest.mark.parametrize("recipe", RECIPES)
def test_every_recipe_runs_two_iterations(recipe, protocol, synth_root, tmp_path):
    cfg = load_recipe(recipe, [f"protocol={protocol}", *tiny_overrides(synth_root, recipe)])
    trainer = Trainer(cfg, tmp_path, device="cpu", show_progress=False)
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    metrics = trainer.fit()
    assert trainer.iteration == 2 and torch.isfinite(torch.tensor(metrics["train_loss"]))
    # The validation at iteration 2 scored these very weights: same mIoU from plain sets.
    assert metrics["miou"] == pytest.approx(reference_val_miou(trainer), abs=1e-9)
    assert metrics["iteration"] == 2 and len(metrics["iou"]) == 19
    changed = [
        k
        for k, v in trainer.model.state_dict().items()
        if v.is_floating_point() and not torch.equal(v, before[k])
    ]
    assert len(changed) > 0.5 * len(before) / 2  # weights (and BN stats) moved
    state = load_training_state(tmp_path / "latest.pt")  # weights_only=True inside
    assert state["iteration"] == 2
    assert (tmp_path / "best.pt").is_file() == bool(cfg["train"]["keep_best"])  # CamVid: never
    expected_groups = 2 if recipe.startswith("csrnet") else 1
    assert len(trainer.optimizer.param_groups) == expected_groups


def _overfit_trainer(
    root, out, iterations: int, lr: float = 2e-3, protocol: str = "paper", *extra: str
) -> Trainer:
    """csrnet_light on 2 whole synthetic images, no augmentation, constant lr (the protocol's init
    and BatchNorm settings are kept)."""
    overrides = [
        f"protocol={protocol}",
        *tiny_overrides(root, "csrnet_light_cityscapes", iterations=iterations),
        "data.limit_train=2",
        "data.crop=null",
        "data.scales=[1.0]",
        "data.hflip=false",
        "data.color_jitter=0.0",
        "schedule.name=constant",
        f"optim.lr={lr}",
        "train.val_every=100000",
        *extra,
    ]
    return Trainer(load_recipe("csrnet_light_cityscapes", overrides), out, device="cpu", show_progress=False)


def _train_set_miou(trainer: Trainer) -> float:
    """mIoU on the very images it trains on, un-augmented."""
    trainer.data.train_set.train = False
    try:
        loader = DataLoader(trainer.data.train_set, batch_size=2)
        result = evaluate(trainer.model, loader, 19, torch.device("cpu"), 32, trainer.data.label_set.names)
    finally:
        trainer.data.train_set.train = True
    return result["miou"]


def test_loop_learns_loss_halves(synth_root, tmp_path):
    trainer = _overfit_trainer(synth_root, tmp_path, 8)
    batches = trainer.batches()
    losses = [trainer.train_step(batches) for _ in range(8)]
    assert losses[-1] < 0.5 * losses[0], losses


@pytest.mark.parametrize("protocol", ["paper", "released"])
def test_overfits_two_tiny_images_fast(tmp_path, protocol):
    """Default-suite overfit: 2 synthetic 32x64 scenes, 40 steps at lr 5e-3 (about 6 s on 2 cores).

    Measured (paper): mIoU 0.004 untrained -> 0.84 (dataset seed 3; seeds 4/5 give 0.86/0.82, and
    30 steps 0.79-0.86), so 0.75 leaves a margin for platform float differences.

    ``released`` keeps its init but not its SPFM BatchNorm momentum 0.005: in 40 steps those
    running statistics move only 1 - 0.995^40 = 18% of the way, so the model scored in eval mode
    is not the one trained (measured with momentum 0.005 and jitter: train loss 0.22, mIoU 0.33).
    The momentum and the jitter are tested in test_released_protocol.py."""
    root = write_dataset(tmp_path / "data", train=2, val=1, size=(32, 64), seed=3)
    extra = ["model.spfm_bn_momentum=0.1"] if protocol == "released" else []
    trainer = _overfit_trainer(root, tmp_path / "run", 40, 5e-3, protocol, *extra)
    untrained = _train_set_miou(trainer)
    metrics = trainer.fit()
    trained = _train_set_miou(trainer)
    assert trainer.iteration == 40 and untrained < 0.3, untrained
    assert trained > 0.75, (untrained, trained, metrics)


@pytest.mark.slow
def test_overfits_two_images_to_high_miou(synth_root, tmp_path):
    trainer = _overfit_trainer(synth_root, tmp_path, 60)
    trainer.fit()
    miou = _train_set_miou(trainer)
    assert miou > 0.8, miou


def _run(cfg, out, iters, resume=None):
    trainer = Trainer(cfg, out, device="cpu", resume=resume, show_progress=False)
    trainer.fit(max_iters=iters)
    return trainer


def test_exact_resume_matches_straight_run(synth_root, tmp_path):
    overrides = [
        *tiny_overrides(synth_root, "frrn_a_cityscapes", iterations=4, batch=2),
        "train.val_every=1000",
        "train.ckpt_every=1000",
        "schedule.step_at=3",
        "data.downsample=4",
    ]
    cfg = load_recipe("frrn_a_cityscapes", overrides)
    straight = _run(cfg, tmp_path / "a", 4)
    _run(cfg, tmp_path / "b", 2)  # 6 images, batch 2: the resume crosses an epoch boundary at 3
    resumed = _run(cfg, tmp_path / "b", 2, resume=tmp_path / "b" / "latest.pt")
    assert resumed.iteration == 4
    a, b = straight.model.state_dict(), resumed.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a), [k for k in a if not torch.equal(a[k], b[k])][:5]
    assert (
        resumed.optimizer.param_groups[0]["lr"]
        == straight.optimizer.param_groups[0]["lr"]
        == pytest.approx(1e-4)
    )


def test_cli_and_export_roundtrip(synth_root, tmp_path, capsys):
    out = tmp_path / "run"
    args = [
        "--recipe",
        str(RECIPE_DIR / "csrnet_light_cityscapes.yaml"),
        "--output",
        str(out),
        "--device",
        "cpu",
        "--no-progress",
        "--data-root",
        str(synth_root),
    ]
    for item in tiny_overrides(synth_root, "csrnet_light_cityscapes"):
        args += ["--set", item]
    assert cli_main(args) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["iteration"] == 2
    node = export_checkpoint(out / "best.pt", tmp_path / "node.pt")
    model, meta = load_model(node)
    assert meta.architecture == "csrnet_light" and meta.num_classes == 19
    assert meta.provenance["recipe"] == "csrnet_light_cityscapes" and meta.provenance["iterations"] == 2
    assert meta.provenance["input_downsample"] == 1
    capsys.readouterr()
    assert (
        eval_main(["--checkpoint", str(node), "--dataset", "synthetic", "--data-root", str(synth_root)]) == 0
    )
    scored = json.loads(capsys.readouterr().out)
    assert scored["input_downsample"] == 1 and len(scored["iou"]) == 19
    trained = load_training_state(out / "best.pt")["model"]
    assert all(torch.equal(v, trained[k]) for k, v in model.state_dict().items())
    assert cli_main(["--recipe", "csrnet_light_cityscapes", "--set", "train.bogus=1"]) == 2


def test_missing_pretrained_backbone_is_named(synth_root, tmp_path):
    cfg = load_recipe(
        "csrnet_light_cityscapes",
        [
            *tiny_overrides(synth_root, "csrnet_light_cityscapes"),
            f"model.pretrained_backbone={tmp_path}/resnet18-f37072fd.pth",
        ],
    )
    with pytest.raises(FileNotFoundError, match=r"resnet18-f37072fd\.pth"):
        Trainer(cfg, tmp_path, device="cpu", show_progress=False)


def test_bf16_autocast_accumulation_and_gradient_checkpointing(synth_root, tmp_path):
    overrides = [
        *tiny_overrides(synth_root, "frrn_a_cityscapes", iterations=1, batch=1),
        "data.downsample=4",
        "train.amp=bf16",
        "train.accumulate=2",
        "model.gradient_checkpointing=true",
    ]
    trainer = Trainer(
        load_recipe("frrn_a_cityscapes", overrides), tmp_path, device="cpu", show_progress=False
    )
    assert trainer.model.gradient_checkpointing
    metrics = trainer.fit()
    assert trainer.iteration == 1 and torch.isfinite(torch.tensor(metrics["train_loss"]))
    with pytest.raises(ValueError, match="fp16 needs CUDA"):
        Trainer(
            load_recipe("frrn_a_cityscapes", [*overrides, "train.amp=fp16"]), tmp_path / "x", device="cpu"
        ).fit()
