"""Replay-evaluation report: latency statistics, report.json, report.md and PNG plots (Agg).

:class:`LatencyRecorder` collects per-frame times by stage; :func:`write_report` writes
``report.json`` (plain data), ``report.md`` (tables) and the plots next to them:
``latency_hist.png`` (end-to-end histogram), ``iou_per_class.png`` (bars) and
``panel_<i>.png`` (input / ground truth / prediction).
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from frrn_seg_ros.core.percentiles import percentiles, summarize

#: What the latency figures of each replay mode are (stored in the report as ``latency_note``).
LATENCY_NOTES = {
    "engine": "per frame: read (decode from the bag/dataset), the engine's stages and "
    "end_to_end = read + engine total",
    "node": "per frame: read (decode + message conversion) and end_to_end (publish -> labels "
    "received over DDS, lockstep). Per-stage times are not per frame: node_diagnostics holds the "
    "node's own per-stage means over its last /diagnostics window (diagnostics.window_s)",
    "recorded": "per frame: recorded_stamp_to_log = log time of the recorded labels - header stamp",
}


class LatencyRecorder:
    """Per-stage lists of milliseconds; ``add(stage, ms)`` per frame, ``summary()`` at the end."""

    def __init__(self) -> None:
        self.samples: dict[str, list[float]] = defaultdict(list)

    def add(self, stage: str, ms: float) -> None:
        self.samples[stage].append(float(ms))

    def add_all(self, timings: dict[str, float]) -> None:
        for stage, ms in timings.items():
            self.add(stage, ms)

    def summary(self) -> dict[str, dict[str, float]]:
        return {stage: summarize(values) for stage, values in self.samples.items()}


def _fmt(value: Any, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def render_markdown(report: dict[str, Any]) -> str:
    """Human-readable tables of a report dict (see :func:`write_report`)."""
    lines = [f"# Replay evaluation ({report.get('mode', '?')} mode)", ""]
    model = report.get("model") or {}
    if model:
        lines += (
            ["| model | value |", "|---|---|"] + [f"| {k} | {_fmt(v)} |" for k, v in model.items()] + [""]
        )
    frames = report.get("frames", {})
    lines += [
        f"Source: `{report.get('source', {}).get('description', '?')}`  ",
        f"Frames: {frames.get('total', 0)} total, {frames.get('processed', 0)} processed, "
        f"{frames.get('dropped', 0)} dropped, {frames.get('with_ground_truth', 0)} with ground truth  ",
        f"Throughput: {_fmt(report.get('throughput_fps'))} frames/s "
        f"({report.get('throughput_note', 'over the wall time')}); wall time {_fmt(report.get('wall_s'))} s",
        "",
    ]
    metrics = report.get("metrics")
    if metrics:
        lines += [
            f"**mIoU {100 * metrics['miou']:.2f} %**, pixel accuracy {100 * metrics['pixel_acc']:.2f} %",
            "",
            "| class | IoU % |",
            "|---|---|",
        ]
        lines += [
            f"| {name} | {'-' if v is None else f'{100 * v:.2f}'} |" for name, v in metrics["iou"].items()
        ]
        lines.append("")
    latency = report.get("latency_ms", {})
    if latency:
        cols = ["count", "mean", "p50", "p90", "p95", "p99", "max"]
        note = f" ({report['latency_note']})" if report.get("latency_note") else ""
        lines += [
            f"Latency (ms){note}",
            "",
            "| stage | " + " | ".join(cols) + " |",
            "|---" * (len(cols) + 1) + "|",
        ]
        for stage, stats in latency.items():
            lines.append(f"| {stage} | " + " | ".join(_fmt(stats.get(c)) for c in cols) + " |")
        lines.append("")
    diag = report.get("node_diagnostics")
    if diag:
        lines += [
            "Node diagnostics (the camera's last /diagnostics status: the node's own figures, "
            "per-stage values are means over its statistics window, not per frame)",
            "",
            "| key | value |",
            "|---|---|",
        ]
        lines += [f"| {k} | {v} |" for k, v in diag.items()] + [""]
    machine = report.get("machine", {})
    if machine:
        lines += ["Machine: " + ", ".join(f"{k} {v}" for k, v in machine.items()), ""]
    if report.get("plots"):
        lines += [f"![{Path(p).stem}]({p})" for p in report["plots"]] + [""]
    return "\n".join(lines)


def plot_latency(values_ms: list[float], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.hist(values_ms, bins=min(50, max(5, len(values_ms) // 2)), color="#4c72b0")
    marks = percentiles(values_ms, (50, 99))
    for p, style in ((50, "--"), (99, ":")):
        if values_ms:
            ax.axvline(marks[f"p{p}"], color="k", linestyle=style, label=f"p{p}")
    ax.set_xlabel("end-to-end latency (ms)")
    ax.set_ylabel("frames")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_iou(iou: dict[str, float | None], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(iou)
    values = [100 * (v or 0.0) for v in iou.values()]
    fig, ax = plt.subplots(figsize=(max(6, 0.45 * len(names)), 3.8))
    ax.bar(range(len(names)), values, color="#55a868")
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, rotation=60, ha="right", fontsize=8)
    ax.set_ylabel("IoU (%)")
    ax.set_ylim(0, 100)
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def save_panel(
    rgb: np.ndarray | None, gt_color: np.ndarray | None, pred_color: np.ndarray, path: Path, title: str
) -> None:
    """Side-by-side input / ground truth / prediction (colour images ``(H, W, 3)`` uint8)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    parts = [
        (n, im)
        for n, im in (("input", rgb), ("ground truth", gt_color), ("prediction", pred_color))
        if im is not None
    ]
    fig, axes = plt.subplots(1, len(parts), figsize=(4 * len(parts), 2.6))
    for ax, (name, image) in zip(np.atleast_1d(axes), parts, strict=True):
        ax.imshow(image)
        ax.set_title(name, fontsize=9)
        ax.axis("off")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_report(report: dict[str, Any], out_dir: Path, end_to_end_ms: list[float]) -> dict[str, Any]:
    """Write plots, ``report.json`` and ``report.md`` into ``out_dir``; return the report."""
    out_dir.mkdir(parents=True, exist_ok=True)
    plots = list(report.get("plots", []))
    if end_to_end_ms:
        plot_latency(end_to_end_ms, out_dir / "latency_hist.png", f"{report.get('mode')} mode end-to-end")
        plots.append("latency_hist.png")
    if report.get("metrics"):
        plot_iou(
            report["metrics"]["iou"],
            out_dir / "iou_per_class.png",
            f"per-class IoU (mIoU {100 * report['metrics']['miou']:.1f} %)",
        )
        plots.append("iou_per_class.png")
    report["plots"] = plots
    report = _finite(report)
    (out_dir / "report.json").write_text(json.dumps(report, indent=2, allow_nan=False, default=_json_default))
    (out_dir / "report.md").write_text(render_markdown(report))
    return report


def _finite(value: Any) -> Any:
    """``value`` with every NaN/inf float replaced by None (strict JSON)."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if isinstance(value, (float, np.floating)) and not math.isfinite(float(value)):
        return None
    return value


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
