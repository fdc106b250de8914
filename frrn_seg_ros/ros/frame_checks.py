"""What the node checks on each incoming frame before the network runs.

- :func:`decode_frame`: a message -> a validated, C-contiguous :class:`Frame` that also fits
  ``max_image_pixels`` once padded for the network (:class:`FrameError` names the problem).
- :class:`FrameWatch`: per camera, a resolution change or a uniform (all-black/white) frame is
  counted in the camera's statistics and logged (throttled); the frame is segmented anyway.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util

import numpy as np
from sensor_msgs.msg import CompressedImage

from frrn_seg_ros.core.encodings import FrameError
from frrn_seg_ros.core.engine import Frame, check_frame
from frrn_seg_ros.core.engine.preprocess import plan_geometry

from .conversions import compressed_to_frame, image_to_frame
from .stats import CameraStats


def decode_frame(msg, engine, max_pixels: int) -> Frame:
    """``Image`` / ``CompressedImage`` message -> validated :class:`Frame` for ``engine``.

    Validated here, per camera, so one bad frame never spoils a batch; the engine's own check
    of the contiguous array then costs no copy.
    """
    if isinstance(msg, CompressedImage):
        frame = compressed_to_frame(msg, max_pixels)
    else:
        frame = image_to_frame(msg, max_pixels)
    data = check_frame(frame, max_pixels)
    config = engine.config
    geometry = plan_geometry(data.shape[:2], config.input_size, config.resize_mode, engine.size_divisor)
    (pad_h, pad_w), (h, w) = geometry.padded, data.shape[:2]
    if pad_h * pad_w > max_pixels:
        raise FrameError(
            f"{w}x{h} frame is padded to {pad_w}x{pad_h} for the network ({pad_h * pad_w} pixels), "
            f"more than max_image_pixels={max_pixels}"
        )
    return Frame(data=data, encoding=frame.encoding)


class FrameWatch:
    """Remembers each camera's last frame shape; notes resolution changes and uniform frames."""

    def __init__(self, log) -> None:
        self.log = log
        self._last_shape: dict[str, tuple[int, ...]] = {}

    def note(self, cam: str, frame: Frame, stats: CameraStats, throttle_s: float) -> None:
        """Count (and log, throttled) a resolution change or a uniform frame of ``cam``."""
        shape = frame.data.shape
        previous = self._last_shape.get(cam)
        self._last_shape[cam] = shape
        changed = previous is not None and previous != shape
        uniform = _is_uniform(frame.data)
        if not (changed or uniform):
            return
        stats.on_frame_checked(changed, uniform)
        if changed and shape[0] * shape[1] < previous[0] * previous[1]:
            release_free_memory()  # a one-off large frame must not keep its buffers
        if changed:
            self.log.info(
                f"camera '{cam}': resolution changed {previous[1]}x{previous[0]} -> {shape[1]}x{shape[0]}",
                throttle_duration_sec=throttle_s,
            )
        if uniform:
            self.log.warning(
                f"camera '{cam}': every pixel has the same value {frame.data.flat[0]} (lens cap? "
                "exposure?); segmenting it anyway",
                throttle_duration_sec=throttle_s,
            )


def release_free_memory() -> None:
    """Give freed heap memory back to the system (glibc ``malloc_trim``; a no-op elsewhere)."""
    name = ctypes.util.find_library("c")
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(name).malloc_trim(0)


def _is_uniform(data: np.ndarray) -> bool:
    """True when every value of ``data`` is equal; a sparse sample rules most frames out cheaply."""
    sample = data[::7, ::7]
    if sample.min() != sample.max():
        return False
    return bool(data.min() == data.max())
