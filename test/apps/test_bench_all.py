"""frrn_seg_bench_all on the tiniest configuration: one small model, tiny input, few iterations, no node."""

from __future__ import annotations

import json

import torch

from frrn_seg_ros.bench import deployment as bench_all
from frrn_seg_ros.bench.ort_fp16 import ort_skip_reason


def test_bench_all_smoke_writes_json_and_markdown(tmp_path):
    out = tmp_path / "results"
    # One case (each runs in a fresh process): ONNX Runtime, the backend with device-dependent set-up.
    argv = ["--models", "frrn_a", "--sizes", "32x64", "--backends", "onnxruntime", "--device", "cpu"]
    argv += ["--precisions", "fp32,fp16", "--warmup", "1", "--iters", "1", "--no-node", "--out", str(out)]
    assert bench_all.main([*argv, "--name", "smoke", "--note", "smoke test"]) == 0
    report = json.loads((out / "smoke.json").read_text())
    env = report["environment"]
    assert env["device"] and env["device_slug"].startswith("cpu-") and env["note"] == "smoke test"
    [case] = report["cases"]  # fp16 is skipped on the CPU, with a note
    assert "error" not in case, case
    assert (case["backend"], case["model"], case["size"], case["precision"]) == (
        "onnxruntime",
        "frrn_a",
        "32x64",
        "fp32",
    )
    assert case["iters"] == 3 and 0 < case["p50_ms"] <= case["p99_ms"] and case["fps"] > 0
    assert case["peak_mem_kind"] == "process RSS growth"
    assert case["providers"] == ["CPUExecutionProvider"]
    assert any("fp16 skipped on CPU" in note for note in report["notes"])
    assert report["node"]["skipped"].startswith("disabled")
    md = (out / "smoke.md").read_text()
    assert env["device"] in md and "peak counts" in md and "fp16 skipped on CPU" in md
    rows = [line for line in md.splitlines() if line.startswith("| frrn_a | 32x64 |")]
    assert len(rows) == 1 and rows[0].startswith("| frrn_a | 32x64 | fp32 | onnxruntime |")
    assert rows[0].rstrip(" |").endswith("process RSS growth | 3")


def test_onnxruntime_precisions():
    cpu, cuda = torch.device("cpu"), torch.device("cuda", 0)
    assert ort_skip_reason(cpu, "fp32") is None
    assert "CPU" in ort_skip_reason(cpu, "fp16")
    assert "fp32 or fp16" in ort_skip_reason(cuda, "bf16")
