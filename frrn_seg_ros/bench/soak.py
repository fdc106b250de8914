"""Soak run of segment_node: memory and latency over many processed frames.

A camera publishes faster than the model (``--soak-rate``, best effort, keep-last 1) until the
node has PROCESSED ``--soak`` frames (labels received back), so the count is of frames that went
through the whole path, not of frames sent. The node's resident set size is sampled every
``SAMPLE_PERIOD_S`` seconds; the report gives it at the start (after warm-up), at the end, its
maximum, and the growth per 1,000 frames fitted over the second half of the run (a leak shows
there, after allocator caches have settled). Latency stays bounded if the newest-frame mailbox
works: the percentiles cover the last 1,000 outputs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from frrn_seg_ros.core.percentiles import summarize
from frrn_seg_ros.core.sizes import parse_hw

from .memory import rss_mb
from .node_session import Harness, frames_for, start_node

SAMPLE_PERIOD_S = 5.0
WARMUP_FRAMES = 200


def rss_growth_per_1000(samples: list[tuple[float, int, float]]) -> float:
    """MB per 1,000 processed frames, least-squares over the second half of ``samples``.

    ``samples``: ``(seconds, frames_processed, rss_mb)``; NaN with fewer than 3 points there.
    """
    half = samples[len(samples) // 2 :]
    if len(half) < 3:
        return float("nan")
    frames = np.array([s[1] for s in half], dtype=np.float64)
    rss = np.array([s[2] for s in half], dtype=np.float64)
    if np.ptp(frames) == 0:
        return float("nan")
    slope = np.polyfit(frames, rss, 1)[0]
    return float(slope * 1000.0)


def _finite_or_none(value: float) -> float | None:
    return (round(value, 3) or 0.0) if np.isfinite(value) else None  # JSON has no NaN; no -0.0


@dataclass(frozen=True)
class SoakOptions:
    """``frrn_seg_bench_node --soak FRAMES``: the node must process ``frames`` (within ``max_s``)."""

    frames: int
    model: str = "csrnet_light"
    size: str = "64x128"  # HEIGHTxWIDTH
    rate_hz: float = 200.0
    max_s: float = 3600.0
    device: str = "cpu"


def soak(opts: SoakOptions, ns: str) -> dict:
    """Stream frames to a child node until it has processed ``opts.frames`` of them."""
    from frrn_seg_ros.ros.conversions import array_to_image

    msgs = [array_to_image(a, "rgb8") for a in frames_for(parse_hw(opts.size), 8)]
    node = start_node(ns, opts.model, opts.device)
    harness = Harness(ns)
    try:
        while harness.roundtrip(msgs[0], timeout=5.0) is None and node.alive():
            pass
        sent = 0
        while harness.count < WARMUP_FRAMES and node.alive():  # allocator caches settle
            harness.send(msgs[sent % len(msgs)])
            sent += 1
            time.sleep(1.0 / opts.rate_hz)
        start_count, t0 = harness.count, time.monotonic()
        samples = [(0.0, 0, rss_mb(node.pid))]
        next_sample = t0 + SAMPLE_PERIOD_S
        while harness.count - start_count < opts.frames and node.alive():
            if time.monotonic() - t0 > opts.max_s:
                break
            harness.send(msgs[sent % len(msgs)])
            sent += 1
            now = time.monotonic()
            if now >= next_sample:
                samples.append((round(now - t0, 1), harness.count - start_count, rss_mb(node.pid)))
                next_sample += SAMPLE_PERIOD_S
            time.sleep(max(0.0, 1.0 / opts.rate_hz - (time.monotonic() - now)))
        elapsed = time.monotonic() - t0
        processed = harness.count - start_count
        samples.append((round(elapsed, 1), processed, rss_mb(node.pid)))
        rss = [s[2] for s in samples]
        return {
            "model": opts.model,
            "size": opts.size,
            "camera_rate_hz": opts.rate_hz,
            "frames_processed": processed,
            "frames_sent": sent,
            "seconds": round(elapsed, 1),
            "output_rate_hz": round(processed / elapsed, 1) if elapsed else None,
            "node_frames_dropped": harness.diag.get("frames_dropped"),
            "node_frames_processed": harness.diag.get("frames_processed"),
            "latency_ms_last_1000": summarize(harness.last_latencies(1000), digits=2),
            "node_rss_mb_start": round(rss[0], 1),
            "node_rss_mb_end": round(rss[-1], 1),
            "node_rss_mb_max": round(max(rss), 1),
            "rss_growth_mb_per_1000_frames": _finite_or_none(rss_growth_per_1000(samples)),
            "rss_samples": [(t, n, round(r, 1)) for t, n, r in samples],
            "node_alive": node.alive(),
            "reached_target": processed >= opts.frames,
        }
    finally:
        harness.close()
        node.stop(timeout=30.0)
