"""Every frame that reaches the node ends in one counted outcome on /diagnostics: processed,
dropped (a segmentation error among the reasons) or ignored while processing is off."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.lifecycle import TransitionCallbackReturn
from rosutil import Collector, image_array, input_qos, publish_until, stamped, wait_for
from sensor_msgs.msg import Image
from torch import nn

from frrn_seg_ros.ros.conversions import array_to_image
from frrn_seg_ros.ros.diagnostics import camera_status_name, parse_status

pytestmark = pytest.mark.ros

FIXED = 64  # the only input size the model below accepts


class OnlyAtOneSize(nn.Module):
    """1x1 convolution plus a constant of shape ``[1, 19, 64, 64]``: exported with dynamic H and W,
    ONNX Runtime loads it and runs 64x64 frames, and fails to broadcast the constant for any other
    size (the kind of size assumption a real export can carry)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 19, 1)
        self.offset = nn.Parameter(torch.zeros(1, 19, FIXED, FIXED))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x) + self.offset


def _frame(sec: int, size: tuple[int, int]) -> Image:
    return stamped(array_to_image(image_array("rgb8", size, seed=sec), "rgb8"), "acc", sec)


def _camera_values(diags: Collector, node_name: str, pred) -> dict[str, str] | None:
    """The values of the newest camera status on /diagnostics that satisfies ``pred``."""
    name = camera_status_name(node_name, "camera")
    found = [parse_status(s).values for a in diags.msgs[:] for s in a.status if s.name == name]
    found = [values for values in found if pred(values)]
    return found[-1] if found else None


def _balanced(values: dict[str, str]) -> bool:
    received = int(values["frames_received"])
    dropped, ignored = int(values["frames_dropped"]), int(values["frames_ignored_inactive"])
    return received == int(values["frames_processed"]) + dropped + ignored


def _wire(ros, seg):
    """A reliable camera publisher into ``seg``, collectors of its labels and /diagnostics, and its
    camera's live counters."""
    tester = ros.node()
    ns = seg.get_namespace()
    pub = tester.create_publisher(Image, f"{ns}/camera/image", input_qos(reliable=True))
    labels = Collector(tester, Image, f"{ns}/camera/segmentation/labels")
    diags = Collector(tester, DiagnosticArray, "/diagnostics")
    return pub, labels, diags, seg.pipeline.stats["camera"]


def test_a_frame_whose_segmentation_raises_is_counted_and_the_next_served(ros, tmp_path):
    pytest.importorskip("onnxruntime")
    from frrn_seg_ros.core.checkpoint import default_meta
    from frrn_seg_ros.core.model_export import export_onnx

    path = tmp_path / "only_64.onnx"
    export_onnx(OnlyAtOneSize(), default_meta("csrnet_light"), path, (FIXED, FIXED), dynamic=True)
    seg = ros.segmentation_node(
        **{"model.checkpoint": str(path), "qos.input.reliability": "reliable", "diagnostics.period_s": 0.1}
    )
    assert seg.engine.config.input_size is None  # native resolution: every frame runs at its own size
    pub, labels, diags, stats = _wire(ros, seg)
    assert publish_until(pub, _frame(1, (FIXED, FIXED)), labels)

    pub.publish(_frame(2, (FIXED, 96)))  # once, reliably: ONNX Runtime raises for this size
    assert wait_for(lambda: stats.snapshot().segmentation_errors == 1, timeout=20.0)
    assert publish_until(pub, _frame(3, (FIXED, FIXED)), labels)  # the node serves the next frame
    assert not labels.find(lambda m: m.header.stamp.sec == 2)

    values = wait_for(
        lambda: _camera_values(
            diags, seg.get_fully_qualified_name(),
            lambda v: int(v["frames_processed"]) >= 2 and _balanced(v),
        ),
        timeout=20.0,
    )
    assert values is not None, diags.msgs[-1:] if diags.msgs else "no /diagnostics"
    assert values["segmentation_errors"] == "1" and int(values["frames_dropped"]) >= 1
    assert "ONNXRuntimeError" in values["last_error"] or "Add" in values["last_error"], values["last_error"]
    assert values["bad_input"] == "0" and values["frames_ignored_inactive"] == "0"


def test_frames_arriving_while_inactive_are_counted_apart(ros, engine):
    seg = ros.segmentation_node(engine, lifecycle=True, **{"diagnostics.period_s": 0.1})
    assert seg.trigger_configure() == TransitionCallbackReturn.SUCCESS
    pub, labels, diags, stats = _wire(ros, seg)
    assert wait_for(lambda: pub.get_subscription_count() > 0)
    for sec in range(1, 4):  # configured, not active: received and ignored
        pub.publish(_frame(sec, (64, 96)))
        time.sleep(0.05)
    assert wait_for(lambda: stats.snapshot().received == 3)
    snap = stats.snapshot()
    assert (snap.ignored_inactive, snap.processed, snap.dropped) == (3, 0, 0)

    assert seg.trigger_activate() == TransitionCallbackReturn.SUCCESS
    assert publish_until(pub, _frame(10, (64, 96)), labels)
    assert not labels.find(lambda m: m.header.stamp.sec < 10)
    values = wait_for(
        lambda: _camera_values(
            diags, seg.get_fully_qualified_name(),
            lambda v: int(v["frames_processed"]) >= 1 and _balanced(v),
        ),
        timeout=20.0,
    )
    assert values is not None
    assert values["frames_ignored_inactive"] == "3" and int(values["frames_received"]) >= 4
    assert int(values["input_publishers"]) >= 1  # the node's own view of the test's publisher
    assert seg.trigger_deactivate() == TransitionCallbackReturn.SUCCESS
    assert seg.trigger_shutdown() == TransitionCallbackReturn.SUCCESS


def test_counters_add_up_in_the_statistics():
    """received = processed + dropped (every reason) + ignored, in :class:`CameraStats` itself."""
    from frrn_seg_ros.ros.stats import CameraStats

    stats = CameraStats("c")
    stats.on_input(False, active=False)  # processing off
    stats.on_input(False)
    stats.on_input(True)  # overwrote the previous one
    stats.on_output(5.0, {}, "2x2", "rgb8")
    for reason in ("too_old", "bad_input", "failed"):
        stats.on_input(False)
        stats.on_drop(reason, reason)
    stats.on_input(False)
    stats.on_ignored()  # taken, then processing was switched off
    snap = stats.snapshot()
    assert (snap.received, snap.processed, snap.dropped, snap.ignored_inactive) == (7, 1, 4, 2)
    assert snap.received == snap.processed + snap.dropped + snap.ignored_inactive
    assert snap.segmentation_errors == 1 and snap.last_error == "failed"
    assert stats.outcomes == 4  # processed + dropped by the worker (overwrites happen at input)
    with pytest.raises(KeyError):
        stats.on_drop("unknown")
    assert np.isfinite(snap.latency_ms["p50"])
