"""The GPU check (benchmarks/gpu_check.sh) in its CPU dry-run mode, so that it cannot rot unseen."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from frrn_seg_ros.bench import gpu as bench_gpu
from frrn_seg_ros.bench.gpu_report import HEADLINE_CASES, evaluate_targets


def test_gpu_check_script_dry_run_on_the_cpu(repo_root, tmp_path) -> None:
    out = tmp_path / "out"
    argv = [
        "--cpu-dry-run",
        "--models",
        "csrnet_light",
        "--sizes",
        "32x64",
        "--precisions",
        "fp32,bf16",
        "--batches",
        "1,2",
        "--case-s",
        "0",
        "--budget-s",
        "240",
    ]
    env = {**os.environ, "OUT": str(out), "PYTHON": sys.executable, "FRRN_GIT_COMMIT": "0123abc"}
    done = subprocess.run(
        ["bash", str(repo_root / "benchmarks" / "gpu_check.sh"), *argv],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads((out / "gpu_check.json").read_text())
    env_record = report["environment"]
    assert env_record["cpu_dry_run"] is True and env_record["torch"]
    assert env_record["git_commit"] == "0123abc"  # the caller's commit wins over the tree's .git
    assert "node benchmark" in env_record["ros"]
    tests = report["tests"]  # pytest -m gpu ran on the GPU test files: all skipped without CUDA
    assert tests["returncode"] == 0 and "skipped" in tests["summary"] and (out / "gpu_pytest.log").is_file()
    cases, skipped = report["cases"], report["skipped"]
    assert len(cases) + len(skipped) == 8 and cases, (cases, skipped)  # 2 precisions x 2 batches x 2 paths
    first = cases[0]
    assert "error" not in first, first
    assert (
        first["e2e_calls"] >= 3 and first["e2e_p50_ms"] > 0 and first["fps"] > 0 and first["model_p50_ms"] > 0
    )
    assert set(first["stages_ms"]) >= {"convert", "preprocess", "inference", "postprocess", "total"}
    graphs = [c for c in cases if c["path"] == "graphs"]
    for case in graphs:  # no CUDA: the fast path falls back to eager and says why
        assert case["active_path"] == "eager" and "needs a CUDA device" in case["path_reason"]
    assert [t["status"] for t in report["targets"]] == ["not measured"] * 3
    md = (out / "gpu_check.md").read_text()
    assert "## Targets" in md and "| csrnet_light | 32x64 | fp32 | 1 | eager |" in md
    assert "[NOT MEASURED] csrnet_light 1024x2048 fp16 batch 1" in done.stdout
    assert "results:" in done.stdout and str(out / "gpu_check.json") in done.stdout


def test_targets_are_judged_on_the_best_measured_path() -> None:
    def case(model, size, path, fps=None, e2e=None, model_ms=None):
        e2e = e2e if e2e is not None else 1e3 / fps
        return {
            "model": model,
            "size": size,
            "precision": "fp16",
            "batch": 1,
            "path": path,
            "active_path": path,
            "fps": 1e3 / e2e,
            "e2e_mean_ms": e2e,
            "model_mean_ms": model_ms or e2e,
            "engine_minus_model_ms": e2e - (model_ms or e2e),
        }

    cases = [
        case("csrnet_light", "1024x2048", "eager", e2e=4.0, model_ms=2.5),
        case("csrnet_light", "1024x2048", "cuda_graphs", e2e=2.4, model_ms=2.0),
        case("frrn_b", "512x1024", "eager", e2e=12.0),
    ]
    speed, frrn_b, overhead = evaluate_targets(cases, dry_run=False)
    assert (speed["status"], speed["value"], speed["path"]) == ("met", "417 FPS", "cuda_graphs")
    assert frrn_b["status"] == "not met" and frrn_b["value"].startswith("12.00 ms")
    assert overhead["status"] == "met" and overhead["value"].startswith("0.40 ms (csrnet_light")
    assert HEADLINE_CASES[0] == ("csrnet_light", "1024x2048", "fp16", 1)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--sizes", "12by3"], "12by3"),
        (["--models", "nope"], "nope"),
        (["--precisions", "fp8"], "fp8"),
    ],
)
def test_bad_arguments_end_in_one_line_and_exit_2(argv, message, capsys, tmp_path) -> None:
    assert bench_gpu.main(["--cpu-dry-run", "--out", str(tmp_path), *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err and err.startswith("frrn_seg_bench_gpu: error:")
