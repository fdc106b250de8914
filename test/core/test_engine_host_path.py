"""The CPU (host) path equals the torch path: labels identical, colours and conversions within 1 level.

References are the torch ops the device path runs (full bilinear upsample + argmax, the torch
conversions) on the same inputs.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from frrn_seg_ros.core.encodings import ENCODINGS
from frrn_seg_ros.core.engine import Frame, OutputRequest, check_frame, plan_geometry, to_rgb
from frrn_seg_ros.core.engine.convert import to_rgb_host, upload
from frrn_seg_ros.core.engine.label_upsample import upsample_labels, upsample_labels_and_colors
from frrn_seg_ros.core.engine.postprocess import postprocess, postprocess_host
from frrn_seg_ros.core.engine.preprocess import normalisation, preprocess, preprocess_host
from frrn_seg_ros.core.labels import CITYSCAPES, palette_from_colors


def full_argmax(logits: torch.Tensor, size: tuple[int, int]) -> np.ndarray:
    """Today's reference: ``(C, h, w)`` -> ``(H, W)`` argmax of the full bilinear upsample."""
    up = F.interpolate(logits[None], size=size, mode="bilinear", align_corners=False)
    return up[0].argmax(dim=0).numpy().astype(np.uint8)


def assert_labels_equal_except_float_ties(labels: np.ndarray, logits: torch.Tensor, size) -> None:
    """``labels`` equal the full upsample's argmax at every pixel whose two best classes are more
    than a few float32 steps apart (1e-6 of the largest |logit|). Closer than that, the order of
    rounding decides (PyTorch's kernel fuses multiply-adds where the CPU has FMA), and either class
    is a faithful answer."""
    up = F.interpolate(logits[None].float(), size=size, mode="bilinear", align_corners=False)[0]
    best = up.argmax(dim=0).numpy().astype(np.uint8)
    assert labels.dtype == np.uint8 and labels.shape == tuple(size)
    differ = labels != best
    if differ.any():
        top2 = up.topk(2, dim=0).values if up.shape[0] > 1 else torch.cat([up, up - 1])
        gap = (top2[0] - top2[1]).numpy()[differ]
        tie = 1e-6 * float(logits.abs().max())
        count = int(differ.sum())
        assert gap.max() <= tie, f"{count} labels differ, top-2 gap up to {gap.max():.3g} > {tie:.3g}"


def trained_looking(classes: int, h: int, w: int, seed: int) -> torch.Tensor:
    """Smooth logits with large regions (a coarse random field, bicubically enlarged, scaled x6)."""
    gen = torch.Generator().manual_seed(seed)
    coarse = torch.randn(1, classes, max(2, h // 8), max(2, w // 8), generator=gen)
    return 6.0 * F.interpolate(coarse, size=(h, w), mode="bicubic", align_corners=False)[0]


SIZES = [  # (h, w) of the logits -> (H, W) of the frame: scale 1, 2, 4, non-integer up and down
    ((17, 23), (17, 23)),
    ((16, 24), (32, 48)),
    ((13, 19), (52, 76)),
    ((21, 30), (50, 97)),
    ((40, 52), (29, 37)),
    ((1, 7), (5, 30)),
    ((30, 57), (127, 241)),  # about 4.2x: band blocks of several shapes
]


@pytest.mark.parametrize(("low", "high"), SIZES)
@pytest.mark.parametrize("kind", ["random", "trained"])
def test_boundary_band_labels_are_identical_to_the_full_upsample(low, high, kind) -> None:
    for seed in range(3):
        if kind == "random":
            logits = torch.randn(19, *low, generator=torch.Generator().manual_seed(seed))
        else:
            logits = trained_looking(19, *low, seed=seed)
        assert_labels_equal_except_float_ties(upsample_labels(logits, high), logits, high)


def test_boundary_band_labels_at_camera_scale_and_ties() -> None:
    logits = trained_looking(19, 64, 128, seed=7)
    assert_labels_equal_except_float_ties(upsample_labels(logits, (256, 512)), logits, (256, 512))
    tied = torch.zeros(4, 9, 11)  # every class tied: argmax is class 0 everywhere
    tied[2, 4:, 5:] = 1.0
    np.testing.assert_array_equal(upsample_labels(tied, (20, 31)), full_argmax(tied, (20, 31)))
    single = torch.randn(1, 5, 6)
    assert not upsample_labels(single, (9, 13)).any()


def test_boundary_band_labels_with_near_ties_between_many_classes() -> None:
    """Classes a few float steps apart (the candidate pruning's margin) still give torch's labels,
    except at ties within float rounding."""
    gen = torch.Generator().manual_seed(3)
    base = trained_looking(19, 24, 40, seed=5)
    for step in (1e-7, 1e-6, 1e-3):
        near = base.amax(dim=0, keepdim=True) + step * torch.randn(19, 24, 40, generator=gen)
        mixed = torch.where(torch.rand(1, 24, 40, generator=gen) < 0.5, near, base)
        for size in ((96, 160), (101, 173)):
            assert_labels_equal_except_float_ties(upsample_labels(mixed, size), mixed, size)


@pytest.mark.parametrize(("low", "high"), SIZES)
def test_colors_from_the_cell_grid_are_the_palette_of_the_labels(low, high) -> None:
    """Colour built from cells and band blocks equals ``palette[labels]`` at every pixel, the
    band's included (random logits: many band blocks of every shape)."""
    palette = np.random.default_rng(0).integers(0, 256, (256, 3)).astype(np.uint8)
    for logits in (torch.randn(19, *low, generator=torch.Generator().manual_seed(1)),
                   trained_looking(19, *low, seed=2)):
        labels, color = upsample_labels_and_colors(logits, high, palette)
        np.testing.assert_array_equal(labels, upsample_labels(logits, high))
        assert color.dtype == np.uint8 and color.flags.c_contiguous
        np.testing.assert_array_equal(color, palette[labels])
    assert upsample_labels_and_colors(logits, high)[1] is None


def test_boundary_band_labels_when_rivals_are_far_below_the_top_logits() -> None:
    """The margin scales with the largest top logit only: classes a thousand times lower in size
    (and near ties among the top two around 0) still give torch's labels."""
    gen = torch.Generator().manual_seed(11)
    top = 0.5 * trained_looking(3, 24, 40, seed=6)  # three classes near 0 compete
    low = -1000.0 + torch.randn(16, 24, 40, generator=gen)  # sixteen far below, but large
    for logits in (torch.cat([top, low]), torch.cat([low, top])):
        logits[1] = logits[1] + 1e-6 * torch.randn(24, 40, generator=gen)
        for size in ((96, 160), (101, 173)):
            assert_labels_equal_except_float_ties(upsample_labels(logits, size), logits, size)


def raw_frame(encoding: str, h: int, w: int, seed: int) -> np.ndarray:
    info = ENCODINGS[encoding]
    high = 65536 if info.dtype == np.uint16 else 256
    return np.random.default_rng(seed).integers(0, high, (h, w, info.channels)).astype(info.dtype)


@pytest.mark.parametrize("encoding", sorted(ENCODINGS))
def test_host_conversion_within_one_level_of_the_torch_conversion(encoding: str) -> None:
    for h, w in ((2, 2), (7, 10), (31, 46)):
        array = check_frame(Frame(raw_frame(encoding, h, w, seed=h), encoding), max_pixels=1 << 30)
        ref = to_rgb(upload([array], torch.device("cpu")), encoding)[0].permute(1, 2, 0).numpy()
        out = to_rgb_host(array, encoding)
        assert out.dtype == np.uint8 and out.shape == (h, w, 3)
        assert np.abs(out.astype(int) - ref.astype(int)).max() <= 1, (encoding, h, w)


def test_host_resize_is_a_box_filter_when_shrinking_and_bilinear_when_enlarging() -> None:
    rgb = np.random.default_rng(1).integers(0, 256, (40, 62, 3)).astype(np.uint8)
    scale, bias = torch.ones(1, 3, 1, 1), torch.zeros(1, 3, 1, 1)
    half = plan_geometry((40, 62), (20, 31), "resize", 1)
    x = preprocess_host([rgb], half, scale, bias, channels_last=False)
    box = F.avg_pool2d(torch.from_numpy(rgb).permute(2, 0, 1)[None].float(), 2)
    assert torch.allclose(x, box, atol=0.5 + 1e-4)  # uint8 rounding of the exact average
    double = plan_geometry((40, 62), (80, 124), "resize", 1)
    x = preprocess_host([rgb], double, scale, bias, channels_last=False)
    ref = preprocess(torch.from_numpy(rgb).permute(2, 0, 1)[None], double, scale, bias, channels_last=False)
    assert (x - ref).abs().max() <= 1.0


def test_device_path_shrinks_like_training_pil_resize() -> None:
    """Training resizes with PIL bilinear, which is antialiased when shrinking: so is the engine."""
    rgb = np.random.default_rng(2).integers(0, 256, (60, 90, 3)).astype(np.uint8)
    geometry = plan_geometry((60, 90), (30, 45), "resize", 1)
    scale, bias = torch.ones(1, 3, 1, 1), torch.zeros(1, 3, 1, 1)
    x = preprocess(torch.from_numpy(rgb).permute(2, 0, 1)[None], geometry, scale, bias, channels_last=False)
    pil = np.array(Image.fromarray(rgb).resize((45, 30), resample=Image.Resampling.BILINEAR))
    assert (x[0].permute(1, 2, 0) - torch.from_numpy(pil).float()).abs().max() <= 1.0
    batch = torch.from_numpy(rgb).permute(2, 0, 1)[None].float()
    plain = F.interpolate(batch, size=(30, 45), mode="bilinear")
    assert (plain[0].permute(1, 2, 0) - torch.from_numpy(pil).float()).abs().max() > 5.0  # not like it


@pytest.mark.parametrize(("mode", "size"), [("resize", (24, 40)), ("letterbox", (32, 32)), ("resize", None)])
def test_host_postprocess_equals_device_postprocess(mode: str, size) -> None:
    frames = [np.random.default_rng(s).integers(0, 256, (45, 70, 3)).astype(np.uint8) for s in (0, 1)]
    geometry = plan_geometry((45, 70), size, mode, 8)
    logits = torch.stack([trained_looking(19, *geometry.padded, seed=s) for s in (3, 4)])
    palette_np = palette_from_colors(CITYSCAPES.colors)
    rgb = torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2)
    requests = (OutputRequest(), OutputRequest(color=True), OutputRequest(overlay=True),
                OutputRequest(color=True, overlay=True, confidence=True))
    for outputs in requests:
        ref = postprocess(logits, geometry, rgb, torch.from_numpy(palette_np), outputs, 0.4)
        host = postprocess_host(logits, geometry, frames, palette_np, outputs, 0.4)
        assert len(host) == 2
        for index, item in enumerate(host):
            assert set(item) == set(ref)
            np.testing.assert_array_equal(item["labels"], ref["labels"][index].numpy())
            if "color" in item:  # colour is exactly the palette's, whichever path made it
                np.testing.assert_array_equal(item["color"], palette_np[item["labels"]])
            for name in ("color", "overlay", "confidence"):
                if name in item:
                    diff = np.abs(item[name].astype(int) - ref[name][index].numpy().astype(int))
                    assert diff.max() <= 1, name


def test_normalisation_matches_between_paths() -> None:
    scale, bias = normalisation((0.3, 0.4, 0.5), (0.2, 0.25, 0.3), torch.device("cpu"))
    rgb = np.random.default_rng(5).integers(0, 256, (32, 48, 3)).astype(np.uint8)
    geometry = plan_geometry((32, 48), None, "resize", 16)
    host = preprocess_host([rgb], geometry, scale, bias)
    device = preprocess(torch.from_numpy(rgb).permute(2, 0, 1)[None], geometry, scale, bias)
    assert torch.allclose(host, device, atol=1e-5)


def test_yuv_is_resized_then_converted_within_rounding_of_converting_first() -> None:
    """The CPU path converts YUV frames at the network size (packed quads when shrinking 2x or
    more across, Y Cr Cb otherwise): within 2 levels of converting the camera frame first (smooth
    scene, no clipping); the camera-size RGB that the overlay needs is the plain conversion."""
    from frrn_seg_ros.bench.stages import pack, synthetic_scene
    from frrn_seg_ros.core.engine.host_input import host_sources

    packed = pack(synthetic_scene(64, 128), "yuv422")
    yuyv = packed.reshape(64, 64, 4)[..., [1, 0, 3, 2]].reshape(64, 128, 2)  # the same pixels as YUYV
    scale, bias = torch.ones(1, 3, 1, 1), torch.zeros(1, 3, 1, 1)
    cases = (((16, 32), (64, 64, 4)), ((31, 60), (64, 64, 4)),  # (network size, what is resized)
             ((40, 80), (64, 128, 3)), ((64, 128), (64, 128, 3)))
    for encoding, raw in (("yuv422", packed), ("yuv422_yuy2", yuyv)):
        array = check_frame(Frame(raw, encoding), max_pixels=1 << 30)
        camera = to_rgb_host(array, encoding)
        for size, shape in cases:
            images, after_resize, frames = host_sources([array], encoding, size, camera_rgb=True)
            assert images[0].shape == shape and after_resize is not None, (encoding, size)
            np.testing.assert_array_equal(frames[0], camera)
            assert host_sources([array], encoding, size, camera_rgb=False)[2] == []
            geometry = plan_geometry((64, 128), size, "resize", 1)
            resized_first = preprocess_host(images, geometry, scale, bias, channels_last=False,
                                            after_resize=after_resize)
            converted_first = preprocess_host([camera], geometry, scale, bias, channels_last=False)
            assert (resized_first - converted_first).abs().max() <= 2.0, (encoding, size)
