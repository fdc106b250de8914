"""Replay a bag or a dataset through the engine or the real node; score it and time it.

    frrn_seg_replay_eval --bag BAG --checkpoint CKPT --mode engine --out DIR
    frrn_seg_replay_eval --cityscapes ROOT --split val --architecture frrn_a --mode node --out DIR
    frrn_seg_replay_eval --camvid ROOT --split test --checkpoint CKPT --out DIR
    frrn_seg_replay_eval --bag RECORDED --predictions-topic /camera/segmentation/labels --out DIR

Modes: ``engine`` runs :class:`SegmentationEngine` in this process (a ``.onnx`` checkpoint runs
through ONNX Runtime); ``node`` starts the real node as a child process and feeds it frame by
frame over DDS in lockstep (reliable QoS, the next frame only after the labels of the previous
one came back), so every frame is scored; ``--record-bag BAG`` also records the node's labels,
the images and the ground truth. ``--predictions-topic`` scores labels already recorded in the
bag (no model is run). A bag's frames are its distinct header stamps over the image, ground-truth
and prediction topics; one without an image (or recorded prediction) counts as dropped.

Output in ``--out``: ``report.json`` (mIoU, per-class IoU, latency percentiles, throughput,
dropped frames, machine; ``latency_note`` says what was timed per frame in the mode: in engine
mode every engine stage, in node mode read and end-to-end, with the node's per-stage means from
its /diagnostics window in ``node_diagnostics``), ``report.md``, ``latency_hist.png``,
``iou_per_class.png``, ``panel_<i>.png`` (input / ground truth / prediction).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from frrn_seg_ros.core.labels import colorize, palette_from_colors
from frrn_seg_ros.core.machine import environment
from frrn_seg_ros.core.sizes import parse_hw

from .bag_io import BagFrame
from .inputs import frame_rgb, make_engine, model_meta, node_params, open_source, to_ros_message
from .report import LATENCY_NOTES, LatencyRecorder, save_panel, write_report

LOG = logging.getLogger("frrn_seg_replay_eval")
DEFAULT_GT_TOPIC = "/camera/segmentation/ground_truth"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="frrn_seg_replay_eval", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--bag", type=Path, help="rosbag2 folder (mcap or sqlite3)")
    src.add_argument("--cityscapes", type=Path, help="Cityscapes root")
    src.add_argument("--camvid", type=Path, help="CamVid root (SegNet layout)")
    src.add_argument("--images", type=Path, help="image folder (no ground truth unless --labels)")
    p.add_argument("--labels", type=Path, help="with --images: train-id label folder")
    p.add_argument("--split", default=None, help="dataset split (Cityscapes: val, CamVid: test)")
    p.add_argument(
        "--image-topic", default=None, help="bag image topic (default: /camera/image[/compressed])"
    )
    p.add_argument("--gt-topic", default=DEFAULT_GT_TOPIC, help="bag ground-truth topic (mono8 train ids)")
    p.add_argument("--predictions-topic", default=None, help="score recorded labels on this topic (no model)")
    model = p.add_mutually_exclusive_group()
    model.add_argument("--checkpoint", type=Path, help="model checkpoint")
    model.add_argument("--architecture", help="random weights of this architecture (plumbing/speed only)")
    p.add_argument(
        "--dataset",
        default=None,
        help="label set for --architecture/--predictions-topic (cityscapes|camvid; default from the source)",
    )
    p.add_argument("--mode", choices=("engine", "node"), default="engine")
    p.add_argument(
        "--node-param",
        action="append",
        default=[],
        metavar="KEY:=VALUE",
        help="node mode: extra node parameter, repeatable (e.g. publish.overlay:=true)",
    )
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    p.add_argument("--precision", default="fp32", choices=("fp32", "fp16", "bf16"))
    p.add_argument(
        "--input-size", type=parse_hw, default=None, help="network input HEIGHTxWIDTH (default: native)"
    )
    p.add_argument("--warmup", type=int, default=1, help="warm-up forward passes")
    p.add_argument("--limit", type=int, default=None, help="evaluate at most this many frames")
    p.add_argument("--panels", type=int, default=3, help="input/label/prediction PNG panels to save")
    p.add_argument("--frame-timeout", type=float, default=60.0, help="node mode: seconds to wait per frame")
    p.add_argument(
        "--startup-timeout", type=float, default=180.0, help="node mode: seconds for the node to start"
    )
    p.add_argument(
        "--domain-id", type=int, default=None, help="node mode: ROS_DOMAIN_ID (default: env, else 42)"
    )
    p.add_argument(
        "--record-bag",
        type=Path,
        default=None,
        help="node mode: also record the node's labels (as received), the images sent and the ground "
        "truth into this new bag, to score later with --predictions-topic",
    )
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--no-progress", action="store_true", help="no tqdm progress bar")
    return p


# ---------------------------------------------------------------------------------- evaluation
def evaluate(args: argparse.Namespace) -> dict[str, Any]:
    """Run the whole evaluation and write the report; return the report dict."""
    from training.metrics import ConfusionMeter

    if args.predictions_topic is None and args.checkpoint is None and args.architecture is None:
        raise ValueError(
            "give --checkpoint or --architecture (or --predictions-topic to score recorded labels)"
        )
    mode = "recorded" if args.predictions_topic else args.mode
    if args.record_bag is not None and mode != "node":
        raise ValueError("--record-bag records the node's outputs: it needs --mode node")
    frames, total, source = open_source(args)
    if args.limit is not None:
        total = min(total, args.limit)
    meta, model_info = model_meta(args, source.get("dataset"))
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    meter = ConfusionMeter(meta.num_classes)
    palette = palette_from_colors(meta.class_colors)
    latency = LatencyRecorder()
    panel_at = set(np.linspace(0, max(total - 1, 0), num=min(args.panels, total), dtype=int).tolist())
    counts = {"total": 0, "processed": 0, "dropped": 0, "with_ground_truth": 0}
    plots: list[str] = []
    runner = engine = recorder = None
    if mode == "engine":
        engine = make_engine(args, source.get("dataset"))
        model_info.update(device=str(engine.device), precision=engine.precision)
    elif mode == "node":
        from .node_replay import environment_summary

        runner, recorder = _start_node(args, source["image_topic"], out)
        model_info.update(device=args.device, precision=args.precision, node_env=environment_summary())
    try:
        from tqdm import tqdm

        bar = tqdm(total=total, unit="frame", disable=args.no_progress, desc=f"replay ({mode})")
        iterator = iter(frames)
        busy_s, start = 0.0, time.perf_counter()
        while args.limit is None or counts["total"] < args.limit:  # until the source is exhausted
            t0 = time.perf_counter()
            item = next(iterator, None)
            if item is None:
                break
            read_ms = (time.perf_counter() - t0) * 1e3
            index = counts["total"]
            counts["total"] += 1
            bar.update(1)
            pred = _predict(item, mode, engine, runner, recorder, latency, read_ms)
            busy_s += time.perf_counter() - t0  # reading + inference; not scoring or panels
            if pred is None:
                counts["dropped"] += 1
                continue
            counts["processed"] += 1
            if item.ground_truth is not None:
                if item.ground_truth.shape != pred.shape:
                    raise ValueError(
                        f"frame {index}: prediction {pred.shape} and ground truth "
                        f"{item.ground_truth.shape} differ in size"
                    )
                meter.update(torch.as_tensor(pred), torch.as_tensor(np.array(item.ground_truth)))
                counts["with_ground_truth"] += 1
            if index in panel_at:
                name = f"panel_{index:04d}.png"
                rgb = frame_rgb(item.image.frame) if item.image is not None else None
                gt = colorize(item.ground_truth, palette) if item.ground_truth is not None else None
                save_panel(rgb, gt, colorize(pred, palette), out / name, f"frame {index} ({mode} mode)")
                plots.append(name)
        wall_s = time.perf_counter() - start
        bar.close()
        node_diag: dict[str, str] = {}
        if runner is not None:
            runner.wait_for_diagnostics()
            node_diag = dict(runner.last_diagnostics)
            used = runner.model_diagnostics  # what the node reports it runs on (not 'auto')
            model_info.update(
                device=used.get("device", args.device), precision=used.get("precision", args.precision)
            )
    finally:
        if recorder is not None:
            recorder.close(counts["processed"])
        if runner is not None:
            runner.__exit__(None, None, None)
    metrics = meter.summary(meta.class_names) if counts["with_ground_truth"] else None
    report = {
        "mode": mode,
        "source": source,
        "model": model_info,
        "frames": counts,
        "metrics": metrics,
        "latency_ms": latency.summary(),
        "latency_note": LATENCY_NOTES[mode],
        "throughput_fps": counts["processed"] / busy_s if busy_s > 0 else None,
        "throughput_note": "frames processed / time reading and running them (scoring and panels excluded)",
        "busy_s": busy_s,
        "wall_s": wall_s,
        "node_diagnostics": node_diag or None,
        "recorded_bag": str(args.record_bag) if args.record_bag is not None else None,
        "machine": environment(),
        "plots": plots,
    }
    return write_report(report, out, latency.samples.get("end_to_end", []))


def _start_node(args: argparse.Namespace, image_topic: str, out: Path) -> tuple[Any, Any]:
    """The node child process fed by a :class:`NodeReplay`, and the recorder of its outputs."""
    from frrn_seg_ros.ros.env import configure_local_ros_env

    from .node_replay import NodeReplay, camera_of
    from .record import OutputRecorder

    configure_local_ros_env(domain_id=args.domain_id)  # LOCALHOST discovery, domain, Fast DDS profile
    camera, transport = camera_of(image_topic)
    runner = NodeReplay(
        camera, transport, node_params(args), out / "node.log", args.startup_timeout, args.frame_timeout
    )
    recorder = None
    if args.record_bag is not None:
        recorder = OutputRecorder(args.record_bag, runner.image_topic, args.gt_topic, runner.labels_topic)
        runner.raw_labels_callback = recorder.on_raw_labels
    try:
        runner.__enter__()
    except BaseException:
        if recorder is not None:
            recorder.close(0, timeout_s=0)
        raise
    return runner, recorder


def _predict(
    item: BagFrame,
    mode: str,
    engine: Any,
    runner: Any,
    recorder: Any,
    latency: LatencyRecorder,
    read_ms: float,
) -> np.ndarray | None:
    """Labels ``(H, W)`` uint8 for one frame (None = dropped); records the frame's timings."""
    if mode == "recorded":
        if item.prediction is None:
            return None
        if "prediction" in item.log_time_ns:  # recorded live: log time of the output minus the stamp
            latency.add("recorded_stamp_to_log", (item.log_time_ns["prediction"] - item.stamp_ns) / 1e6)
        return item.prediction
    if item.image is None:
        return None
    if mode == "engine":
        from frrn_seg_ros.core.engine import OutputRequest

        result = engine.segment([item.image.frame], OutputRequest(color=False))[0]
        latency.add("read", read_ms)
        latency.add_all(result.timings_ms)
        latency.add("end_to_end", read_ms + result.timings_ms.get("total", float("nan")))
        return result.labels
    t0 = time.perf_counter()
    msg = to_ros_message(item.image, item.stamp_ns, item.frame_id)
    convert_ms = (time.perf_counter() - t0) * 1e3
    outcome = runner.process(msg)  # restamps msg
    if recorder is not None:
        recorder.write_input(msg, item.ground_truth)
    if outcome is None:
        if not runner.node_alive():
            raise RuntimeError("the node process died during the replay; see node.log in --out")
        return None
    labels, round_trip_ms = outcome
    latency.add("read", read_ms + convert_ms)
    latency.add("end_to_end", round_trip_ms)
    return labels


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = build_parser().parse_args(argv)
    try:
        report = evaluate(args)
    except (FileNotFoundError, FileExistsError, ValueError, RuntimeError, TimeoutError) as exc:
        print(f"frrn_seg_replay_eval: error: {exc}", file=sys.stderr)
        return 2
    metrics = report.get("metrics")
    e2e = report["latency_ms"].get("end_to_end", {})
    print(
        f"{report['frames']['processed']}/{report['frames']['total']} frames, "
        f"dropped {report['frames']['dropped']}, "
        + (f"mIoU {100 * metrics['miou']:.2f} %, " if metrics else "no ground truth, ")
        + (f"end-to-end p50 {e2e['p50']:.1f} ms p99 {e2e['p99']:.1f} ms, " if e2e.get("count") else "")
        + f"report: {args.out / 'report.md'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
