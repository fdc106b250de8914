"""Helpers for the ROS tests (import as ``from rosutil import ...``): contexts, executors, collectors."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")

from rclpy.parameter import Parameter  # noqa: E402
from rclpy.qos import QoSProfile, ReliabilityPolicy  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402

from frrn_seg_ros.ros.participant import RosParticipant  # noqa: E402
from frrn_seg_ros.ros.stamps import stamp_ns  # noqa: E402

_COUNTER = itertools.count()
SIZE = (64, 96)  # (H, W): small so the CPU model stays fast


def unique(prefix: str) -> str:
    return f"{prefix}_{next(_COUNTER)}"


def make_engine():
    """One random-weight csrnet_light engine on CPU shared by the in-process tests."""
    from frrn_seg_ros.core.engine import EngineConfig, Frame, OutputRequest, SegmentationEngine

    eng = SegmentationEngine.from_architecture("csrnet_light", EngineConfig(device="cpu", warmup_iters=0))
    eng.segment([Frame(np.zeros((*SIZE, 3), np.uint8), "rgb8")], OutputRequest())  # first-call cost
    return eng


class Ros(RosParticipant):
    """The project's in-process participant (own context, two executor threads) with test helpers;
    nodes made or added are destroyed at close."""

    def __init__(self) -> None:
        super().__init__(threads=2)

    def node(self, name: str = "tester"):
        return self.create_node(unique(name))

    def segmentation_node(self, engine=None, namespace: str | None = None, lifecycle: bool = False, **params):
        from frrn_seg_ros.ros.lifecycle import SegmentationLifecycleNode
        from frrn_seg_ros.ros.node import SegmentationNode

        params.setdefault("model.architecture", "csrnet_light")
        params.setdefault("device", "cpu")
        params.setdefault("model.warmup_iters", 0)
        overrides = [Parameter(k, value=v) for k, v in params.items()]
        cls = SegmentationLifecycleNode if lifecycle else SegmentationNode
        node = cls(
            unique("seg"),
            namespace=namespace or "/" + unique("ns"),
            context=self.context,
            engine=engine,
            parameter_overrides=overrides,
        )
        return self.add(node)


class Collector:
    """Subscribes to a topic and keeps every message (thread-safe)."""

    def __init__(self, node, msg_type, topic: str, qos=None) -> None:
        self.msgs: list = []
        self._lock = threading.Lock()
        qos = qos or QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
        self.sub = node.create_subscription(msg_type, topic, self._cb, qos)

    def _cb(self, msg) -> None:
        with self._lock:
            self.msgs.append(msg)

    def find(self, pred: Callable) -> list:
        with self._lock:
            return [m for m in self.msgs if pred(m)]


def wait_for(pred: Callable[[], object], timeout: float = 30.0, period: float = 0.02):
    """``pred()``'s first truthy value, polled until ``timeout`` s (a deadline for a machine at
    load 10, not a speed check: a met condition returns at once); its last value otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(period)
    return pred()


def stamped(msg, frame_id: str, sec: int, nanosec: int = 0):
    msg.header.frame_id = frame_id
    msg.header.stamp.sec = sec
    msg.header.stamp.nanosec = nanosec
    return msg


def same_stamp(a, b) -> bool:
    return stamp_ns(a.header) == stamp_ns(b.header)


def publish_until(pub, msg, collector: Collector, timeout: float = 30.0, period: float = 0.25) -> list:
    """Publish ``msg`` every ``period`` s until ``collector`` has a message with its stamp."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pub.publish(msg)
        got = wait_for(lambda: collector.find(lambda m: same_stamp(m, msg)), timeout=period)
        if got:
            return got
    return []


def image_array(encoding: str, size=SIZE, seed: int = 0) -> np.ndarray:
    """Random test data of the right dtype/shape for ``encoding``."""
    from frrn_seg_ros.core.encodings import encoding_info

    info = encoding_info(encoding)
    rng = np.random.default_rng(seed)
    shape = (*size, info.channels) if info.channels > 1 else size
    high = 65535 if info.dtype == np.uint16 else 255
    return rng.integers(0, high, size=shape, dtype=info.dtype)


def input_qos(reliable: bool = False) -> QoSProfile:
    return QoSProfile(
        depth=1, reliability=ReliabilityPolicy.RELIABLE if reliable else ReliabilityPolicy.BEST_EFFORT
    )


__all__ = [
    "SIZE",
    "Collector",
    "Image",
    "Ros",
    "image_array",
    "publish_until",
    "stamped",
    "unique",
    "wait_for",
]
