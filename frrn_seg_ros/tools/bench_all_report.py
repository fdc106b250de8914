"""Parts of :mod:`frrn_seg_ros.tools.bench_all` around the timing: node end-to-end figures, Markdown."""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

from .bench_models import PAPER_TIMES

LOG = logging.getLogger("frrn_seg_bench_all")


def node_latency(args: argparse.Namespace, device: str, out_dir: Path) -> dict[str, Any]:
    """Node end-to-end figures from ``bench_node`` (child process), or a note saying why not."""
    try:
        import frrn_seg_ros.tools.bench_node  # noqa: F401
    except ImportError as exc:
        return {"skipped": f"bench_node unavailable: {exc}"}
    name = "node_for_deploy"
    cmd = [
        sys.executable,
        "-m",
        "frrn_seg_ros.tools.bench_node",
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
        "| model | input HxW | precision | backend | FPS | p50 ms | p99 ms | first ms | peak MB | iters |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for c in report["cases"]:
        if "error" in c:
            lines.append(
                f"| {c['model']} | {c['size']} | {c['precision']} | {c['backend']} | "
                f"failed: {c['error'][:80]} | | | | | |"
            )
            continue
        lines.append(
            f"| {c['model']} | {c['size']} | {c['precision']} | {c['backend']} | {c['fps']:.2f} | "
            f"{c['p50_ms']:.1f} | {c['p99_ms']:.1f} | {c['first_ms']:.0f} | {c['peak_mem_mb']:.0f} | "
            f"{c['iters']} |"
        )
    node = report.get("node") or {}
    lines += ["", "## Node end-to-end (publish -> labels received, lockstep, fp32, PyTorch backend)", ""]
    if node.get("cases"):
        lines += [
            "| model | input HxW | e2e p50 ms | e2e p99 ms | node inference ms | engine alone p50 ms |",
            "|---|---|---|---|---|---|",
        ]
        for c in node["cases"]:
            e2e, eng = c.get("end_to_end_ms") or {}, c.get("engine_alone_ms") or {}
            inf = (c.get("node_stages_ms") or {}).get("inference_ms")
            lines.append(
                f"| {c['model']} | {c['size']} | {e2e.get('p50', '-')} | {e2e.get('p99', '-')} | "
                f"{inf or '-'} | {eng.get('p50', '-')} |"
            )
    else:
        lines.append(f"Skipped: {node.get('skipped', 'not run')}")
    lines += [
        "",
        "Papers (their hardware): "
        + "; ".join(f"{m} {s} {t * 1e3:.1f} ms on {d}" for m, (s, t, d) in PAPER_TIMES.items()),
    ]
    return "\n".join(lines) + "\n"
