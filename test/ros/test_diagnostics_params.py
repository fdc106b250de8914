"""Diagnostics content and levels, parameter validation, mailbox and statistics (real rclpy where needed)."""

from __future__ import annotations

import threading
import time

import pytest
import torch
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rosutil import Collector, image_array, input_qos, publish_until, stamped, wait_for
from sensor_msgs.msg import Image

from frrn_seg_ros.ros.conversions import array_to_image
from frrn_seg_ros.ros.diagnostics import (
    Thresholds,
    camera_level,
    camera_status,
    camera_status_name,
    model_status,
    parse_status,
)
from frrn_seg_ros.ros.mailbox import FrameMailbox
from frrn_seg_ros.ros.parameters import NodeParams, ParameterError, with_changes
from frrn_seg_ros.ros.stats import CameraStats

pytestmark = pytest.mark.ros


def test_diagnostics_report_cameras_and_model(ros, engine):
    started = time.monotonic()
    seg = ros.segmentation_node(engine, cameras=["front"], **{"diagnostics.period_s": 0.2})
    tester = ros.node()
    ns = seg.get_namespace()
    pub = tester.create_publisher(Image, f"{ns}/front/image", input_qos())
    labels = Collector(tester, Image, f"{ns}/front/segmentation/labels")
    diags = Collector(tester, DiagnosticArray, "/diagnostics")
    for sec in range(1, 4):
        assert publish_until(pub, stamped(array_to_image(image_array("rgb8"), "rgb8"), "f", sec), labels)
    name = seg.get_fully_qualified_name()

    def latest():
        arrays = diags.find(lambda a: any(s.name == f"{name}: camera front" for s in a.status))
        arrays = [
            a
            for a in arrays
            if any(kv.key == "frames_processed" and int(kv.value) >= 3 for s in a.status for kv in s.values)
        ]
        return arrays[-1] if arrays else None

    array = wait_for(latest)
    assert array is not None
    by_name = {s.name: s for s in array.status}
    cam = {kv.key: kv.value for kv in by_name[f"{name}: camera front"].values}
    for key in (
        "input_rate_hz",
        "output_rate_hz",
        "frames_dropped",
        "dropped_overwritten",
        "dropped_too_old",
        "bad_input",
        "latency_p50_ms",
        "latency_p95_ms",
        "latency_p99_ms",
        "latency_max_ms",
        "decode_ms",
        "convert_ms",
        "preprocess_ms",
        "inference_ms",
        "postprocess_ms",
        "publish_ms",
        "resolution",
        "last_error",
    ):
        assert key in cam, key
    assert cam["resolution"] == "96x64" and cam["bad_input"] == "0"
    assert 0.0 < float(cam["inference_ms"]) <= (time.monotonic() - started) * 1e3  # ms, within this test
    # stamps are seconds 1..3 since the epoch: "latency" is now - stamp, i.e. huge -> ERROR level
    assert float(cam["latency_p50_ms"]) > 1e9
    assert by_name[f"{name}: camera front"].level == DiagnosticStatus.ERROR
    model = by_name[f"{name}: model"]
    values = {kv.key: kv.value for kv in model.values}
    assert model.level == DiagnosticStatus.WARN and "RANDOM WEIGHTS" in model.message
    assert values["architecture"] == "csrnet_light" and values["device"] == "cpu"
    assert values["precision"] == "fp32" and float(values["load_time_s"]) >= 0.0


def _snap(**kw):
    stats = CameraStats("c", window_s=10.0)
    for _ in range(kw.pop("received", 10)):
        stats.on_input(False)
    for _ in range(kw.pop("processed", 10)):
        stats.on_output(kw.get("latency", 10.0), {"inference": 5.0}, "2x2", "rgb8")
    for _ in range(kw.pop("bad", 0)):
        stats.on_drop("bad_input", "boom")
    for _ in range(kw.pop("failed", 0)):
        stats.on_drop("failed", "engine error")
    return stats.snapshot()


def test_levels_follow_thresholds():
    th = Thresholds(warn_latency_ms=100.0, error_latency_ms=500.0, warn_drop_ratio=0.5, stale_s=5.0)
    assert camera_level(_snap(latency=10.0), th)[0] == DiagnosticStatus.OK
    assert camera_level(_snap(latency=200.0), th)[0] == DiagnosticStatus.WARN
    assert camera_level(_snap(latency=900.0), th)[0] == DiagnosticStatus.ERROR
    assert camera_level(_snap(bad=8), th)[0] == DiagnosticStatus.WARN  # 8 dropped of 10 received
    assert camera_level(_snap(processed=0, bad=3), th)[0] == DiagnosticStatus.ERROR
    assert camera_level(_snap(processed=0, failed=3), th)[0] == DiagnosticStatus.ERROR
    assert camera_level(_snap(received=0, processed=0), th)[0] == DiagnosticStatus.WARN


def test_status_names_read_back_as_the_node_wrote_them():
    th = Thresholds()
    camera = parse_status(camera_status("/ns/segmentation", _snap(latency=10.0), th))
    assert camera_status_name("/ns/segmentation", "c") == "/ns/segmentation: camera c"
    assert (camera.node, camera.kind, camera.camera) == ("/ns/segmentation", "camera", "c")
    assert camera.level == 0 and camera.values["frames_processed"] == "10"  # level: an int, not bytes
    assert camera.as_dict()["level"] == "0" and camera.as_dict()["message"] == "ok"
    model = parse_status(model_status("/ns/segmentation", {"device": "cpu"}, True, True))
    assert (model.node, model.kind, model.camera) == ("/ns/segmentation", "model", None)
    assert model.level == 1 and model.values == {"device": "cpu"}
    other = parse_status(DiagnosticStatus(name="/other_node: something else", level=DiagnosticStatus.ERROR))
    assert (other.node, other.kind, other.camera, other.level) == ("/other_node", "other", None, 2)


def test_mailbox_keeps_newest_and_counts_overwrites():
    box = FrameMailbox(["a", "b"])
    assert box.put("a", 1) is False
    assert box.put("a", 2) is True
    box.put("b", 3)
    assert box.take(timeout=0) == {"a": 2, "b": 3}
    assert box.overwritten("a") == 1 and box.overwritten("b") == 0
    assert box.take(timeout=0.01) == {}
    waiter = threading.Thread(target=lambda: box.take(timeout=30.0))
    waiter.start()
    box.close()
    waiter.join(timeout=5.0)
    assert not waiter.is_alive()
    deep = FrameMailbox(["a"], depth=3)
    for i in range(5):
        deep.put("a", i)
    assert deep.pending() == 3 and deep.overwritten("a") == 2 and deep.take(0) == {"a": 2}
    box = FrameMailbox(["a", "b"])
    box.put("a", 1)
    assert box.clear() == {"a": 1, "b": 0} and box.pending() == 0  # per camera: pausing counts them


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("precision", "fp8"),
        ("model.resize_mode", "crop"),
        ("qos.input.reliability", "sometimes"),
        ("cameras", []),
        ("cameras", ["a", "a"]),
        ("device", "tpu"),
        ("model.input_width", 5000 * 2),
        ("diagnostics.error_latency_ms", 1.0),
        ("input_transport", "theora"),
    ],
)
def test_validation_names_the_field(field, value):
    with pytest.raises(ParameterError) as info:
        with_changes(NodeParams.defaults(), {field: value})
    assert info.value.field == field and field in str(info.value)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("precision", "fp8"),
        ("model.input_height", -3),
        ("qos.output.durability", "forever"),
        ("max_input_age_ms", "soon"),
        ("cameras", ["bad name!"]),
    ],
)
def test_node_refuses_bad_parameters_naming_the_field(ros, field, value):
    with pytest.raises(ParameterError, match=field.replace(".", r"\.")):
        ros.segmentation_node(**{field: value})


@pytest.mark.skipif(torch.cuda.device_count() >= 8, reason="needs a machine with fewer than 8 GPUs")
@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"device": "cuda:7"}, "device"),  # absent here: CUDA missing or fewer devices
        ({"device": "cpu", "precision": "fp16"}, "precision"),  # fp16 needs CUDA
    ],
)
def test_settings_this_machine_cannot_run_name_their_field(ros, changes, field):
    with pytest.raises(ParameterError) as info:
        ros.segmentation_node(**changes)
    assert info.value.field == field, str(info.value)


def test_mutable_parameters_are_validated_at_run_time(ros, engine):
    from rclpy.parameter import Parameter

    seg = ros.segmentation_node(engine)
    ok = seg.set_parameters([Parameter("publish.overlay", value=True)])[0]
    assert ok.successful and seg.params.publish_overlay
    bad = seg.set_parameters([Parameter("diagnostics.error_latency_ms", value=1.0)])[0]
    assert not bad.successful and "error_latency_ms" in bad.reason
    frozen = seg.set_parameters([Parameter("precision", value="bf16")])[0]
    assert not frozen.successful
