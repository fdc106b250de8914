"""Logits -> uint8 outputs on the device: undo the geometry, upsample, argmax, palette, overlay.

The logits are cropped to the image content (divisor padding and letterbox border removed) and
upsampled bilinearly (``align_corners=False``) to the frame's own size BEFORE the argmax, as the
papers evaluate. For large frames the full-resolution logits are never held at once: classes are
processed in chunks of at most ``CHUNK_ELEMENTS`` values, keeping a running max / argmax and, only
when confidence is requested, a running softmax denominator (so softmax is never materialised).

On a CPU, :func:`postprocess_host` returns numpy arrays and avoids full-resolution float work:
labels and colour come from :func:`~.label_upsample.upsample_labels_and_colors` (the full
upsample + argmax, up to ties within float rounding, interpolating only near class boundaries;
colour from the same cell grid) and the overlay is OpenCV's rounded weighted sum (within 1 level
of the float blend). Confidence still needs every class at every pixel and takes the chunked path
above (colour then from an OpenCV lookup table).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..labels import colorize
from ..opencv import cv2
from .config import OutputRequest
from .label_upsample import upsample_labels_and_colors
from .preprocess import Geometry

# 16 Mi float32 values (64 MB) of full-resolution logits at a time: below glibc's mmap threshold
# as the node sets it (128 MB), so the buffer is reused from the heap instead of being mapped and
# page-faulted anew every frame (1024x2048 with 19 classes: 3 chunks instead of one 159 MB block).
CHUNK_ELEMENTS = 1 << 24


def _upsample(logits: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    logits = logits.to(torch.float32)
    if tuple(logits.shape[-2:]) == tuple(size):
        return logits
    return F.interpolate(logits, size=size, mode="bilinear", align_corners=False)


def labels_and_confidence(
    logits: torch.Tensor, geometry: Geometry, confidence: bool
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``(N, C, Hp, Wp)`` logits -> ``(N, H, W)`` uint8 labels and optional uint8 confidence.

    Confidence is ``round(255 * max softmax)`` = ``round(255 / sum_c exp(l_c - max_c l))``.
    Ties go to the lowest class id.
    """
    rows, cols = geometry.content
    logits = logits[:, :, rows, cols]
    n, classes = logits.shape[:2]
    height, width = geometry.source
    step = max(1, CHUNK_ELEMENTS // max(1, n * height * width))
    best_val = best_idx = denom = None
    for first in range(0, classes, step):
        chunk = _upsample(logits[:, first : first + step], (height, width))  # (N, k, H, W)
        val, idx = chunk.max(dim=1, keepdim=True)  # one pass; ties -> the first (lowest) class
        if best_val is None:
            best_val, best_idx = val, idx
            if confidence:
                denom = torch.exp(chunk - val).sum(dim=1, keepdim=True)
            continue
        new_max = torch.maximum(best_val, val)
        if confidence:
            denom = denom * torch.exp(best_val - new_max)
            denom += torch.exp(chunk - new_max).sum(dim=1, keepdim=True)
        best_idx = torch.where(val > best_val, idx + first, best_idx)
        best_val = new_max
    labels = best_idx[:, 0].to(torch.uint8)
    conf = None
    if confidence:
        conf = (255.0 / denom[:, 0]).round_().clamp_(0, 255).to(torch.uint8)
    return labels, conf


def postprocess(
    logits: torch.Tensor,
    geometry: Geometry,
    rgb: torch.Tensor,
    palette: torch.Tensor,
    outputs: OutputRequest,
    overlay_alpha: float,
) -> dict[str, torch.Tensor]:
    """All requested outputs as uint8 device tensors.

    ``logits``: ``(N, C, Hp, Wp)``; ``rgb``: ``(N, 3, H, W)`` uint8 input; ``palette``: ``(256, 3)``
    uint8 on the same device. Returns ``labels`` ``(N, H, W)`` and, if requested, ``color`` and
    ``overlay`` ``(N, H, W, 3)`` and ``confidence`` ``(N, H, W)``.
    """
    labels, conf = labels_and_confidence(logits, geometry, outputs.confidence)
    result = {"labels": labels}
    if outputs.color or outputs.overlay:
        color = palette[labels.long()]  # (N, H, W, 3)
        if outputs.color:
            result["color"] = color
        if outputs.overlay:
            image = rgb.permute(0, 2, 3, 1).to(torch.float32)
            blend = color.to(torch.float32).mul_(overlay_alpha).add_(image.mul_(1.0 - overlay_alpha))
            result["overlay"] = blend.round_().clamp_(0, 255).to(torch.uint8)
    if conf is not None:
        result["confidence"] = conf
    return result


def postprocess_host(
    logits: torch.Tensor,
    geometry: Geometry,
    rgb: list[np.ndarray],
    palette: np.ndarray,
    outputs: OutputRequest,
    overlay_alpha: float,
) -> list[dict[str, np.ndarray]]:
    """CPU outputs per frame as numpy uint8 arrays, equal to :func:`postprocess`'s (labels
    identical up to ties within float rounding, colour from the labels, overlay within 1 level).

    ``logits``: ``(N, C, Hp, Wp)`` CPU tensor; ``rgb``: ``N`` x ``(H, W, 3)`` uint8 input frames;
    ``palette``: ``(256, 3)`` uint8. Returns, per frame, ``labels`` ``(H, W)`` and as requested
    ``color`` / ``overlay`` ``(H, W, 3)`` and ``confidence`` ``(H, W)``.
    """
    rows, cols = geometry.content
    want_color = outputs.color or outputs.overlay
    if outputs.confidence:
        labels_t, conf_t = labels_and_confidence(logits, geometry, confidence=True)
        pairs = [(labels, colorize(labels, palette) if want_color else None) for labels in labels_t.numpy()]
    else:
        content = logits[:, :, rows, cols].to(torch.float32)
        pairs = [
            upsample_labels_and_colors(item.contiguous(), geometry.source, palette if want_color else None)
            for item in content
        ]
    results = []
    for index, (labels, color) in enumerate(pairs):
        item = {"labels": labels}
        if outputs.color:
            item["color"] = color
        if outputs.overlay:
            item["overlay"] = blend(color, rgb[index], overlay_alpha)
        if outputs.confidence:
            item["confidence"] = conf_t[index].numpy()
        results.append(item)
    return results


def blend(color: np.ndarray, image: np.ndarray, alpha: float) -> np.ndarray:
    """``round(alpha * color + (1 - alpha) * image)`` as uint8 ``(H, W, 3)``."""
    if cv2 is None:  # pragma: no cover
        mixed = color.astype(np.float32) * alpha + image.astype(np.float32) * (1.0 - alpha)
        return np.clip(np.round(mixed), 0, 255).astype(np.uint8)
    return cv2.addWeighted(color, alpha, np.ascontiguousarray(image), 1.0 - alpha, 0.0)


def to_host(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Copy uint8 device tensors to the CPU (pinned, non-blocking on CUDA: synchronise before use)."""
    host = {}
    for name, tensor in tensors.items():
        if tensor.device.type == "cpu":
            host[name] = tensor.contiguous()
            continue
        buffer = torch.empty(tensor.shape, dtype=tensor.dtype, pin_memory=True)
        buffer.copy_(tensor, non_blocking=True)
        host[name] = buffer
    return host
