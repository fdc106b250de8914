"""rosbag2 (mcap or sqlite3) reading and writing through the pure-Python ``rosbags`` (no ROS
installation needed to write a bag, nor ``ros2 bag``).

Writing: :class:`BagWriter` stores sensor_msgs/Image (rgb8, mono8 labels) and
sensor_msgs/CompressedImage (jpeg/png) with a header stamp = the bag's log time, or serialized
messages as received (``write_serialized``).
Reading: :func:`read_frames` pairs the image, ground-truth and prediction topics by HEADER stamp
(not log time: recorded node outputs are logged later than their input) and yields
:class:`BagFrame` objects, decoding images with the node's own conversions
(:mod:`frrn_seg_ros.ros.conversions`, which import ``sensor_msgs``: reading needs the ROS
message packages, as the node does). rosbags hands back memoryviews; ``BagImage.cdr`` keeps the serialized
message as ``bytes`` so it can be republished unchanged with rclpy
(``rclpy.serialization.deserialize_message(cdr, Image)``; both CDR encoders are byte-identical).
"""

from __future__ import annotations

import contextlib
import io
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image as PILImage

from frrn_seg_ros.core.encodings import encoding_info
from frrn_seg_ros.ros.stamps import ns_of, split_ns
from frrn_seg_ros.ros.stamps import stamp_ns as header_stamp_ns

IMAGE_TYPE = "sensor_msgs/msg/Image"
COMPRESSED_TYPE = "sensor_msgs/msg/CompressedImage"
STORAGES = ("mcap", "sqlite3")
BAG_VERSION = 8  # the oldest metadata version rosbags writes; read by Jazzy and newer


def get_ros2_typestore() -> Any:
    """The newest ROS 2 type store this rosbags has (Kilted, else Jazzy, else Humble)."""
    from rosbags.typesys import Stores, get_typestore

    for name in ("ROS2_KILTED", "ROS2_JAZZY", "ROS2_HUMBLE"):
        if hasattr(Stores, name):
            return get_typestore(getattr(Stores, name))
    raise RuntimeError("rosbags has no ROS 2 type store (Humble or newer); upgrade rosbags")


@dataclass
class BagImage:
    """One image message: ``frame`` (engine Frame: ``data`` ``(H, W[, C])`` + ``encoding``) and its
    serialized form ``cdr`` (empty for images that did not come from a bag)."""

    msgtype: str
    frame: Any
    cdr: bytes = b""
    compressed_format: str = ""


@dataclass
class BagFrame:
    """Everything the bag holds for one header stamp (any part may be missing)."""

    stamp_ns: int
    frame_id: str = ""
    image: BagImage | None = None
    ground_truth: np.ndarray | None = None  # (H, W) uint8 train ids
    prediction: np.ndarray | None = None  # (H, W) uint8 train ids (recorded node output)
    log_time_ns: dict[str, int] = field(default_factory=dict)


def _header(typestore: Any, stamp_ns: int, frame_id: str) -> Any:
    time_cls = typestore.types["builtin_interfaces/msg/Time"]
    header_cls = typestore.types["std_msgs/msg/Header"]
    sec, nanosec = split_ns(stamp_ns)
    return header_cls(stamp=time_cls(sec=sec, nanosec=nanosec), frame_id=frame_id)


def encode_compressed(rgb: np.ndarray, fmt: str, quality: int = 95) -> bytes:
    """JPEG or PNG bytes of an ``(H, W, 3)`` or ``(H, W)`` uint8 image."""
    buf = io.BytesIO()
    if fmt == "jpeg":
        PILImage.fromarray(rgb).save(buf, format="JPEG", quality=quality)
    elif fmt == "png":
        PILImage.fromarray(rgb).save(buf, format="PNG")
    else:
        raise ValueError(f"compressed format must be 'jpeg' or 'png', got {fmt!r}")
    return buf.getvalue()


def message_to_frame(msg: Any) -> Any:
    """Decode a rosbags Image or CompressedImage into an engine ``Frame`` (data + encoding).

    Uses the node's own conversions (:mod:`frrn_seg_ros.ros.conversions`, duck-typed on the
    message fields), so bag replay decodes exactly as the node does; raw images stay zero-copy.
    """
    from frrn_seg_ros.ros.conversions import compressed_to_frame, image_to_frame

    return compressed_to_frame(msg) if hasattr(msg, "format") else image_to_frame(msg)


class BagWriter:
    """Write image / label topics into a new rosbag2 folder (``storage`` 'mcap' or 'sqlite3')."""

    def __init__(self, path: str | Path, storage: str = "mcap") -> None:
        from rosbags.rosbag2 import StoragePlugin, Writer

        if storage not in STORAGES:
            raise ValueError(f"storage must be one of {STORAGES}, got {storage!r}")
        self.path = Path(path)
        if self.path.exists():
            raise FileExistsError(f"output bag already exists: {self.path} (remove it or choose another)")
        plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
        self.typestore = get_ros2_typestore()
        self._writer = Writer(self.path, version=BAG_VERSION, storage_plugin=plugin)
        self._writer.open()
        self._connections: dict[str, Any] = {}
        self.count = 0

    def _connection(self, topic: str, msgtype: str) -> Any:
        conn = self._connections.get(topic)
        if conn is None:
            conn = self._writer.add_connection(topic, msgtype, typestore=self.typestore)
            self._connections[topic] = conn
        return conn

    def _write(self, topic: str, msgtype: str, msg: Any, log_time_ns: int) -> None:
        data = self.typestore.serialize_cdr(msg, msgtype)
        self._writer.write(self._connection(topic, msgtype), log_time_ns, data)
        self.count += 1

    def write_serialized(self, topic: str, msgtype: str, cdr: bytes, log_time_ns: int) -> None:
        """Write an already serialized message (e.g. rclpy's ``serialize_message`` or a raw
        subscription's bytes), as ``ros2 bag record`` stores what it receives."""
        self._writer.write(self._connection(topic, msgtype), log_time_ns, bytes(cdr))
        self.count += 1

    def write_image(
        self,
        topic: str,
        array: np.ndarray,
        stamp_ns: int,
        frame_id: str,
        encoding: str | None = None,
        log_time_ns: int | None = None,
    ) -> None:
        """Write a raw Image; ``array`` ``(H, W, 3)`` (default rgb8) or ``(H, W)`` (default mono8).

        The bag's log time is ``log_time_ns`` (default: the header stamp, as a live recording of a
        camera would have it within transport delay)."""
        array = np.ascontiguousarray(array, dtype=np.uint8)
        encoding = encoding or ("rgb8" if array.ndim == 3 else "mono8")
        channels = encoding_info(encoding).channels
        if (array.shape[2] if array.ndim == 3 else 1) != channels:
            raise ValueError(f"array of shape {array.shape} does not fit encoding {encoding}")
        msg = self.typestore.types[IMAGE_TYPE](
            header=_header(self.typestore, stamp_ns, frame_id),
            height=array.shape[0],
            width=array.shape[1],
            encoding=encoding,
            is_bigendian=0,
            step=array.shape[1] * channels,
            data=array.reshape(-1),
        )
        self._write(topic, IMAGE_TYPE, msg, stamp_ns if log_time_ns is None else log_time_ns)

    def write_compressed(
        self,
        topic: str,
        array: np.ndarray,
        stamp_ns: int,
        frame_id: str,
        fmt: str = "jpeg",
        quality: int = 95,
    ) -> None:
        """Write a CompressedImage (format string as compressed_image_transport writes it)."""
        payload = np.frombuffer(encode_compressed(array, fmt, quality), dtype=np.uint8)
        enc = "rgb8" if array.ndim == 3 else "mono8"
        msg = self.typestore.types[COMPRESSED_TYPE](
            header=_header(self.typestore, stamp_ns, frame_id),
            format=f"{enc}; {fmt} compressed {'bgr8' if array.ndim == 3 else 'mono8'}",
            data=payload,
        )
        self._write(topic, COMPRESSED_TYPE, msg, stamp_ns)

    def close(self) -> None:
        self._writer.close()

    def __enter__(self) -> BagWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextlib.contextmanager
def open_reader(path: str | Path) -> Iterator[Any]:
    """An opened rosbags ``Reader`` (closed on exit); FileNotFoundError / ValueError name the problem."""
    from rosbags.rosbag2 import Reader
    from rosbags.rosbag2.errors import ReaderError

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"bag not found: {path}")
    try:
        reader = Reader(path)
        reader.open()
    except ReaderError as exc:
        raise ValueError(f"{path} is not a readable rosbag2 (mcap or sqlite3) folder: {exc}") from None
    try:
        yield reader
    finally:
        reader.close()


def bag_topics(path: str | Path) -> dict[str, str]:
    """``{topic: msgtype}`` of a bag (mcap or sqlite3)."""
    with open_reader(path) as reader:
        return {c.topic: c.msgtype for c in reader.connections}


def read_frames(
    path: str | Path,
    image_topic: str | None = "/camera/image",
    gt_topic: str | None = "/camera/segmentation/ground_truth",
    prediction_topic: str | None = None,
    window: int = 64,
) -> Iterator[BagFrame]:
    """Yield one :class:`BagFrame` per header stamp, in stamp order within a sliding window.

    A topic given but absent from the bag raises ``ValueError`` listing the bag's topics, except
    ``gt_topic`` (ground truth is optional). A frame is yielded once it has every wanted part, or
    when ``window`` newer stamps have been seen (then missing parts stay None).
    """
    path = Path(path)
    with open_reader(path) as reader:
        topics = {c.topic: c for c in reader.connections}
        wanted: dict[str, str] = {}
        for role, topic in (("image", image_topic), ("prediction", prediction_topic), ("gt", gt_topic)):
            if not topic:
                continue
            if topic not in topics:
                if role == "gt":
                    continue
                raise ValueError(f"topic {topic!r} not in bag {path}; it holds: {sorted(topics)}")
            if topics[topic].msgtype not in (IMAGE_TYPE, COMPRESSED_TYPE):
                raise ValueError(f"topic {topic!r} holds {topics[topic].msgtype}, not an image")
            wanted[topic] = role
        typestore = get_ros2_typestore()
        pending: dict[int, BagFrame] = {}
        conns = [topics[t] for t in wanted]
        for conn, log_ns, raw in reader.messages(connections=conns):
            role = wanted[conn.topic]
            msg = typestore.deserialize_cdr(raw, conn.msgtype)
            stamp = header_stamp_ns(msg.header)
            frame = pending.setdefault(stamp, BagFrame(stamp, msg.header.frame_id))
            frame.log_time_ns[role] = log_ns
            decoded = message_to_frame(msg)
            if role == "image":
                fmt = getattr(msg, "format", "")
                frame.image = BagImage(conn.msgtype, decoded, bytes(raw), fmt)
            else:
                if decoded.data.ndim != 2 or decoded.data.dtype != np.uint8:
                    raise ValueError(f"{conn.topic} must hold mono8 label images, got {decoded.encoding}")
                setattr(frame, "ground_truth" if role == "gt" else "prediction", decoded.data)
            if all(_has(frame, r) for r in wanted.values()):
                yield pending.pop(stamp)
            while len(pending) > window:
                yield pending.pop(min(pending))
        for stamp in sorted(pending):
            yield pending[stamp]


def _has(frame: BagFrame, role: str) -> bool:
    return {"image": frame.image, "gt": frame.ground_truth, "prediction": frame.prediction}[role] is not None


def _cdr_stamp(raw: bytes | memoryview) -> int:
    """The header stamp (ns) of a serialized message that starts with a std_msgs/Header."""
    little = bytes(raw[1:2]) == b"\x01"  # encapsulation CDR_LE (0x0001) or CDR_BE (0x0000)
    sec, nanosec = struct.unpack_from("<iI" if little else ">iI", raw, 4)
    return ns_of(sec, nanosec)


def frame_count(path: str | Path, topics: list[str | None]) -> int:
    """Distinct header stamps over ``topics`` (those in the bag): the frames :func:`read_frames`
    yields for them, complete or not. Reads only each message's header stamp."""
    wanted = {t for t in topics if t}
    with open_reader(path) as reader:
        conns = [c for c in reader.connections if c.topic in wanted]
        if not conns:
            return 0
        return len({_cdr_stamp(raw) for _, _, raw in reader.messages(connections=conns)})
