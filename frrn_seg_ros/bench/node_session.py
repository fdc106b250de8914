"""What the node benchmark and the soak share: the bench-side participant, the node child, frames.

:class:`Harness` publishes frames to a segment_node started by :func:`start_node` (the project's
:class:`~frrn_seg_ros.ros.node_process.NodeProcess`) and records, per labels message received,
``receipt time - header stamp`` (one clock: both processes stamp with the system clock), plus the
node's last camera diagnostics.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np

from frrn_seg_ros.ros.diagnostics import parse_status
from frrn_seg_ros.ros.node_process import NodeProcess, node_command
from frrn_seg_ros.ros.participant import RosParticipant, StampedReplies
from frrn_seg_ros.ros.stamps import stamp_ns

CAMERA = "camera"  # the node's default camera: topics <ns>/camera/image -> <ns>/camera/segmentation/labels
LATENCIES_KEPT = 10_000


class Harness:
    """A bench participant in this process: publishes frames, records labels latency and diagnostics."""

    def __init__(self, ns: str) -> None:
        from diagnostic_msgs.msg import DiagnosticArray
        from rclpy.qos import QoSProfile, ReliabilityPolicy
        from sensor_msgs.msg import Image

        self._ros = RosParticipant("frrn_seg_bench")
        self.node = self._ros.node
        qos_in = QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT)
        self.pub = self.node.create_publisher(Image, f"{ns}/{CAMERA}/image", qos_in)
        self.replies = StampedReplies()  # stamp ns -> latency ms
        self.latencies_ms: list[float] = []  # every labels message, in arrival order (bounded)
        self._lock = threading.Lock()
        self.diag: dict[str, str] = {}
        self.diag_time = float("nan")
        self.node.create_subscription(Image, f"{ns}/{CAMERA}/segmentation/labels", self._on_labels, 10)
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diag, 10)

    @property
    def count(self) -> int:
        """Labels messages received so far."""
        return self.replies.count

    def _on_labels(self, msg: Any) -> None:
        now = self.node.get_clock().now().nanoseconds
        stamp = stamp_ns(msg.header)
        latency_ms = (now - stamp) / 1e6
        with self._lock:
            self.latencies_ms.append(latency_ms)
            del self.latencies_ms[:-LATENCIES_KEPT]
        self.replies.put(stamp, latency_ms)

    def _on_diag(self, msg: Any) -> None:
        for status in map(parse_status, msg.status):
            if status.kind == "camera" and status.camera == CAMERA:
                self.diag = status.values
                self.diag_time = time.monotonic()

    def send(self, msg: Any) -> int:
        """Publish ``msg`` restamped now; its stamp in ns."""
        msg.header.stamp = self.node.get_clock().now().to_msg()
        self.pub.publish(msg)
        return stamp_ns(msg.header)

    def roundtrip(self, msg: Any, timeout: float) -> float | None:
        """Latency ms of ``msg``'s labels (None if they did not come within ``timeout`` s)."""
        return self.replies.wait_pop(self.send(msg), timeout)

    def last_latencies(self, count: int) -> list[float]:
        with self._lock:
            return self.latencies_ms[-count:]

    def close(self) -> None:
        self._ros.close()


def start_node(ns: str, model: str, device: str, extra: dict[str, object] | None = None) -> NodeProcess:
    """segment_node in namespace ``ns`` with random ``model`` weights (unless ``extra`` sets
    model.checkpoint), no warm-up, 0.5 s diagnostics; ``extra``: more parameters."""
    params = {
        "model.architecture": model,
        "device": device,
        "model.warmup_iters": 0,
        "diagnostics.period_s": 0.5,
        **(extra or {}),
    }
    return NodeProcess(node_command(ns, params))


def frames_for(size: tuple[int, int], count: int = 4, kind: str = "scene") -> list[np.ndarray]:
    """``count`` ``(H, W, 3)`` uint8 camera frames (seeded): synthetic street scenes (``scene``:
    large regions, as a camera sees) or uniform noise (``noise``: the worst case for the labels'
    boundary band, where almost every pixel borders another class)."""
    if kind == "noise":
        rng = np.random.default_rng(0)
        return [rng.integers(0, 256, (*size, 3), dtype=np.uint8) for _ in range(count)]
    from frrn_seg_training.synthetic import render_scene

    return [render_scene(np.random.default_rng([7, index]), *size)[0] for index in range(count)]
