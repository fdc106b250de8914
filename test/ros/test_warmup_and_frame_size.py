"""Warm-up after the topics, at the configured or the first frame's size, reported in the
pipeline state that diagnostics publish; frames whose padded size exceeds max_image_pixels are
refused like any oversized frame (issue 11, item 11 and the 1x100000 frame)."""

from __future__ import annotations

import pytest
from rosutil import Collector, image_array, input_qos, publish_until, stamped, wait_for
from sensor_msgs.msg import Image

from frrn_seg_ros.ros.conversions import array_to_image

pytestmark = pytest.mark.ros


def _io(ros, seg):
    tester = ros.node()
    ns = seg.get_namespace()
    pub = tester.create_publisher(Image, f"{ns}/camera/image", input_qos())
    return pub, Collector(tester, Image, f"{ns}/camera/segmentation/labels")


def test_warmup_waits_for_the_first_frame_at_native_resolution(ros, engine):
    seg = ros.segmentation_node(engine, **{"model.warmup_iters": 2})
    assert seg.pipeline.warmup["state"] == "pending"  # topics exist, no size known yet
    assert seg.model_info()["warmup"] == "pending"
    pub, labels = _io(ros, seg)
    msg = stamped(array_to_image(image_array("rgb8", (48, 80)), "rgb8"), "w", 1)
    assert publish_until(pub, msg, labels, timeout=60.0)
    info = seg.model_info()
    assert (info["warmup"], info["warmup_size"]) == ("done", "80x48")
    assert float(info["warmup_time_s"]) > 0.0


def test_warmup_at_the_configured_size_runs_without_frames(ros, engine):
    params = {"model.warmup_iters": 1, "model.input_height": 64, "model.input_width": 96}
    seg = ros.segmentation_node(engine, **params)
    assert wait_for(lambda: seg.pipeline.warmup["state"] == "done", timeout=60.0)
    assert seg.model_info()["warmup_size"] == "96x64"


def test_frame_whose_padding_exceeds_max_image_pixels_is_refused(ros, engine):
    assert engine.size_divisor == 32
    seg = ros.segmentation_node(engine, max_image_pixels=32 * 64)
    pub, labels = _io(ros, seg)
    stats = seg.pipeline.stats["camera"]
    thin = stamped(array_to_image(image_array("mono8", (1, 1500)), "mono8"), "thin", 1)  # 1500 px
    # Sent once (best effort): only after both ends have matched, or it may be dropped unseen.
    assert wait_for(lambda: pub.get_subscription_count() and seg.pipeline.input_publishers("camera"),
                    timeout=60.0)
    pub.publish(thin)
    assert wait_for(lambda: stats.snapshot().bad_input == 1, timeout=30.0)
    error = stats.snapshot().last_error
    assert "padded to 1504x32" in error and "max_image_pixels=2048" in error, error
    good = stamped(array_to_image(image_array("rgb8", (32, 64)), "rgb8"), "good", 2)  # exactly 2048
    assert publish_until(pub, good, labels, timeout=60.0)
    assert stats.snapshot().bad_input == 1
