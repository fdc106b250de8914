"""What the CPU path resizes for the network, per encoding, and what it does after resizing.

Most encodings are converted to RGB at camera size (:func:`~.convert.to_rgb_host`) and resized.
YUV 4:2:2 is cheaper the other way round, converted at the network size (the conversion is affine
up to rounding, so the two agree within rounding; tested within 2 levels):

- shrinking at least 2x across: the packed ``(H, W/2, 4)`` quads (``U Y0 V Y1`` or ``Y0 U Y1 V``)
  are resized as they are, which averages each chroma and each of ``Y0`` / ``Y1`` over the
  output pixel's area, then one OpenCV ``transform`` gives RGB (BT.601 full range, ``Y`` the mean
  of ``Y0`` and ``Y1``, rounded once): no camera-size image is written at all;
- otherwise the ``Y Cr Cb`` image (one channel shuffle) is resized and converted.

The camera-size RGB is made only when asked for (the overlay needs it).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..opencv import cv2
from .convert import YUV_ORDER, to_rgb_host, yuv422_to_ycrcb_host

AfterResize = Callable[[np.ndarray], np.ndarray]  # resized source image -> (h, w, 3) uint8 RGB


def _packed_yuv_to_rgb(order: str) -> AfterResize:
    """Resized ``(h, w, 4)`` quads -> ``(h, w, 3)`` RGB by one 3x5 matrix (coefficients as
    :mod:`.convert`'s torch conversion: ``R = Y + 1.402 V'``, ``G = Y - 0.344136 U' - 0.714136 V'``,
    ``B = Y + 1.772 U'``, ``U' = U - 128``)."""
    u_at, y0_at, v_at, y1_at = (0, 1, 2, 3) if order == "uyvy" else (1, 0, 3, 2)
    rows = ((0.0, 1.402), (-0.344136, -0.714136), (1.772, 0.0))  # (U', V') weights of R, G, B
    matrix = np.zeros((3, 5), dtype=np.float64)
    for row, (u_weight, v_weight) in enumerate(rows):
        matrix[row, [y0_at, y1_at]] = 0.5
        matrix[row, u_at], matrix[row, v_at] = u_weight, v_weight
        matrix[row, 4] = -128.0 * (u_weight + v_weight)
    return lambda quads: cv2.transform(quads, matrix)


def host_network_source(
    array: np.ndarray, encoding: str, resized: tuple[int, int]
) -> tuple[np.ndarray, AfterResize | None]:
    """The image the CPU path resizes to ``resized`` ``(h, w)`` for the network, and what turns the
    resized image into RGB (None: it is RGB already)."""
    if cv2 is None or encoding not in YUV_ORDER:
        return to_rgb_host(array, encoding), None
    height, width = array.shape[:2]
    order = YUV_ORDER[encoding]
    if 2 * resized[1] <= width and resized[0] <= height:
        return array.reshape(height, width // 2, 4), _packed_yuv_to_rgb(order)
    return yuv422_to_ycrcb_host(array, order), lambda ycrcb: cv2.cvtColor(ycrcb, cv2.COLOR_YCrCb2RGB)


def host_sources(
    arrays: list[np.ndarray], encoding: str, resized: tuple[int, int], camera_rgb: bool
) -> tuple[list[np.ndarray], AfterResize | None, list[np.ndarray]]:
    """Checked frames of one encoding and size -> the images to resize for the network, what to
    apply after resizing (:func:`host_network_source`), and the camera-size RGB frames when
    ``camera_rgb`` (``[]`` otherwise, unless they come for free)."""
    sources = [host_network_source(array, encoding, resized) for array in arrays]
    images, after_resize = [image for image, _ in sources], sources[0][1]
    if after_resize is None:
        return images, None, images
    if not camera_rgb:
        return images, after_resize, []
    # a camera-size Y Cr Cb image converts as it is; packed quads (half the width) from the frame
    rgb = [after_resize(image) if image.shape[:2] == array.shape[:2] else to_rgb_host(array, encoding)
           for image, array in zip(images, arrays, strict=True)]
    return images, after_resize, rgb
