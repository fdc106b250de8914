"""The node's end-to-end figures for the deployment matrix: ``frrn_seg_bench_node`` run as a child
process, its JSON read back and trimmed to what the matrix shows."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

LOG = logging.getLogger("frrn_seg_bench_all")


def node_latency(
    models: str, sizes: str, frames: int, device: str, out_dir: Path, timeout_s: float
) -> dict[str, Any]:
    """Node end-to-end figures from ``frrn_seg_bench_node`` (child process), or a note saying why not.

    ``models`` and ``sizes`` comma-separated as on its command line; ``frames`` per case."""
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
        models,
        "--sizes",
        sizes,
        "--frames",
        str(frames),
        "--device",
        device,
        "--out",
        str(out_dir),
        "--name",
        name,
    ]
    LOG.info("node benchmark: %s", " ".join(cmd))
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, check=False)
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
