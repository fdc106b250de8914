"""One deployment benchmark: model x input size x precision x backend, plus node end-to-end latency.

    python -m frrn_seg_ros.bench.deployment [--models csrnet_light,frrn_a] [--sizes 256x512,512x1024] \\
        [--precisions fp32] [--backends pytorch,onnxruntime] [--device auto|cpu|cuda] \\
        [--iters 10] [--node-frames 5 | --no-node] [--out benchmarks/results]

Backends: ``pytorch`` (eager, channels_last, ``torch.inference_mode``), ``onnxruntime`` (the model
exported at the fixed size with :func:`frrn_seg_ros.core.model_export.export_onnx`, run through
:class:`OnnxSegmentationModel` with TensorRT > CUDA > CPU providers for the device), ``torch_compile``
(optional, ``torch.compile`` default mode). ONNX Runtime fp16 runs on CUDA only: through TensorRT
(``trt_fp16_enable``) where it is installed, else the graph converted to fp16 (fp32 inputs and
outputs) on the CUDA provider; on CPU it is fp32 only (skipped, with a note). Each case runs in a
fresh spawned process (clean memory figure): warm-up, then timed forwards of a random input
(batch 1, weights random: speed only). FPS = 1000 / mean ms. Peak memory is the growth during the
timed runs above what the loaded model already held (``peak_mem_kind`` per case): CUDA
``max_memory_allocated`` (PyTorch), device memory in use from ``cudaMemGetInfo`` (ONNX Runtime on
CUDA, its own allocator), or process RSS (CPU). Node end-to-end (publish -> labels received,
lockstep) comes from ``frrn_seg_ros.bench.node`` run as a child. Writes
``<out>/deploy_<device-slug>.json`` + ``.md`` with the machine, load average and thread counts.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import multiprocessing
import os
import re
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import torch

from frrn_seg_ros.core.machine import device_name, environment
from frrn_seg_ros.core.percentiles import summarize
from frrn_seg_ros.core.sizes import parse_hw

from .deployment_node import node_latency
from .deployment_report import to_markdown
from .memory import RssSampler
from .ort_fp16 import ort_fp16_mode, ort_skip_reason

LOG = logging.getLogger("frrn_seg_bench_all")
BACKENDS = ("pytorch", "onnxruntime", "torch_compile")
DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def device_slug(device: torch.device) -> str:
    """``cpu-amd-epyc-2c`` / ``cuda-nvidia-h100-80gb-hbm3``: a file-name-safe device name."""
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
    else:
        name = device_name(device).split(" (")[0] + f" {os.cpu_count()}c"
        name = f"cpu {name}"
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:60]


def _build(name: str, checkpoint: str | None) -> tuple[torch.nn.Module, Any]:
    from frrn_seg_ros.core.checkpoint import default_meta, load_model
    from frrn_seg_ros.core.models import build_model

    if checkpoint:
        return load_model(checkpoint)
    torch.manual_seed(0)
    return build_model(name).eval(), default_meta(name)


def _prepare(
    backend: str,
    name: str,
    hw: tuple[int, int],
    precision: str,
    device: torch.device,
    args: argparse.Namespace,
    workdir: str,
) -> tuple[Any, torch.Tensor, dict[str, Any]]:
    model, meta = _build(name, args.checkpoint)
    extra: dict[str, Any] = {}
    x = torch.rand(1, 3, *hw, device=device)
    if backend == "onnxruntime":
        from frrn_seg_ros.core.model_export import export_onnx
        from frrn_seg_ros.core.onnx_model import OnnxSegmentationModel

        path = Path(workdir) / f"{name}_{hw[0]}x{hw[1]}.onnx"
        start = time.perf_counter()
        info = export_onnx(model, meta, path, hw, dynamic=False)
        extra.update(export_s=round(time.perf_counter() - start, 1), exporter=info.exporter)
        if precision == "fp16":
            extra["ort_fp16"] = ort_fp16_mode(path)
        threads = torch.get_num_threads() if device.type == "cpu" else None
        runner = OnnxSegmentationModel(path, threads=threads, device=device, precision=precision)
        extra["providers"] = runner.providers
        return runner, x, extra
    model = model.to(device=device, memory_format=torch.channels_last)
    if precision != "fp32":
        model = model.to(DTYPES[precision])
        x = x.to(DTYPES[precision])
    x = x.contiguous(memory_format=torch.channels_last)
    if backend == "torch_compile":
        model = torch.compile(model)
    return model, x, extra


def run_case(
    backend: str, name: str, hw: tuple[int, int], precision: str, device_str: str, args: argparse.Namespace
) -> dict[str, Any]:
    """Time one case (call in a fresh process); returns its record."""
    device = torch.device(device_str)
    if args.threads:
        torch.set_num_threads(args.threads)
    record: dict[str, Any] = {
        "backend": backend,
        "model": name,
        "size": f"{hw[0]}x{hw[1]}",
        "precision": precision,
        "threads": torch.get_num_threads(),
        "load_before": [round(v, 2) for v in os.getloadavg()],
    }
    with tempfile.TemporaryDirectory() as workdir:
        runner, x, extra = _prepare(backend, name, hw, precision, device, args, workdir)
        record.update(extra)

        def once() -> float:
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            start = time.perf_counter()
            runner(x)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            return (time.perf_counter() - start) * 1e3

        with torch.inference_mode():
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
                base = torch.cuda.memory_allocated(device)
                free_before = torch.cuda.mem_get_info(device)[0]
            rss_before = RssSampler.rss()
            with RssSampler() as sampler:
                first = once()
                for _ in range(max(0, args.warmup - 1)):
                    once()
                iters = max(3, min(args.iters, int(args.max_seconds_per_case * 1e3 / max(first, 1e-3))))
                times = [once() for _ in range(iters)]
    stats = summarize(times)
    record.update(
        first_ms=round(first, 2),
        iters=iters,
        mean_ms=stats["mean"],
        p50_ms=stats["p50"],
        p99_ms=stats["p99"],
        fps=1e3 / stats["mean"],
        load_after=[round(v, 2) for v in os.getloadavg()],
    )
    if device.type == "cuda" and backend != "onnxruntime":
        record["peak_mem_mb"] = (torch.cuda.max_memory_allocated(device) - base) / 2**20
        record["peak_mem_kind"] = "CUDA max_memory_allocated growth"
    elif device.type == "cuda":  # ORT's own CUDA allocator: device memory in use (its arena keeps it)
        record["peak_mem_mb"] = (free_before - torch.cuda.mem_get_info(device)[0]) / 2**20
        record["peak_mem_kind"] = "device memory in use growth"
    else:
        record["peak_mem_mb"] = (sampler.peak - rss_before) / 2**20
        record["peak_mem_kind"] = "process RSS growth"
    return record


def _isolated(*case: Any) -> dict[str, Any]:
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=ctx) as pool:
        return pool.submit(run_case, *case).result()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="frrn_seg_bench_all", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--models", default="csrnet_light,frrn_a")
    p.add_argument("--sizes", default="256x512,512x1024", help="comma-separated HEIGHTxWIDTH")
    p.add_argument("--precisions", default=None, help="default fp32 on CPU, fp32,fp16 on CUDA")
    p.add_argument("--backends", default="pytorch,onnxruntime", help=f"comma-separated from {BACKENDS}")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    p.add_argument("--checkpoint", default=None, help="time these weights instead of random ones")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--iters", type=int, default=10)
    p.add_argument("--max-seconds-per-case", type=float, default=60.0)
    p.add_argument("--threads", type=int, default=None, help="torch/ORT CPU threads (default: torch's)")
    p.add_argument("--node-frames", type=int, default=5, help="frames per node case (0 = skip the node)")
    p.add_argument("--no-node", action="store_true", help="skip the node end-to-end benchmark")
    p.add_argument("--node-timeout-s", type=float, default=1800.0)
    p.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    p.add_argument("--name", default=None, help="output stem (default deploy_<device-slug>)")
    p.add_argument("--note", default="", help="free text saved with the results")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = parse_args(argv)
    device = torch.device(
        "cuda"
        if args.device == "auto" and torch.cuda.is_available()
        else ("cpu" if args.device == "auto" else args.device)
    )
    precisions = (args.precisions or ("fp32,fp16" if device.type == "cuda" else "fp32")).split(",")
    backends = [b for b in args.backends.split(",") if b]
    unknown = [b for b in backends if b not in BACKENDS]
    if unknown:
        print(f"frrn_seg_bench_all: error: unknown backends {unknown}; known: {BACKENDS}", file=sys.stderr)
        return 2
    try:
        import onnxruntime

        ort_version = onnxruntime.__version__
    except ImportError:
        ort_version = None
        backends = [b for b in backends if b != "onnxruntime"]
    env = {
        **environment(device),
        "device": device_name(device),
        "device_slug": device_slug(device),
        "onnxruntime": ort_version,
        "torch_threads": args.threads or torch.get_num_threads(),
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "load_before": [round(v, 2) for v in os.getloadavg()],
        "note": args.note,
    }
    cases, notes = [], set()
    for name in [m for m in args.models.split(",") if m]:
        for hw in [parse_hw(s) for s in args.sizes.split(",") if s]:
            for precision in precisions:
                for backend in backends:
                    skip = ort_skip_reason(device, precision) if backend == "onnxruntime" else None
                    if skip:
                        notes.add(skip)
                        continue
                    try:
                        case = _isolated(backend, name, hw, precision, str(device), args)
                    except Exception as exc:  # one failed case must not lose the others
                        case = {
                            "backend": backend,
                            "model": name,
                            "size": f"{hw[0]}x{hw[1]}",
                            "precision": precision,
                            "error": f"{type(exc).__name__}: {exc}",
                        }
                    print(json.dumps(case), flush=True)
                    cases.append(case)
    args.out.mkdir(parents=True, exist_ok=True)
    node = (
        {"skipped": "disabled (--no-node / --node-frames 0)"}
        if args.no_node or args.node_frames <= 0
        else node_latency(
            args.models, args.sizes, args.node_frames, str(device), args.out, args.node_timeout_s
        )
    )
    env["load_after"] = [round(v, 2) for v in os.getloadavg()]
    report = {"environment": env, "cases": cases, "node": node, "notes": sorted(notes)}
    stem = args.name or f"deploy_{env['device_slug']}"
    (args.out / f"{stem}.json").write_text(json.dumps(report, indent=2) + "\n")
    (args.out / f"{stem}.md").write_text(to_markdown(report))
    print(f"wrote {args.out / stem}.json and .md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
