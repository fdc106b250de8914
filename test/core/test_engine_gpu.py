"""The CUDA path gives the CPU path's results (run with ``-m gpu`` on a GPU machine).

Also: every encoding converts on the device as on the CPU; fp16/bf16 labels of a trained demo
checkpoint agree with fp32; the device part of a call never waits for the host; the fast path
(CUDA graphs, torch.compile) gives the eager labels and falls back per shape when it cannot capture.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from test_engine_convert import mosaic, pack_yuv422, smooth_rgb
from test_engine_fakes import NUM_CLASSES, PixelModel, TinyConvNet, class_image, make_meta

from frrn_seg_ros.core.encodings import ENCODINGS, encoding_info
from frrn_seg_ros.core.engine import (
    EngineConfig,
    Frame,
    OutputRequest,
    SegmentationEngine,
    check_frame,
    to_rgb,
)
from frrn_seg_ros.core.engine.convert import upload
from frrn_seg_ros.core.engine.postprocess import to_host
from frrn_seg_ros.core.engine.timing import StageTimer

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


def block_classes() -> np.ndarray:
    """``(96, 64)`` class ids in 4x4 blocks."""
    return np.kron(np.random.default_rng(0).integers(0, NUM_CLASSES, (24, 16)), np.ones((4, 4), int))


@pytest.mark.parametrize(("mode", "size"), [("resize", None), ("letterbox", (96, 96))])
def test_geometry_is_exact_on_cuda(mode, size) -> None:
    """No resampling (the frame's own size, or only a letterbox border): the classes exactly."""
    classes = block_classes()
    cpu, gpu = engines(PixelModel, input_size=size, resize_mode=mode)
    frame = [Frame(class_image(classes), "rgb8")]
    on_gpu = gpu.segment(frame, ALL)[0]
    assert np.array_equal(on_gpu.labels, classes)
    on_cpu = cpu.segment(frame, ALL)[0]
    for name in ("color", "overlay"):
        assert np.array_equal(getattr(on_gpu, name), getattr(on_cpu, name))
    assert np.abs(on_gpu.confidence.astype(int) - on_cpu.confidence.astype(int)).max() <= 1


@pytest.mark.parametrize(("mode", "size"), [("resize", (48, 32)), ("letterbox", (48, 80))])
def test_shrinking_on_cuda_gives_the_device_path_on_the_cpu(mode, size) -> None:
    """Shrinking filters differ by design: the device path as training's PIL resize (antialiased
    bilinear, which blends neighbouring blocks), the CPU path with a box filter (``INTER_AREA``).
    So CUDA is compared with the device path's own operations run on the CPU."""
    classes = block_classes()
    cpu, gpu = engines(PixelModel, input_size=size, resize_mode=mode)
    frame = Frame(class_image(classes), "rgb8")
    on_gpu = gpu.segment([frame], ALL)[0]
    timer = StageTimer(cpu.device)
    timer.start()
    with torch.inference_mode():
        ref = cpu._run_group([check_frame(frame, 1 << 30)], "rgb8", ALL, timer)[0]
    same = on_gpu.labels == ref["labels"]
    assert same.mean() >= 0.995  # the rest: ties between two classes within float rounding
    assert (on_gpu.labels != classes).mean() > 0.1  # the blend did reach the labels
    assert np.array_equal(on_gpu.color, gpu.palette[on_gpu.labels])
    for name in ("overlay", "confidence"):
        diff = np.abs(getattr(on_gpu, name).astype(int) - ref[name].astype(int))
        assert diff[same].max() <= 1, name


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


# ---------------------------------------------------------------------------------------------- encodings
def random_frame(encoding: str, height: int = 37, width: int = 58, seed: int = 0) -> Frame:
    """Random bytes of ``encoding``'s dtype and channels: every value a camera could send."""
    info = encoding_info(encoding)
    rng = np.random.default_rng(seed)
    dtype = np.dtype(info.dtype)
    data = rng.integers(0, np.iinfo(dtype).max + 1, (height, width, info.channels), dtype=dtype)
    return Frame(data[..., 0] if info.channels == 1 else data, encoding)


@pytest.mark.parametrize("encoding", sorted(ENCODINGS))
def test_every_encoding_converts_on_cuda_like_on_cpu(encoding: str) -> None:
    frames = [random_frame(encoding, seed=seed) for seed in range(2)]
    arrays = [check_frame(f, 1 << 30) for f in frames]
    on_cpu = to_rgb(upload(arrays, torch.device("cpu")), encoding)
    on_gpu = to_rgb(upload(arrays, torch.device("cuda")), encoding)
    assert on_gpu.dtype == torch.uint8 and on_gpu.shape == on_cpu.shape == (2, 3, 37, 58)
    diff = (on_gpu.cpu().to(torch.int16) - on_cpu.to(torch.int16)).abs()
    assert int(diff.max()) <= 1  # float conversions (YUV, Bayer) may round a .5 the other way
    assert float((diff == 0).float().mean()) >= 0.999


# ------------------------------------------------------------------------------ no host round trip
@pytest.mark.parametrize("encoding", ["rgb8", "bgra8", "mono16", "yuv422", "yuv422_yuy2", "bayer_rggb8"])
def test_device_part_never_waits_for_the_host(encoding: str) -> None:
    """Upload -> conversion -> preprocessing -> model -> postprocessing -> download: no sync."""
    engine = SegmentationEngine(TinyConvNet(), make_meta(), EngineConfig(
        device="cuda", precision="fp16", warmup_iters=0, input_size=(48, 64), resize_mode="letterbox"))
    frames = [random_frame(encoding, seed=seed) for seed in range(2)]
    expected = engine.segment(frames, ALL)  # first call: lazy initialisation, cached Bayer kernels
    arrays = [check_frame(f, 1 << 30) for f in frames]
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        with torch.inference_mode():
            on_device = engine._on_device(upload(arrays, engine.device), encoding, ALL, None)
            host = to_host(on_device)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert sorted(on_device) == ["color", "confidence", "labels", "overlay"]
    assert all(t.device.type == "cuda" and t.dtype == torch.uint8 for t in on_device.values())
    torch.cuda.synchronize()
    assert np.array_equal(host["labels"].numpy(), np.stack([r.labels for r in expected]))


# ------------------------------------------------------------------- precisions on a trained model
def train_demo_checkpoint(root: Path, device: str, iterations: int) -> Path:
    """The demo's recipe and synthetic scenes, trained for ``iterations`` on ``device``."""
    from frrn_seg_ros.demo.steps import DemoConfig, ensure_data, training_config
    from frrn_seg_training.export_checkpoint import export_checkpoint
    from frrn_seg_training.trainer import Trainer

    cfg = DemoConfig(iters=iterations, frames=8)
    data = ensure_data(cfg, root).path
    trainer = Trainer(training_config(cfg, data), root / "run", device=device, show_progress=False)
    trainer.fit()
    export_checkpoint(root / "run" / "best.pt", root / "model.safetensors")
    return root / "model.safetensors"


@pytest.fixture(scope="module")
def trained_checkpoint(tmp_path_factory) -> Path:
    logging.getLogger("frrn_seg_training").setLevel(logging.WARNING)
    return train_demo_checkpoint(tmp_path_factory.mktemp("demo"), "cuda", iterations=400)


def demo_scenes(count: int = 12, size: tuple[int, int] = (128, 256)) -> tuple[list, list]:
    """Fresh synthetic scenes (not the training ones): ``(H, W, 3)`` RGB and ``(H, W)`` labelIds."""
    from frrn_seg_training.synthetic import render_scene

    rng = np.random.default_rng(1234)
    scenes = [render_scene(rng, *size) for _ in range(count)]
    return [s[0] for s in scenes], [s[1] for s in scenes]


@pytest.mark.parametrize("precision", ["fp16", "bf16"])
def test_low_precision_labels_agree_with_fp32_on_a_trained_checkpoint(trained_checkpoint, precision) -> None:
    from frrn_seg_ros.core.labels import cityscapes_label_ids_to_train_ids

    images, label_ids = demo_scenes()
    frames = [Frame(image, "rgb8") for image in images]
    results = {}
    for name in ("fp32", precision):
        config = EngineConfig(device="cuda", precision=name, warmup_iters=1)
        engine = SegmentationEngine.from_checkpoint(trained_checkpoint, config)
        results[name] = np.stack([r.labels for r in engine.segment(frames, OutputRequest(color=False))])
    train_ids = np.stack([cityscapes_label_ids_to_train_ids(ids) for ids in label_ids])
    valid = train_ids != 255
    assert (results["fp32"] == train_ids)[valid].mean() > 0.8  # it is trained: agreement means something
    agreement = float((results[precision] == results["fp32"]).mean())
    print(f"{precision} vs fp32 label agreement: {agreement:.5f}")
    assert agreement >= 0.995


# --------------------------------------------------------------------------------------- fast path
@pytest.mark.parametrize("encoding", ["rgb8", "bgr8", "mono16", "yuv422", "bayer_grbg8"])
def test_cuda_graphs_give_the_eager_results(encoding: str) -> None:
    config = {"device": "cuda", "precision": "fp16", "warmup_iters": 0, "input_size": (48, 64)}
    eager = SegmentationEngine(TinyConvNet(), make_meta(), EngineConfig(**config))
    graphed = SegmentationEngine(TinyConvNet(), make_meta(), EngineConfig(cuda_graphs=True, **config))
    for seed in range(3):  # the first call captures, the next ones replay with new data
        frames = [random_frame(encoding, seed=seed), random_frame(encoding, seed=seed + 10)]
        for a, b in zip(eager.segment(frames, ALL), graphed.segment(frames, ALL), strict=True):
            assert (a.labels == b.labels).mean() >= 0.999
            assert np.abs(a.overlay.astype(int) - b.overlay.astype(int)).max() <= 1
    status = graphed.inference_path
    assert status["path"] == "cuda_graphs" and status["graphs"] == 1 and status["eager_shapes"] == 0, status
    logits = graphed.infer(torch.randn(2, 3, 48, 64, device="cuda"))  # the model alone, graphed too
    assert logits.shape == (2, NUM_CLASSES, 48, 64) and graphed.inference_path["graphs"] == 2


class SyncingModel(TinyConvNet):
    """Reads a value back to the host in forward: cannot be captured in a CUDA graph."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if float(x.amax()) > 1e9:
            raise AssertionError("unreachable")
        return super().forward(x)


def test_a_shape_that_cannot_be_captured_runs_eagerly_with_a_warning(caplog) -> None:
    image = np.random.default_rng(3).integers(0, 256, (40, 60, 3), dtype=np.uint8)
    engine = SegmentationEngine(SyncingModel(), make_meta(), EngineConfig(device="cuda", warmup_iters=0,
                                                                          cuda_graphs=True))
    reference = SegmentationEngine(TinyConvNet(), make_meta(), EngineConfig(device="cuda", warmup_iters=0))
    with caplog.at_level(logging.WARNING, logger="frrn_seg_ros.core.engine.fast_path"):
        for _ in range(2):
            assert (engine.segment_rgb(image).labels == reference.segment_rgb(image).labels).mean() >= 0.999
    status = engine.inference_path
    assert status["graphs"] == 0 and status["eager_shapes"] == 1 and "capture failed" in status["reason"]
    assert caplog.text.count("capture failed") == 1


def test_compile_and_cuda_graphs_on_the_trained_checkpoint_agree_with_eager(trained_checkpoint) -> None:
    frames = [Frame(image, "rgb8") for image in demo_scenes(count=4)[0]]
    config = {"device": "cuda", "precision": "fp16", "warmup_iters": 0}
    eager = SegmentationEngine.from_checkpoint(trained_checkpoint, EngineConfig(**config))
    fast_config = EngineConfig(compile=True, cuda_graphs=True, **config)
    fast = SegmentationEngine.from_checkpoint(trained_checkpoint, fast_config)
    for _ in range(2):  # capture (and compile), then replay
        a = np.stack([r.labels for r in eager.segment(frames)])
        b = np.stack([r.labels for r in fast.segment(frames)])
        assert (a == b).mean() >= 0.995
    assert fast.inference_path["path"] == "compile+cuda_graphs", fast.inference_path
    assert fast.inference_path["graphs"] == 1 and fast.inference_path["eager_shapes"] == 0
