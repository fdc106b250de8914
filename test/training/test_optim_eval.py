"""Learning-rate schedules (FRRN step, CSRNet cosine with the backbone floor kept at the 4x ratio)
and the evaluation command's defaults (input subsampling per architecture, Cityscapes-only PNGs)."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn

from frrn_seg_training.evaluate import default_downsample
from frrn_seg_training.evaluate import main as eval_main
from frrn_seg_training.optim import build_optimizer, build_scheduler


class _WithBackbone(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.backbone = nn.Linear(2, 2)
        self.head = nn.Linear(2, 2)


def _lrs_over(optimizer: torch.optim.Optimizer, scheduler, steps: int) -> list[list[float]]:
    """``[[lr of each group]]`` before the first step and after each of ``steps`` steps."""
    out = [[g["lr"] for g in optimizer.param_groups]]
    for _ in range(steps):
        optimizer.step()
        scheduler.step()
        out.append([g["lr"] for g in optimizer.param_groups])
    return out


def test_cosine_ends_at_min_lr_for_head_and_keeps_backbone_ratio():
    optim_cfg = {"lr": 4e-4, "weight_decay": 1e-4, "backbone_lr_factor": 0.25, "backbone_wd_factor": 0.25}
    optimizer = build_optimizer(_WithBackbone(), optim_cfg)
    assert [g["name"] for g in optimizer.param_groups] == ["head", "backbone"]
    assert [g["weight_decay"] for g in optimizer.param_groups] == pytest.approx([1e-4, 2.5e-5])
    scheduler = build_scheduler(optimizer, {"name": "cosine", "min_lr": 1e-6}, 4e-4, total_iterations=10)
    lrs = _lrs_over(optimizer, scheduler, 12)
    assert lrs[0] == pytest.approx([4e-4, 1e-4])
    assert lrs[5][0] == pytest.approx(1e-6 + (4e-4 - 1e-6) * 0.5)  # half way: cos(pi/2) = 0
    assert lrs[10] == pytest.approx([1e-6, 2.5e-7]) and lrs[12] == lrs[10]  # floor, then flat
    assert all(b == pytest.approx(0.25 * h) for h, b in lrs)
    assert all(a[0] >= b[0] for a, b in itertools.pairwise(lrs))  # monotone


def test_step_schedule_drops_once():
    optimizer = build_optimizer(nn.Linear(2, 2), {"lr": 1e-3})
    assert len(optimizer.param_groups) == 1
    scheduler = build_scheduler(optimizer, {"name": "step", "step_at": 3, "gamma": 0.1}, 1e-3, 10)
    assert [g[0] for g in _lrs_over(optimizer, scheduler, 5)] == pytest.approx(
        [1e-3, 1e-3, 1e-3, 1e-4, 1e-4, 1e-4]
    )


def test_default_downsample_per_architecture_and_recipe():
    assert default_downsample("frrn_a")[0] == 4
    assert default_downsample("frrn_b", {})[0] == 2
    assert default_downsample("csrnet_heavy", {"recipe": "csrnet_heavy_cityscapes"})[0] == 1
    value, source = default_downsample("frrn_a", {"input_downsample": 2, "recipe": "custom_frrn"})
    assert value == 2 and "custom_frrn" in source  # what training used wins over the paper default


@pytest.mark.parametrize("dataset", ["camvid", "camvid_color"])
def test_write_predictions_refused_for_camvid(dataset, capsys):
    argv = ["--checkpoint", "missing.pt", "--dataset", dataset, "--write-predictions", "out"]
    with pytest.raises(SystemExit) as exc:
        eval_main(argv)
    assert exc.value.code == 2
    assert f"cannot be used with --dataset {dataset}" in capsys.readouterr().err


def test_evaluate_scales_inputs_with_the_checkpoint_mean_and_std(synth_root, tmp_path):
    """A checkpoint whose mean/std differ from its architecture's default is scored as it was
    trained: with its own scaling (the command once used the architecture's). The prediction
    PNGs the command writes are compared with those of either scaling."""
    import dataclasses

    import numpy as np
    from PIL import Image

    from frrn_seg_ros.core.checkpoint import default_meta, save_checkpoint
    from frrn_seg_ros.core.models import architecture_info, build_model
    from frrn_seg_training.datasets import build_dataset
    from frrn_seg_training.evaluate import write_predictions
    from frrn_seg_training.sample_pipeline import PipelineConfig, SamplePipeline

    torch.manual_seed(0)
    model = build_model("csrnet_light", num_classes=19).eval()
    info = architecture_info("csrnet_light")
    meta = dataclasses.replace(default_meta("csrnet_light"), mean=(0.9, 0.1, 0.5), std=(0.05, 0.5, 0.02))
    assert meta.mean != info.mean and meta.std != info.std
    path = save_checkpoint(tmp_path / "scaled.pt", model.state_dict(), meta)

    def predictions(folder) -> list[np.ndarray]:
        return [np.asarray(Image.open(p)) for p in sorted(folder.iterdir())]

    def predict(mean, std, folder) -> list[np.ndarray]:
        pipeline = SamplePipeline(PipelineConfig(kind="frrn", downsample=1, mean=mean, std=std))
        dataset = build_dataset("synthetic", synth_root, "val", pipeline, train=False)
        write_predictions(model, dataset, folder, torch.device("cpu"), info.size_divisor)
        return predictions(folder)

    own = predict(meta.mean, meta.std, tmp_path / "own")
    default = predict(info.mean, info.std, tmp_path / "default")
    assert any((a != b).any() for a, b in zip(own, default, strict=True))  # the test can tell them apart
    argv = ["--checkpoint", str(path), "--dataset", "synthetic", "--data-root", str(synth_root)]
    argv += ["--split", "val", "--downsample", "1", "--write-predictions", str(tmp_path / "cli")]
    assert eval_main(argv) == 0
    written = predictions(tmp_path / "cli")
    assert len(written) == len(own) == 2
    for ours, expected in zip(written, own, strict=True):
        np.testing.assert_array_equal(ours, expected)
