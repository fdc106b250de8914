"""Markdown of the deployment matrix (:mod:`.deployment`): backends x precisions, node end to end."""

from __future__ import annotations

from typing import Any

from .models import PAPER_TIMES

PEAK_MEM_LEGEND = (
    "peak MB: memory growth during the timed runs above what the loaded model already held "
    "(weights excluded); what it counts is in the 'peak counts' column: CUDA max_memory_allocated "
    "(PyTorch allocator), device memory in use (cudaMemGetInfo: ONNX Runtime on CUDA, which has its "
    "own allocator) or process RSS (CPU)."
)


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
