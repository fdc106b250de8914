"""Lockstep replay through the REAL node: a child ``segment_node`` process fed over DDS.

:class:`NodeReplay` starts the node with :class:`~frrn_seg_ros.ros.node_process.NodeProcess`
(DDS on this machine, the Fast DDS large-image profile, its output in ``node.log``) and drives it
from a :class:`~frrn_seg_ros.ros.participant.RosParticipant`: for each frame it publishes the
image with RELIABLE QoS and waits for the labels message carrying the same header stamp before
sending the next one, so every frame is processed (nothing overwritten in the node's single-slot
mailbox). The node's outputs are latched (transient local): a labels message published before
the node's writer has matched this driver's reader still arrives once it has, so the first frame
does not depend on how fast discovery completes on the node's side. Frames are restamped with
the current time (so the node's own latency diagnostics are meaningful); the frame_id is kept.
It also listens to ``/diagnostics`` and keeps the camera's and the model's last status.
``raw_labels_callback`` (e.g. :class:`~frrn_seg_ros.replay.record.OutputRecorder`) gets the
labels topic's serialized messages from a second, raw subscription.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from frrn_seg_ros.ros.diagnostics import parse_status
from frrn_seg_ros.ros.env import child_env
from frrn_seg_ros.ros.node_process import NodeProcess, node_command
from frrn_seg_ros.ros.participant import RosParticipant, StampedReplies
from frrn_seg_ros.ros.stamps import stamp_ns

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
            "qos.output.durability": "transient_local",
            "publish.color": False,
            **node_params,
        }
        self.log_path = log_path
        self.startup_timeout_s, self.frame_timeout_s = startup_timeout_s, frame_timeout_s
        self.image_topic = f"/{camera}/image" + ("/compressed" if transport == "compressed" else "")
        self.labels_topic = f"/{camera}/segmentation/labels"
        self.last_diagnostics: dict[str, str] = {}
        self.model_diagnostics: dict[str, str] = {}
        self._replies = StampedReplies()  # stamp -> (perf_counter at receipt, labels)
        self._node_process: NodeProcess | None = None
        self._ros: RosParticipant | None = None

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> NodeReplay:
        cmd = node_command(params=self.params)
        LOG.info("starting node: %s", " ".join(cmd))
        self._node_process = NodeProcess(cmd, log_path=self.log_path)
        try:
            from diagnostic_msgs.msg import DiagnosticArray
            from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
            from sensor_msgs.msg import CompressedImage, Image

            self._ros = RosParticipant("frrn_seg_replay_eval")
            node = self._node = self._ros.node
            # Latched both ways: a late-matching latched reader (the demo's live view) still gets
            # the frames and labels sent before it matched; the node's volatile input gets none.
            latched = QoSProfile(
                history=HistoryPolicy.KEEP_LAST,
                depth=10,
                reliability=ReliabilityPolicy.RELIABLE,
                durability=DurabilityPolicy.TRANSIENT_LOCAL,
            )
            msg_type = CompressedImage if self.transport == "compressed" else Image
            self._pub = node.create_publisher(msg_type, self.image_topic, latched)
            self._labels_sub = node.create_subscription(Image, self.labels_topic, self._on_labels, latched)
            if self.raw_labels_callback is not None:
                node.create_subscription(
                    Image, self.labels_topic, self.raw_labels_callback, latched, raw=True
                )
            node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diagnostics, 10)
            self._wait_ready()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout_s
        while time.monotonic() < deadline:
            if not self.node_alive():
                raise RuntimeError(
                    f"the node exited with code {self._node_process.returncode} during start-up; "
                    f"see {self.log_path}:\n{self._node_process.tail()}"
                )
            ours = self._pub.get_subscription_count() > 0 and self._labels_sub.get_publisher_count() > 0
            theirs = self.last_diagnostics.get("input_publishers", "")
            if ours and theirs.isdigit() and int(theirs) > 0:
                # Both views of the input matter: a volatile reader that matches this writer only
                # after a frame was sent can take that frame for history and never get it (seen on
                # a busy machine: the node never received the demo's first frame, and the replay
                # waited out its 60 s frame timeout). The node's own view comes in its diagnostics;
                # the labels are latched (see above).
                return
            time.sleep(0.1)
        raise TimeoutError(
            f"the node did not come up within {self.startup_timeout_s:.0f} s; see {self.log_path}:\n"
            f"{self._node_process.tail()}"
        )

    def __exit__(self, *exc: object) -> None:
        try:
            if self._ros is not None:
                self._ros.close()
        finally:
            if self._node_process is not None:
                self._node_process.stop(timeout=15.0)

    # ------------------------------------------------------------------ callbacks
    def _on_labels(self, msg: Any) -> None:
        from frrn_seg_ros.ros.conversions import image_to_array

        labels = np.array(image_to_array(msg), dtype=np.uint8, copy=True)
        self._replies.put(stamp_ns(msg.header), (time.perf_counter(), labels))

    def _on_diagnostics(self, msg: Any) -> None:
        for status in map(parse_status, msg.status):
            if status.kind == "camera" and status.camera == self.camera:
                self.last_diagnostics = status.as_dict()
            elif status.kind == "model":
                self.model_diagnostics = status.values

    # ------------------------------------------------------------------ frames
    def process(self, msg: Any) -> tuple[np.ndarray, float] | None:
        """Publish ``msg`` (restamped now) and wait for its labels: ``(labels, latency_ms)`` or None."""
        msg.header.stamp = self._node.get_clock().now().to_msg()
        sent = time.perf_counter()
        self._pub.publish(msg)
        reply = self._replies.wait_pop(stamp_ns(msg.header), self.frame_timeout_s, self.node_alive)
        if reply is None:
            return None
        received, labels = reply
        return labels, (received - sent) * 1e3

    def wait_for_diagnostics(self, processed: int, timeout_s: float = 30.0) -> bool:
        """Wait until the node's camera status counts ``processed`` output frames (the replay's own
        count) and its model status came; False after ``timeout_s`` or once the node has exited.

        Waits on the count, not on "a newer status": a status published just before the last frame
        was processed can arrive after it, and a busy machine may publish late."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and self.node_alive():
            counted = self.last_diagnostics.get("frames_processed", "")
            if counted.isdigit() and int(counted) >= processed and self.model_diagnostics:
                return True
            time.sleep(0.05)
        return False

    def node_alive(self) -> bool:
        return self._node_process is not None and self._node_process.alive()

    @property
    def pid(self) -> int | None:
        return self._node_process.pid if self._node_process else None


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
