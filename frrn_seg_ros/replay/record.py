"""Record the node's outputs during a node-mode replay into a rosbag2, to evaluate later.

:class:`OutputRecorder` does for ``frrn_seg_replay_eval --mode node --record-bag BAG`` what
``ros2 bag record /camera/image /camera/segmentation/ground_truth /camera/segmentation/labels``
does on a ROS installation (where ``ros2 bag`` is available, prefer it): the labels topic's
serialized messages are stored exactly as a subscriber received them, with the receipt time
(system clock) as log time, next to the input image as published (restamped) and the ground
truth under the same header stamp. Score the bag later with
``frrn_seg_replay_eval --bag BAG --predictions-topic /camera/segmentation/labels``.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from frrn_seg_ros.ros.stamps import stamp_ns

from .bag_io import COMPRESSED_TYPE, IMAGE_TYPE, BagWriter


class OutputRecorder:
    """Bag writer fed from two threads: raw labels from the subscription, inputs from the replay."""

    def __init__(self, path: str | Path, image_topic: str, gt_topic: str, labels_topic: str) -> None:
        self.writer = BagWriter(path)
        self.image_topic, self.gt_topic, self.labels_topic = image_topic, gt_topic, labels_topic
        self._lock = threading.Lock()
        self._labels: list[tuple[int, bytes]] = []
        self.labels_received = 0

    def on_raw_labels(self, cdr: bytes) -> None:
        """Raw subscription callback (rclpy ``raw=True``): keep the bytes and the receipt time."""
        now = time.time_ns()
        with self._lock:
            self._labels.append((now, bytes(cdr)))
            self.labels_received += 1

    def write_input(self, msg: Any, ground_truth: np.ndarray | None) -> None:
        """Store the image message as published (after the replay restamped it) and its ground
        truth (mono8 train ids, same stamp), then the labels received so far."""
        from rclpy.serialization import serialize_message

        stamp = stamp_ns(msg.header)
        msgtype = COMPRESSED_TYPE if hasattr(msg, "format") else IMAGE_TYPE
        self.writer.write_serialized(self.image_topic, msgtype, serialize_message(msg), stamp)
        if ground_truth is not None:
            self.writer.write_image(self.gt_topic, ground_truth, stamp, msg.header.frame_id, "mono8")
        self.flush()

    def flush(self) -> None:
        with self._lock:
            pending, self._labels = self._labels, []
        for log_ns, cdr in pending:
            self.writer.write_serialized(self.labels_topic, IMAGE_TYPE, cdr, log_ns)

    def close(self, expected_labels: int, timeout_s: float = 30.0) -> None:
        """Wait (up to ``timeout_s``) until ``expected_labels`` arrived, write them, close the bag."""
        deadline = time.monotonic() + timeout_s
        while self.labels_received < expected_labels and time.monotonic() < deadline:
            time.sleep(0.05)
        self.flush()
        self.writer.close()
