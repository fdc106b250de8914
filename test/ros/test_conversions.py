"""Image <-> array conversions: strides, endianness, sizes, and every error path (no DDS needed)."""

from __future__ import annotations

import numpy as np
import pytest
from sensor_msgs.msg import CompressedImage, Image

from frrn_seg_ros.core.encodings import ENCODINGS, FrameError
from frrn_seg_ros.ros.conversions import (
    array_to_compressed,
    array_to_image,
    compressed_to_frame,
    image_to_array,
    image_to_frame,
)


def _array(encoding: str, shape=(5, 6)) -> np.ndarray:
    info = ENCODINGS[encoding]
    full = (*shape, info.channels) if info.channels > 1 else shape
    return np.arange(np.prod(full), dtype=np.uint64).reshape(full).astype(info.dtype) * 7


@pytest.mark.parametrize("encoding", sorted(ENCODINGS))
@pytest.mark.parametrize("padding", [0, 5])
def test_round_trip_every_encoding_with_row_padding(encoding, padding):
    array = _array(encoding)
    msg = array_to_image(array, encoding, row_padding=padding)
    assert msg.step == array[0].nbytes + padding and len(msg.data) == msg.step * msg.height
    frame = image_to_frame(msg)
    assert frame.encoding == encoding and frame.data.dtype == array.dtype
    np.testing.assert_array_equal(frame.data, array)


def test_zero_copy_view_of_message_data():
    msg = array_to_image(_array("rgb8"), "rgb8")
    view = image_to_array(msg)
    assert np.shares_memory(view, np.frombuffer(msg.data, np.uint8))


def test_big_endian_mono16():
    values = np.array([[1, 256, 65535]], dtype=np.uint16)
    msg = Image(height=1, width=3, encoding="mono16", is_bigendian=1, step=6)
    msg.data = values.astype(">u2").tobytes()
    out = image_to_array(msg)
    assert out.dtype == np.uint16 and out.dtype.isnative
    np.testing.assert_array_equal(out, values)


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"encoding": "32FC1"}, "unsupported image encoding"),
        ({"step": 17}, "step 17 <"),
        ({"height": 6}, "data length"),
        ({"height": 0}, "zero-sized"),
        ({"width": 0}, "zero-sized"),
    ],
)
def test_inconsistent_messages_raise_frame_error(change, words):
    msg = array_to_image(_array("rgb8"), "rgb8")
    for key, value in change.items():
        setattr(msg, key, value)
    with pytest.raises(FrameError, match=words):
        image_to_array(msg)


def test_max_pixels():
    msg = array_to_image(_array("mono8"), "mono8")
    assert image_to_array(msg, max_pixels=30).shape == (5, 6)
    with pytest.raises(FrameError, match="max_image_pixels=29"):
        image_to_array(msg, max_pixels=29)


@pytest.mark.parametrize("fmt", ["jpeg", "png"])
def test_compressed_rgb_and_mono(fmt):
    rgb = np.random.default_rng(1).integers(0, 256, (16, 24, 3), dtype=np.uint8)
    frame = compressed_to_frame(array_to_compressed(rgb, fmt))
    assert frame.encoding == "rgb8" and frame.data.shape == (16, 24, 3) and frame.data.flags.writeable
    if fmt == "png":
        np.testing.assert_array_equal(frame.data, rgb)  # lossless
    mono = compressed_to_frame(array_to_compressed(rgb[..., 0], fmt))
    assert mono.encoding == "mono8" and mono.data.shape == (16, 24)


@pytest.mark.parametrize("channels", [3, 1])
def test_jpeg_decodes_to_the_same_pixels_as_pil(channels):
    """The OpenCV JPEG decoder gives PIL's pixels, in RGB order, for colour and grey images."""
    import io

    from PIL import Image as PILImage

    y, x = np.mgrid[0:48, 0:80]
    rgb = np.stack([3 * x % 256, 5 * y % 256, (x * y) % 256], axis=-1).astype(np.uint8)
    image = rgb if channels == 3 else rgb[..., 1]
    msg = array_to_compressed(image, "jpeg")
    frame = compressed_to_frame(msg)
    expected = np.asarray(PILImage.open(io.BytesIO(bytes(msg.data))))
    assert frame.encoding == ("rgb8" if channels == 3 else "mono8")
    np.testing.assert_array_equal(frame.data, expected)


def test_compressed_size_checked_before_decoding():
    msg = array_to_compressed(np.zeros((100, 100, 3), np.uint8), "png")
    with pytest.raises(FrameError, match="max_image_pixels"):
        compressed_to_frame(msg, max_pixels=100 * 99)


@pytest.mark.parametrize("data", [b"", b"\xff\xd8\xff\xe0garbage", b"not an image at all"])
def test_corrupt_compressed_raises_frame_error(data):
    with pytest.raises(FrameError):
        compressed_to_frame(CompressedImage(format="jpeg", data=data))


def test_truncated_jpeg_raises_frame_error():
    good = array_to_compressed(np.full((32, 32, 3), 99, np.uint8), "jpeg")
    with pytest.raises(FrameError, match="corrupt"):
        compressed_to_frame(CompressedImage(format="jpeg", data=bytes(good.data)[: len(good.data) // 2]))
