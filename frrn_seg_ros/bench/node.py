"""End-to-end latency of segment_node through DDS across processes, next to the engine alone.

For each model and size, starts ``segment_node`` as a child process (glibc malloc settings and
the Fast DDS large-image profile set, DDS kept on localhost), publishes frames one at a time
(closed loop: the next frame goes out once the labels of the previous one arrived) and measures
``receipt time - header stamp`` of the labels. Then runs the engine in this process on the same
frames. ``--soak N`` then streams small frames faster than the model until the node has
processed N of them, sampling its RSS (:mod:`.soak`). Writes JSON + Markdown to
``benchmarks/results/`` with device, load and versions.

    frrn_seg_bench_node --models csrnet_light,frrn_a --sizes 512x1024,1024x2048 --frames 10
    frrn_seg_bench_node --models csrnet_light --sizes 64x128 --frames 0 --soak 10000
    frrn_seg_bench_node --checkpoint model_int8.onnx --input-size 256x512 --sizes 256x512,1024x2048

``--checkpoint`` times that file (a node checkpoint, or an exported / int8 ``.onnx``) in both the
node and the engine, with the node's default backend (``model.backend: auto``); ``--input-size``
sets the network input (the camera frames keep ``--sizes``). Frames are synthetic street scenes
(``--frames-kind noise``: uniform noise, the worst case for the labels' boundary band).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from frrn_seg_ros.core.machine import environment as environment_of
from frrn_seg_ros.core.percentiles import summarize
from frrn_seg_ros.core.sizes import parse_hw
from frrn_seg_ros.ros.env import MALLOC_ENV, configure_local_ros_env
from frrn_seg_ros.ros.node_process import parse_param_overrides
from frrn_seg_ros.ros.stats import STAGES as NODE_STAGES

from .memory import rss_mb
from .node_report import to_markdown
from .node_session import Harness, frames_for, start_node
from .soak import SoakOptions, soak


def bench_case(model: str, size: tuple[int, int], args, ns: str) -> dict:
    from frrn_seg_ros.ros.conversions import array_to_image

    arrays = frames_for(size, kind=args.frames_kind)
    msgs = [array_to_image(a, "rgb8") for a in arrays]
    node = start_node(ns, model, args.device, node_params(args))
    harness = Harness(ns)
    case: dict = {"model": model, "size": f"{size[0]}x{size[1]}", "input_size": args.input_size}
    case["frames_kind"] = args.frames_kind
    if args.checkpoint:
        case["checkpoint"] = Path(args.checkpoint).name
    try:
        deadline = time.monotonic() + args.start_timeout
        while harness.pub.get_subscription_count() == 0 and time.monotonic() < deadline:
            if not node.alive():
                raise RuntimeError(f"node exited: {node.tail(30)}")
            time.sleep(0.1)
        first = None
        while first is None and time.monotonic() < deadline and node.alive():
            first = harness.roundtrip(msgs[0], timeout=args.frame_timeout)  # first call: warm-up
        if first is None:
            raise RuntimeError("node produced no output before --start-timeout")
        for _ in range(args.warmup):
            harness.roundtrip(msgs[0], timeout=args.frame_timeout)
        latencies, t0 = [], time.monotonic()
        for i in range(args.frames):
            lat = harness.roundtrip(msgs[i % len(msgs)], timeout=args.frame_timeout)
            if lat is not None:
                latencies.append(lat)
            if time.monotonic() - t0 > args.case_budget_s:
                break
        time.sleep(1.2)  # one more diagnostics period
        case["end_to_end_ms"] = summarize(latencies, digits=2)
        # the node's own per-stage means, as its diagnostics name them (<stage>_ms)
        case["node_stages_ms"] = {f"{s}_ms": harness.diag.get(f"{s}_ms") for s in NODE_STAGES}
        case["node_rss_mb"] = round(rss_mb(node.pid), 1)
    finally:
        harness.close()
        node.stop(timeout=30.0)
    case["engine_alone_ms"] = bench_engine(model, arrays, args, len(latencies) or 1)
    return case


def node_params(args: argparse.Namespace) -> dict[str, object]:
    """The node's parameters from ``--checkpoint``, ``--input-size`` and each ``--node-param``."""
    params: dict[str, object] = {}
    if args.checkpoint:
        params["model.checkpoint"] = str(Path(args.checkpoint).resolve())
    if args.input_size:
        params["model.input_height"], params["model.input_width"] = parse_hw(args.input_size)
    params.update(parse_param_overrides(args.node_param))  # checked in main()
    return params


def bench_engine(model: str, arrays: list[np.ndarray], args, frames: int) -> dict:
    from frrn_seg_ros.core.engine import EngineConfig, Frame, OutputRequest, SegmentationEngine

    size = parse_hw(args.input_size) if args.input_size else None
    config = EngineConfig(device=args.device, warmup_iters=0, input_size=size)
    if args.checkpoint:  # the node's default backend (auto: ONNX Runtime on a CPU)
        engine = SegmentationEngine.from_file(args.checkpoint, config)
    else:
        engine = SegmentationEngine.from_architecture(model, config)
    request = OutputRequest(color=False)
    for _ in range(args.warmup + 2):  # the first calls at a new size are slow (allocator, kernels)
        engine.segment([Frame(arrays[0], "rgb8")], request)
    walls, t0 = [], time.monotonic()
    for i in range(frames):
        start = time.perf_counter()
        engine.segment([Frame(arrays[i % len(arrays)], "rgb8")], request)
        walls.append((time.perf_counter() - start) * 1e3)
        if time.monotonic() - t0 > args.case_budget_s:
            break
    return summarize(walls, digits=2)


def environment(device: str) -> dict:
    """Where the benchmark ran: :func:`frrn_seg_ros.core.machine.environment` plus the ROS and DDS
    settings."""
    from frrn_seg_ros.core.engine import resolve_device

    versions: dict[str, str] = {}
    try:
        from importlib.metadata import version

        versions.update(rclpy=version("rclpy"), fastdds=version("ros-fastdds"))
    except Exception:  # not from wheels (a ROS install): leave out
        pass
    return {
        **environment_of(resolve_device(device)),
        "device": device,
        "gpu": None if device == "cpu" else device,
        "versions": versions,
        "rmw": os.environ.get("RMW_IMPLEMENTATION"),
        "fastdds_profile": os.environ.get("FASTDDS_DEFAULT_PROFILES_FILE"),
        "node_env": MALLOC_ENV,
        "loadavg_start": os.getloadavg(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="csrnet_light,frrn_a")
    parser.add_argument("--sizes", default="512x1024,1024x2048")
    parser.add_argument("--frames", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument(
        "--frames-kind", choices=("scene", "noise"), default="scene", help="street scenes or noise"
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--case-budget-s", type=float, default=120.0, help="stop a case's loop after this")
    parser.add_argument("--frame-timeout", type=float, default=120.0)
    parser.add_argument("--start-timeout", type=float, default=180.0)
    parser.add_argument("--soak", type=int, default=0, help="frames the node must process (0 = no soak)")
    parser.add_argument("--soak-max-s", type=float, default=3600.0, help="stop the soak after this")
    parser.add_argument("--soak-size", default="64x128")
    parser.add_argument("--soak-rate", type=float, default=200.0)
    parser.add_argument("--soak-model", default="csrnet_light")
    parser.add_argument("--checkpoint", default=None, help="time this file (.safetensors / .pt / .onnx)")
    parser.add_argument("--input-size", default=None, help="network input HxW (default: the frame's size)")
    parser.add_argument(
        "--node-param", action="append", default=[], metavar="NAME:=VALUE", help="extra node parameter"
    )
    parser.add_argument("--domain-id", type=int, default=None)
    parser.add_argument("--out", default="benchmarks/results")
    parser.add_argument("--name", default=None, help="output basename (default node_<device>)")
    args = parser.parse_args(argv)
    try:
        parse_param_overrides(args.node_param)
    except ValueError as exc:
        parser.error(str(exc))  # one line, exit 2
    configure_local_ros_env(domain_id=args.domain_id)
    report = {"environment": environment(args.device), "cases": [], "soak": None}
    models = [Path(args.checkpoint).stem] if args.checkpoint else [m for m in args.models.split(",") if m]
    for model in models:
        for size in [parse_hw(s) for s in args.sizes.split(",") if s and args.frames > 0]:
            ns = f"/bench_{model}_{size[0]}x{size[1]}_{os.getpid()}"
            try:
                case = bench_case(model, size, args, ns)
            except Exception as exc:  # record and go on with the other cases
                case = {"model": model, "size": f"{size[0]}x{size[1]}", "error": str(exc)[:500]}
            print(json.dumps(case), flush=True)
            report["cases"].append(case)
    if args.soak:
        options = SoakOptions(
            args.soak, args.soak_model, args.soak_size, args.soak_rate, args.soak_max_s, args.device
        )
        report["soak"] = soak(options, f"/bench_soak_{os.getpid()}")
        print(json.dumps(report["soak"]), flush=True)
    report["environment"]["loadavg_end"] = os.getloadavg()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    name = args.name or f"node_{args.device.replace(':', '')}"
    (out / f"{name}.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / f"{name}.md").write_text(to_markdown(report))
    print(f"wrote {out / name}.json and .md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
