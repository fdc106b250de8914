"""Latched class metadata: std_msgs/String JSON always, vision_msgs/LabelInfo when importable."""

from __future__ import annotations

import json
from typing import Any

from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from std_msgs.msg import String

LATCHED = QoSProfile(
    depth=1,
    history=HistoryPolicy.KEEP_LAST,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.TRANSIENT_LOCAL,
)


def classes_payload(architecture: str, names: list[str], colors: list[list[int]], **extra: Any) -> dict:
    """``{"architecture", "num_classes", "classes": [{"id", "name", "color": [r, g, b]}], ...extra}``."""
    return {
        "architecture": architecture,
        "num_classes": len(names),
        "classes": [
            {"id": i, "name": name, "color": [int(c) for c in color]}
            for i, (name, color) in enumerate(zip(names, colors, strict=True))
        ],
        **extra,
    }


def publish_class_metadata(node, payload: dict, header=None) -> list:
    """Create latched publishers ``segmentation/classes`` (+ ``segmentation/label_info``); publish once.

    Returns the publishers (keep them alive: late joiners get the message from them).
    """
    pubs = []
    classes_pub = node.create_publisher(String, "segmentation/classes", LATCHED)
    classes_pub.publish(String(data=json.dumps(payload)))
    pubs.append(classes_pub)
    try:
        from vision_msgs.msg import LabelInfo, VisionClass
    except ImportError:
        return pubs
    msg = LabelInfo()
    if header is not None:
        msg.header = header
    msg.class_map = [VisionClass(class_id=c["id"], class_name=c["name"]) for c in payload["classes"]]
    msg.threshold = 0.0
    label_pub = node.create_publisher(LabelInfo, "segmentation/label_info", LATCHED)
    label_pub.publish(msg)
    pubs.append(label_pub)
    return pubs
