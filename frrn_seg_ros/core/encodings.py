"""The image encodings the engine accepts: one table, shared by the ROS conversions and the engine.

Names follow sensor_msgs/image_encodings. ``yuv422`` is UYVY byte order (ROS convention),
``yuv422_yuy2`` is YUYV. Bayer encodings are 8-bit single-plane mosaics.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class EncodingInfo:
    """Memory layout of one encoding: channels per pixel as stored and the element dtype."""

    channels: int
    dtype: type

    @property
    def bytes_per_pixel(self) -> int:
        return self.channels * np.dtype(self.dtype).itemsize


ENCODINGS: dict[str, EncodingInfo] = {
    "rgb8": EncodingInfo(3, np.uint8),
    "bgr8": EncodingInfo(3, np.uint8),
    "rgba8": EncodingInfo(4, np.uint8),
    "bgra8": EncodingInfo(4, np.uint8),
    "mono8": EncodingInfo(1, np.uint8),
    "8UC1": EncodingInfo(1, np.uint8),
    "mono16": EncodingInfo(1, np.uint16),
    "16UC1": EncodingInfo(1, np.uint16),
    "yuv422": EncodingInfo(2, np.uint8),
    "uyvy": EncodingInfo(2, np.uint8),
    "yuv422_yuy2": EncodingInfo(2, np.uint8),
    "yuyv": EncodingInfo(2, np.uint8),
    "bayer_rggb8": EncodingInfo(1, np.uint8),
    "bayer_bggr8": EncodingInfo(1, np.uint8),
    "bayer_gbrg8": EncodingInfo(1, np.uint8),
    "bayer_grbg8": EncodingInfo(1, np.uint8),
}


class FrameError(ValueError):
    """A frame that cannot be segmented (bad encoding, size or data); the message says why."""


def encoding_info(encoding: str) -> EncodingInfo:
    """Layout of ``encoding``; raise :class:`FrameError` listing the supported ones if unknown."""
    try:
        return ENCODINGS[encoding]
    except KeyError:
        raise FrameError(
            f"unsupported image encoding {encoding!r}; supported: {', '.join(sorted(ENCODINGS))}"
        ) from None
