"""Lockstep replay through the REAL node: a child ``segment_node`` process fed over DDS.

:class:`NodeReplay` starts ``python -m frrn_seg_ros.ros.main --ros-args -p ...`` with a local-only
DDS environment (``ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST``, a ``ROS_DOMAIN_ID``, the shipped
Fast DDS large-image profile), then for each frame publishes the image with RELIABLE QoS and
waits for the labels message carrying the same header stamp before sending the next one, so
every frame is processed (nothing overwritten in the node's single-slot mailbox). Frames are
restamped with the current time (so the node's own latency diagnostics are meaningful); the
frame_id is kept. It also listens to ``/diagnostics`` and keeps the camera's and the model's last
status. ``raw_labels_callback`` (e.g. :class:`~frrn_seg_ros.replay.record.OutputRecorder`)
gets the labels topic's serialized messages from a second, raw subscription.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from frrn_seg_ros.ros.env import child_env, configure_local_ros_env

LOG = logging.getLogger("frrn_seg_replay_eval")


def camera_of(image_topic: str) -> tuple[str, str]:
    """``'/cam/image'`` -> ``('cam', 'raw')``; ``'/cam/image/compressed'`` -> ``('cam', 'compressed')``."""
    topic = image_topic.strip("/")
    if topic.endswith("/image/compressed"):
        return topic[: -len("/image/compressed")], "compressed"
    if topic.endswith("/image"):
        return topic[: -len("/image")], "raw"
    raise ValueError(
        f"node mode needs an image topic named <camera>/image or <camera>/image/compressed, "
        f"got {image_topic!r} (use --image-topic)"
    )


class NodeReplay:
    """Context manager: the node child process plus an rclpy driver node in this process."""

    def __init__(
        self,
        camera: str,
        transport: str,
        node_params: dict[str, Any],
        log_path: Path,
        startup_timeout_s: float = 120.0,
        frame_timeout_s: float = 60.0,
        raw_labels_callback: Callable[[bytes], None] | None = None,
    ) -> None:
        self.camera, self.transport = camera, transport
        self.raw_labels_callback = raw_labels_callback
        self.params = {
            "cameras": [camera],
            "input_transport": transport,
            "qos.input.reliability": "reliable",
            "qos.output.reliability": "reliable",
            "qos.output.depth": 10,
            "publish.color": False,
            **node_params,
        }
        self.log_path = log_path
        self.startup_timeout_s, self.frame_timeout_s = startup_timeout_s, frame_timeout_s
        self.image_topic = f"/{camera}/image" + ("/compressed" if transport == "compressed" else "")
        self.labels_topic = f"/{camera}/segmentation/labels"
        self.last_diagnostics: dict[str, str] = {}
        self.model_diagnostics: dict[str, str] = {}
        self._received: dict[int, tuple[float, np.ndarray]] = {}
        self._cond = threading.Condition()
        self._proc: subprocess.Popen | None = None

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> NodeReplay:
        configure_local_ros_env()
        self._start_child()
        import rclpy
        from diagnostic_msgs.msg import DiagnosticArray
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
        from sensor_msgs.msg import CompressedImage, Image

        self._msg_type = CompressedImage if self.transport == "compressed" else Image
        self._context = rclpy.Context()
        rclpy.init(context=self._context)
        try:
            self._node = rclpy.create_node("frrn_seg_replay_eval", context=self._context)
            qos = QoSProfile(
                history=HistoryPolicy.KEEP_LAST, depth=10, reliability=ReliabilityPolicy.RELIABLE
            )
            self._pub = self._node.create_publisher(self._msg_type, self.image_topic, qos)
            self._node.create_subscription(Image, self.labels_topic, self._on_labels, qos)
            if self.raw_labels_callback is not None:
                self._node.create_subscription(
                    Image, self.labels_topic, self.raw_labels_callback, qos, raw=True
                )
            self._node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diagnostics, 10)
            self._executor = SingleThreadedExecutor(context=self._context)
            self._executor.add_node(self._node)
            self._spinner = threading.Thread(target=self._spin, daemon=True)
            self._spinner.start()
            self._wait_ready()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _start_child(self) -> None:
        args = [sys.executable, "-m", "frrn_seg_ros.ros.main", "--ros-args"]
        for name, value in self.params.items():
            args += ["-p", f"{name}:={_param_text(value)}"]
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log_file = open(self.log_path, "w")  # noqa: SIM115 - closed in __exit__
        LOG.info("starting node: %s", " ".join(args))
        self._proc = subprocess.Popen(args, stdout=self._log_file, stderr=subprocess.STDOUT, env=child_env())

    def _spin(self) -> None:
        try:
            while self._context.ok():
                self._executor.spin_once(timeout_sec=0.1)
        except Exception:
            pass

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout_s
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                raise RuntimeError(
                    f"the node exited with code {self._proc.returncode} during start-up; "
                    f"see {self.log_path}:\n{self._log_tail()}"
                )
            if self._pub.get_subscription_count() > 0 and self._node.count_publishers(self.labels_topic) > 0:
                time.sleep(0.3)  # let the reliable endpoints finish matching both ways
                return
            time.sleep(0.1)
        raise TimeoutError(
            f"the node did not come up within {self.startup_timeout_s:.0f} s; see {self.log_path}:\n"
            f"{self._log_tail()}"
        )

    def _log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text().splitlines()[-lines:])
        except OSError:
            return ""

    def __exit__(self, *exc: object) -> None:
        try:
            if hasattr(self, "_context") and self._context.ok():
                self._context.try_shutdown()
            if hasattr(self, "_spinner"):
                self._spinner.join(timeout=5)
        finally:
            if self._proc is not None and self._proc.poll() is None:
                self._proc.send_signal(signal.SIGINT)
                try:
                    self._proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    self._proc.kill()
                    self._proc.wait(timeout=5)
            if hasattr(self, "_log_file"):
                self._log_file.close()

    # ------------------------------------------------------------------ callbacks
    def _on_labels(self, msg: Any) -> None:
        from frrn_seg_ros.ros.conversions import image_to_array

        stamp = int(msg.header.stamp.sec) * 1_000_000_000 + int(msg.header.stamp.nanosec)
        labels = np.array(image_to_array(msg), dtype=np.uint8, copy=True)
        with self._cond:
            self._received[stamp] = (time.perf_counter(), labels)
            self._cond.notify_all()

    def _on_diagnostics(self, msg: Any) -> None:
        for status in msg.status:
            values = {kv.key: kv.value for kv in status.values}
            if status.name.endswith(f"camera {self.camera}"):
                level = status.level[0] if isinstance(status.level, (bytes, bytearray)) else int(status.level)
                self.last_diagnostics = {"level": str(level), "message": status.message, **values}
            elif status.name.endswith(": model"):
                self.model_diagnostics = values

    # ------------------------------------------------------------------ frames
    def process(self, msg: Any) -> tuple[np.ndarray, float] | None:
        """Publish ``msg`` (restamped now) and wait for its labels: ``(labels, latency_ms)`` or None."""
        now = self._node.get_clock().now().to_msg()
        msg.header.stamp = now
        stamp = int(now.sec) * 1_000_000_000 + int(now.nanosec)
        sent = time.perf_counter()
        self._pub.publish(msg)
        deadline = time.monotonic() + self.frame_timeout_s
        with self._cond:
            while stamp not in self._received:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or (self._proc is not None and self._proc.poll() is not None):
                    return None
                self._cond.wait(timeout=min(remaining, 0.5))
            received, labels = self._received.pop(stamp)
        return labels, (received - sent) * 1e3

    def wait_for_diagnostics(self, timeout_s: float = 3.0) -> None:
        """Give the node time to publish a /diagnostics status that includes the last frame."""
        target = time.monotonic() + timeout_s
        before = dict(self.last_diagnostics)
        while time.monotonic() < target:
            if self.last_diagnostics and self.last_diagnostics != before:
                return
            time.sleep(0.1)

    def node_alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None


def _param_text(value: Any) -> str:
    """A parameter value as ``--ros-args -p`` text (YAML: lists in brackets, strings quoted)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_param_text(v) for v in value) + "]"
    if isinstance(value, str):
        return f"'{value}'" if value and not value.startswith("'") else (value or "''")
    return str(value)


def environment_summary() -> dict[str, str]:
    """The DDS variables the child runs with (for the report)."""
    env = child_env()
    keys = (
        "ROS_AUTOMATIC_DISCOVERY_RANGE",
        "ROS_DOMAIN_ID",
        "FASTDDS_DEFAULT_PROFILES_FILE",
        "RMW_IMPLEMENTATION",
    )
    return {k: os.path.basename(env[k]) if k.endswith("FILE") else env[k] for k in keys if k in env}
