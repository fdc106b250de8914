"""``model.backend: auto`` on a CPU: a checkpoint runs through ONNX Runtime, exported once and cached."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from frrn_seg_ros.core.checkpoint import default_meta, file_sha256, save_checkpoint
from frrn_seg_ros.core.engine import EngineConfig, OutputRequest, SegmentationEngine
from frrn_seg_ros.core.models import build_model
from frrn_seg_ros.core.ort_cache import ORT_CACHE_ENV, cache_name

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

HW = (32, 64)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    model = build_model("csrnet_light", num_classes=19).eval()
    return save_checkpoint(tmp_path_factory.mktemp("ckpt") / "m.safetensors", model.state_dict(),
                           default_meta("csrnet_light"))


def config(**overrides) -> EngineConfig:
    return EngineConfig(**{"device": "cpu", "input_size": HW, "warmup_iters": 1, **overrides})


def image(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (48, 80, 3)).astype(np.uint8)


def test_auto_exports_once_caches_by_key_and_matches_pytorch(checkpoint, tmp_path, monkeypatch, caplog):
    import onnxruntime as ort

    cache = tmp_path / "cache"
    monkeypatch.setenv(ORT_CACHE_ENV, str(cache))
    caplog.set_level(logging.INFO)
    engine = SegmentationEngine.from_file(checkpoint, config(), backend="auto")
    assert engine.backend_info["backend"] == "onnxruntime"
    name = cache_name(file_sha256(checkpoint), HW, 18, ort.__version__)
    assert sorted(p.name for p in cache.iterdir()) == [name]  # no temporary file left behind
    assert engine.backend_info[f"onnx_{HW[0]}x{HW[1]}"].endswith(name)
    mtime = (cache / name).stat().st_mtime_ns

    torch_engine = SegmentationEngine.from_file(checkpoint, config(), backend="torch")
    assert torch_engine.backend_info == {"backend": "pytorch"}
    outputs = OutputRequest(confidence=True)
    for seed in range(2):
        ours, ref = engine.segment_rgb(image(seed), outputs), torch_engine.segment_rgb(image(seed), outputs)
        assert (ours.labels == ref.labels).mean() >= 0.999
        assert np.abs(ours.confidence.astype(int) - ref.confidence.astype(int)).max() <= 1

    caplog.clear()
    again = SegmentationEngine.from_file(checkpoint, config(), backend="auto")
    assert again.backend_info["backend"] == "onnxruntime"
    assert (cache / name).stat().st_mtime_ns == mtime  # reused, not re-exported
    assert "cached export" in caplog.text


def test_auto_falls_back_to_pytorch_and_says_why(checkpoint, tmp_path, monkeypatch, caplog):
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("a file where the cache folder should be")
    monkeypatch.setenv(ORT_CACHE_ENV, str(blocker))
    caplog.set_level(logging.WARNING)
    engine = SegmentationEngine.from_file(checkpoint, config(), backend="auto")
    info = engine.backend_info
    assert info["backend"] == "pytorch"
    assert "Error" in info[f"backend_fallback_{HW[0]}x{HW[1]}"]
    assert "using PyTorch" in caplog.text
    ref = SegmentationEngine.from_file(checkpoint, config(), backend="torch").segment_rgb(image())
    np.testing.assert_array_equal(engine.segment_rgb(image()).labels, ref.labels)


def test_auto_keeps_pytorch_for_bf16(checkpoint, tmp_path, monkeypatch):
    monkeypatch.setenv(ORT_CACHE_ENV, str(tmp_path / "cache"))
    engine = SegmentationEngine.from_file(checkpoint, config(precision="bf16"), backend="auto")
    assert engine.backend_info == {"backend": "pytorch"}
    assert not (tmp_path / "cache").exists()


def test_threads_is_validated():
    with pytest.raises(ValueError, match="threads"):
        EngineConfig(threads=-1).validate()
