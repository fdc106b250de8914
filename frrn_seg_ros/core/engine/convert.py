"""Frame checks, upload, and encoding -> RGB conversion on the device.

Conversions (all produce ``(N, 3, H, W)`` uint8 RGB, channels-last strides where free):

- ``rgb8``/``bgr8``/``rgba8``/``bgra8``: channel selection (exact).
- ``mono8``/``8UC1``: the grey value in all three channels.
- ``mono16``/``16UC1``: ``round(v / 257)``, i.e. the full 16-bit range maps to 0..255 (no per-frame
  stretching, so the same scene gives the same input whatever the frame's maximum).
- ``yuv422`` (UYVY, the ROS byte order) and ``yuv422_yuy2`` (YUYV): BT.601 full-range (JPEG) math,
  ``R = Y + 1.402 V'``, ``G = Y - 0.344136 U' - 0.714136 V'``, ``B = Y + 1.772 U'`` with
  ``U' = U - 128``; each chroma pair is shared by two neighbouring pixels.
- ``bayer_{rggb,bggr,gbrg,grbg}8``: bilinear demosaic by a 3x3 convolution, mirror-padded.

On a CPU, :func:`to_rgb_host` does the same conversions with OpenCV on the ``(H, W, C)`` array
(10-100x faster than the torch ops there), equal to :func:`to_rgb` within 1 level: Bayer by
OpenCV's bilinear demosaic of the mirror-padded mosaic, YUV 4:2:2 through OpenCV's full-range
YCrCb conversion (coefficients rounded to 3 decimals) with each chroma pair repeated.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np
import torch
import torch.nn.functional as F

from ..encodings import FrameError, encoding_info
from ..opencv import cv2  # None: the CPU path falls back to the torch ops
from .config import Frame

YUV_ORDER = {"yuv422": "uyvy", "uyvy": "uyvy", "yuv422_yuy2": "yuyv", "yuyv": "yuyv"}
BAYER_PATTERNS = {"bayer_rggb8": "RGGB", "bayer_bggr8": "BGGR", "bayer_gbrg8": "GBRG", "bayer_grbg8": "GRBG"}
# Blue first: reversed with flip, a kernel on the device. Indexing with a Python list instead copies
# the index to the GPU, a host synchronisation (and it breaks CUDA graph capture).
_BGR = ("bgr8", "bgra8")


def check_frame(frame: Frame, max_pixels: int) -> np.ndarray:
    """Validate ``frame`` and return its data as a C-contiguous ``(H, W, C)`` array.

    Raises :class:`FrameError` with a message naming the problem: unknown encoding, data that is
    not an array, wrong dtype / ndim / channels for the encoding, zero size, too many pixels, an
    odd width for YUV 4:2:2, or a Bayer mosaic smaller than 2x2.
    """
    info = encoding_info(frame.encoding)
    data = frame.data
    if not isinstance(data, np.ndarray):
        raise FrameError(f"{frame.encoding} frame data must be a numpy array, got {type(data).__name__}")
    if data.dtype != np.dtype(info.dtype):
        want = np.dtype(info.dtype)
        got = data.dtype.name if data.dtype.name != want.name else f"{data.dtype.str} (byte order)"
        raise FrameError(f"{frame.encoding} frame must be {want.name} ({want.str}), got dtype {got}")
    if data.ndim == 2 and info.channels == 1:
        data = data[:, :, None]
    if data.ndim != 3 or data.shape[2] != info.channels:
        want = "(H, W) or (H, W, 1)" if info.channels == 1 else f"(H, W, {info.channels})"
        raise FrameError(f"{frame.encoding} frame must have shape {want}, got {data.shape}")
    height, width = data.shape[:2]
    if height == 0 or width == 0:
        raise FrameError(f"{frame.encoding} frame has zero size {height}x{width}")
    if height * width > max_pixels:
        raise FrameError(
            f"{frame.encoding} frame {height}x{width} has {height * width} pixels, more than "
            f"max_pixels={max_pixels}"
        )
    if frame.encoding in YUV_ORDER and width % 2:
        raise FrameError(f"{frame.encoding} frame width must be even (4:2:2 chroma pairs), got {width}")
    if frame.encoding in BAYER_PATTERNS and (height < 2 or width < 2):
        raise FrameError(f"{frame.encoding} frame must be at least 2x2, got {height}x{width}")
    return np.ascontiguousarray(data)


def upload(arrays: list[np.ndarray], device: torch.device) -> torch.Tensor:
    """Stack equal-shape ``(H, W, C)`` arrays into one ``(N, H, W, C)`` tensor on ``device``.

    The raw integers travel once (uint8, or 16-bit for 16-bit encodings). On CUDA the frames are
    copied once, straight into a pinned staging tensor (from torch's caching host allocator), and
    sent with a non-blocking copy. uint16 travels as int16 bits (torch's uint16 support is
    partial on some devices/versions); :func:`to_rgb` reads them back as unsigned.
    """
    if device.type == "cuda":
        return stage(arrays, pin=True).to(device, non_blocking=True)
    if len(arrays) == 1:
        batch = arrays[0][None]
        batch = batch.view(np.int16) if batch.dtype == np.uint16 else batch
        with warnings.catch_warnings():  # read-only buffers (np.frombuffer on a message) are never written
            warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
            return torch.from_numpy(batch)  # no copy at all
    return stage(arrays, pin=False)


def stage(arrays: list[np.ndarray], pin: bool) -> torch.Tensor:
    """One ``(N, H, W, C)`` host tensor holding a copy of ``arrays`` (pinned if ``pin``)."""
    first = arrays[0]
    sixteen = first.dtype == np.uint16
    batch = torch.empty(
        (len(arrays), *first.shape), dtype=torch.int16 if sixteen else torch.uint8, pin_memory=pin
    )
    host = batch.numpy()  # shares the tensor's memory
    for index, array in enumerate(arrays):
        host[index] = array.view(np.int16) if sixteen else array
    return batch


def to_rgb(raw: torch.Tensor, encoding: str) -> torch.Tensor:
    """Convert ``(N, H, W, C)`` raw frames of ``encoding`` to ``(N, 3, H, W)`` uint8 RGB.

    16-bit frames may arrive as uint16 or as int16 bit patterns (see :func:`upload`).
    """
    if encoding in ("rgb8", "rgba8"):
        rgb = raw[..., :3]
    elif encoding in _BGR:
        rgb = raw[..., :3].flip(-1)
    elif encoding in ("mono8", "8UC1"):
        rgb = raw.expand(-1, -1, -1, 3)
    elif encoding in ("mono16", "16UC1"):
        unsigned = raw.to(torch.int32).bitwise_and_(0xFFFF) if raw.dtype == torch.int16 else raw
        rgb = _round_u8(unsigned.to(torch.float32) / 257.0).expand(-1, -1, -1, 3)
    elif encoding in YUV_ORDER:
        rgb = yuv422_to_rgb(raw, YUV_ORDER[encoding])
    elif encoding in BAYER_PATTERNS:
        return bayer_to_rgb(raw[..., 0], BAYER_PATTERNS[encoding])
    else:  # check_frame rejects these first
        raise FrameError(f"no device conversion for encoding {encoding!r}")
    return rgb.permute(0, 3, 1, 2)


def _round_u8(x: torch.Tensor) -> torch.Tensor:
    return x.round_().clamp_(0, 255).to(torch.uint8)


def yuv422_to_rgb(raw: torch.Tensor, order: str) -> torch.Tensor:
    """``(N, H, W, 2)`` uint8 UYVY/YUYV -> ``(N, H, W, 3)`` uint8 RGB (BT.601 full range)."""
    n, h, w, _ = raw.shape
    pairs = raw.reshape(n, h, w // 2, 4).to(torch.float32)  # two pixels = 4 bytes
    if order == "uyvy":
        u, y0, v, y1 = pairs.unbind(-1)
    else:
        y0, u, y1, v = pairs.unbind(-1)
    y = torch.stack((y0, y1), dim=-1).reshape(n, h, w)
    u = (u - 128.0).repeat_interleave(2, dim=-1)
    v = (v - 128.0).repeat_interleave(2, dim=-1)
    r = y + 1.402 * v
    g = y - 0.344136 * u - 0.714136 * v
    b = y + 1.772 * u
    return _round_u8(torch.stack((r, g, b), dim=-1))


@functools.lru_cache(maxsize=16)
def _bayer_weights(pattern: str, h: int, w: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """``(3, H, W)`` float masks (1 where the mosaic samples R, G, B) and the ``(3, 1, 3, 3)``
    interpolation kernels, built once per pattern, size and device."""
    masks = torch.zeros(3, h, w, device=device)
    for index, colour in enumerate(pattern):
        dy, dx = divmod(index, 2)
        masks["RGB".index(colour), dy::2, dx::2] = 1.0
    kernel_rb = torch.tensor([[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]]) / 4.0
    kernel_g = torch.tensor([[0.0, 1.0, 0.0], [1.0, 4.0, 1.0], [0.0, 1.0, 0.0]]) / 4.0
    kernel = torch.stack((kernel_rb, kernel_g, kernel_rb))[:, None].to(device)
    return masks, kernel


def bayer_to_rgb(mosaic: torch.Tensor, pattern: str) -> torch.Tensor:
    """``(N, H, W)`` uint8 Bayer mosaic -> ``(N, 3, H, W)`` uint8 RGB by bilinear demosaic.

    Each colour plane keeps its own samples and fills the gaps with the mean of the nearest
    samples of that colour (3x3 kernels); borders are mirror-padded, which preserves the CFA
    phase. Needs H, W >= 2.
    """
    _, h, w = mosaic.shape
    masks, kernel = _bayer_weights(pattern, h, w, mosaic.device)
    planes = mosaic.to(torch.float32)[:, None] * masks[None]  # (N, 3, H, W)
    planes = F.pad(planes, (1, 1, 1, 1), mode="reflect")
    rgb = F.conv2d(planes, kernel, groups=3)
    return _round_u8(rgb)


_CV_CODES = {
    "bgr8": "COLOR_BGR2RGB", "rgba8": "COLOR_RGBA2RGB", "bgra8": "COLOR_BGRA2RGB",
    "mono8": "COLOR_GRAY2RGB", "8UC1": "COLOR_GRAY2RGB",
    # With the one-pixel mirror pad, OpenCV's pattern names line up with ROS's.
    "bayer_rggb8": "COLOR_BayerRG2RGB", "bayer_bggr8": "COLOR_BayerBG2RGB",
    "bayer_gbrg8": "COLOR_BayerGB2RGB", "bayer_grbg8": "COLOR_BayerGR2RGB",
}


def to_rgb_host(array: np.ndarray, encoding: str) -> np.ndarray:
    """One checked ``(H, W, C)`` frame (see :func:`check_frame`) -> ``(H, W, 3)`` uint8 RGB on the
    host with OpenCV; ``rgb8`` is returned as is (no copy). Without OpenCV, the torch ops."""
    if encoding == "rgb8":
        return array
    if cv2 is None:
        batch = torch.from_numpy(np.ascontiguousarray(array))[None]
        return to_rgb(batch, encoding)[0].permute(1, 2, 0).numpy()
    if encoding in BAYER_PATTERNS:
        padded = cv2.copyMakeBorder(array[..., 0], 1, 1, 1, 1, cv2.BORDER_REFLECT_101)
        return cv2.cvtColor(padded, getattr(cv2, _CV_CODES[encoding]))[1:-1, 1:-1]
    if encoding in _CV_CODES:
        return cv2.cvtColor(array, getattr(cv2, _CV_CODES[encoding]))
    if encoding in ("mono16", "16UC1"):
        grey = cv2.convertScaleAbs(array[..., 0], alpha=1.0 / 257.0)  # round(v / 257): never a tie
        return cv2.cvtColor(grey, cv2.COLOR_GRAY2RGB)
    if encoding in YUV_ORDER:
        return yuv422_to_rgb_host(array, YUV_ORDER[encoding])
    raise FrameError(f"no host conversion for encoding {encoding!r}")  # check_frame rejects these first


def yuv422_to_rgb_host(array: np.ndarray, order: str) -> np.ndarray:
    """``(H, W, 2)`` uint8 UYVY/YUYV -> ``(H, W, 3)`` uint8 RGB (BT.601 full range) with OpenCV."""
    return cv2.cvtColor(yuv422_to_ycrcb_host(array, order), cv2.COLOR_YCrCb2RGB)


def yuv422_to_ycrcb_host(array: np.ndarray, order: str) -> np.ndarray:
    """``(H, W, 2)`` uint8 UYVY/YUYV -> ``(H, W, 3)`` uint8 ``Y Cr Cb`` (each chroma sample repeated
    for its pixel pair) by one OpenCV channel shuffle: a ``(H, W/2, 6)`` array holding each pair's
    ``Y0 V U Y1 V U`` is a ``(H, W, 3)`` image in memory."""
    height, width, _ = array.shape
    quads = array.reshape(height, width // 2, 4)
    u_at, y0_at, v_at, y1_at = (0, 1, 2, 3) if order == "uyvy" else (1, 0, 3, 2)
    ycrcb = np.empty((height, width // 2, 6), dtype=np.uint8)
    pairs = (y0_at, 0, v_at, 1, u_at, 2, y1_at, 3, v_at, 4, u_at, 5)  # (from, to) channel pairs
    cv2.mixChannels([quads], [ycrcb], pairs)
    return ycrcb.reshape(height, width, 3)
