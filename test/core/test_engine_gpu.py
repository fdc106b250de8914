"""The CUDA path gives the CPU path's results (run with ``-m gpu`` on a GPU machine)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_engine_convert import mosaic, pack_yuv422, smooth_rgb
from test_engine_fakes import NUM_CLASSES, PixelModel, TinyConvNet, class_image, make_meta

from frrn_seg_ros.core.engine import EngineConfig, Frame, OutputRequest, SegmentationEngine

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]
ALL = OutputRequest(color=True, overlay=True, confidence=True)


def engines(model_factory, **config):
    return tuple(
        SegmentationEngine(model_factory(), make_meta(), EngineConfig(device=d, warmup_iters=0, **config))
        for d in ("cpu", "cuda")
    )


def test_auto_picks_cuda_and_reports_memory() -> None:
    engine = SegmentationEngine(PixelModel(), make_meta(), EngineConfig(input_size=(64, 64)))
    assert engine.device.type == "cuda"
    stats = engine.memory_stats()
    assert stats["peak_allocated_mb"] >= stats["allocated_mb"] > 0


@pytest.mark.parametrize(("mode", "size"), [("resize", None), ("resize", (48, 32)), ("letterbox", (48, 80))])
def test_geometry_is_exact_on_cuda(mode, size) -> None:
    classes = np.kron(np.random.default_rng(0).integers(0, NUM_CLASSES, (24, 16)), np.ones((4, 4), int))
    cpu, gpu = engines(PixelModel, input_size=size, resize_mode=mode)
    frame = [Frame(class_image(classes), "rgb8")]
    on_gpu = gpu.segment(frame, ALL)[0]
    assert np.array_equal(on_gpu.labels, classes)
    on_cpu = cpu.segment(frame, ALL)[0]
    for name in ("color", "overlay"):
        assert np.array_equal(getattr(on_gpu, name), getattr(on_cpu, name))
    assert np.abs(on_gpu.confidence.astype(int) - on_cpu.confidence.astype(int)).max() <= 1


def test_every_encoding_converts_like_cpu() -> None:
    rgb = smooth_rgb()
    frames = [Frame(rgb[..., ::-1].copy(), "bgr8"), Frame(rgb[..., 0].astype(np.uint16) * 257, "mono16"),
              Frame(pack_yuv422(rgb, "uyvy"), "yuv422"), Frame(pack_yuv422(rgb, "yuyv"), "yuv422_yuy2"),
              Frame(mosaic(rgb, "GRBG"), "bayer_grbg8")]
    cpu, gpu = engines(PixelModel, overlay_alpha=0.0)
    for a, b in zip(cpu.segment(frames, ALL), gpu.segment(frames, ALL), strict=True):
        assert np.abs(a.overlay.astype(int) - b.overlay.astype(int)).max() <= 1


@pytest.mark.parametrize("precision", ["fp32", "fp16", "bf16"])
def test_precisions_agree_with_cpu_fp32(precision: str) -> None:
    image = np.random.default_rng(1).integers(0, 256, (61, 83, 3), dtype=np.uint8)
    cpu = SegmentationEngine(TinyConvNet(), make_meta(), EngineConfig(device="cpu", warmup_iters=0))
    gpu = SegmentationEngine(TinyConvNet(), make_meta(),
                             EngineConfig(device="cuda", precision=precision, warmup_iters=1))
    a, b = cpu.segment_rgb(image, ALL), gpu.segment_rgb(image, ALL)
    assert (a.labels == b.labels).mean() > (0.999 if precision == "fp32" else 0.9)
    assert set(b.timings_ms) == {"convert", "preprocess", "inference", "postprocess", "total"}
    assert b.timings_ms["inference"] > 0


@pytest.mark.parametrize("architecture", ["csrnet_light", "frrn_a"])
def test_real_models_on_cuda(architecture: str) -> None:
    config = EngineConfig(device="cuda", precision="fp16", warmup_iters=1, input_size=(256, 512))
    engine = SegmentationEngine.from_architecture(architecture, config)
    mono = Frame(np.zeros((97, 131), np.uint8), "mono8")
    frames = [Frame(np.zeros((375, 1242, 3), np.uint8), "rgb8")] * 2 + [mono]
    results = engine.segment(frames, ALL)
    assert [r.labels.shape for r in results] == [(375, 1242), (375, 1242), (97, 131)]
