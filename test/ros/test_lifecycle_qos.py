"""Lifecycle transitions, the QoS matrix, and bounded latency when the camera outpaces the model."""

from __future__ import annotations

import time

import pytest
from rclpy.lifecycle import TransitionCallbackReturn
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from rosutil import Collector, image_array, publish_until, stamped, wait_for
from sensor_msgs.msg import Image

from frrn_seg_ros.ros.conversions import array_to_image
from frrn_seg_ros.ros.stamps import stamp_ns

pytestmark = pytest.mark.ros

RELIABILITY = {"reliable": ReliabilityPolicy.RELIABLE, "best_effort": ReliabilityPolicy.BEST_EFFORT}


def _frame(sec: int) -> Image:
    return stamped(array_to_image(image_array("bgr8", seed=sec), "bgr8"), "lc", sec)


def test_lifecycle_transitions(ros, engine):
    seg = ros.segmentation_node(engine, lifecycle=True)
    tester = ros.node()
    ns = seg.get_namespace()
    pub = tester.create_publisher(Image, f"{ns}/camera/image", 5)
    assert seg.pipeline is None  # unconfigured: nothing created
    assert seg.trigger_configure() == TransitionCallbackReturn.SUCCESS
    labels = Collector(tester, Image, f"{ns}/camera/segmentation/labels")
    assert seg.pipeline is not None and not seg.pipeline.processing.is_set()
    assert seg.trigger_activate() == TransitionCallbackReturn.SUCCESS
    assert publish_until(pub, _frame(1), labels)
    assert seg.trigger_deactivate() == TransitionCallbackReturn.SUCCESS
    stats = seg.pipeline.stats["camera"]
    at_deactivate = stats.snapshot().received
    # A 10 Hz camera while inactive, until the node has counted three of its frames (its own
    # count: a busy executor may take a while, or see only the newest of several) ...
    deadline = time.monotonic() + 30.0
    while stats.snapshot().received < at_deactivate + 3 and time.monotonic() < deadline:
        pub.publish(_frame(2))
        time.sleep(0.1)
    assert stats.snapshot().received >= at_deactivate + 3
    assert not labels.find(lambda m: m.header.stamp.sec == 2)  # ... and none was segmented
    assert seg.trigger_activate() == TransitionCallbackReturn.SUCCESS
    assert publish_until(pub, _frame(3), labels)
    assert seg.trigger_deactivate() == TransitionCallbackReturn.SUCCESS
    assert seg.trigger_cleanup() == TransitionCallbackReturn.SUCCESS
    assert seg.pipeline is None and seg.engine is None
    assert seg.trigger_configure() == TransitionCallbackReturn.SUCCESS  # reconfigurable after cleanup
    assert seg.trigger_shutdown() == TransitionCallbackReturn.SUCCESS


def test_lifecycle_configure_fails_on_missing_checkpoint(ros, tmp_path):
    seg = ros.segmentation_node(lifecycle=True, **{"model.checkpoint": str(tmp_path / "missing.pt")})
    assert seg.trigger_configure() == TransitionCallbackReturn.FAILURE
    assert "not found" in seg.last_error and "missing.pt" in seg.last_error
    assert seg.pipeline is None


def test_lifecycle_configure_fails_on_bad_parameter(ros):
    seg = ros.segmentation_node(lifecycle=True, precision="fp8")
    assert seg.trigger_configure() == TransitionCallbackReturn.FAILURE
    assert "precision" in seg.last_error


@pytest.mark.parametrize("camera", ["reliable", "best_effort"])
@pytest.mark.parametrize("viewer", ["reliable", "best_effort"])
def test_qos_matrix_with_node_defaults(ros, engine, camera, viewer):
    """A best-effort driver or a reliable bag player in; a reliable or best-effort viewer out."""
    seg = ros.segmentation_node(engine)
    tester = ros.node()
    ns = seg.get_namespace()
    pub = tester.create_publisher(
        Image, f"{ns}/camera/image", QoSProfile(depth=10, reliability=RELIABILITY[camera])
    )
    qos = QoSProfile(depth=10, reliability=RELIABILITY[viewer], durability=DurabilityPolicy.VOLATILE)
    labels = Collector(tester, Image, f"{ns}/camera/segmentation/labels", qos)
    assert publish_until(pub, _frame(5), labels)


def _segment_s(engine) -> float:
    """Seconds one engine call on a test-size frame takes on this machine, now."""
    from frrn_seg_ros.core.engine import Frame, OutputRequest

    frame = Frame(image_array("rgb8"), "rgb8")
    t0 = time.perf_counter()
    engine.segment([frame], OutputRequest())
    return time.perf_counter() - t0


def test_latency_stays_bounded_when_camera_outpaces_model(ros, engine):
    """A camera at 4x the model's rate (at most 100 Hz): outputs keep coming, overwrites are counted."""
    frame_period = min(0.01, min(_segment_s(engine) for _ in range(3)) / 4)  # outpaces it on any CPU
    seg = ros.segmentation_node(engine)
    tester = ros.node()
    ns = seg.get_namespace()
    pub = tester.create_publisher(
        Image, f"{ns}/camera/image", QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT)
    )
    ages: list[float] = []

    def on_labels(msg):
        now = tester.get_clock().now().nanoseconds
        ages.append((now - stamp_ns(msg.header)) / 1e9)

    tester.create_subscription(Image, f"{ns}/camera/segmentation/labels", on_labels, 10)
    template = array_to_image(image_array("rgb8"), "rgb8")
    sent, deadline = 0, time.monotonic() + 60.0  # counts decide; the deadline only for a broken node
    next_send = time.monotonic()  # a schedule: with a ~1 ms model the loop's own cost is not lost
    while (sent < 200 or len(ages) < 5) and time.monotonic() < deadline:
        template.header.stamp = tester.get_clock().now().to_msg()
        pub.publish(template)
        sent += 1
        next_send = max(next_send + frame_period, time.monotonic() - frame_period)
        time.sleep(max(0.0, next_send - time.monotonic()))
    snap = seg.pipeline.stats["camera"].snapshot()
    assert len(ages) >= 3
    assert snap.dropped_overwritten > snap.processed  # the mailbox dropped, no queue grew
    # The latency bound itself is checked across processes (test_process.py): in one interpreter
    # the test's own fast publisher competes with the node for the GIL.


def test_failed_configure_is_fixed_by_setting_the_parameter(ros, tmp_path):
    from rclpy.parameter import Parameter

    garbage = tmp_path / "model.pt"
    garbage.write_bytes(b"this is not a checkpoint\n" * 10)
    seg = ros.segmentation_node(lifecycle=True, **{"model.checkpoint": str(garbage)})
    assert seg.trigger_configure() == TransitionCallbackReturn.FAILURE
    assert "corrupt" in seg.last_error and "model.pt" in seg.last_error and seg.pipeline is None
    # Unconfigured: the model parameters can be corrected, then configure succeeds.
    assert seg.set_parameters([Parameter("model.checkpoint", value="")])[0].successful
    assert seg.trigger_configure() == TransitionCallbackReturn.SUCCESS and seg.pipeline is not None
    # Configured: they are fixed again, with a reason that says what to do.
    refused = seg.set_parameters([Parameter("precision", value="bf16")])[0]
    assert not refused.successful and "unconfigured" in refused.reason
    assert seg.trigger_cleanup() == TransitionCallbackReturn.SUCCESS


def test_qos_overrides_reach_dds(ros, engine):
    """Reliable input and transient-local output: a viewer that joins late still gets the last labels."""
    seg = ros.segmentation_node(
        engine, **{"qos.input.reliability": "reliable", "qos.output.durability": "transient_local"}
    )
    tester = ros.node()
    ns = seg.get_namespace()
    reliable = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE)
    pub = tester.create_publisher(Image, f"{ns}/camera/image", reliable)
    first = Collector(tester, Image, f"{ns}/camera/segmentation/labels")
    assert publish_until(pub, _frame(21), first)
    latched = QoSProfile(
        depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
    )
    late = Collector(tester, Image, f"{ns}/camera/segmentation/labels", latched)
    assert wait_for(lambda: late.find(lambda m: m.header.stamp.sec == 21), timeout=10.0)
    # The input subscription has the reliability asked for.
    assert seg.pipeline._subs["camera"].qos_profile.reliability == ReliabilityPolicy.RELIABLE
