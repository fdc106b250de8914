"""Bad input is counted and logged, and the next good frame is still served."""

from __future__ import annotations

import numpy as np
import pytest
from rosutil import SIZE, Collector, image_array, input_qos, publish_until, stamped, wait_for
from sensor_msgs.msg import CompressedImage, Image

from frrn_seg_ros.ros.conversions import array_to_compressed, array_to_image, image_to_array
from frrn_seg_ros.ros.diagnostics import Thresholds, camera_status

pytestmark = pytest.mark.ros


def _good(sec: int) -> Image:
    return stamped(array_to_image(image_array("rgb8", seed=sec), "rgb8"), "good", sec)


def _bad_raw() -> dict[str, Image]:
    unknown = array_to_image(image_array("rgb8"), "rgb8")
    unknown.encoding = "32FC7"
    short = array_to_image(image_array("rgb8"), "rgb8")
    short.data = bytes(short.data)[:-10]
    narrow = array_to_image(image_array("rgb8"), "rgb8")
    narrow.step = SIZE[1] * 3 - 1
    narrow.data = bytes(narrow.step * SIZE[0])
    zero = Image(encoding="rgb8", height=0, width=0, step=0)
    huge = array_to_image(image_array("mono8", (SIZE[0] + 1, SIZE[1])), "mono8")  # above max_image_pixels
    odd_yuv = array_to_image(image_array("yuv422", (SIZE[0], 15)), "yuv422")  # odd width: engine refuses
    return {
        "unknown encoding": unknown,
        "data shorter than step*height": short,
        "step < width*bpp": narrow,
        "zero-sized": zero,
        "too many pixels": huge,
        "odd yuv width": odd_yuv,
    }


def _expect_rejected(seg, pub, bad, before: int) -> str:
    stats = seg.pipeline.stats["camera"]
    pub.publish(bad)
    assert wait_for(lambda: stats.snapshot().bad_input > before, timeout=10.0)
    return stats.snapshot().last_error


def test_each_bad_raw_frame_is_counted_and_the_next_good_frame_served(ros, engine):
    seg = ros.segmentation_node(engine, max_image_pixels=SIZE[0] * SIZE[1])
    tester = ros.node()
    ns = seg.get_namespace()
    pub = tester.create_publisher(Image, f"{ns}/camera/image", input_qos(reliable=True))
    labels = Collector(tester, Image, f"{ns}/camera/segmentation/labels")
    assert publish_until(pub, _good(1), labels)
    expected_words = {
        "unknown encoding": "unsupported",
        "data shorter than step*height": "data length",
        "step < width*bpp": "step",
        "zero-sized": "zero",
        "too many pixels": "max",
        "odd yuv width": "even",
    }
    for k, (case, bad) in enumerate(_bad_raw().items()):
        before = seg.pipeline.stats["camera"].snapshot().bad_input
        error = _expect_rejected(seg, pub, bad, before)
        assert expected_words[case] in error, (case, error)
        good = _good(100 + k)
        assert publish_until(pub, good, labels), f"no output after {case}"
    snap = seg.pipeline.stats["camera"].snapshot()
    assert snap.bad_input == 6 and snap.processed >= 7


def test_uniform_frames_work(ros, engine):
    seg = ros.segmentation_node(engine)
    tester = ros.node()
    ns = seg.get_namespace()
    pub = tester.create_publisher(Image, f"{ns}/camera/image", input_qos())
    labels = Collector(tester, Image, f"{ns}/camera/segmentation/labels")
    for sec, value in ((1, 0), (2, 255)):
        msg = stamped(array_to_image(np.full((*SIZE, 3), value, np.uint8), "rgb8"), "uniform", sec)
        got = publish_until(pub, msg, labels)
        assert got and image_to_array(got[0]).shape == SIZE
    assert seg.pipeline.stats["camera"].snapshot().uniform_frames >= 2
    # A textured frame is not counted, and the count reaches /diagnostics. publish_until may leave
    # copies of frame 2 in flight; they are handled before frame 3 is answered (in-order delivery,
    # newest-wins mailbox), so the count is read after frame 3 and must not move with frame 4.
    assert publish_until(pub, stamped(array_to_image(image_array("rgb8"), "rgb8"), "uniform", 3), labels)
    before = seg.pipeline.stats["camera"].snapshot().uniform_frames
    assert publish_until(pub, stamped(array_to_image(image_array("rgb8"), "rgb8"), "uniform", 4), labels)
    assert seg.pipeline.stats["camera"].snapshot().uniform_frames == before
    status = camera_status("n", seg.pipeline.stats["camera"].snapshot(), Thresholds())
    values = {kv.key: kv.value for kv in status.values}
    assert values["uniform_frames"] == str(before) and values["resolution_changes"] == "0"


def test_corrupt_compressed_frames_are_counted(ros, engine):
    seg = ros.segmentation_node(engine, input_transport="compressed")
    tester = ros.node()
    ns = seg.get_namespace()
    pub = tester.create_publisher(CompressedImage, f"{ns}/camera/image/compressed", input_qos(reliable=True))
    labels = Collector(tester, Image, f"{ns}/camera/segmentation/labels")
    good = stamped(array_to_compressed(image_array("rgb8"), "png"), "c", 1)
    assert publish_until(pub, good, labels)
    jpeg = array_to_compressed(image_array("rgb8"), "jpeg")
    truncated = CompressedImage(format="jpeg", data=bytes(jpeg.data)[:40])
    garbage = CompressedImage(format="png", data=b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    empty = CompressedImage(format="jpeg", data=b"")
    for k, bad in enumerate((truncated, garbage, empty)):
        before = seg.pipeline.stats["camera"].snapshot().bad_input
        error = _expect_rejected(seg, pub, bad, before)
        assert "corrupt" in error or "empty" in error or "cannot identify" in error, error
        assert publish_until(
            pub, stamped(array_to_compressed(image_array("rgb8"), "jpeg"), "c", 10 + k), labels
        )


def test_frames_older_than_max_input_age_are_dropped(ros, engine):
    # The largest age allowed (1000 s): a fresh frame passes however long a busy machine keeps it
    # waiting, a frame stamped 5 s after the epoch is decades old.
    seg = ros.segmentation_node(engine, max_input_age_ms=1.0e6)
    tester = ros.node()
    ns = seg.get_namespace()
    pub = tester.create_publisher(Image, f"{ns}/camera/image", input_qos(reliable=True))
    labels = Collector(tester, Image, f"{ns}/camera/segmentation/labels")
    fresh = array_to_image(image_array("rgb8"), "rgb8")
    fresh.header.stamp = tester.get_clock().now().to_msg()
    assert publish_until(pub, fresh, labels)
    stats = seg.pipeline.stats["camera"]
    pub.publish(_good(5))  # stamped 5 s after the epoch: decades old
    assert wait_for(lambda: stats.snapshot().dropped_too_old == 1)
    assert "max_input_age_ms" in stats.snapshot().last_error
    assert not labels.find(lambda m: m.header.stamp.sec == 5)
