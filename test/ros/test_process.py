"""segment_node as a separate process: DDS across processes, --ros-args, YAML, exit codes, Ctrl-C."""

from __future__ import annotations

import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rosutil import Collector, image_array, input_qos, publish_until, stamped, unique, wait_for
from sensor_msgs.msg import Image

from frrn_seg_ros.ros.conversions import array_to_image, image_to_array
from frrn_seg_ros.ros.env import child_env

pytestmark = pytest.mark.ros
ROOT = Path(__file__).resolve().parents[2]


def _start(ns: str, *params: str, lifecycle: bool = False) -> subprocess.Popen:
    cmd = [
        sys.executable,
        "-m",
        "frrn_seg_ros.ros.main",
        *(["--lifecycle"] if lifecycle else []),
        "--ros-args",
        "-r",
        f"__ns:={ns}",
        "--params-file",
        str(ROOT / "config" / "segment.yaml"),
        "-p",
        "model.architecture:=csrnet_light",
        "-p",
        "device:=cpu",
        "-p",
        "model.warmup_iters:=0",
    ]
    for p in params:
        cmd += ["-p", p]
    return subprocess.Popen(cmd, env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _stop(proc: subprocess.Popen, sig=signal.SIGINT, timeout: float = 20.0) -> tuple[int, str]:
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        return -999, out
    return proc.returncode, out


def test_child_node_serves_two_cameras_and_exits_cleanly_on_sigint(ros):
    ns = "/" + unique("proc")
    proc = _start(ns, "cameras:=[left,right]", "publish.overlay:=true")
    try:
        tester = ros.node()
        for k, cam in enumerate(("left", "right")):
            pub = tester.create_publisher(Image, f"{ns}/{cam}/image", input_qos())
            labels = Collector(tester, Image, f"{ns}/{cam}/segmentation/labels")
            overlay = Collector(tester, Image, f"{ns}/{cam}/segmentation/overlay")
            msg = stamped(
                array_to_image(image_array("bgra8", (48, 80), seed=k), "bgra8"), f"{cam}_opt", 3 + k, 77
            )
            got = publish_until(pub, msg, labels, timeout=60.0)
            assert got, f"no labels from the child for {cam}"
            assert got[0].header.frame_id == f"{cam}_opt" and got[0].header.stamp.nanosec == 77
            assert image_to_array(got[0]).shape == (48, 80)
            more = publish_until(pub, msg, overlay, timeout=20.0)
            assert more and (more[0].height, more[0].width, more[0].encoding) == (48, 80, "rgb8")
    finally:
        code, out = _stop(proc)
    assert code == 0, out[-3000:]


@pytest.mark.parametrize(
    ("param", "needle"),
    [
        ("precision:=fp8", "precision"),
        ("qos.input.reliability:=sometimes", "qos.input.reliability"),
        ("model.checkpoint:=/nonexistent/model.safetensors", "checkpoint not found"),
    ],
)
def test_child_node_refuses_bad_configuration_with_one_clear_error(param, needle):
    proc = _start("/" + unique("bad"), param)
    out, _ = proc.communicate(timeout=60.0)
    code = proc.returncode
    assert code != 0
    errors = [line for line in out.splitlines() if "error:" in line]
    assert len(errors) == 1 and needle in errors[0], out[-3000:]


def test_child_lifecycle_node_through_change_state(ros):
    from lifecycle_msgs.msg import Transition
    from lifecycle_msgs.srv import ChangeState

    ns = "/" + unique("lc")
    proc = _start(ns, lifecycle=True)
    try:
        tester = ros.node()
        client = tester.create_client(ChangeState, f"{ns}/segmentation/change_state")
        assert client.wait_for_service(timeout_sec=60.0)

        def change(tid: int) -> bool:
            future = client.call_async(ChangeState.Request(transition=Transition(id=tid)))
            assert wait_for(future.done, timeout=60.0)
            return future.result().success

        pub = tester.create_publisher(Image, f"{ns}/camera/image", input_qos())
        labels = Collector(tester, Image, f"{ns}/camera/segmentation/labels")
        assert change(Transition.TRANSITION_CONFIGURE)
        assert change(Transition.TRANSITION_ACTIVATE)
        msg = stamped(array_to_image(image_array("mono16"), "mono16"), "lc", 9)
        assert publish_until(pub, msg, labels, timeout=30.0)
        assert change(Transition.TRANSITION_DEACTIVATE)
        assert change(Transition.TRANSITION_CLEANUP)
    finally:
        code, out = _stop(proc)
    assert code == 0, out[-3000:]


PUBLISHER = """
import sys, time
from frrn_seg_ros.ros.env import configure_local_ros_env
configure_local_ros_env()
import numpy as np, rclpy
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
from frrn_seg_ros.ros.conversions import array_to_image
rclpy.init()
node = rclpy.create_node("big_publisher")
qos = QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT)
pub = node.create_publisher(Image, sys.argv[1], qos)
msg = array_to_image(np.full((1024, 2048, 3), 7, np.uint8), "rgb8")
deadline = time.time() + 30
while pub.get_subscription_count() == 0 and time.time() < deadline:
    time.sleep(0.05)
time.sleep(0.5)
for i in range(10):
    msg.header.stamp.sec = i + 1
    pub.publish(msg)
    time.sleep(0.1)
time.sleep(0.5)
node.destroy_node(); rclpy.shutdown()
"""


def test_large_images_cross_processes_with_the_profile(ros):
    """1024x2048 rgb8 (6.3 MB) best effort between processes: lost without the profile, kept with it."""
    topic = f"/{unique('big')}/image"
    tester = ros.node()
    got = Collector(tester, Image, topic, QoSProfile(depth=10, reliability=ReliabilityPolicy.BEST_EFFORT))
    proc = subprocess.run(
        [sys.executable, "-c", PUBLISHER, topic], env=child_env(), timeout=120, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    time.sleep(0.5)
    stamps = {m.header.stamp.sec for m in got.msgs}
    assert len(stamps) >= 9, f"received {sorted(stamps)} of 1..10"
    assert np.all(image_to_array(got.msgs[-1]) == 7)


def test_latency_stays_bounded_when_the_camera_outpaces_the_model(ros):
    """A 100 Hz camera into the real node process: output ages do not grow, frames are dropped."""
    ns = "/" + unique("fast")
    proc = _start(ns)
    try:
        tester = ros.node()
        pub = tester.create_publisher(
            Image, f"{ns}/camera/image", QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT)
        )
        ages: list[float] = []

        def on_labels(msg):
            now = tester.get_clock().now().nanoseconds
            ages.append((now - (msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec)) / 1e9)

        tester.create_subscription(Image, f"{ns}/camera/segmentation/labels", on_labels, 10)
        template = array_to_image(image_array("rgb8", (96, 160)), "rgb8")
        assert wait_for(lambda: (pub.publish(template), ages)[1], timeout=60.0)  # node up
        ages.clear()
        sent, deadline = 0, time.monotonic() + 5.0
        while time.monotonic() < deadline:
            template.header.stamp = tester.get_clock().now().to_msg()
            pub.publish(template)
            sent += 1
            time.sleep(0.01)
        time.sleep(1.0)
    finally:
        code, out = _stop(proc)
    assert code == 0, out[-3000:]
    assert len(ages) >= 5, (sent, ages)
    assert len(ages) < sent / 2, (sent, len(ages))  # frames were dropped, not queued
    # A queue would make every output older than the one before; one hiccup must not decide it.
    third = max(2, len(ages) // 3)
    assert statistics.median(ages) < 0.5, ages
    assert statistics.median(ages[-third:]) <= statistics.median(ages[:third]) + 0.25, ages
