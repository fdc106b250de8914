"""An imported authors' checkpoint runs wherever a checkpoint runs: replay_eval, frrn_seg_training.evaluate,
ONNX export with its parity check, each at the resolution the weights were trained at."""

from __future__ import annotations

import json

import numpy as np
import pytest
from frrn_lasagne_reference import random_arrays

from frrn_seg_ros.cli import export
from frrn_seg_ros.cli.import_weights import main as import_main
from frrn_seg_ros.core.model_export import read_onnx_meta
from frrn_seg_ros.replay import evaluate as replay_eval
from frrn_seg_ros.replay import make_bag


@pytest.fixture(scope="module")
def imported_frrn_a(tmp_path_factory):
    root = tmp_path_factory.mktemp("imported")
    np.savez(root / "frrn_a.npz", *random_arrays("frrn_a", seed=21))
    out = root / "frrn_a.safetensors"
    argv = ["--format", "frrn-lasagne", "--arch", "frrn_a", "--input", str(root / "frrn_a.npz")]
    assert import_main([*argv, "--output", str(out)]) == 0
    return out


def test_replay_eval_runs_the_import(imported_frrn_a, synthetic_root, tmp_path) -> None:
    bag = tmp_path / "bag"
    assert make_bag.main(["--cityscapes", str(synthetic_root), "--out", str(bag), "--limit", "2"]) == 0
    out = tmp_path / "eval"
    argv = ["--bag", str(bag), "--checkpoint", str(imported_frrn_a), "--mode", "engine", "--device", "cpu"]
    assert replay_eval.main([*argv, "--warmup", "0", "--out", str(out), "--no-progress"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["frames"]["processed"] == 2 and report["frames"]["with_ground_truth"] == 2
    assert 0.0 <= report["metrics"]["miou"] <= 1.0


def test_training_evaluate_uses_the_trained_subsampling(imported_frrn_a, synthetic_root, capsys) -> None:
    from frrn_seg_training import evaluate

    argv = [
        "--checkpoint",
        str(imported_frrn_a),
        "--dataset",
        "cityscapes",
        "--data-root",
        str(synthetic_root),
    ]
    assert evaluate.main([*argv, "--split", "val"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["input_downsample"] == 4
    assert 0.0 <= result["miou"] <= 1.0


def test_onnx_export_of_the_import_passes_its_parity_check(imported_frrn_a, tmp_path, capsys) -> None:
    onnx_path = tmp_path / "frrn_a.onnx"
    argv = ["--checkpoint", str(imported_frrn_a), "--onnx", str(onnx_path), "--size", "64x128", "--verify"]
    assert export.main(argv) == 0, capsys.readouterr().out
    assert ": OK" in capsys.readouterr().out
    meta, _ = read_onnx_meta(onnx_path)
    assert meta.provenance["source_format"] == "frrn-lasagne" and meta.provenance["input_downsample"] == 4
