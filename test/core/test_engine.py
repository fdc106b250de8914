"""SegmentationEngine: configuration, devices/precision, outputs, batching, checkpoints, real models."""

from __future__ import annotations

import importlib
import logging

import numpy as np
import pytest
import torch
from test_engine_fakes import NUM_CLASSES, HugeMarginModel, PixelModel, TinyConvNet, class_image, make_meta

from frrn_seg_ros.core.checkpoint import CheckpointError, default_meta, save_checkpoint
from frrn_seg_ros.core.engine import (
    EngineConfig,
    Frame,
    OutputRequest,
    SegmentationEngine,
    SegmentationResult,
    resolve_device,
    resolve_precision,
)
from frrn_seg_ros.core.engine import postprocess as postprocess_module
from frrn_seg_ros.core.labels import CAMVID
from frrn_seg_ros.core.models import build_model

ALL = OutputRequest(color=True, overlay=True, confidence=True)
STAGES = {"convert", "preprocess", "inference", "postprocess", "total"}


def cpu_config(**kwargs) -> EngineConfig:
    return EngineConfig(**{"device": "cpu", "warmup_iters": 0, **kwargs})


def rgb_image(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


@pytest.mark.parametrize(
    ("field", "value"),
    [("device", "gpu"), ("device", "cuda:x"), ("precision", "fp8"), ("channels_last", 1),
     ("input_size", (0, 10)), ("input_size", (10,)), ("input_size", (10.5, 3)), ("resize_mode", "crop"),
     ("warmup_iters", -1), ("warmup_iters", 1.5), ("overlay_alpha", 1.5), ("overlay_alpha", "x"),
     ("max_pixels", 0)],
)
def test_invalid_config_names_the_field(field: str, value) -> None:
    with pytest.raises(ValueError, match=rf"EngineConfig\.{field}="):
        EngineConfig(**{field: value}).validate()
    with pytest.raises(ValueError, match=rf"EngineConfig\.{field}="):
        SegmentationEngine(PixelModel(), make_meta(), EngineConfig(**{field: value}))


def test_valid_config_and_device_resolution() -> None:
    config = EngineConfig(input_size=[64, 128])
    config.validate()
    assert config.input_size == (64, 128)
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto") == torch.device("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_precision("bf16", torch.device("cpu")) is torch.bfloat16
    assert resolve_precision("fp32", torch.device("cpu")) is None


def test_fp16_on_cpu_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"fp16.*needs a CUDA device.*bf16"):
        SegmentationEngine(PixelModel(), make_meta(), cpu_config(precision="fp16"))


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA message")
def test_cuda_without_cuda_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="CUDA is not available"):
        SegmentationEngine(PixelModel(), make_meta(), cpu_config(device="cuda"))


def test_bf16_on_cpu_runs_and_mostly_agrees_with_fp32() -> None:
    image = rgb_image(40, 56)
    fp32 = SegmentationEngine(TinyConvNet(), make_meta(), cpu_config()).segment_rgb(image)
    engine = SegmentationEngine(TinyConvNet(), make_meta(), cpu_config(precision="bf16"))
    bf16 = engine.segment_rgb(image, ALL)
    assert engine.precision == "bf16" and bf16.labels.shape == (40, 56)
    assert (bf16.labels == fp32.labels).mean() > 0.8


def test_outputs_colour_overlay_confidence() -> None:
    meta = make_meta()
    engine = SegmentationEngine(PixelModel(), meta, cpu_config(overlay_alpha=0.25))
    classes = np.random.default_rng(1).integers(0, NUM_CLASSES, (30, 50))
    image = class_image(classes)
    result = engine.segment_rgb(image, ALL)
    assert isinstance(result, SegmentationResult)
    palette = engine.palette
    assert palette.shape == (256, 3) and palette.dtype == np.uint8
    assert np.array_equal(palette[:NUM_CLASSES], np.array(meta.class_colors, dtype=np.uint8))
    assert np.array_equal(result.color, palette[result.labels])
    expected = np.round(0.25 * palette[classes].astype(float) + 0.75 * image).astype(np.uint8)
    assert np.abs(result.overlay.astype(int) - expected).max() <= 1
    # PixelModel: for an exact level the best logit is 0 and the runner-up is -40 or lower
    logits = -np.abs(image[..., :1].astype(float) - np.array([10, 60, 100, 150, 200, 245]))
    soft = np.exp(logits - logits.max(-1, keepdims=True))
    expected_conf = np.round(255 / soft.sum(-1))
    assert result.confidence.dtype == np.uint8
    assert np.abs(result.confidence.astype(int) - expected_conf).max() <= 1
    only_labels = engine.segment_rgb(image, OutputRequest(color=False))
    assert only_labels.color is None and only_labels.overlay is None and only_labels.confidence is None
    assert np.array_equal(only_labels.labels, result.labels)


def test_confidence_is_255_for_a_huge_margin_and_bounded_otherwise() -> None:
    meta = make_meta(mean=(0, 0, 0), std=(1, 1, 1))
    engine = SegmentationEngine(HugeMarginModel(), meta, cpu_config())
    result = engine.segment_rgb(rgb_image(21, 35), ALL)
    assert (result.confidence == 255).all()
    tiny = SegmentationEngine(TinyConvNet(), make_meta(), cpu_config()).segment_rgb(rgb_image(21, 35), ALL)
    lowest = int(np.ceil(255 / NUM_CLASSES))  # max softmax >= 1 / C
    assert tiny.confidence.min() >= lowest - 1 and tiny.confidence.max() <= 255
    assert tiny.confidence.min() < 255


def test_class_chunking_gives_the_same_result(monkeypatch: pytest.MonkeyPatch) -> None:
    """The memory-bounded path (classes in chunks, running max/softmax) equals the one-shot path."""
    engine = SegmentationEngine(TinyConvNet(), make_meta(), cpu_config(input_size=(24, 32)))
    frames = [Frame(rgb_image(45, 61, seed), "rgb8") for seed in range(2)]
    whole = engine.segment(frames, ALL)
    monkeypatch.setattr(postprocess_module, "CHUNK_ELEMENTS", 2 * 45 * 61 * 2)  # 2 classes per chunk
    chunked = engine.segment(frames, ALL)
    for a, b in zip(whole, chunked, strict=True):
        assert np.array_equal(a.labels, b.labels)
        assert np.abs(a.confidence.astype(int) - b.confidence.astype(int)).max() <= 1


def test_batched_equals_one_by_one_and_groups_shapes() -> None:
    model = TinyConvNet()
    engine = SegmentationEngine(model, make_meta(), cpu_config())
    calls = []
    engine._model.register_forward_hook(lambda m, i, o: calls.append(tuple(i[0].shape)))  # the engine's copy
    frames = [
        Frame(rgb_image(32, 48, 0), "rgb8"), Frame(rgb_image(20, 28, 1), "rgb8"),
        Frame(rgb_image(32, 48, 2), "rgb8"), Frame(rgb_image(32, 48, 3)[..., ::-1].copy(), "bgr8"),
        Frame(rgb_image(32, 48, 4), "rgb8"),
    ]
    batched = engine.segment(frames, ALL)
    assert sorted(calls) == sorted([(3, 3, 32, 48), (1, 3, 20, 28), (1, 3, 32, 48)])
    for frame, result in zip(frames, batched, strict=True):
        single = engine.segment([frame], ALL)[0]
        assert result.labels.shape == frame.data.shape[:2]
        assert (single.labels == result.labels).mean() > 0.999
        assert np.abs(single.confidence.astype(int) - result.confidence.astype(int)).max() <= 1
        assert set(result.timings_ms) == STAGES
        assert result.timings_ms == batched[0].timings_ms


def test_pixel_model_batch_is_exact_and_frames_keep_their_order() -> None:
    engine = SegmentationEngine(PixelModel(), make_meta(), cpu_config(input_size=(48, 32)))
    class_maps = [np.random.default_rng(s).integers(0, NUM_CLASSES, (24, 16)).repeat(4, 0).repeat(4, 1)
                  for s in range(4)]
    results = engine.segment([Frame(class_image(c), "rgb8") for c in class_maps])
    for classes, result in zip(class_maps, results, strict=True):
        assert np.array_equal(result.labels, classes)


def test_timings_and_memory_stats() -> None:
    engine = SegmentationEngine(TinyConvNet(), make_meta(), cpu_config())
    timings = engine.segment_rgb(rgb_image(32, 32)).timings_ms
    assert set(timings) == STAGES
    assert all(v >= 0 for v in timings.values())
    assert timings["total"] == pytest.approx(sum(v for k, v in timings.items() if k != "total"))
    assert engine.memory_stats() == {}
    assert engine.segment([]) == []


def test_black_and_white_frames() -> None:
    engine = SegmentationEngine(PixelModel(), make_meta(), cpu_config(input_size=(32, 64)))
    black = engine.segment_rgb(np.zeros((50, 70, 3), np.uint8), ALL)
    white = engine.segment_rgb(np.full((50, 70, 3), 255, np.uint8), ALL)
    assert (black.labels == 0).all() and (white.labels == NUM_CLASSES - 1).all()
    mono16 = engine.segment([Frame(np.full((50, 70), 65535, np.uint16), "mono16")])[0]
    assert (mono16.labels == NUM_CLASSES - 1).all()


def test_warmup_runs_at_construction_and_on_demand() -> None:
    model = PixelModel(size_divisor=8)
    engine = SegmentationEngine(model, make_meta(), EngineConfig(device="cpu", warmup_iters=3,
                                                                 input_size=(16, 24)))
    assert len(model.seen_shapes) == 3 and engine.warmup_time_s > 0
    assert engine.warmup(10, 12) > 0 and len(model.seen_shapes) == 6
    none = SegmentationEngine(PixelModel(), make_meta(), cpu_config())
    assert none.warmup_time_s == 0.0


def test_model_with_wrong_output_is_a_clear_error() -> None:
    engine = SegmentationEngine(PixelModel(), make_meta(num_classes=4), cpu_config())
    with pytest.raises(RuntimeError, match=r"returned \(1, 6, 32, 32\).*\(1, 4, 32, 32\)"):
        engine.segment_rgb(rgb_image(20, 20))


def test_from_architecture_warns_about_random_weights(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="frrn_seg_ros.core.engine"):
        engine = SegmentationEngine.from_architecture("csrnet_light", cpu_config(), label_set=CAMVID)
    assert any("RANDOM WEIGHTS" in r.message and r.levelno == logging.WARNING for r in caplog.records)
    assert engine.random_weights and engine.checkpoint_sha256 is None
    assert engine.num_classes == 11 and engine.class_names == CAMVID.names
    assert engine.size_divisor == 32 and engine.meta.architecture == "csrnet_light"
    result = engine.segment_rgb(rgb_image(45, 77), ALL)
    assert result.labels.shape == (45, 77) and result.labels.max() < 11


@pytest.mark.parametrize("suffix", [".pt", ".safetensors"])
def test_from_checkpoint_round_trip(tmp_path, suffix: str) -> None:
    model = build_model("csrnet_light", num_classes=19).eval()
    meta = default_meta("csrnet_light")
    path = save_checkpoint(tmp_path / f"m{suffix}", model.state_dict(), meta)
    image = rgb_image(64, 96)
    direct = SegmentationEngine(model, meta, cpu_config()).segment_rgb(image, ALL)
    loaded = SegmentationEngine.from_checkpoint(path, cpu_config())
    again = loaded.segment_rgb(image, ALL)
    assert not loaded.random_weights and loaded.load_time_s > 0
    assert loaded.checkpoint_sha256 is not None and len(loaded.checkpoint_sha256) == 64
    assert loaded.meta.mean == meta.mean
    assert np.array_equal(again.labels, direct.labels)
    assert np.array_equal(again.confidence, direct.confidence)
    with pytest.raises(CheckpointError):
        SegmentationEngine.from_checkpoint(tmp_path / "missing.pt", cpu_config())


@pytest.mark.parametrize("architecture", ["csrnet_light", "frrn_a"])
def test_real_models_at_small_odd_sizes(architecture: str) -> None:
    engine = SegmentationEngine.from_architecture(architecture, cpu_config())
    frames = [Frame(rgb_image(37, 53, 0), "rgb8"), Frame(rgb_image(37, 53, 1)[..., 0].copy(), "mono8")]
    results = engine.segment(frames, ALL)
    assert [r.labels.shape for r in results] == [(37, 53), (37, 53)]
    assert all(r.labels.max() < 19 and r.color.shape == (37, 53, 3) for r in results)
    letterbox = SegmentationEngine(engine._model, engine.meta,
                                   cpu_config(input_size=(48, 64), resize_mode="letterbox"))
    assert letterbox.segment_rgb(rgb_image(37, 53), ALL).labels.shape == (37, 53)


def test_host_path_runs_torch_single_threaded_and_restores_the_count(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pre/postprocessing on a CPU run with one torch thread (robust when a core is busy); the
    network and the caller keep their count, also when the block raises."""
    from frrn_seg_ros.core.engine.device import torch_threads

    previous = torch.get_num_threads()
    seen: list[int] = []
    original = postprocess_module.postprocess_host

    def spy(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return original(*args, **kwargs)

    monkeypatch.setattr(importlib.import_module("frrn_seg_ros.core.engine.engine"), "postprocess_host", spy)
    engine = SegmentationEngine(TinyConvNet(), make_meta(), EngineConfig(device="cpu", warmup_iters=0))
    torch.set_num_threads(2)  # what the caller had (also on a 1-core machine)
    try:
        engine.segment([Frame(np.zeros((16, 24, 3), dtype=np.uint8), "rgb8")])
        assert seen == [1]
        assert torch.get_num_threads() == 2
        with pytest.raises(RuntimeError), torch_threads(1):
            assert torch.get_num_threads() == 1
            raise RuntimeError("inside")
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(previous)


def test_yuv_labels_do_not_depend_on_the_outputs_requested() -> None:
    """On a CPU the network input of a YUV frame is the same whether or not the overlay (which
    needs the camera-size RGB) is requested."""
    engine = SegmentationEngine(TinyConvNet(), make_meta(), EngineConfig(device="cpu", warmup_iters=0))
    packed = np.random.default_rng(4).integers(0, 256, (24, 32, 2)).astype(np.uint8)
    plain = engine.segment([Frame(packed, "yuv422")])[0]
    full = engine.segment([Frame(packed, "yuv422")], OutputRequest(color=True, overlay=True))[0]
    np.testing.assert_array_equal(plain.labels, full.labels)
    assert full.overlay is not None and full.overlay.shape == (24, 32, 3)
