"""Paired image/label transforms of the two recipes, on numpy arrays.

Images are ``(H, W, 3)`` uint8 (or float32 in [0, 1] after gamma); labels are ``(H, W)`` uint8
train ids with void = 255. Labels are never interpolated: they are resized by nearest neighbour
or by block majority vote only. Randomness comes from an explicit ``numpy.random.Generator`` so a
sample is reproducible from (seed, epoch, index).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from PIL import Image, ImageEnhance

from frrn_seg_ros.core.labels import IGNORE_INDEX

# --------------------------------------------------------------------------------------------
# FRRN: subsampling, translation, gamma
# --------------------------------------------------------------------------------------------


def majority_vote_downsample(label: np.ndarray, factor: int, ignore_index: int = IGNORE_INDEX) -> np.ndarray:
    """Subsample an ``(H, W)`` label map by ``factor`` with a block majority vote.

    Each ``factor x factor`` block becomes its most frequent non-void label if that label covers
    MORE than half of the block, else void. Rows/columns beyond a multiple of ``factor`` are dropped.
    Returns ``(H // factor, W // factor)`` uint8.
    """
    if factor < 1:
        raise ValueError(f"factor must be >= 1, got {factor}")
    label = np.asarray(label, dtype=np.uint8)
    if factor == 1:
        return label.copy()
    hb, wb = label.shape[0] // factor, label.shape[1] // factor
    blocks = label[: hb * factor, : wb * factor].reshape(hb, factor, wb, factor).transpose(0, 2, 1, 3)
    blocks = blocks.reshape(hb, wb, factor * factor)
    best = np.full((hb, wb), ignore_index, dtype=np.uint8)
    best_count = np.zeros((hb, wb), dtype=np.int32)
    for value in np.unique(blocks):
        if value == ignore_index:
            continue
        count = (blocks == value).sum(axis=-1, dtype=np.int32)
        better = count > best_count
        best[better], best_count[better] = value, count[better]
    best[best_count * 2 <= factor * factor] = ignore_index
    return best


def lanczos_backend() -> str:
    """``'cv2'`` when OpenCV is importable (the authors' ``cv2.INTER_LANCZOS4``), else ``'pil'``."""
    try:
        import cv2  # noqa: F401
    except ImportError:
        return "pil"
    return "cv2"


def downsample_image(image: np.ndarray, size: tuple[int, int], method: str = "area") -> np.ndarray:
    """Resize an ``(H, W, 3)`` uint8 image to ``size = (h, w)`` by ``area`` (box) or ``lanczos``.

    ``lanczos`` is OpenCV's ``INTER_LANCZOS4`` (8x8 taps, what the FRRN authors' data provider
    used) when OpenCV is installed, else PIL's ``LANCZOS`` (a = 3, support scaled with the
    factor): the two differ by a few grey levels, both are antialiased.
    """
    if method not in ("area", "lanczos"):
        raise ValueError(f"unknown downsampling method {method!r}; use 'area' or 'lanczos'")
    h, w = size
    if image.shape[:2] == (h, w):
        return image
    if method == "lanczos" and lanczos_backend() == "cv2":
        import cv2

        return cv2.resize(np.ascontiguousarray(image), (w, h), interpolation=cv2.INTER_LANCZOS4)
    resample = Image.Resampling.BOX if method == "area" else Image.Resampling.LANCZOS
    return np.asarray(Image.fromarray(image).resize((w, h), resample=resample))


def translate_pair(
    image: np.ndarray, label: np.ndarray, dx: int, dy: int, ignore_index: int = IGNORE_INDEX
) -> tuple[np.ndarray, np.ndarray]:
    """Shift content by ``(dx, dy)`` pixels: ``out[y, x] = in[y - dy, x - dx]``.

    The image is reflect-padded, the label void-padded; output sizes equal input sizes.
    """
    h, w = label.shape
    py, px = abs(int(dy)), abs(int(dx))
    y0, x0 = py - int(dy), px - int(dx)
    pad_img = np.pad(image, ((py, py), (px, px), (0, 0)), mode="reflect")
    pad_lab = np.pad(label, ((py, py), (px, px)), mode="constant", constant_values=ignore_index)
    return pad_img[y0 : y0 + h, x0 : x0 + w], pad_lab[y0 : y0 + h, x0 : x0 + w]


def random_translate(
    image: np.ndarray, label: np.ndarray, max_offset: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """FRRN translation: integer ``dx, dy`` each uniform in ``[-max_offset, max_offset]``."""
    if max_offset <= 0:
        return image, label
    dx, dy = rng.integers(-max_offset, max_offset + 1, size=2)
    return translate_pair(image, label, int(dx), int(dy))


def gamma_from_g(g: float) -> float:
    """FRRN gamma: ``log(0.5 + g / sqrt 2) / log(0.5 - g / sqrt 2)`` (g = 0.05 -> about 0.8152)."""
    return math.log(0.5 + g / math.sqrt(2.0)) / math.log(0.5 - g / math.sqrt(2.0))


def apply_gamma(image: np.ndarray, gamma: float) -> np.ndarray:
    """``x' = x ** gamma`` on RGB in [0, 1]; uint8 input is scaled first. Returns float32 in [0, 1]."""
    x = image.astype(np.float32) / 255.0 if image.dtype == np.uint8 else image.astype(np.float32)
    return np.power(x, np.float32(gamma))


def random_gamma(image: np.ndarray, max_g: float, rng: np.random.Generator) -> np.ndarray:
    """FRRN gamma augmentation with ``g ~ U[-max_g, max_g]``; returns float32 in [0, 1]."""
    g = float(rng.uniform(-max_g, max_g)) if max_g > 0 else 0.0
    return apply_gamma(image, gamma_from_g(g))


# --------------------------------------------------------------------------------------------
# CSRNet: colour jitter, flip, scale, crop
# --------------------------------------------------------------------------------------------


def jitter_factors(strength: float, rng: np.random.Generator) -> tuple[float, float, float]:
    """(brightness, contrast, saturation) factors, each uniform in ``[max(0, 1-s), 1+s]``."""
    low, high = max(0.0, 1.0 - strength), 1.0 + strength
    b, c, s = rng.uniform(low, high, size=3)
    return float(b), float(c), float(s)


def apply_color_jitter(
    image: np.ndarray, brightness: float, contrast: float, saturation: float
) -> np.ndarray:
    """PIL ``ImageEnhance`` Brightness, Contrast, then Color (saturation) with these factors, as
    the CSRNet authors' ``ColorJitter`` applies them. ``(H, W, 3)`` uint8 -> uint8."""
    im = Image.fromarray(image)
    im = ImageEnhance.Brightness(im).enhance(brightness)
    im = ImageEnhance.Contrast(im).enhance(contrast)
    im = ImageEnhance.Color(im).enhance(saturation)
    return np.asarray(im)


def random_color_jitter(image: np.ndarray, strength: float, rng: np.random.Generator) -> np.ndarray:
    """CSRNet released code (``ColorJitter(brightness=s, contrast=s, saturation=s)``, s = 0.5)."""
    if strength <= 0:
        return image
    return apply_color_jitter(image, *jitter_factors(strength, rng))


def random_hflip(
    image: np.ndarray, label: np.ndarray, rng: np.random.Generator, p: float = 0.5
) -> tuple[np.ndarray, np.ndarray]:
    """Mirror both left-right with probability ``p``."""
    if rng.random() < p:
        return np.ascontiguousarray(image[:, ::-1]), np.ascontiguousarray(label[:, ::-1])
    return image, label


def scale_pair(image: np.ndarray, label: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Resize by ``scale``: image bilinear, label nearest."""
    if scale == 1.0:
        return image, label
    h, w = label.shape
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    img = np.asarray(Image.fromarray(image).resize((nw, nh), resample=Image.Resampling.BILINEAR))
    lab = np.asarray(Image.fromarray(label).resize((nw, nh), resample=Image.Resampling.NEAREST))
    return img, lab


def cover_scale(shape: tuple[int, int], size: tuple[int, int]) -> tuple[int, int]:
    """The smallest ``(h', w')`` of an image of ``shape`` upscaled (aspect kept) to cover ``size``;
    ``shape`` itself when it already covers it."""
    h, w = shape
    ch, cw = size
    if h >= ch and w >= cw:
        return h, w
    scale = max(ch / h, cw / w)
    return max(ch, math.ceil(h * scale)), max(cw, math.ceil(w * scale))


def random_crop(
    image: np.ndarray,
    label: np.ndarray,
    size: tuple[int, int],
    rng: np.random.Generator,
    fill: tuple[int, int, int] = (0, 0, 0),
    ignore_index: int = IGNORE_INDEX,
    mode: str = "pad",
) -> tuple[np.ndarray, np.ndarray]:
    """Crop ``size = (h, w)`` at a random place. An image smaller than the crop is first padded
    (``mode='pad'``: image ``fill``, label void) or upscaled to cover it (``mode='cover'``, the
    CSRNet released code: image bilinear, label nearest, so no void border is added)."""
    if mode not in ("pad", "cover"):
        raise ValueError(f"crop mode {mode!r}: expected 'pad' or 'cover'")
    ch, cw = size
    h, w = label.shape
    if mode == "cover" and (h < ch or w < cw):
        nh, nw = cover_scale((h, w), (ch, cw))
        image = np.asarray(Image.fromarray(image).resize((nw, nh), resample=Image.Resampling.BILINEAR))
        label = np.asarray(Image.fromarray(label).resize((nw, nh), resample=Image.Resampling.NEAREST))
        h, w = nh, nw
    ph, pw = max(0, ch - h), max(0, cw - w)
    if ph or pw:
        padded = np.empty((h + ph, w + pw, 3), dtype=image.dtype)
        padded[:] = np.asarray(fill, dtype=image.dtype)
        padded[:h, :w] = image
        image = padded
        label = np.pad(label, ((0, ph), (0, pw)), mode="constant", constant_values=ignore_index)
        h, w = label.shape
    y = int(rng.integers(0, h - ch + 1))
    x = int(rng.integers(0, w - cw + 1))
    return image[y : y + ch, x : x + cw], label[y : y + ch, x : x + cw]


# --------------------------------------------------------------------------------------------
# To tensors
# --------------------------------------------------------------------------------------------


def to_tensor(
    image: np.ndarray,
    label: np.ndarray,
    mean: tuple[float, float, float],
    std: tuple[float, float, float],
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(H, W, 3)`` uint8 or [0, 1] float image -> ``[3, H, W]`` float32 ``(x - mean) / std``;
    ``(H, W)`` label -> ``[H, W]`` int64."""
    x = image.astype(np.float32) / 255.0 if image.dtype == np.uint8 else image.astype(np.float32)
    x = (x - np.asarray(mean, dtype=np.float32)) / np.asarray(std, dtype=np.float32)
    img = torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))
    lab = torch.from_numpy(np.ascontiguousarray(label).astype(np.int64))
    return img, lab


def mean_fill(mean: tuple[float, float, float]) -> tuple[int, int, int]:
    """The uint8 colour that normalises to ~0 (used to pad crops)."""
    return tuple(round(255 * m) for m in mean)  # type: ignore[return-value]
