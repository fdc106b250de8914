"""Network-input geometry and preprocessing: resize or letterbox, normalise, pad to the divisor.

Geometry (all sizes ``(H, W)``): a frame of ``source`` size is resized to ``resized``, placed at
``offset`` (top, left) inside ``network`` (``input_size``; letterbox centres it, resize fills it),
and the network input is padded right/bottom to ``padded``, the next multiple of the model's
``size_divisor``. The postprocess undoes exactly these steps.

Padding values: the letterbox border is 0 in normalised space (the dataset mean colour, so it is
neutral to the network); the divisor padding replicates the last row/column, so the border
pixels see a continuation of the image instead of an artificial edge. Both are cropped away
before the argmax.

Shrinking is antialiased, as training's PIL resize is: on the device path ``F.interpolate``
bilinear with ``antialias=True`` (PIL's filter), on the CPU path OpenCV's ``INTER_AREA`` (a box
filter, 10x faster there). Enlarging is plain bilinear on both.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..opencv import cv2


@dataclass(frozen=True)
class Geometry:
    """How a frame maps onto the network input (see the module docstring)."""

    source: tuple[int, int]
    resized: tuple[int, int]
    offset: tuple[int, int]
    network: tuple[int, int]
    padded: tuple[int, int]

    @property
    def content(self) -> tuple[slice, slice]:
        """Rows and columns of the network input (and of the logits) that hold the image."""
        (top, left), (h, w) = self.offset, self.resized
        return slice(top, top + h), slice(left, left + w)


def plan_geometry(
    source: tuple[int, int],
    input_size: tuple[int, int] | None,
    resize_mode: str,
    size_divisor: int,
    downsample: int = 1,
) -> Geometry:
    """Geometry for a ``source`` frame.

    ``input_size=None`` keeps the frame's own size divided by ``downsample`` (the subsampling
    the weights were trained at, e.g. 4 for the authors' FRRN A: a 1024x2048 frame -> 256x512).
    """
    height, width = source
    if input_size is None:
        f = max(1, int(downsample))
        network = (max(1, round(height / f)), max(1, round(width / f)))
        resized, offset = network, (0, 0)
    elif resize_mode == "resize":
        resized, offset, network = tuple(input_size), (0, 0), tuple(input_size)
    elif resize_mode == "letterbox":
        net_h, net_w = input_size
        scale = min(net_h / height, net_w / width)
        new_h = min(net_h, max(1, round(height * scale)))
        new_w = min(net_w, max(1, round(width * scale)))
        resized, network = (new_h, new_w), (net_h, net_w)
        offset = ((net_h - new_h) // 2, (net_w - new_w) // 2)
    else:
        raise ValueError(f"resize_mode={resize_mode!r}: expected 'resize' or 'letterbox'")
    divisor = max(1, int(size_divisor))
    padded = tuple(math.ceil(v / divisor) * divisor for v in network)
    return Geometry(tuple(source), resized, offset, network, padded)  # type: ignore[arg-type]


def normalisation(
    mean: tuple[float, float, float], std: tuple[float, float, float], device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(scale, bias)``, each ``(1, 3, 1, 1)``, with ``rgb255 * scale + bias = (rgb/255 - mean)/std``."""
    mean_t = torch.tensor(mean, dtype=torch.float32, device=device).view(1, 3, 1, 1)
    std_t = torch.tensor(std, dtype=torch.float32, device=device).view(1, 3, 1, 1)
    return 1.0 / (255.0 * std_t), -mean_t / std_t


def shrinks(source: tuple[int, int], target: tuple[int, int]) -> bool:
    """Whether resizing ``source`` to ``target`` makes the image smaller along some axis."""
    return target[0] < source[0] or target[1] < source[1]


def preprocess(
    rgb: torch.Tensor,
    geometry: Geometry,
    scale: torch.Tensor,
    bias: torch.Tensor,
    channels_last: bool = True,
) -> torch.Tensor:
    """``(N, 3, H, W)`` uint8 RGB -> ``(N, 3, Hp, Wp)`` float32 normalised network input.

    Resizing is bilinear (``align_corners=False``; antialiased when shrinking) and runs before
    the normalisation (an affine map per channel, which commutes with it) so the arithmetic runs
    on the smaller image when shrinking.
    """
    x = rgb.to(torch.float32)
    if geometry.resized != geometry.source:
        antialias = shrinks(geometry.source, geometry.resized)
        x = F.interpolate(x, size=geometry.resized, mode="bilinear", align_corners=False, antialias=antialias)
    return normalise_and_pad(x, geometry, scale, bias, channels_last)


def preprocess_host(
    frames: list[np.ndarray],
    geometry: Geometry,
    scale: torch.Tensor,
    bias: torch.Tensor,
    channels_last: bool = True,
    after_resize: Callable[[np.ndarray], np.ndarray] | None = None,
) -> torch.Tensor:
    """``N`` x ``(H, W, 3)`` uint8 RGB host arrays -> ``(N, 3, Hp, Wp)`` float32 CPU network input.

    Resized with OpenCV on uint8 (``INTER_AREA`` when no axis grows, ``INTER_LINEAR`` otherwise),
    turned into RGB by ``after_resize`` if given (frames in another colour space or layout, see
    :mod:`.host_input`), then normalised and padded by :func:`normalise_and_pad` at the network size.
    """
    if cv2 is None:  # pragma: no cover - without OpenCV, the torch path
        batch = torch.stack([torch.from_numpy(np.ascontiguousarray(f)).permute(2, 0, 1) for f in frames])
        return preprocess(batch, geometry, scale, bias, channels_last)
    if geometry.resized != geometry.source:
        height, width = geometry.resized
        no_axis_grows = height <= geometry.source[0] and width <= geometry.source[1]
        # INTER_AREA is nearest-like when enlarging
        method = cv2.INTER_AREA if no_axis_grows else cv2.INTER_LINEAR
        frames = [cv2.resize(frame, (width, height), interpolation=method) for frame in frames]
    if after_resize is not None:
        frames = [after_resize(frame) for frame in frames]
    batch = torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).to(torch.float32)
    return normalise_and_pad(batch, geometry, scale, bias, channels_last)


def normalise_and_pad(
    x: torch.Tensor, geometry: Geometry, scale: torch.Tensor, bias: torch.Tensor, channels_last: bool
) -> torch.Tensor:
    """``(N, 3, h, w)`` float RGB at the resized size -> normalised ``(N, 3, Hp, Wp)``, placed and
    padded as ``geometry`` says (letterbox border 0, divisor padding replicated)."""
    x = x.mul_(scale).add_(bias)
    (top, left), (h, w) = geometry.offset, geometry.resized
    net_h, net_w = geometry.network
    if (h, w) != (net_h, net_w):
        x = F.pad(x, (left, net_w - w - left, top, net_h - h - top), mode="constant", value=0.0)
    pad_h, pad_w = geometry.padded[0] - net_h, geometry.padded[1] - net_w
    if pad_h or pad_w:
        x = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    return x.contiguous(memory_format=memory_format)
