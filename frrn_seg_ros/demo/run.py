"""``bash dev.sh demo`` / ``python -m frrn_seg_ros.demo``: the node segmenting street scenes.

    python -m frrn_seg_ros.demo [--size 128x256] [--frames 60] [--iters 400]
        [--cache-dir DIR] [--retrain] [--quick]

Four steps, each cached under ``--cache-dir`` (default ``$FRRN_SEG_CACHE`` or
``~/.cache/frrn_seg_ros/demo``) and reused by the next run:

1. synthetic street scenes (``frrn_seg_training.synthetic``) in the Cityscapes layout;
2. a small CSRNet-light trained on them on the CPU (``frrn_seg_training.trainer``), exported as a node
   checkpoint (``frrn_seg_training.export_checkpoint``);
3. a rosbag2 (mcap) camera stream of the validation scenes with ground truth (``make_bag``);
4. the real ``segment_node`` started as a child process, the bag replayed to it over DDS
   (``frrn_seg_replay_eval`` node mode, lockstep), with its published topics and a live diagnostics line;
   then mIoU, latency percentiles and pictures in ``<cache>/report/``.

DDS stays on this machine (``ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST``); the demo picks its own
``ROS_DOMAIN_ID`` when none is set. Exit code 0 on success, 1 with the failed step named.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
import warnings
from pathlib import Path
from typing import Any

from .options import DemoOptions
from .steps import DemoConfig, StepResult, ensure_bag, ensure_data, ensure_model

DEMO_DOMAIN_BASE = 50  # the demo's ROS_DOMAIN_ID when unset: 50 + pid % 50 (never the node default)


class StepFailed(RuntimeError):
    """A demo step failed; ``step`` names it for the user."""

    def __init__(self, step: str, error: BaseException) -> None:
        super().__init__(f"{type(error).__name__}: {error}")
        self.step = step


def _local_ros_env() -> None:
    """LOCALHOST discovery and a demo domain id (if unset) for this process and its children."""
    from frrn_seg_ros.ros.env import configure_local_ros_env

    domain = None if os.environ.get("ROS_DOMAIN_ID") else DEMO_DOMAIN_BASE + os.getpid() % 50
    configure_local_ros_env(domain_id=domain)


def _run(step: str, fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:
        raise StepFailed(step, exc) from exc


def _reuse(result: StepResult, what: str) -> str:
    return f"reusing {what}" if result.reused else f"made {what}"


# ---------------------------------------------------------------------------------- step 4
def replay(cfg: DemoConfig, checkpoint: Path, bag: Path, out: Path, progress: bool) -> dict[str, Any]:
    """Start the node, replay ``bag`` through it with a live view; write the report in ``out``."""
    from tqdm import tqdm

    from frrn_seg_ros.core.labels import palette_from_colors

    from ..replay.evaluate import evaluate_with_meta
    from ..replay.options import ReplayOptions
    from .live import HIDDEN_TOPICS, LiveView, save_demo_panel

    shutil.rmtree(out, ignore_errors=True)
    options = ReplayOptions(
        out=out,
        bag=bag,
        checkpoint=checkpoint,
        mode="node",
        device="cpu",
        panels=3,
        warmup=1,
        node_params=("publish.color:=true", "publish.overlay:=true"),
        progress=progress,
    )
    topics: list[tuple[str, list[str]]] = []
    expected = [f"/camera/segmentation/{kind}" for kind in ("labels", "color", "overlay")] + ["/diagnostics"]
    with LiveView("camera", cfg.frames, keep=3, write=tqdm.write) as live:

        def show_topics() -> None:
            """Runs while the node is up and idle, before the first frame: nothing to race."""
            topics.extend(live.node_topics(expected, timeout_s=60.0))
            shown = [(n, t) for n, t in topics if n not in HIDDEN_TOPICS]
            lines = [f"      {name:<38} {', '.join(types)}" for name, types in shown]
            tqdm.write("      node /segmentation publishes (from the ROS graph):\n" + "\n".join(lines))

        report, meta = evaluate_with_meta(options, on_node_ready=show_topics)
        live.write_last_status(report.get("node_diagnostics"))
    panel = None
    if live.samples:
        panel = save_demo_panel(
            live.samples, palette_from_colors(meta.class_colors), meta.class_names, out / "demo_panel.png"
        )
    report["demo"] = {"topics": [{"name": n, "types": t} for n, t in topics], "panel": panel and panel.name}
    return report


def _finish_report(report: dict[str, Any], out: Path, extra: dict[str, Any]) -> None:
    """Add the demo's facts to report.json and report.md (written by frrn_seg_replay_eval)."""
    report["demo"].update(extra)
    (out / "report.json").write_text(json.dumps(report, indent=2, default=str))
    md = [
        "",
        "## Demo",
        "",
        f"Model: {extra['model']['architecture']} trained {extra['model']['iterations']} iterations on "
        f"synthetic scenes (val mIoU {100 * extra['model']['val_miou']:.1f} %), `{extra['checkpoint']}`",
        "",
        "Topics the node published: " + ", ".join(f"`{t['name']}`" for t in report["demo"]["topics"]),
        "",
    ]
    if report["demo"]["panel"]:
        md += [f"![input / labels / overlay]({report['demo']['panel']})", ""]
    with open(out / "report.md", "a") as f:
        f.write("\n".join(md))


def print_summary(report: dict[str, Any], out: Path) -> None:
    frames, metrics = report["frames"], report.get("metrics") or {}
    print(
        f"\nResult: {frames['processed']}/{frames['total']} frames segmented by the node, "
        f"{frames['dropped']} dropped"
    )
    if metrics:
        print(f"  mIoU {100 * metrics['miou']:.1f} %   pixel accuracy {100 * metrics['pixel_acc']:.1f} %")
        ious = [(n, v) for n, v in metrics["iou"].items() if v is not None]
        print("  IoU %: " + "  ".join(f"{n} {100 * v:.0f}" for n, v in sorted(ious, key=lambda x: -x[1])))
    e2e = report["latency_ms"].get("end_to_end", {})
    if e2e.get("count"):
        print(
            f"  end-to-end latency (publish -> labels back, ms): p50 {e2e['p50']:.1f}  p90 {e2e['p90']:.1f}"
            f"  p95 {e2e['p95']:.1f}  p99 {e2e['p99']:.1f}  max {e2e['max']:.1f}"
        )
    diag = report.get("node_diagnostics") or {}
    stages = {k[:-3]: v for k, v in diag.items() if k.endswith("_ms") and not k.startswith("latency_")}
    if stages:
        print("  node stages (mean ms, last window): " + "  ".join(f"{k} {v}" for k, v in stages.items()))
    lat = {k[8:-3]: v for k, v in diag.items() if k.startswith("latency_") and k.endswith("_ms")}
    if lat:
        print("  node latency stamp -> publish (ms): " + "  ".join(f"{k} {v}" for k, v in lat.items()))
    if report.get("throughput_fps"):
        print(f"  throughput {report['throughput_fps']:.1f} frames/s (lockstep: one frame in flight)")
    files = ["report.md", "report.json"] + ([report["demo"]["panel"]] if report["demo"]["panel"] else [])
    print(f"  files in {out}: " + ", ".join(files + [p for p in report.get("plots", []) if p not in files]))


def run(opts: DemoOptions) -> int:
    cfg, cache, progress = opts.config, opts.cache_dir, opts.progress
    cache.mkdir(parents=True, exist_ok=True)
    _local_ros_env()
    # the replay scores read-only label arrays; harmless, but not something a demo user should see.
    warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
    started = time.perf_counter()
    h, w = cfg.size
    print(f"frrn_seg_ros demo: segment_node on synthetic street scenes (cache {cache})")
    print(
        f"  ROS 2 DDS on this machine only: ROS_DOMAIN_ID={os.environ['ROS_DOMAIN_ID']}, discovery LOCALHOST"
    )

    step = "[1/4] synthetic street scenes"
    data = _run(step, ensure_data, cfg, cache)
    print(f"{step}: {_reuse(data, f'{cfg.train_scenes} train + {cfg.frames} val scenes of {h}x{w}')}")
    print(f"      {data.path}")

    step = "[2/4] model"
    print(
        f"{step}: csrnet_light, {cfg.iters} iterations of batch {cfg.batch} "
        f"({cfg.crop[0]}x{cfg.crop[1]} crops) on the CPU"
    )
    model = _run(step, ensure_model, cfg, cache, data.path, retrain=opts.retrain, progress=progress)
    info = model.info
    verb = "reusing the cached model" if model.reused else f"trained in {info['train_seconds']:.0f} s"
    print(f"      {verb}: val mIoU {100 * info['val_miou']:.1f} % after {info['iterations']} iterations")
    print(f"      checkpoint {model.path}")

    step = "[3/4] camera stream"
    bag = _run(step, ensure_bag, cfg, cache, data.path)
    print(f"{step}: {_reuse(bag, f'rosbag2 (mcap) of {cfg.frames} frames on /camera/image + ground truth')}")
    print(f"      {bag.path}")

    step = "[4/4] segment_node"
    out = cache / "report"
    print(f"{step}: starting the node with the checkpoint and replaying the stream over DDS")
    report = _run(step, replay, cfg, model.path, bag.path, out, progress)
    print("      node stopped")
    extra = {
        "checkpoint": str(model.path),
        "model": {k: v for k, v in info.items() if k != "val_iou"},
        "reused": {"data": data.reused, "model": model.reused, "bag": bag.reused},
        "cache": str(cache),
        "total_seconds": time.perf_counter() - started,
    }
    _run("report", _finish_report, report, out, extra)
    print_summary(report, out)
    print(f"done in {time.perf_counter() - started:.0f} s")
    return 0


def main(argv: list[str] | None = None) -> int:
    opts = DemoOptions.from_argv(argv)
    try:
        return run(opts)
    except StepFailed as exc:
        print(f"\nfrrn_seg_demo: step {exc.step} failed: {exc}", file=sys.stderr)
        if "segment_node" in exc.step:
            print(
                f"  the node's log: {opts.cache_dir / 'report' / 'node.log'}",
                file=sys.stderr,
            )
        return 1
    except KeyboardInterrupt:
        print("\nfrrn_seg_demo: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
