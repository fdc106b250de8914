"""Encoding -> RGB conversion on the device against numpy references, and frame validation."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from test_engine_fakes import PixelModel, make_meta

from frrn_seg_ros.core.encodings import ENCODINGS
from frrn_seg_ros.core.engine import (
    EngineConfig,
    Frame,
    FrameError,
    OutputRequest,
    SegmentationEngine,
    check_frame,
    to_rgb,
)
from frrn_seg_ros.core.engine.convert import upload

H, W = 24, 34


def smooth_rgb(h: int = H, w: int = W) -> np.ndarray:
    """A gentle colour gradient (<= 1 level per pixel per channel), distinct per channel."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    r = 40 + 0.9 * x + 0.4 * y
    g = 120 + 0.6 * y - 0.3 * x
    b = 200 - 0.8 * x - 0.5 * y
    return np.clip(np.stack([r, g, b], -1).round(), 0, 255).astype(np.uint8)


def random_rgb(h: int = H, w: int = W, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def convert(data: np.ndarray, encoding: str) -> np.ndarray:
    """Run the engine's device conversion; returns (H, W, 3) uint8."""
    array = check_frame(Frame(data, encoding), max_pixels=1 << 30)
    rgb = to_rgb(upload([array], torch.device("cpu")), encoding)
    assert rgb.dtype == torch.uint8 and rgb.shape == (1, 3, *data.shape[:2])
    return rgb[0].permute(1, 2, 0).numpy()


def rgb_to_yuv_full(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """BT.601 full-range (JPEG) RGB -> Y, U, V as float."""
    r, g, b = (rgb[..., i].astype(np.float64) for i in range(3))
    y = 0.299 * r + 0.587 * g + 0.114 * b
    u = -0.168736 * r - 0.331264 * g + 0.5 * b + 128
    v = 0.5 * r - 0.418688 * g - 0.081312 * b + 128
    return y, u, v


def pack_yuv422(rgb: np.ndarray, order: str) -> np.ndarray:
    y, u, v = rgb_to_yuv_full(rgb)
    u = (u[:, 0::2] + u[:, 1::2]) / 2  # one chroma sample per pixel pair
    v = (v[:, 0::2] + v[:, 1::2]) / 2
    q = lambda a: np.clip(np.round(a), 0, 255).astype(np.uint8)  # noqa: E731
    h, w = y.shape
    out = np.zeros((h, w // 2, 4), dtype=np.uint8)
    if order == "uyvy":
        out[..., 0], out[..., 1], out[..., 2], out[..., 3] = q(u), q(y[:, 0::2]), q(v), q(y[:, 1::2])
    else:
        out[..., 0], out[..., 1], out[..., 2], out[..., 3] = q(y[:, 0::2]), q(u), q(y[:, 1::2]), q(v)
    return out.reshape(h, w, 2)


def decode_yuv422_numpy(data: np.ndarray, order: str) -> np.ndarray:
    """Independent numpy decoder (BT.601 full range) for the packed frames."""
    h, w, _ = data.shape
    quad = data.reshape(h, w // 2, 4).astype(np.float64)
    if order == "uyvy":
        u, y0, v, y1 = (quad[..., i] for i in range(4))
    else:
        y0, u, y1, v = (quad[..., i] for i in range(4))
    y = np.empty((h, w))
    y[:, 0::2], y[:, 1::2] = y0, y1
    u, v = np.repeat(u - 128, 2, axis=1), np.repeat(v - 128, 2, axis=1)
    rgb = np.stack([y + 1.402 * v, y - 0.344136 * u - 0.714136 * v, y + 1.772 * u], -1)
    return np.clip(np.round(rgb), 0, 255).astype(np.uint8)


def mosaic(rgb: np.ndarray, pattern: str) -> np.ndarray:
    out = np.zeros(rgb.shape[:2], dtype=np.uint8)
    for index, colour in enumerate(pattern):
        dy, dx = divmod(index, 2)
        out[dy::2, dx::2] = rgb[dy::2, dx::2, "RGB".index(colour)]
    return out


def max_diff(a: np.ndarray, b: np.ndarray) -> int:
    return int(np.abs(a.astype(np.int32) - b.astype(np.int32)).max())


@pytest.mark.parametrize("encoding", ["rgb8", "bgr8", "rgba8", "bgra8"])
def test_colour_encodings_are_exact(encoding: str) -> None:
    rgb = random_rgb()
    alpha = np.random.default_rng(1).integers(0, 256, (H, W, 1), dtype=np.uint8)
    data = {"rgb8": rgb, "bgr8": rgb[..., ::-1], "rgba8": np.concatenate([rgb, alpha], -1),
            "bgra8": np.concatenate([rgb[..., ::-1], alpha], -1)}[encoding]
    assert np.array_equal(convert(np.ascontiguousarray(data), encoding), rgb)


@pytest.mark.parametrize("encoding", ["mono8", "8UC1"])
@pytest.mark.parametrize("with_channel_axis", [False, True])
def test_mono8_fills_three_channels(encoding: str, with_channel_axis: bool) -> None:
    grey = random_rgb()[..., 0]
    data = grey[..., None] if with_channel_axis else grey
    assert np.array_equal(convert(data, encoding), np.repeat(grey[..., None], 3, -1))


@pytest.mark.parametrize("encoding", ["mono16", "16UC1"])
def test_mono16_maps_full_range_by_257(encoding: str) -> None:
    data = np.random.default_rng(2).integers(0, 65536, (H, W), dtype=np.uint16)
    data[0, :3] = [0, 65535, 257 * 100]
    expected = np.clip(np.round(data / 257.0), 0, 255).astype(np.uint8)
    out = convert(data, encoding)
    assert np.array_equal(out, np.repeat(expected[..., None], 3, -1))
    assert out[0, 0, 0] == 0 and out[0, 1, 0] == 255 and out[0, 2, 0] == 100


@pytest.mark.parametrize(("encoding", "order"), [("yuv422", "uyvy"), ("uyvy", "uyvy"),
                                                 ("yuv422_yuy2", "yuyv"), ("yuyv", "yuyv")])
def test_yuv422_matches_numpy_and_source(encoding: str, order: str) -> None:
    rgb = smooth_rgb()
    packed = pack_yuv422(rgb, order)
    out = convert(packed, encoding)
    assert max_diff(out, decode_yuv422_numpy(packed, order)) <= 1
    assert max_diff(out, rgb) <= 2
    wrong = "yuyv" if order == "uyvy" else "uyvy"
    assert max_diff(decode_yuv422_numpy(packed, wrong), rgb) > 20  # the byte order matters


@pytest.mark.parametrize("pattern", ["RGGB", "BGGR", "GBRG", "GRBG"])
def test_bayer_demosaic_recovers_smooth_image(pattern: str) -> None:
    rgb = smooth_rgb()
    data = mosaic(rgb, pattern)
    out = convert(data, f"bayer_{pattern.lower()}8")
    assert max_diff(out, rgb) <= 2
    # the samples the sensor measured come through unchanged
    for index, colour in enumerate(pattern):
        dy, dx = divmod(index, 2)
        c = "RGB".index(colour)
        assert np.array_equal(out[dy::2, dx::2, c], rgb[dy::2, dx::2, c])
    other = {"RGGB": "bayer_bggr8", "BGGR": "bayer_rggb8", "GBRG": "bayer_grbg8", "GRBG": "bayer_gbrg8"}
    assert max_diff(convert(data, other[pattern]), rgb) > 20  # the pattern matters


def test_every_encoding_runs_end_to_end_and_overlay_alpha0_is_the_converted_input() -> None:
    rgb = smooth_rgb()
    frames = {
        "rgb8": rgb, "bgr8": rgb[..., ::-1].copy(), "rgba8": np.dstack([rgb, np.full((H, W), 9, np.uint8)]),
        "bgra8": np.dstack([rgb[..., ::-1], np.zeros((H, W), np.uint8)]), "mono8": rgb[..., 0].copy(),
        "8UC1": rgb[..., 0].copy(), "mono16": rgb[..., 0].astype(np.uint16) * 257,
        "16UC1": rgb[..., 0].astype(np.uint16) * 257, "yuv422": pack_yuv422(rgb, "uyvy"),
        "uyvy": pack_yuv422(rgb, "uyvy"), "yuv422_yuy2": pack_yuv422(rgb, "yuyv"),
        "yuyv": pack_yuv422(rgb, "yuyv"),
        **{f"bayer_{p.lower()}8": mosaic(rgb, p) for p in ("RGGB", "BGGR", "GBRG", "GRBG")},
    }
    assert set(frames) == set(ENCODINGS)
    engine = SegmentationEngine(PixelModel(), make_meta(), EngineConfig(device="cpu", warmup_iters=0,
                                                                        overlay_alpha=0.0))
    results = engine.segment([Frame(d, e) for e, d in frames.items()], OutputRequest(overlay=True))
    for (encoding, _), result in zip(frames.items(), results, strict=True):
        assert result.labels.shape == (H, W)
        if encoding.startswith(("mono", "8UC", "16UC")):
            assert np.array_equal(result.overlay, np.repeat(rgb[..., :1], 3, -1)), encoding
        else:
            assert max_diff(result.overlay, rgb) <= 2, encoding


def test_frame_errors_name_the_problem() -> None:
    def check(data, encoding, max_pixels=1 << 30):
        return check_frame(Frame(data, encoding), max_pixels)

    rgb = random_rgb()
    with pytest.raises(FrameError, match="unsupported image encoding 'jpeg'"):
        check(rgb, "jpeg")
    with pytest.raises(FrameError, match=r"shape \(H, W, 3\)"):
        check(rgb[..., :2], "rgb8")
    with pytest.raises(FrameError, match=r"shape \(H, W, 4\)"):
        check(rgb, "rgba8")
    with pytest.raises(FrameError, match=r"mono8 frame must have shape"):
        check(rgb, "mono8")
    with pytest.raises(FrameError, match=r"must be uint16 .*, got dtype uint8"):
        check(rgb[..., 0], "mono16")
    with pytest.raises(FrameError, match=r"must be uint16 \(<u2\), got dtype >u2 \(byte order\)"):
        check(rgb[..., 0].astype(">u2"), "mono16")
    with pytest.raises(FrameError, match=r"must be uint8 .*, got dtype float32"):
        check(rgb.astype(np.float32), "rgb8")
    with pytest.raises(FrameError, match="zero size 0x34"):
        check(rgb[:0], "rgb8")
    with pytest.raises(FrameError, match="more than max_pixels=100"):
        check(rgb, "rgb8", max_pixels=100)
    with pytest.raises(FrameError, match="width must be even"):
        check(np.zeros((4, 5, 2), np.uint8), "yuv422")
    with pytest.raises(FrameError, match="at least 2x2"):
        check(np.zeros((1, 8), np.uint8), "bayer_rggb8")
    with pytest.raises(FrameError, match="numpy array"):
        check(rgb.tolist(), "rgb8")


def test_engine_validates_every_frame_before_running() -> None:
    model = PixelModel()
    config = EngineConfig(device="cpu", warmup_iters=0, max_pixels=4000)
    engine = SegmentationEngine(model, make_meta(), config)
    good = Frame(random_rgb(), "rgb8")
    with pytest.raises(FrameError, match=r"frame 1: .*width must be even"):
        engine.segment([good, Frame(np.zeros((4, 5, 2), np.uint8), "yuv422")])
    with pytest.raises(FrameError, match=r"frame 2: .*max_pixels=4000"):
        engine.segment([good, good, Frame(random_rgb(64, 64), "rgb8")])
    assert model.seen_shapes == []  # nothing ran
    assert len(engine.segment([good])) == 1


def test_read_only_message_buffers_are_accepted_without_warnings() -> None:
    rgb = random_rgb()
    data = np.frombuffer(rgb.tobytes(), dtype=np.uint8).reshape(H, W, 3)
    assert not data.flags.writeable
    engine = SegmentationEngine(PixelModel(), make_meta(), EngineConfig(device="cpu", warmup_iters=0))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = engine.segment([Frame(data, "rgb8")], OutputRequest(overlay=True))[0]
    assert result.labels.shape == (H, W)
    assert np.array_equal(data, rgb)


def test_stage_copies_a_batch_once_with_16_bit_as_int16_bits():
    from frrn_seg_ros.core.engine.convert import stage

    rng = np.random.default_rng(3)
    frames = [rng.integers(0, 65536, (5, 7, 1), dtype=np.uint16) for _ in range(3)]
    batch = stage(frames, pin=False)
    assert batch.dtype == torch.int16 and tuple(batch.shape) == (3, 5, 7, 1)
    np.testing.assert_array_equal(batch.numpy().view(np.uint16), np.stack(frames))
    rgba = [rng.integers(0, 256, (4, 6, 4), dtype=np.uint8) for _ in range(2)]
    np.testing.assert_array_equal(stage(rgba, pin=False).numpy(), np.stack(rgba))
