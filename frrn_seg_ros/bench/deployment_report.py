"""Parts of :mod:`frrn_seg_ros.bench.deployment` around the timing: ONNX Runtime fp16 set-up, node
end-to-end figures, Markdown."""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

from .models import PAPER_TIMES

LOG = logging.getLogger("frrn_seg_bench_all")
PEAK_MEM_LEGEND = (
    "peak MB: memory growth during the timed runs above what the loaded model already held "
    "(weights excluded); what it counts is in the 'peak counts' column: CUDA max_memory_allocated "
    "(PyTorch allocator), device memory in use (cudaMemGetInfo: ONNX Runtime on CUDA, which has its "
    "own allocator) or process RSS (CPU)."
)


def ort_skip_reason(device: Any, precision: str) -> str | None:
    """Why an ONNX Runtime case at ``precision`` cannot run on ``device`` (None: it can)."""
    if precision == "fp32":
        return None
    if device.type != "cuda":
        return f"onnxruntime {precision} skipped on CPU: the CPU provider runs the fp32 graph only"
    if precision != "fp16":
        return f"onnxruntime {precision} skipped: ONNX Runtime cases run fp32 or fp16"
    import onnxruntime as ort

    if not {"CUDAExecutionProvider", "TensorrtExecutionProvider"} & set(ort.get_available_providers()):
        return "onnxruntime fp16 skipped: no CUDA or TensorRT provider installed (onnxruntime-gpu)"
    return None


def ort_fp16_mode(path: Path) -> str:
    """Prepare an fp16 ONNX Runtime case: TensorRT builds fp16 engines from the fp32 graph itself
    (``trt_fp16_enable``); otherwise the graph at ``path`` is converted in place to fp16 with fp32
    inputs and outputs (onnxruntime.transformers.float16) for the CUDA provider. Returns which."""
    import onnx
    import onnxruntime as ort

    if "TensorrtExecutionProvider" in ort.get_available_providers():
        return "TensorRT trt_fp16_enable"
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = convert_float_to_float16(onnx.load(str(path)), keep_io_types=True)
    onnx.save(model, str(path))
    return "graph converted to fp16 (fp32 I/O), CUDA provider"


def node_latency(args: argparse.Namespace, device: str, out_dir: Path) -> dict[str, Any]:
    """Node end-to-end figures from ``bench_node`` (child process), or a note saying why not."""
    try:
        import frrn_seg_ros.bench.node  # noqa: F401
    except ImportError as exc:
        return {"skipped": f"bench_node unavailable: {exc}"}
    name = "node_for_deploy"
    cmd = [
        sys.executable,
        "-m",
        "frrn_seg_ros.bench.node",
        "--models",
        args.models,
        "--sizes",
        args.sizes,
        "--frames",
        str(args.node_frames),
        "--device",
        device,
        "--out",
        str(out_dir),
        "--name",
        name,
    ]
    LOG.info("node benchmark: %s", " ".join(cmd))
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=args.node_timeout_s, check=False)
    path = out_dir / f"{name}.json"
    if proc.returncode != 0 or not path.is_file():
        return {"skipped": f"bench_node failed (rc {proc.returncode}): {proc.stderr[-500:]}"}
    data = json.loads(path.read_text())
    for suffix in (".json", ".md"):
        (out_dir / f"{name}{suffix}").unlink(missing_ok=True)
    return {
        "cases": [
            {
                k: c.get(k)
                for k in (
                    "model",
                    "size",
                    "end_to_end_ms",
                    "node_stages_ms",
                    "engine_alone_ms",
                    "node_rss_mb",
                )
            }
            for c in data.get("cases", [])
        ]
    }


def to_markdown(report: dict[str, Any]) -> str:
    env = report["environment"]
    lines = [
        f"# Deployment benchmark: {env['device']}",
        "",
        f"{env['date']}; torch {env['torch']}, onnxruntime {env.get('onnxruntime')}, "
        f"{env['torch_threads']} torch threads, load average before/after {env['load_before']} / "
        f"{env['load_after']}. Random weights, batch 1, input already on the device. {env.get('note', '')}",
        "",
        "| model | input HxW | precision | backend | FPS | p50 ms | p99 ms | first ms | peak MB "
        "| peak counts | iters |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for c in report["cases"]:
        if "error" in c:
            lines.append(
                f"| {c['model']} | {c['size']} | {c['precision']} | {c['backend']} | "
                f"failed: {c['error'][:80]} | | | | | | |"
            )
            continue
        backend = c["backend"] + (f" ({c['ort_fp16']})" if c.get("ort_fp16") else "")
        lines.append(
            f"| {c['model']} | {c['size']} | {c['precision']} | {backend} | {c['fps']:.2f} | "
            f"{c['p50_ms']:.1f} | {c['p99_ms']:.1f} | {c['first_ms']:.0f} | {c['peak_mem_mb']:.0f} | "
            f"{c.get('peak_mem_kind', '-')} | {c['iters']} |"
        )
    lines += ["", PEAK_MEM_LEGEND] + [f"Note: {n}." for n in report.get("notes", [])]
    node = report.get("node") or {}
    lines += ["", "## Node end-to-end (publish -> labels received, lockstep, fp32, PyTorch backend)", ""]
    if node.get("cases"):
        lines += [
            "| model | input HxW | e2e p50 ms | e2e p95 ms | e2e p99 ms | node inference ms (mean) "
            "| engine alone p50 ms |",
            "|---|---|---|---|---|---|---|",
        ]
        for c in node["cases"]:
            e2e, eng = c.get("end_to_end_ms") or {}, c.get("engine_alone_ms") or {}
            inf = (c.get("node_stages_ms") or {}).get("inference_ms")
            lines.append(
                f"| {c['model']} | {c['size']} | {e2e.get('p50', '-')} | {e2e.get('p95', '-')} | "
                f"{e2e.get('p99', '-')} | {inf or '-'} | {eng.get('p50', '-')} |"
            )
        lines += [
            "",
            "node inference: the node's own mean over its /diagnostics window. p99 shows '-' where "
            "bench_node reported no p99.",
        ]
    else:
        lines.append(f"Skipped: {node.get('skipped', 'not run')}")
    lines += [
        "",
        "Papers (their hardware): "
        + "; ".join(f"{m} {s} {t * 1e3:.1f} ms on {d}" for m, (s, t, d) in PAPER_TIMES.items()),
    ]
    return "\n".join(lines) + "\n"
