"""Markdown for :mod:`.node` results: the node-vs-engine table and the soak."""

from __future__ import annotations

import json


def to_markdown(report: dict) -> str:
    env = report["environment"]
    lines = [
        f"# segment_node end-to-end latency ({env['device']})",
        "",
        f"CPU: {env['cpu']} x{env['cpu_count']}; load average start {env['loadavg_start']}, "
        f"end {env.get('loadavg_end')}. Versions: torch {env['torch']}, {env['versions']}.",
        "Closed loop: one frame in flight; latency = labels receipt time - header stamp (same clock).",
        "",
        "| model | size | frames | e2e p50 ms | e2e p95 ms | e2e p99 ms | engine p50 ms | engine p95 ms "
        "| node / engine p50 | node inference ms | node publish ms |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for c in report["cases"]:
        if "error" in c:
            lines.append(f"| {c['model']} | {c['size']} | 0 | error: {c['error'][:80]} |" + " |" * 7)
            continue
        e2e, eng = c["end_to_end_ms"], c["engine_alone_ms"]
        ratio = f"{e2e['p50'] / eng['p50']:.2f}" if e2e.get("p50") and eng.get("p50") else "-"
        lines.append(
            f"| {c['model']} | {c['size']} | {e2e.get('count')} | {e2e.get('p50')} | {e2e.get('p95')} | "
            f"{e2e.get('p99', '-')} | {eng.get('p50')} | {eng.get('p95')} | {ratio} | "
            f"{c['node_stages_ms'].get('inference_ms')} | {c['node_stages_ms'].get('publish_ms')} |"
        )
    lines += [
        "",
        "e2e: publish -> labels received across processes through DDS (Fast DDS, SHM profile), the node "
        "running with the glibc MALLOC_* settings. engine: the same frames through SegmentationEngine in the "
        "benchmark process right after (no ROS). node inference/publish: the node's own per-stage means "
        "from /diagnostics, over its last diagnostics.window_s (10 s): a short case's window also holds the "
        "first calls (warm-up, a new size), so the mean can exceed the e2e p50. On a CPU the two "
        "processes run at different times, so the engine and the node see different CPU states: compare "
        "columns of one row only loosely.",
    ]
    if report.get("soak"):
        s = dict(report["soak"])
        samples = s.pop("rss_samples", [])
        lines += ["", "## Soak", "", "```", json.dumps(s, indent=2), "```"]
        if samples:
            lines += ["", "RSS samples (seconds, frames processed, MB): " + ", ".join(
                f"({t:g}, {n}, {r:g})" for t, n, r in samples[:: max(1, len(samples) // 12)]
            )]
    return "\n".join(lines) + "\n"
