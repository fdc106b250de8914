"""sensor_msgs Image / CompressedImage <-> numpy arrays and engine Frames (no cv_bridge needed).

Incoming ``msg.data`` is an ``array.array``: :func:`image_to_frame` views it with ``np.frombuffer``
(zero-copy), honouring ``step`` (row padding) and ``is_bigendian`` for 16-bit encodings.
Outgoing images are filled with ``msg.data = array.tobytes()``: assigning a numpy array to
``msg.data`` goes through a per-element Python path and costs about 1 s per 6 MB.
Every problem raises :class:`FrameError` with a message that says what is wrong.
"""

from __future__ import annotations

import io

import numpy as np
from sensor_msgs.msg import CompressedImage, Image

from frrn_seg_ros.core.encodings import ENCODINGS, FrameError, encoding_info
from frrn_seg_ros.core.engine import Frame

_PIL_MODES = {"L": "mono8", "RGB": "rgb8", "RGBA": "rgba8", "I;16": "mono16", "I;16B": "mono16"}


def check_pixels(height: int, width: int, max_pixels: int) -> None:
    """Raise FrameError for a zero-sized image or one above ``max_pixels`` (0 = no limit)."""
    if height <= 0 or width <= 0:
        raise FrameError(f"zero-sized image ({width}x{height})")
    if max_pixels and height * width > max_pixels:
        raise FrameError(
            f"image {width}x{height} has {height * width} pixels, above max_image_pixels={max_pixels}"
        )


def image_to_array(msg: Image, max_pixels: int = 0) -> np.ndarray:
    """View ``msg`` as ``(H, W)`` or ``(H, W, C)`` array of the encoding's dtype (native byte order).

    The result shares memory with ``msg.data`` when no byte swap is needed (rows may be strided
    when ``step`` has padding).
    """
    info = encoding_info(msg.encoding)
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    check_pixels(height, width, max_pixels)
    row_bytes = width * info.bytes_per_pixel
    if step < row_bytes:
        raise FrameError(
            f"step {step} < width {width} x {info.bytes_per_pixel} bytes per pixel ({msg.encoding})"
        )
    if len(msg.data) != step * height:
        raise FrameError(f"data length {len(msg.data)} != step {step} x height {height} = {step * height}")
    raw = np.frombuffer(msg.data, dtype=np.uint8).reshape(height, step)[:, :row_bytes]
    itemsize = np.dtype(info.dtype).itemsize
    if itemsize > 1:
        order = ">" if msg.is_bigendian else "<"
        raw = raw.view(np.dtype(info.dtype).newbyteorder(order))
        if not raw.dtype.isnative:
            raw = raw.astype(raw.dtype.newbyteorder("="))
    if info.channels > 1:
        return raw.reshape(height, width, info.channels)
    return raw.reshape(height, width)


def image_to_frame(msg: Image, max_pixels: int = 0) -> Frame:
    """A raw ``sensor_msgs/Image`` as an engine :class:`Frame` (zero-copy where possible)."""
    return Frame(data=image_to_array(msg, max_pixels), encoding=msg.encoding)


def compressed_to_frame(msg: CompressedImage, max_pixels: int = 0) -> Frame:
    """Decode a JPEG/PNG ``CompressedImage`` into a :class:`Frame` (rgb8, rgba8, mono8, mono16).

    PIL reads the header (format, size: checked before any pixel is decoded); a complete 8-bit
    JPEG is decoded by OpenCV, about twice as fast at 2 MP and equal to PIL's pixels (both use
    libjpeg-turbo's default decoder), everything else by PIL (faster for PNG)."""
    from PIL import Image as PILImage

    data = bytes(msg.data)
    if not data:
        raise FrameError("empty compressed image")
    try:
        with PILImage.open(io.BytesIO(data)) as img:
            if img.format not in ("JPEG", "PNG"):
                raise FrameError(f"compressed format {img.format!r} ({msg.format!r}) is not jpeg or png")
            width, height = img.size
            check_pixels(height, width, max_pixels)  # before decoding the pixels
            if img.format == "JPEG" and img.mode in ("L", "RGB"):
                decoded = _decode_jpeg_opencv(data, img.mode, (height, width))
                if decoded is not None:
                    return decoded
            img.load()
            if img.mode not in _PIL_MODES:
                img = img.convert("RGBA" if "A" in img.getbands() else "RGB")
            encoding = _PIL_MODES[img.mode]
            array = np.array(img)
    except FrameError:
        raise
    except (OSError, ValueError, SyntaxError, PILImage.DecompressionBombError) as exc:
        raise FrameError(f"corrupt {msg.format or 'compressed'} image: {exc}") from None
    if encoding == "mono16":
        array = array.astype(np.uint16, copy=False)
    return Frame(data=array, encoding=encoding)  # np.array(img): a writable copy


def _decode_jpeg_opencv(data: bytes, mode: str, size: tuple[int, int]) -> Frame | None:
    """An 8-bit ``L`` / ``RGB`` JPEG decoded by OpenCV, or None (no OpenCV, no end-of-image marker:
    a truncated file, which PIL then refuses, or a result of another size)."""
    from frrn_seg_ros.core.opencv import cv2

    if cv2 is None or not data.rstrip(b"\0").endswith(b"\xff\xd9"):
        return None
    array = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)  # no EXIF rotation
    expected = size if mode == "L" else (*size, 3)
    if array is None or array.shape != expected:
        return None
    if mode == "L":
        return Frame(data=array, encoding="mono8")
    return Frame(data=cv2.cvtColor(array, cv2.COLOR_BGR2RGB), encoding="rgb8")


def array_to_image(array: np.ndarray, encoding: str, header=None, row_padding: int = 0) -> Image:
    """Build a ``sensor_msgs/Image`` from ``(H, W)`` / ``(H, W, C)`` ``array`` (little-endian data).

    ``header`` is copied by reference (stamp and frame_id exactly); ``row_padding`` adds that many
    zero bytes per row (for tests of ``step`` handling).
    """
    info = ENCODINGS.get(encoding)
    array = np.asarray(array)
    if info is not None and array.dtype != info.dtype:
        raise ValueError(
            f"array dtype {array.dtype} does not match encoding {encoding} ({info.dtype.__name__})"
        )
    msg = Image()
    if header is not None:
        msg.header = header
    msg.height, msg.width = int(array.shape[0]), int(array.shape[1])
    msg.encoding = encoding
    msg.is_bigendian = 0
    array = array.astype(array.dtype.newbyteorder("<"), copy=False)
    row = array.reshape(msg.height, -1).view(np.uint8)
    if row_padding:
        row = np.concatenate([row, np.zeros((msg.height, row_padding), np.uint8)], axis=1)
    msg.step = int(row.shape[1])
    msg.data = np.ascontiguousarray(row).tobytes()
    return msg


def array_to_compressed(
    array: np.ndarray, fmt: str = "jpeg", header=None, quality: int = 90
) -> CompressedImage:
    """Encode an RGB/mono uint8 array as a JPEG or PNG ``CompressedImage`` (for tests and tools)."""
    from PIL import Image as PILImage

    buffer = io.BytesIO()
    img = PILImage.fromarray(np.ascontiguousarray(array))
    if fmt == "jpeg":
        img.save(buffer, format="JPEG", quality=quality)
    else:
        img.save(buffer, format="PNG")
    msg = CompressedImage()
    if header is not None:
        msg.header = header
    msg.format = fmt
    msg.data = buffer.getvalue()
    return msg
