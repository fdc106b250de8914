"""The fast path on a CPU: which path runs and why, its log line, the fallbacks, torch.compile's labels.

CUDA graphs themselves are checked in test_engine_gpu.py (``-m gpu``).
"""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
from test_engine_fakes import NUM_CLASSES, PixelModel, TinyConvNet, class_image, make_meta

from frrn_seg_ros.core.engine import EngineConfig, Frame, OutputRequest, SegmentationEngine, fast_path
from frrn_seg_ros.core.engine.fast_path import FastPath
from frrn_seg_ros.core.models.batchnorm_folding import fold_batchnorm

FAILING_BACKEND = "frrn_seg_test_failing_backend"


def cpu_engine(model=None, **config) -> SegmentationEngine:
    config.setdefault("warmup_iters", 0)
    return SegmentationEngine(model or PixelModel(), make_meta(), EngineConfig(device="cpu", **config))


def test_default_is_eager_and_says_nothing_was_requested(caplog) -> None:
    with caplog.at_level(logging.INFO, logger="frrn_seg_ros.core.engine.fast_path"):
        engine = cpu_engine()
    assert engine.inference_path == {"path": "eager", "reason": "requested nothing", "graphs": 0,
                                     "eager_shapes": 0, "batchnorm_folded": 0}
    assert "inference path: eager (requested nothing)" in caplog.text


def test_cuda_graphs_on_cpu_fall_back_to_eager_with_the_reason(caplog) -> None:
    classes = np.random.default_rng(0).integers(0, NUM_CLASSES, (24, 40))
    with caplog.at_level(logging.INFO, logger="frrn_seg_ros.core.engine.fast_path"):
        engine = cpu_engine(cuda_graphs=True)
    status = engine.inference_path
    assert status["path"] == "eager"
    assert "requested cuda_graphs" in status["reason"]
    assert "needs a CUDA device (device is cpu)" in status["reason"]
    assert "inference path: eager (requested cuda_graphs; cuda_graphs needs a CUDA device" in caplog.text
    result = engine.segment([Frame(class_image(classes), "rgb8")], OutputRequest(confidence=True))[0]
    assert np.array_equal(result.labels, classes)  # and the eager path gives the right answer


@pytest.mark.parametrize("name", ["compile", "cuda_graphs"])
def test_engine_config_refuses_non_bool_flags(name: str) -> None:
    with pytest.raises(ValueError, match=rf"EngineConfig.{name}='yes': expected a bool"):
        EngineConfig(**{name: "yes"}).validate()


def test_run_without_graphs_calls_the_function_itself() -> None:
    path = FastPath(PixelModel(), torch.device("cpu"), compile=False, cuda_graphs=True)
    x = torch.arange(6.0)
    assert path.run("k", x, lambda t: t * 2).tolist() == (x * 2).tolist()
    assert path.status["graphs"] == 0


def test_infer_is_the_model_alone_under_the_engine_precision() -> None:
    engine = cpu_engine(TinyConvNet(), precision="bf16")
    x = torch.randn(2, 3, 16, 24)
    logits = engine.infer(x)
    assert logits.shape == (2, NUM_CLASSES, 16, 24)
    folded, count = fold_batchnorm(TinyConvNet().eval())  # the engine runs the folded model
    assert count == engine.inference_path["batchnorm_folded"] > 0
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        expected = folded(x)
    assert torch.allclose(logits.float(), expected.float(), atol=1e-6)


@pytest.fixture
def failing_backend():
    def backend(graph_module, example_inputs):
        raise RuntimeError("planted compiler failure")

    torch._dynamo.reset()
    torch._dynamo.register_backend(backend, name=FAILING_BACKEND)
    yield FAILING_BACKEND
    torch._dynamo.reset()


def test_a_compile_failure_falls_back_to_eager_with_a_warning(monkeypatch, failing_backend, caplog) -> None:
    monkeypatch.setattr(fast_path, "COMPILE_BACKEND", failing_backend)
    classes = np.random.default_rng(1).integers(0, NUM_CLASSES, (16, 32))
    engine = cpu_engine(compile=True)
    assert engine.inference_path["path"] == "compile"
    with caplog.at_level(logging.WARNING, logger="frrn_seg_ros.core.engine.fast_path"):
        result = engine.segment_rgb(class_image(classes))
    assert np.array_equal(result.labels, classes)
    status = engine.inference_path
    assert status["path"] == "eager"
    assert "compile failed at run time" in status["reason"] and "planted compiler failure" in status["reason"]
    assert "torch.compile failed, falling back to the eager model" in caplog.text


@pytest.mark.slow  # inductor compiles C++ on the CPU: 1.5 min on 2 busy cores
def test_torch_compile_on_cpu_gives_the_eager_labels() -> None:
    image = np.random.default_rng(2).integers(0, 256, (40, 56, 3), dtype=np.uint8)
    eager = cpu_engine(TinyConvNet())
    compiled = cpu_engine(TinyConvNet(), compile=True)
    a = eager.segment_rgb(image, OutputRequest(confidence=True))
    b = compiled.segment_rgb(image, OutputRequest(confidence=True))
    assert compiled.inference_path["path"] == "compile", compiled.inference_path["reason"]
    assert (a.labels == b.labels).mean() >= 0.999
    assert np.abs(a.confidence.astype(int) - b.confidence.astype(int)).max() <= 1
