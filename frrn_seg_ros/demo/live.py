"""The demo's live view of the running node: its topics, a diagnostics line a second, sample frames.

:class:`LiveView` is a second rclpy participant in the demo process (its own context and spin
thread, beside the replay driver). It asks the ROS graph which topics the node publishes, turns
the node's ``/diagnostics`` camera status into one short line about once a second, and keeps a
few (input, labels) pairs, matched by header stamp, for :func:`save_demo_panel`
(input / colour labels / overlay, coloured with the checkpoint's palette like the node does).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from frrn_seg_ros.ros.stamps import stamp_ns

LEVELS = {0: "OK", 1: "WARN", 2: "ERROR", 3: "STALE"}
HIDDEN_TOPICS = ("/rosout", "/parameter_events")

def diagnostics_line(level: int, message: str, values: dict[str, str]) -> str:
    """One line from a camera's diagnostics key/values (see :mod:`frrn_seg_ros.ros.diagnostics`)."""

    def num(key: str, fmt: str = "{:.0f}") -> str:
        try:
            value = float(values.get(key, "nan"))
        except ValueError:
            return "-"
        return "-" if value != value else fmt.format(value)

    line = (
        f"live | in {values.get('frames_received', '?')} / out {values.get('frames_processed', '?')} frames"
        f" | output {num('output_rate_hz', '{:.1f}')} Hz"
        f" | latency p50 {num('latency_p50_ms')} ms p95 {num('latency_p95_ms')} ms"
        f" | dropped {values.get('frames_dropped', '?')} | {LEVELS.get(level, level)}"
    )
    return line if message in ("", "ok") else f"{line} ({message})"


class LiveView:
    """Watch node ``node_name`` and camera ``camera``; ``write`` prints a line (e.g. ``tqdm.write``)."""

    def __init__(
        self,
        camera: str,
        total_frames: int,
        keep: int = 3,
        node_name: str = "segmentation",
        write: Callable[[str], None] = print,
        every_s: float = 1.0,
    ) -> None:
        self.camera, self.node_name, self.write, self.every_s = camera, node_name, write, every_s
        self.wanted = set(
            np.linspace(0, max(total_frames - 1, 0), num=min(keep, total_frames), dtype=int).tolist()
        )
        self.samples: list[tuple[int, np.ndarray, np.ndarray]] = []  # (index, rgb, labels)
        self.lines = 0
        self.labels_received = 0
        self.last_values: dict[str, str] = {}
        self._seen = 0
        self._images: dict[int, tuple[int, np.ndarray]] = {}  # stamp -> (index, rgb), wanted only
        self._labels: dict[int, np.ndarray] = {}
        self._last_print, self._last_received = 0.0, ""
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> LiveView:
        from diagnostic_msgs.msg import DiagnosticArray
        from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
        from sensor_msgs.msg import Image

        from frrn_seg_ros.ros.participant import RosParticipant

        self._ros = RosParticipant("frrn_seg_demo_view")
        self._node = self._ros.node
        # Latched (the replay's frames and the node's labels are): frames sent before this view
        # matched their writers still arrive, however quickly a fast machine starts replaying.
        qos = QoSProfile(
            history=HistoryPolicy.KEEP_LAST,
            depth=10,
            reliability=ReliabilityPolicy.RELIABLE,
            durability=DurabilityPolicy.TRANSIENT_LOCAL,
        )
        self._node.create_subscription(Image, f"/{self.camera}/image", self._on_image, qos)
        self._node.create_subscription(Image, f"/{self.camera}/segmentation/labels", self._on_labels, qos)
        self._node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diagnostics, 10)
        return self

    def __exit__(self, *exc: object) -> None:
        self._ros.close()

    # ------------------------------------------------------------------ graph
    def node_topics(self, expected: Iterable[str], timeout_s: float = 60.0) -> list[tuple[str, list[str]]]:
        """``[(topic, [type, ...])]`` the node publishes, as the ROS graph reports them.

        Polls until every topic in ``expected`` shows up among the node's publishers (discovery is
        asynchronous: one writer may be known before the next), or ``timeout_s`` passes; returns
        what was found by then (``[]`` if the node never showed up).
        """
        wanted = set(expected)
        deadline = time.monotonic() + timeout_s
        found: list[tuple[str, list[str]]] = []
        while True:
            if (self.node_name, "/") in self._node.get_node_names_and_namespaces():
                with contextlib.suppress(Exception):  # not yet fully discovered, or just gone
                    found = self._node.get_publisher_names_and_types_by_node(self.node_name, "/")
            if wanted <= {name for name, _ in found} or time.monotonic() >= deadline:
                return sorted((name, list(types)) for name, types in found)
            time.sleep(0.05)

    # ------------------------------------------------------------------ callbacks
    def _on_image(self, msg: Any) -> None:
        index, self._seen = self._seen, self._seen + 1
        if index in self.wanted:
            from frrn_seg_ros.ros.conversions import image_to_array

            rgb = np.array(image_to_array(msg), copy=True)
            self._match(stamp_ns(msg.header), image=(index, rgb))

    def _on_labels(self, msg: Any) -> None:
        from frrn_seg_ros.ros.conversions import image_to_array

        self.labels_received += 1
        self._match(stamp_ns(msg.header), labels=np.array(image_to_array(msg), copy=True))

    def _match(self, stamp: int, image=None, labels=None) -> None:
        with self._lock:
            if image is not None:
                self._images[stamp] = image
            if labels is not None:
                self._labels[stamp] = labels
                while len(self._labels) > 20:  # labels of frames not wanted: keep a few, in case
                    self._labels.pop(next(iter(self._labels)))
            if stamp in self._images and stamp in self._labels:
                index, rgb = self._images.pop(stamp)
                self.samples.append((index, rgb, self._labels.pop(stamp)))

    def _on_diagnostics(self, msg: Any) -> None:
        from frrn_seg_ros.ros.diagnostics import parse_status

        for status in map(parse_status, msg.status):
            if status.kind != "camera" or status.camera != self.camera:
                continue
            self.last_values = status.as_dict()
            now, received = time.monotonic(), status.values.get("frames_received", "0")
            due = now - self._last_print >= 0.8 * self.every_s
            if received != "0" and due and (received != self._last_received or now - self._last_print > 5.0):
                self.write(diagnostics_line(status.level, status.message, status.values))
                self._last_print, self._last_received, self.lines = now, received, self.lines + 1

    def write_last_status(self, fallback: dict[str, str] | None = None) -> None:
        """Print the node's last camera status if no live line was printed yet.

        A short run on a fast machine can end before the node's first /diagnostics status that
        counts a frame; then the last status this view saw (``last_values``: the status's key/values
        plus ``level`` and ``message``), or else ``fallback`` (the replay's own copy, same keys), is
        shown once so the user still sees the node's figures.
        """
        if self.lines:
            return
        values = dict(self.last_values) if self.last_values.get("frames_received", "0") != "0" else {}
        values = values or dict(fallback or {})
        if not values:
            return
        level = int(values.pop("level", 0) or 0)
        self.write(diagnostics_line(level, values.pop("message", ""), values))
        self.lines += 1


def save_demo_panel(
    samples: list[tuple[int, np.ndarray, np.ndarray]],
    palette: np.ndarray,
    class_names: list[str],
    path: Path,
    alpha: float = 0.5,
) -> Path:
    """Rows of input / colour labels / overlay (``alpha`` colour weight) with a legend; PNG at ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    from frrn_seg_ros.core.labels import colorize

    rows = sorted(samples, key=lambda s: s[0])
    fig, axes = plt.subplots(len(rows), 3, figsize=(10, 1.9 * len(rows) + 0.5), squeeze=False)
    present: set[int] = set()
    for (index, rgb, labels), ax in zip(rows, axes, strict=True):
        color = colorize(labels, palette)
        overlay = np.clip(alpha * color + (1.0 - alpha) * rgb.astype(np.float32) + 0.5, 0, 255).astype(
            np.uint8
        )
        present.update(int(v) for v in np.unique(labels) if v < len(class_names))
        for a, image, title in zip(ax, (rgb, color, overlay), ("input", "labels", "overlay"), strict=True):
            a.imshow(image)
            a.set_title(f"frame {index}: {title}", fontsize=8)
            a.axis("off")
    handles = [Patch(color=palette[c] / 255.0, label=class_names[c]) for c in sorted(present)]
    fig.legend(
        handles=handles, loc="lower center", ncol=min(8, max(1, len(handles))), fontsize=8, frameon=False
    )
    fig.tight_layout(rect=(0, 0.5 / (1.9 * len(rows) + 0.5) if handles else 0, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
