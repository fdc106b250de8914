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

import logging
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from frrn_seg_ros.core.labels import colorize, palette_from_colors
from frrn_seg_ros.core.machine import environment

from .bag_io import BagFrame
from .inputs import frame_rgb, open_source
from .modes import ReplayRun, finish_node, predict, start_run
from .options import ReplayOptions
from .report import LATENCY_NOTES, LatencyRecorder, save_panel, write_report

LOG = logging.getLogger("frrn_seg_replay_eval")


@dataclass
class Tally:
    """What the loop counted and measured."""

    counts: dict[str, int] = field(
        default_factory=lambda: {"total": 0, "processed": 0, "dropped": 0, "with_ground_truth": 0}
    )
    latency: LatencyRecorder = field(default_factory=LatencyRecorder)
    plots: list[str] = field(default_factory=list)
    busy_s: float = 0.0
    wall_s: float = 0.0


# ---------------------------------------------------------------------------------- the steps
def evaluate(opts: ReplayOptions) -> dict[str, Any]:
    """Validate, open the source, start the mode, run and score every frame, write the report."""
    return evaluate_with_meta(opts)[0]


def evaluate_with_meta(
    opts: ReplayOptions, on_node_ready: Callable[[], None] | None = None
) -> tuple[dict[str, Any], Any]:
    """:func:`evaluate`, and the CheckpointMeta it ran with (classes, colours), read once.

    ``on_node_ready`` (node mode) is called once the node is up and before the first frame is
    sent: the node idles meanwhile, so a caller can look at it in the ROS graph without a race.
    """
    from frrn_seg_training.metrics import ConfusionMeter

    opts.validate()
    frames, total, source = open_source(opts)
    if opts.limit is not None:
        total = min(total, opts.limit)
    opts.out.mkdir(parents=True, exist_ok=True)
    run = start_run(opts, source)
    meter = ConfusionMeter(run.meta.num_classes)
    tally = Tally()
    try:
        if on_node_ready is not None and run.runner is not None:
            on_node_ready()
        replay_frames(frames, total, run, meter, tally, opts)
        node_diag = finish_node(run, opts, tally.counts["processed"])
    finally:
        run.close(tally.counts["processed"])
    return report(opts, run, source, meter, tally, node_diag), run.meta


def replay_frames(
    frames: Iterable[BagFrame], total: int, run: ReplayRun, meter: Any, tally: Tally, opts: ReplayOptions
) -> None:
    """Read, run, score and (some) draw every frame, up to ``opts.limit``."""
    from tqdm import tqdm

    palette = palette_from_colors(run.meta.class_colors)
    panel_at = set(np.linspace(0, max(total - 1, 0), num=min(opts.panels, total), dtype=int).tolist())
    counts = tally.counts
    bar = tqdm(total=total, unit="frame", disable=not opts.progress, desc=f"replay ({run.mode})")
    iterator = iter(frames)
    start = time.perf_counter()
    while opts.limit is None or counts["total"] < opts.limit:  # until the source is exhausted
        t0 = time.perf_counter()
        item = next(iterator, None)
        if item is None:
            break
        read_ms = (time.perf_counter() - t0) * 1e3
        index = counts["total"]
        counts["total"] += 1
        bar.update(1)
        pred = predict(item, run, tally.latency, read_ms)
        tally.busy_s += time.perf_counter() - t0  # reading + inference; not scoring or panels
        if pred is None:
            counts["dropped"] += 1
            continue
        counts["processed"] += 1
        if item.ground_truth is not None:
            score(meter, pred, item.ground_truth, index)
            counts["with_ground_truth"] += 1
        if index in panel_at:
            tally.plots.append(save_frame_panel(item, pred, palette, index, run.mode, opts.out))
    tally.wall_s = time.perf_counter() - start
    bar.close()


def score(meter: Any, pred: np.ndarray, ground_truth: np.ndarray, index: int) -> None:
    """Add one frame's ``(H, W)`` labels against its ``(H, W)`` ground truth to the confusion matrix."""
    if ground_truth.shape != pred.shape:
        raise ValueError(
            f"frame {index}: prediction {pred.shape} and ground truth {ground_truth.shape} differ in size"
        )
    meter.update(torch.as_tensor(pred), torch.as_tensor(np.array(ground_truth)))


def save_frame_panel(item: BagFrame, pred: np.ndarray, palette: np.ndarray, index: int, mode: str,
                     out: Path) -> str:
    """``panel_<index>.png``: input / ground truth / prediction; returns the file name."""
    name = f"panel_{index:04d}.png"
    rgb = frame_rgb(item.image.frame) if item.image is not None else None
    gt = colorize(item.ground_truth, palette) if item.ground_truth is not None else None
    save_panel(rgb, gt, colorize(pred, palette), out / name, f"frame {index} ({mode} mode)")
    return name


def report(opts: ReplayOptions, run: ReplayRun, source: dict[str, Any], meter: Any, tally: Tally,
           node_diag: dict[str, str]) -> dict[str, Any]:
    """Write report.json / report.md / the plots into ``opts.out``; return the report."""
    counts = tally.counts
    metrics = meter.summary(run.meta.class_names) if counts["with_ground_truth"] else None
    data = {
        "mode": run.mode,
        "source": source,
        "model": run.info,
        "frames": counts,
        "metrics": metrics,
        "latency_ms": tally.latency.summary(),
        "latency_note": LATENCY_NOTES[run.mode],
        "throughput_fps": counts["processed"] / tally.busy_s if tally.busy_s > 0 else None,
        "throughput_note": "frames processed / time reading and running them (scoring and panels excluded)",
        "busy_s": tally.busy_s,
        "wall_s": tally.wall_s,
        "node_diagnostics": node_diag or None,
        "recorded_bag": str(opts.record_bag) if opts.record_bag is not None else None,
        "machine": environment(),
        "plots": tally.plots,
    }
    return write_report(data, opts.out, tally.latency.samples.get("end_to_end", []))


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    opts = ReplayOptions.from_argv(argv, description=__doc__)
    try:
        result = evaluate(opts)
    except (FileNotFoundError, FileExistsError, ValueError, RuntimeError, TimeoutError) as exc:
        print(f"frrn_seg_replay_eval: error: {exc}", file=sys.stderr)
        return 2
    metrics = result.get("metrics")
    e2e = result["latency_ms"].get("end_to_end", {})
    print(
        f"{result['frames']['processed']}/{result['frames']['total']} frames, "
        f"dropped {result['frames']['dropped']}, "
        + (f"mIoU {100 * metrics['miou']:.2f} %, " if metrics else "no ground truth, ")
        + (f"end-to-end p50 {e2e['p50']:.1f} ms p99 {e2e['p99']:.1f} ms, " if e2e.get("count") else "")
        + f"report: {opts.out / 'report.md'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
