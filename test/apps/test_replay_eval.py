"""frrn_seg_replay_eval: engine, recorded-predictions and (ROS) node modes on tiny bags."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from frrn_seg_ros.replay import evaluate as replay_eval
from frrn_seg_ros.replay import make_bag
from frrn_seg_ros.replay.bag_io import BagWriter

REPORT_KEYS = {
    "mode",
    "latency_note",
    "busy_s",
    "source",
    "model",
    "frames",
    "metrics",
    "latency_ms",
    "throughput_fps",
    "wall_s",
    "node_diagnostics",
    "machine",
    "plots",
}


def numpy_miou(preds: list[np.ndarray], gts: list[np.ndarray], num_classes: int) -> tuple[float, list]:
    """Independent reference: IoU per class over all pixels (void 255 skipped), NaN classes left out."""
    p = np.concatenate([x.ravel() for x in preds]).astype(np.int64)
    g = np.concatenate([x.ravel() for x in gts]).astype(np.int64)
    keep = g != 255
    p, g = p[keep], g[keep]
    ious = []
    for c in range(num_classes):
        tp = np.sum((p == c) & (g == c))
        denom = np.sum(p == c) + np.sum(g == c) - tp
        ious.append(tp / denom if denom else float("nan"))
    valid = [v for v in ious if v == v]
    return float(np.mean(valid)), ious


@pytest.fixture(scope="module")
def tiny_bag(synthetic_root, tmp_path_factory):
    out = tmp_path_factory.mktemp("bags") / "tiny"
    assert make_bag.main(["--cityscapes", str(synthetic_root), "--out", str(out), "--limit", "3"]) == 0
    return out


def _engine_predictions(checkpoint, images):
    from frrn_seg_ros.core.engine import EngineConfig, SegmentationEngine

    engine = SegmentationEngine.from_checkpoint(checkpoint, EngineConfig(device="cpu", warmup_iters=0))
    return [engine.segment_rgb(rgb).labels for rgb in images]


def test_engine_mode_report(tiny_bag, tiny_checkpoint, expected_samples, tmp_path):
    out = tmp_path / "eval"
    rc = replay_eval.main(
        [
            "--bag",
            str(tiny_bag),
            "--checkpoint",
            str(tiny_checkpoint),
            "--mode",
            "engine",
            "--device",
            "cpu",
            "--warmup",
            "0",
            "--panels",
            "2",
            "--out",
            str(out),
            "--no-progress",
        ]
    )
    assert rc == 0
    report = json.loads((out / "report.json").read_text())
    assert set(report) >= REPORT_KEYS
    assert report["frames"] == {"total": 3, "processed": 3, "dropped": 0, "with_ground_truth": 3}
    for stage in ("read", "convert", "preprocess", "inference", "postprocess", "end_to_end"):
        stats = report["latency_ms"][stage]
        assert stats["count"] == 3 and 0 <= stats["p50"] <= stats["p99"] <= stats["max"]
    assert report["throughput_fps"] > 0
    # mIoU equals an independent computation on the engine's own predictions of the same images
    images = [rgb for rgb, _ in expected_samples[:3]]
    gts = [gt for _, gt in expected_samples[:3]]
    miou, ious = numpy_miou(_engine_predictions(tiny_checkpoint, images), gts, 19)
    assert report["metrics"]["miou"] == pytest.approx(miou, abs=1e-9)
    got = list(report["metrics"]["iou"].values())
    assert [v is None for v in got] == [v != v for v in ious]
    assert [v for v in got if v is not None] == pytest.approx([v for v in ious if v == v], abs=1e-9)
    assert list(report["metrics"]["iou"])[:3] == ["road", "sidewalk", "building"]
    for name in ("report.md", "latency_hist.png", "iou_per_class.png", "panel_0000.png", "panel_0002.png"):
        assert (out / name).stat().st_size > 0, name
    assert "mIoU" in (out / "report.md").read_text()


def test_recorded_predictions_mode(tmp_path):
    """Score labels recorded in a bag (logged 40 ms after their stamp) against ground truth."""
    rng = np.random.default_rng(1)
    gts = [rng.integers(0, 5, (8, 12)).astype(np.uint8) for _ in range(4)]
    gts[0][0, :] = 255  # void row: not scored
    preds = [
        np.where(rng.random(g.shape) < 0.7, g, rng.integers(0, 5, g.shape)).astype(np.uint8) for g in gts
    ]
    bag = tmp_path / "recorded"
    with BagWriter(bag, "sqlite3") as writer:
        for i, (g, p) in enumerate(zip(gts, preds, strict=True)):
            stamp = 5_000_000_000 + i * 50_000_000
            writer.write_image("/camera/segmentation/ground_truth", g, stamp, "cam")
            writer.write_image(
                "/camera/segmentation/labels", p, stamp, "cam", "mono8", log_time_ns=stamp + 40_000_000
            )
    out = tmp_path / "eval"
    assert (
        replay_eval.main(
            [
                "--bag",
                str(bag),
                "--predictions-topic",
                "/camera/segmentation/labels",
                "--out",
                str(out),
                "--no-progress",
            ]
        )
        == 0
    )
    report = json.loads((out / "report.json").read_text())
    assert report["mode"] == "recorded"
    assert report["frames"]["processed"] == report["frames"]["with_ground_truth"] == 4
    assert report["metrics"]["miou"] == pytest.approx(numpy_miou(preds, gts, 19)[0], abs=1e-9)
    assert report["latency_ms"]["recorded_stamp_to_log"]["p50"] == pytest.approx(40.0)


def test_recorded_mode_counts_missing_predictions_as_dropped(tmp_path):
    """10 image + ground-truth frames, predictions recorded for 7: total 10, dropped 3 (not 7 / 0)."""
    from frrn_seg_ros.replay.bag_io import frame_count

    rng = np.random.default_rng(2)
    gts = [rng.integers(0, 4, (6, 10)).astype(np.uint8) for _ in range(10)]
    missing = {0, 4, 9}  # first, middle and last: the old reader stopped before the last ones
    bag = tmp_path / "gaps"
    with BagWriter(bag, "mcap") as writer:
        for i, g in enumerate(gts):
            stamp = 7_000_000_000 + i * 100_000_000
            writer.write_image("/camera/image", rng.integers(0, 256, (6, 10, 3), dtype=np.uint8), stamp, "c")
            writer.write_image("/camera/segmentation/ground_truth", g, stamp, "c")
            if i not in missing:
                writer.write_image("/camera/segmentation/labels", (g + 1) % 4, stamp, "c", "mono8")
    labels = "/camera/segmentation/labels"
    assert frame_count(bag, ["/camera/image", "/camera/segmentation/ground_truth", labels]) == 10
    assert frame_count(bag, [labels]) == 7
    out = tmp_path / "eval"
    argv = ["--bag", str(bag), "--predictions-topic", labels, "--out", str(out), "--no-progress"]
    assert replay_eval.main(argv) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["frames"] == {"total": 10, "processed": 7, "dropped": 3, "with_ground_truth": 7}
    kept = [i for i in range(10) if i not in missing]
    expected = numpy_miou([(gts[i] + 1) % 4 for i in kept], [gts[i] for i in kept], 19)[0]
    assert report["metrics"]["miou"] == pytest.approx(expected, abs=1e-9)
    assert "3 dropped" in (out / "report.md").read_text()


def test_engine_mode_runs_an_onnx_export(tiny_bag, tiny_onnx, expected_samples, tmp_path):
    """An exported .onnx file runs through ONNX Runtime (its own metadata, fixed size, CPU provider)."""
    from frrn_seg_ros.core.engine import EngineConfig, SegmentationEngine
    from frrn_seg_ros.replay.inputs import node_params
    from frrn_seg_ros.replay.options import ReplayOptions

    out = tmp_path / "eval_onnx"
    argv = ["--bag", str(tiny_bag), "--checkpoint", str(tiny_onnx), "--device", "cpu", "--warmup", "0"]
    assert replay_eval.main([*argv, "--panels", "0", "--out", str(out), "--no-progress"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["model"]["backend"] == "onnxruntime" and report["model"]["architecture"] == "frrn_a"
    assert report["model"]["device"] == "cpu"
    assert report["frames"] == {"total": 3, "processed": 3, "dropped": 0, "with_ground_truth": 3}
    images = [rgb for rgb, _ in expected_samples[:3]]
    gts = [gt for _, gt in expected_samples[:3]]
    onnx_engine = SegmentationEngine.from_onnx(tiny_onnx, EngineConfig(device="cpu", warmup_iters=0))
    onnx_preds = [onnx_engine.segment_rgb(rgb).labels for rgb in images]
    assert report["metrics"]["miou"] == pytest.approx(numpy_miou(onnx_preds, gts, 19)[0], abs=1e-9)
    params = node_params(ReplayOptions.from_argv([*argv, "--mode", "node", "--out", str(out)]))
    assert params["model.backend"] == "onnxruntime" and params["model.checkpoint"].endswith(".onnx")


def test_bad_arguments_give_clear_errors(tiny_bag, tmp_path, capsys):
    assert replay_eval.main(["--bag", str(tiny_bag), "--out", str(tmp_path / "o"), "--no-progress"]) == 2
    assert "--checkpoint or --architecture" in capsys.readouterr().err
    assert (
        replay_eval.main(
            ["--bag", str(tmp_path / "missing"), "--architecture", "frrn_a", "--out", str(tmp_path / "o")]
        )
        == 2
    )
    assert "not found" in capsys.readouterr().err


@pytest.mark.ros
def test_node_mode_processes_every_frame(tiny_bag, tiny_checkpoint, expected_samples, tmp_path):
    """The real node as a child process, fed in lockstep over DDS: no frame lost, same labels as engine."""
    out = tmp_path / "node_eval"
    rc = replay_eval.main(
        [
            "--bag",
            str(tiny_bag),
            "--checkpoint",
            str(tiny_checkpoint),
            "--mode",
            "node",
            "--device",
            "auto",  # the report must name the device the node actually used
            "--warmup",
            "0",
            "--panels",
            "1",
            "--out",
            str(out),
            "--record-bag",
            str(tmp_path / "recorded"),
            "--no-progress",
            "--startup-timeout",
            "120",
            "--frame-timeout",
            "60",
        ]
    )
    assert rc == 0, (out / "node.log").read_text() if (out / "node.log").exists() else ""
    report = json.loads((out / "report.json").read_text())
    assert report["mode"] == "node"
    assert report["frames"] == {"total": 3, "processed": 3, "dropped": 0, "with_ground_truth": 3}
    assert report["latency_ms"]["end_to_end"]["count"] == 3
    assert report["model"]["node_env"]["ROS_AUTOMATIC_DISCOVERY_RANGE"] == "LOCALHOST"
    images = [rgb for rgb, _ in expected_samples[:3]]
    gts = [gt for _, gt in expected_samples[:3]]
    miou, _ = numpy_miou(_engine_predictions(tiny_checkpoint, images), gts, 19)
    assert report["metrics"]["miou"] == pytest.approx(miou, abs=1e-9)
    diag = report["node_diagnostics"]
    assert diag is not None and int(diag["frames_processed"]) == 3 and int(diag["frames_dropped"]) == 0
    assert report["model"]["device"] == "cpu"  # what the node ran on, not 'auto'
    assert "not per frame" in report["latency_note"]
    # record now, evaluate later: the node's labels as a subscriber received them, scored from the bag
    rec_out = tmp_path / "recorded_eval"
    labels = "/camera/segmentation/labels"
    argv = ["--bag", str(tmp_path / "recorded"), "--predictions-topic", labels, "--out", str(rec_out)]
    assert replay_eval.main([*argv, "--no-progress"]) == 0
    rec = json.loads((rec_out / "report.json").read_text())
    assert rec["frames"] == {"total": 3, "processed": 3, "dropped": 0, "with_ground_truth": 3}
    assert rec["metrics"]["miou"] == pytest.approx(miou, abs=1e-9)
    stamp_to_log = rec["latency_ms"]["recorded_stamp_to_log"]
    # in ms, and inside the node run that recorded it (not a wall-clock threshold: the run's own time)
    assert stamp_to_log["count"] == 3 and 0 < stamp_to_log["min"] <= report["wall_s"] * 1e3
    assert rec["source"]["image_topic"] == "/camera/image" and rec["plots"]


def test_node_ready_hook_runs_once_with_the_node_idle_and_in_the_graph(tiny_bag, tiny_checkpoint, tmp_path):
    """``on_node_ready`` runs before the first frame: the node is up in the ROS graph, nothing sent yet.

    This is what lets the demo list the node's topics however fast the replay then runs (CI's fast
    machine finished 6 frames before a concurrent graph lookup had discovered the node).
    """
    from frrn_seg_ros.demo.live import LiveView
    from frrn_seg_ros.replay.options import ReplayOptions

    out = tmp_path / "hooked"
    seen: list[tuple[list[str], int]] = []
    expected = ["/camera/segmentation/labels", "/diagnostics"]

    def on_node_ready() -> None:
        with LiveView("camera", total_frames=3) as live:
            topics = live.node_topics(expected, timeout_s=60.0)
            # The node's own word that it has no frame yet: a camera status it published while
            # this hook runs (the view subscribed in here), however fast or slow the machine.
            deadline = time.monotonic() + 60.0
            while not live.last_values and time.monotonic() < deadline:
                time.sleep(0.05)
            received = live.last_values.get("frames_received")
            seen.append(([name for name, _ in topics], received, live.labels_received))

    opts = ReplayOptions(out=out, bag=tiny_bag, checkpoint=tiny_checkpoint, mode="node", warmup=0,
                         panels=0, progress=False, startup_timeout=120.0)
    report, _ = replay_eval.evaluate_with_meta(opts, on_node_ready=on_node_ready)
    assert len(seen) == 1
    names, received_before_frames, outputs_before_frames = seen[0]
    assert set(expected) <= set(names)
    assert received_before_frames == "0" and outputs_before_frames == 0
    assert report["frames"]["processed"] == 3
