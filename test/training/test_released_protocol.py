"""The values of the ``released`` protocols (the authors' training code), each on real arrays,
tensors, modules and files: colour jitter, upscale-to-cover crop, Lanczos subsampling, the
per-epoch cosine, the init gains, the SPFM BatchNorm momentum, and the removal of a killed run's
partial checkpoints (class-balanced sampling: test_sampling.py)."""

from __future__ import annotations

import itertools
import logging
import math
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn

from frrn_seg_ros.core.models import build_model
from frrn_seg_ros.core.models.blocks import FRRU, RU, SPFM
from frrn_seg_training import transforms as T
from frrn_seg_training.builders import make_model
from frrn_seg_training.config import load_recipe
from frrn_seg_training.optim import build_optimizer, build_scheduler, epoch_cosine_lr
from frrn_seg_training.state import PARTIAL_CHECKPOINT, remove_stale_partials, save_training_state

# ------------------------------------------------------------------------------ augmentation


def test_jitter_factors_span_the_range_and_stay_inside():
    rng = np.random.default_rng(0)
    draws = np.array([T.jitter_factors(0.5, rng) for _ in range(2000)])  # [2000, 3]
    assert draws.min() >= 0.5 and draws.max() <= 1.5
    assert (draws.min(axis=0) < 0.52).all() and (draws.max(axis=0) > 1.48).all()  # whole range used
    assert abs(draws.mean() - 1.0) < 0.02  # uniform around 1
    assert len({tuple(d) for d in draws[:10]}) == 10  # the three factors are drawn independently


def test_color_jitter_acts_like_brightness_contrast_saturation():
    rng = np.random.default_rng(1)
    image = rng.integers(40, 200, (16, 24, 3), dtype=np.uint8)
    assert np.array_equal(T.apply_color_jitter(image, 1.0, 1.0, 1.0), image)  # factors 1: identity
    brighter = T.apply_color_jitter(image, 1.25, 1.0, 1.0).astype(np.float64)
    assert brighter.mean() == pytest.approx(1.25 * image.mean(), rel=0.01)
    flat = T.apply_color_jitter(image, 1.0, 0.0, 1.0)  # contrast 0: one grey level
    assert flat.std() < 1.0
    grey = T.apply_color_jitter(image, 1.0, 1.0, 0.0).astype(np.int16)  # saturation 0: R = G = B
    assert np.abs(grey[..., 0] - grey[..., 1]).max() <= 1 and np.abs(grey[..., 1] - grey[..., 2]).max() <= 1
    assert T.random_color_jitter(image, 0.0, rng) is image


def test_cover_crop_upscales_instead_of_padding():
    rng = np.random.default_rng(2)
    image = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
    label = rng.integers(0, 19, (48, 64), dtype=np.uint8)  # no void anywhere
    assert T.cover_scale((48, 64), (64, 64)) == (64, 86)  # smaller side to the crop, aspect kept
    assert T.cover_scale((48, 64), (32, 32)) == (48, 64)  # already covers: untouched
    for _ in range(5):
        img, lab = T.random_crop(image, label, (64, 64), rng, fill=(1, 2, 3), mode="cover")
        assert img.shape == (64, 64, 3) and lab.shape == (64, 64)
        assert (lab != 255).all()  # nothing padded
        assert set(np.unique(lab)) <= set(np.unique(label))  # nearest: no new label values
    _, padded = T.random_crop(image, label, (64, 64), rng, mode="pad")
    assert (padded == 255).sum() == 16 * 64  # the pad mode voids the 16 missing rows
    with pytest.raises(ValueError, match="crop mode"):
        T.random_crop(image, label, (64, 64), rng, mode="stretch")


def test_lanczos_subsampling_is_antialiased_and_named():
    assert T.lanczos_backend() in ("cv2", "pil")
    stripes = np.zeros((64, 128, 3), dtype=np.uint8)
    stripes[:, ::2] = 255  # 1-pixel stripes: an un-antialiased 4x subsampling keeps 0 or 255
    small = T.downsample_image(stripes, (16, 32), "lanczos")
    assert small.shape == (16, 32, 3)
    assert np.abs(small.astype(np.float64) - 127.5).max() < 20  # averaged to mid grey
    with pytest.raises(ValueError, match="bicubic"):
        T.downsample_image(stripes, (16, 32), "bicubic")


# ------------------------------------------------------------------------------ schedule


def test_per_epoch_cosine_steps_once_per_epoch_to_min_lr_for_both_groups():
    class WithBackbone(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.backbone, self.head = nn.Linear(2, 2), nn.Linear(2, 2)

    per_epoch, t_max, base, floor = 3, 4, 4e-4, 1e-6
    factors = {"backbone_lr_factor": 0.25, "backbone_wd_factor": 0.25}
    optimizer = build_optimizer(WithBackbone(), {"lr": base, **factors})
    schedule = {"name": "cosine_epoch", "t_max": t_max, "min_lr": floor}
    sched = build_scheduler(optimizer, schedule, base, 99, iterations_per_epoch=per_epoch)
    lrs = []  # lr used by each iteration (read before its step)
    for _ in range(per_epoch * (t_max + 1)):
        lrs.append([g["lr"] for g in optimizer.param_groups])
        optimizer.step()
        sched.step()
    epochs = [lrs[e * per_epoch : (e + 1) * per_epoch] for e in range(t_max + 1)]
    assert all(all(it == ep[0] for it in ep) for ep in epochs)  # constant inside an epoch
    firsts = [ep[0] for ep in epochs]
    assert all(a[0] > b[0] for a, b in itertools.pairwise(firsts[:t_max]))  # one step down per epoch
    assert firsts[t_max - 1] == pytest.approx([floor, floor])  # last epoch: 1e-6 for BOTH groups
    assert firsts[t_max] == pytest.approx([floor, floor])  # and stays there
    # Same values as torch's CosineAnnealingLR stepped at the start of every epoch (authors' train.py).
    groups = [{"params": [nn.Parameter(torch.zeros(1))], "lr": lr} for lr in (base, base / 4)]
    ref_opt = torch.optim.Adam(groups)
    ref = torch.optim.lr_scheduler.CosineAnnealingLR(ref_opt, t_max, floor)
    for epoch in range(t_max):
        ref_opt.step()
        ref.step()  # at the start of the epoch, before its iterations
        assert firsts[epoch] == pytest.approx([g["lr"] for g in ref_opt.param_groups], rel=1e-9)
    assert epoch_cosine_lr(0, base, floor, t_max) == pytest.approx(
        floor + (base - floor) * 0.5 * (1 + math.cos(math.pi / t_max))
    )
    # The authors' training log (MBNet-2020-11-19-15-07-13.log), epoch 1 of 250: "LR: 3.9998e-04"
    # for the new layers and "LR: 9.9996e-05" for the backbone (4e-4 / 4), both with floor 1e-6.
    assert f"{epoch_cosine_lr(0, 4e-4, 1e-6, 250):.4e}" == "3.9998e-04"
    assert f"{epoch_cosine_lr(0, 1e-4, 1e-6, 250):.4e}" == "9.9996e-05"
    assert f"{epoch_cosine_lr(9, 4e-4, 1e-6, 250):.4e}" == "3.9843e-04"  # logged with "Epoch: 10 / 250"


# ------------------------------------------------------------------------------ init


def _uniform_gain(w: torch.Tensor) -> float:
    """The gain g of a HeUniform(g) draw: bound = g * sqrt(3 / fan_in), std = bound / sqrt(3)."""
    fan_in = w[0].numel()
    return float(w.abs().max()) / math.sqrt(3.0 / fan_in)


@torch.no_grad()
def test_frrn_released_init_gains():
    model = build_model("frrn_a", num_classes=19)
    model._init_weights("released")
    linear = {id(model.split[0]), id(model.classifier)}
    for m in model.modules():
        if isinstance(m, RU):
            linear |= {id(m.conv2[0]), id(m.shortcut)}
        elif isinstance(m, FRRU):
            linear.add(id(m.to_residual))
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    # 6 RU second convs, 1 RU 1x1 shortcut (80 -> 48), split, classifier, 17 FRRU 1x1 residuals
    assert len([m for m in convs if id(m) in linear]) == 6 + 1 + 1 + 1 + 17
    for m in convs:
        gain = 1.0 if id(m) in linear else math.sqrt(2.0)
        assert _uniform_gain(m.weight) == pytest.approx(gain, rel=0.05 if m.weight.numel() > 500 else 0.5)
        assert _uniform_gain(m.weight) <= gain * (1 + 1e-6)  # a uniform draw never exceeds its bound
        if m.bias is not None:
            assert torch.count_nonzero(m.bias) == 0
    with pytest.raises(ValueError, match="init scheme"):
        model._init_weights("xavier")


@torch.no_grad()
def test_csrnet_released_init_and_spfm_momentum():
    cfg = load_recipe("csrnet_light_cityscapes", ["protocol=released", "model.pretrained_backbone=scratch"])
    torch.manual_seed(0)
    model = make_model(cfg)
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    spfm_bns = [bn for s in model.modules() if isinstance(s, SPFM) for bn in s.modules() if bn in bns]
    assert len(spfm_bns) == 3 * 5 and all(bn.momentum == 0.005 for bn in spfm_bns)
    others = [m for m in bns if all(m is not b for b in spfm_bns)]
    assert others and all(bn.momentum == 0.1 for bn in others)
    fuse = model.spfm32.fuse[0]  # decoder conv: Kaiming normal, fan_out
    fan_out = fuse.weight.shape[0] * fuse.weight[0, 0].numel()
    assert float(fuse.weight.std()) == pytest.approx(math.sqrt(2.0 / fan_out), rel=0.05)
    fc = model.srm1_16.fc_low  # Linear at PyTorch's default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)), bias too
    bound = 1 / math.sqrt(fc.in_features)
    assert float(fc.weight.abs().max()) <= bound and float(fc.weight.abs().max()) > 0.9 * bound
    assert torch.count_nonzero(fc.bias) > 0
    head = model.head[-1]
    assert torch.count_nonzero(head.bias) > 0 and float(head.bias.abs().max()) <= 1 / math.sqrt(128)
    paper = make_model(load_recipe("csrnet_light_cityscapes", ["protocol=paper"]))
    assert torch.count_nonzero(paper.head[-1].bias) == 0 and paper.spfm32.fuse[1].momentum == 0.1


# ------------------------------------------------------------------------------ killed runs


def test_stale_partial_checkpoints_removed_at_start_with_a_log_line(tmp_path, caplog):
    run = tmp_path / "run"
    save_training_state(run / "latest.pt", {"iteration": 3})
    # What a SIGKILL during torch.save leaves: the mkstemp file of the atomic write, half written.
    partials = [run / ".latest.pt.k2j9_x1q.tmp", run / ".best.pt.abcdef12.tmp"]
    for p in partials:
        p.write_bytes(b"\x80\x02partial")
    keep = [run / "notes.tmp", run / ".hidden", run / "latest.pt", run / ".latest.pt.tmp"]
    for p in keep[:2]:
        p.write_text("x")
    keep[3].write_text("not the mkstemp shape")
    (run / "sub").mkdir()
    (run / "sub" / ".latest.pt.abcdefgh.tmp").write_text("other folder")
    with caplog.at_level(logging.WARNING, logger="frrn_seg_training.state"):
        removed = remove_stale_partials(run)
    assert sorted(removed) == sorted(partials) and not any(p.exists() for p in partials)
    assert all(p.exists() for p in keep) and (run / "sub" / ".latest.pt.abcdefgh.tmp").exists()
    assert caplog.text.count("partial checkpoint of a killed run") == 2
    assert remove_stale_partials(tmp_path / "absent") == []


def test_the_partial_of_a_save_killed_mid_write_is_recognised(tmp_path, repo_root):
    """save_training_state killed inside torch.save (the pickler reaches an object whose
    __reduce__ exits the process) leaves the atomic write's temporary file; PARTIAL_CHECKPOINT
    matches that name and remove_stale_partials deletes it."""
    code = (
        "import os, sys, torch\nfrom frrn_seg_training.state import save_training_state\n"
        "class Kill:\n    def __reduce__(self):\n        os._exit(9)\n"
        "save_training_state(sys.argv[1], {'model': {'w': torch.zeros(1000)}, 'z': Kill()})\n"
    )
    run = tmp_path / "run"
    argv = [sys.executable, "-c", code, str(run / "latest.pt")]
    proc = subprocess.run(argv, cwd=repo_root, capture_output=True, text=True)
    assert proc.returncode == 9, proc.stderr
    left = [p.name for p in run.iterdir()]
    assert len(left) == 1 and left[0] != "latest.pt"
    assert PARTIAL_CHECKPOINT.match(left[0])["name"] == "latest.pt"
    assert [p.name for p in remove_stale_partials(run)] == left and not any(run.iterdir())


def test_next_start_of_a_killed_run_removes_its_partials(synth_root, tmp_path, caplog):
    """The state a SIGKILL during a save leaves (a complete latest.pt and the mkstemp partial of
    the next save) is cleaned by the Trainer of the next start, which then resumes normally."""
    import tempfile

    from frrn_seg_training.trainer import Trainer

    overrides = [f"data.root={synth_root}", "data.dataset=synthetic", "data.workers=0", "data.downsample=4",
                 "train.batch_size=2", "train.iterations=2", "data.limit_val=1", "train.log_images=0"]
    cfg = load_recipe("frrn_a_cityscapes", ["protocol=paper", *overrides])
    first = Trainer(cfg, tmp_path, device="cpu", show_progress=False)
    first.fit(max_iters=1)
    fd, partial = tempfile.mkstemp(dir=tmp_path, prefix=".latest.pt.", suffix=".tmp")
    with open(fd, "wb") as f:
        torch.save(first.state_dict(), f)
        f.truncate(1000)  # cut mid-write
    with caplog.at_level(logging.WARNING, logger="frrn_seg_training.state"):
        second = Trainer(cfg, tmp_path, device="cpu", resume=tmp_path / "latest.pt", show_progress=False)
    assert not any(p.name.endswith(".tmp") for p in tmp_path.iterdir())
    assert "partial checkpoint of a killed run" in caplog.text and partial in caplog.text
    second.fit()
    assert second.iteration == 2
