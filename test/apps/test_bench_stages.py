"""frrn_seg_bench_models --stages: the per-stage table on a small camera frame."""

from __future__ import annotations

from frrn_seg_ros.bench import models as bench_models

TINY_HW = (64, 96)  # the fixed input of the tiny_onnx fixture (test/apps/conftest.py)


def test_stage_table_names_the_checkpoints_architecture(tiny_onnx, capsys):
    """The header names the model that ran (the checkpoint's frrn_a), not ``--models``' first entry."""
    size = f"{TINY_HW[0]}x{TINY_HW[1]}"
    argv = ["--stages", "--models", "csrnet_light", "--checkpoint", str(tiny_onnx), "--sizes", size,
            "--stage-frame", f"{2 * TINY_HW[0]}x{2 * TINY_HW[1]}", "--stage-encodings", "rgb8,yuv422",
            "--iters", "2", "--device", "cpu"]
    assert bench_models.main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    [header] = [line for line in lines if line.startswith("stages:")]
    assert header.startswith(f"stages: frrn_a network {size}, camera ")
    rows = {tuple(line.split()[:2]) for line in lines if line.split()[:1] in (["rgb8"], ["yuv422"])}
    assert rows == {("rgb8", "host"), ("rgb8", "torch"), ("yuv422", "host"), ("yuv422", "torch")}
