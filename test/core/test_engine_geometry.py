"""The engine undoes padding, resizing and letterboxing exactly: labels line up with the input."""

from __future__ import annotations

import numpy as np
import pytest
from test_engine_fakes import NUM_CLASSES, PixelModel, class_image, make_meta

from frrn_seg_ros.core.engine import EngineConfig, Frame, OutputRequest, SegmentationEngine, plan_geometry

ALL = OutputRequest(color=True, overlay=True, confidence=True)


def engine_for(model: PixelModel, **config) -> SegmentationEngine:
    return SegmentationEngine(model, make_meta(), EngineConfig(device="cpu", warmup_iters=0, **config))


def block_classes(h: int, w: int, block: int, seed: int = 0) -> np.ndarray:
    """``(h, w)`` random class ids, constant on ``block x block`` tiles aligned at 0."""
    rng = np.random.default_rng(seed)
    tiles = rng.integers(0, NUM_CLASSES, (-(-h // block), -(-w // block)))
    return np.kron(tiles, np.ones((block, block), dtype=np.int64))[:h, :w]


def near_boundary(classes: np.ndarray, margin: int) -> np.ndarray:
    """True where a different class lies within ``margin`` pixels (Chebyshev distance)."""
    h, w = classes.shape
    padded = np.pad(classes, margin, mode="edge")
    mask = np.zeros((h, w), dtype=bool)
    for dy in range(2 * margin + 1):
        for dx in range(2 * margin + 1):
            mask |= padded[dy : dy + h, dx : dx + w] != classes
    return mask


def test_plan_geometry() -> None:
    g = plan_geometry((97, 131), None, "resize", 32)
    assert (g.resized, g.offset, g.network, g.padded) == ((97, 131), (0, 0), (97, 131), (128, 160))
    g = plan_geometry((97, 131), (64, 96), "resize", 32)
    assert (g.resized, g.offset, g.network, g.padded) == ((64, 96), (0, 0), (64, 96), (64, 96))
    g = plan_geometry((96, 64), (48, 48), "letterbox", 32)
    assert (g.resized, g.offset, g.network, g.padded) == ((48, 32), (0, 8), (48, 48), (64, 64))
    g = plan_geometry((100, 400), (100, 100), "letterbox", 1)
    assert (g.resized, g.offset, g.padded) == ((25, 100), (37, 0), (100, 100))
    assert g.content == (slice(37, 62), slice(0, 100))


def test_native_mode_is_exact_per_pixel_at_odd_size() -> None:
    """97x131 is padded to 128x160 for the model; every pixel's label comes back in place."""
    model = PixelModel(size_divisor=32)
    classes = np.random.default_rng(3).integers(0, NUM_CLASSES, (97, 131))
    result = engine_for(model).segment([Frame(class_image(classes), "rgb8")], ALL)[0]
    assert model.seen_shapes == [(1, 3, 128, 160)]
    assert np.array_equal(result.labels, classes)


@pytest.mark.parametrize(
    ("mode", "input_size", "padded"),
    [
        ("resize", (48, 32), (64, 32)),
        ("letterbox", (48, 48), (64, 64)),
        ("letterbox", (48, 80), (64, 96)),
        ("letterbox", (60, 32), (64, 32)),
    ],
)
def test_exact_labels_after_resize_letterbox_pad_and_crop(mode, input_size, padded) -> None:
    """A 96x64 frame of 4x4 class tiles, shrunk exactly 2x: the labels must match every pixel.

    Any offset error in the letterbox border, the divisor padding or the crop moves tile edges
    and breaks equality; the 2x bilinear round trip of aligned tiles is exact for this model.
    """
    model = PixelModel(size_divisor=32)
    classes = block_classes(96, 64, 4, seed=4)
    result = engine_for(model, input_size=input_size, resize_mode=mode).segment(
        [Frame(class_image(classes), "rgb8")], ALL
    )[0]
    assert model.seen_shapes == [(1, 3, *padded)]
    assert np.array_equal(result.labels, classes)


@pytest.mark.parametrize(
    ("input_size", "mode"),
    [(None, "resize"), ((64, 96), "resize"), ((64, 64), "letterbox"), ((160, 96), "letterbox"),
     ((200, 250), "resize")],
)
def test_odd_sizes_keep_input_resolution_and_alignment(input_size, mode) -> None:
    """97x131 frames at non-integer scales: all outputs at 97x131 and labels right off tile edges."""
    model = PixelModel(size_divisor=16)
    classes = block_classes(97, 131, 16, seed=5)
    engine = engine_for(model, input_size=input_size, resize_mode=mode)
    result = engine.segment([Frame(class_image(classes), "rgb8")], ALL)[0]
    assert result.labels.shape == (97, 131) and result.labels.dtype == np.uint8
    assert result.color.shape == result.overlay.shape == (97, 131, 3)
    assert result.confidence.shape == (97, 131)
    interior = ~near_boundary(classes, margin=4)
    assert interior.mean() > 0.3
    assert np.array_equal(result.labels[interior], classes[interior])
    assert (result.labels == classes).mean() > 0.9


def test_tiny_frames() -> None:
    model = PixelModel(size_divisor=32)
    for h, w in [(1, 1), (1, 7), (5, 1), (2, 2)]:
        classes = np.random.default_rng(h * w).integers(0, NUM_CLASSES, (h, w))
        result = engine_for(model).segment([Frame(class_image(classes), "rgb8")], ALL)[0]
        assert np.array_equal(result.labels, classes)
        letterboxed = engine_for(model, input_size=(32, 32), resize_mode="letterbox").segment_rgb(
            class_image(classes), ALL
        )
        assert letterboxed.labels.shape == (h, w)
