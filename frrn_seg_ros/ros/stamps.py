"""Header stamps <-> integer nanoseconds: the one conversion every part of the project uses.

Duck-typed on ``stamp.sec`` / ``stamp.nanosec``, so it serves rclpy messages and the pure-Python
``rosbags`` messages alike, and imports nothing from ROS.
"""

from __future__ import annotations

from typing import Any

NS_PER_S = 1_000_000_000


def ns_of(sec: int, nanosec: int) -> int:
    """``sec`` + ``nanosec`` as integer nanoseconds."""
    return int(sec) * NS_PER_S + int(nanosec)


def time_ns(stamp: Any) -> int:
    """A ``builtin_interfaces/Time`` (``.sec``, ``.nanosec``) as integer nanoseconds."""
    return ns_of(stamp.sec, stamp.nanosec)


def stamp_ns(header: Any) -> int:
    """A ``std_msgs/Header``'s stamp as integer nanoseconds."""
    return time_ns(header.stamp)


def split_ns(ns: int) -> tuple[int, int]:
    """Integer nanoseconds as ``(sec, nanosec)``, the fields of a ``builtin_interfaces/Time``."""
    sec, nanosec = divmod(int(ns), NS_PER_S)
    return sec, nanosec


def set_stamp_ns(header: Any, ns: int) -> None:
    """Write integer nanoseconds into ``header.stamp``."""
    header.stamp.sec, header.stamp.nanosec = split_ns(ns)
