"""ONNX Runtime provider selection for a device and precision (pure function, fake provider lists)."""

from __future__ import annotations

import pytest
import torch

from frrn_seg_ros.core.onnx_model import _autocast_precision, choose_providers, default_trt_cache_dir

ALL = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
CUDA_ONLY = ["CUDAExecutionProvider", "CPUExecutionProvider"]


def names(plan):
    return [name for name, _ in plan]


def test_cpu_device_uses_only_the_cpu_provider_even_with_cuda_installed():
    assert choose_providers(device="cpu", available=ALL) == [("CPUExecutionProvider", {})]
    assert choose_providers(device=torch.device("cpu"), available=CUDA_ONLY) == [("CPUExecutionProvider", {})]


def test_cuda_index_goes_to_cuda_and_tensorrt(tmp_path):
    plan = dict(choose_providers(device="cuda:2", available=ALL, trt_cache_dir=tmp_path))
    assert list(plan) == ALL
    assert plan["CUDAExecutionProvider"] == {"device_id": "2"}
    trt = plan["TensorrtExecutionProvider"]
    assert trt["device_id"] == "2" and trt["trt_fp16_enable"] == "False"
    assert trt["trt_engine_cache_enable"] == "True" and trt["trt_engine_cache_path"] == str(tmp_path)
    assert trt["trt_timing_cache_path"] == str(tmp_path)
    assert plan["CPUExecutionProvider"] == {}
    assert dict(choose_providers(device="cuda", available=CUDA_ONLY))["CUDAExecutionProvider"] == {
        "device_id": "0"
    }


def test_fp16_enables_tensorrt_fp16_and_the_cache_dir_defaults(monkeypatch, tmp_path):
    monkeypatch.setenv("FRRN_SEG_TRT_CACHE", str(tmp_path / "trt"))
    assert default_trt_cache_dir() == tmp_path / "trt"
    trt = dict(choose_providers(device="cuda:0", precision="fp16", available=ALL))[
        "TensorrtExecutionProvider"
    ]
    assert trt["trt_fp16_enable"] == "True" and trt["trt_engine_cache_path"] == str(tmp_path / "trt")
    monkeypatch.delenv("FRRN_SEG_TRT_CACHE")
    assert default_trt_cache_dir().parts[-3:] == (".cache", "frrn_seg_ros", "trt")


def test_auto_prefers_gpu_providers_and_falls_back_to_cpu():
    assert names(choose_providers(device="auto", available=ALL)) == ALL
    assert names(choose_providers(available=["AzureExecutionProvider", "CPUExecutionProvider"])) == [
        "CPUExecutionProvider"
    ]
    assert names(choose_providers(available=[])) == ["CPUExecutionProvider"]


def test_explicit_list_is_kept_and_checked():
    plan = choose_providers(["CUDAExecutionProvider"], device="cuda:1", available=CUDA_ONLY)
    assert plan == [("CUDAExecutionProvider", {"device_id": "1"})]
    with pytest.raises(ValueError, match="not installed"):
        choose_providers(["TensorrtExecutionProvider"], available=CUDA_ONLY)


def test_precision_is_read_from_the_autocast_region():
    cpu = torch.device("cpu")
    assert _autocast_precision(cpu) == "fp32"
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert _autocast_precision(cpu) == "bf16"
