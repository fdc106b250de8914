"""DiagnosticArray builder: one status per camera and one for the model, levels from thresholds.

Status names are ``'<node>: camera <camera>'`` and ``'<node>: model'`` (``<node>`` the node's fully
qualified name): :func:`camera_status_name` / :func:`model_status_name` write them and
:func:`parse_status` reads a received status back, so listeners never match names by hand.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

from .stats import CameraSnapshot

OK, WARN, ERROR = DiagnosticStatus.OK, DiagnosticStatus.WARN, DiagnosticStatus.ERROR


@dataclass
class Thresholds:
    """Levels: p95 latency above warn/error ms; drop ratio in the window above warn; no input for stale_s."""

    warn_latency_ms: float = 250.0
    error_latency_ms: float = 1000.0
    warn_drop_ratio: float = 0.9
    stale_s: float = 5.0


def camera_status_name(node_name: str, camera: str) -> str:
    return f"{node_name}: camera {camera}"


def model_status_name(node_name: str) -> str:
    return f"{node_name}: model"


@dataclass
class ParsedStatus:
    """A received DiagnosticStatus of this node: ``kind`` 'camera' (with ``camera``), 'model' or 'other'."""

    node: str
    kind: str
    camera: str | None
    level: int
    message: str
    values: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, str]:
        """``{'level': '0', 'message': ..., **values}``: the form reports keep."""
        return {"level": str(self.level), "message": self.message, **self.values}


def parse_status(status: Any) -> ParsedStatus:
    """Read a DiagnosticStatus (as :func:`camera_status` / :func:`model_status` named it)."""
    node, _, rest = status.name.partition(": ")  # a ROS node name holds no ": "
    if rest.startswith("camera "):
        kind, camera = "camera", rest[len("camera ") :]
    else:
        kind, camera = ("model" if rest == "model" else "other"), None
    level = status.level[0] if isinstance(status.level, (bytes, bytearray)) else int(status.level)
    values = {kv.key: kv.value for kv in status.values}
    return ParsedStatus(node, kind, camera, level, status.message, values)


def camera_level(snap: CameraSnapshot, th: Thresholds) -> tuple[int, str]:
    """(level, message) of one camera; the worst condition wins."""
    p95 = snap.latency_ms["p95"]
    if snap.received == 0:
        return WARN, "no input received yet"
    if not math.isnan(p95) and p95 > th.error_latency_ms:
        return ERROR, f"latency p95 {p95:.0f} ms > {th.error_latency_ms:.0f} ms"
    problems = []
    if not math.isnan(p95) and p95 > th.warn_latency_ms:
        problems.append(f"latency p95 {p95:.0f} ms > {th.warn_latency_ms:.0f} ms")
    if snap.window_received and snap.window_dropped / snap.window_received > th.warn_drop_ratio:
        problems.append(f"dropping {snap.window_dropped}/{snap.window_received} frames")
    if th.stale_s and snap.since_last_input_s > th.stale_s:
        problems.append(f"no input for {snap.since_last_input_s:.1f} s")
    if snap.processed == 0 and (snap.bad_input or snap.segmentation_errors):
        return ERROR, f"no frame segmented, every one dropped: {snap.last_error}"
    if problems:
        return WARN, "; ".join(problems)
    return OK, "ok"


def _fmt(value: float) -> str:
    return "nan" if math.isnan(value) else f"{value:.2f}"


def camera_status(node_name: str, snap: CameraSnapshot, th: Thresholds) -> DiagnosticStatus:
    level, message = camera_level(snap, th)
    values = {
        "input_rate_hz": _fmt(snap.input_rate_hz),
        "output_rate_hz": _fmt(snap.output_rate_hz),
        "frames_received": str(snap.received),
        "frames_processed": str(snap.processed),
        "frames_dropped": str(snap.dropped),
        "dropped_overwritten": str(snap.dropped_overwritten),
        "dropped_too_old": str(snap.dropped_too_old),
        "bad_input": str(snap.bad_input),
        "segmentation_errors": str(snap.segmentation_errors),
        "frames_ignored_inactive": str(snap.ignored_inactive),
        "resolution_changes": str(snap.resolution_changes),
        "uniform_frames": str(snap.uniform_frames),
        **{f"latency_{k}_ms": _fmt(v) for k, v in snap.latency_ms.items()},
        **{f"{k}_ms": _fmt(v) for k, v in snap.stage_ms.items()},
        "resolution": snap.resolution,
        "encoding": snap.encoding,
        "last_error": snap.last_error,
        **snap.extra,
    }
    return DiagnosticStatus(
        level=level,
        name=camera_status_name(node_name, snap.camera),
        message=message,
        hardware_id=snap.camera,
        values=[KeyValue(key=k, value=v) for k, v in values.items()],
    )


def model_status(
    node_name: str, info: dict[str, str], random_weights: bool, enabled: bool
) -> DiagnosticStatus:
    """The model's status: WARN with random weights or while disabled, else OK."""
    if random_weights:
        level, message = WARN, "RANDOM WEIGHTS: output is meaningless (set model.checkpoint)"
    elif not enabled:
        level, message = WARN, "paused (~/enable false)"
    else:
        level, message = OK, "ok"
    return DiagnosticStatus(
        level=level,
        name=model_status_name(node_name),
        message=message,
        hardware_id=info.get("device", ""),
        values=[KeyValue(key=k, value=str(v)) for k, v in info.items()],
    )


def build_array(stamp, statuses: list[DiagnosticStatus]) -> DiagnosticArray:
    msg = DiagnosticArray()
    msg.header.stamp = stamp
    msg.status = statuses
    return msg
