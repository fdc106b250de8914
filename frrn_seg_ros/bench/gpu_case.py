"""One case of the GPU check on the engine: the engine end to end, then the model alone.

A case is a dict ``{model, size "HxW", precision, batch, path}``; :func:`run_case` returns its
record (means, p50/p99 in ms, frames per second, first-call time, per-stage timings, peak device
memory). ``path`` selects the engine's fast path (:data:`PATHS`). Weights are whatever model is
passed (the check uses random ones: speed only).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from frrn_seg_ros.core.percentiles import summarize
from frrn_seg_ros.core.sizes import parse_hw

#: EngineConfig options of each inference path.
PATHS = {
    "eager": {},
    "graphs": {"cuda_graphs": True},
    "compile+graphs": {"compile": True, "cuda_graphs": True},
}
METHOD = (
    "engine: rgb8 frames in, uint8 labels out (OutputRequest(color=False)), input_size = frame size; "
    "model alone: engine.infer on a device tensor; wall time per call with the device synchronised; "
    "random weights"
)


def timed_ms(
    call: Callable[[], object], device: torch.device, seconds: float, warmup: int = 1, max_calls: int = 200
) -> list[float]:
    """Milliseconds of ``call()`` (device synchronised after each) for ``seconds``, at least 3 calls."""
    for _ in range(warmup):
        call()
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < 3 or (len(times) < max_calls and time.perf_counter() - start < seconds):
        t0 = time.perf_counter()
        call()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append((time.perf_counter() - t0) * 1e3)
    return times


def run_case(case: dict[str, Any], model: torch.nn.Module, device: torch.device, seconds: float) -> dict:
    """Time one case: the engine end to end, then the model alone on the same engine."""
    from frrn_seg_ros.core.checkpoint import default_meta
    from frrn_seg_ros.core.engine import EngineConfig, Frame, OutputRequest, SegmentationEngine

    h, w = parse_hw(case["size"])
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = case["path"] != "eager"  # the fast path turns it on itself
        torch.cuda.reset_peak_memory_stats(device)
    config = EngineConfig(
        device=device.type,
        precision=case["precision"],
        input_size=(h, w),
        warmup_iters=0,
        **PATHS[case["path"]],
    )
    engine = SegmentationEngine(model, default_meta(case["model"]), config)
    rng = np.random.default_rng(0)
    frames = [Frame(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), "rgb8") for _ in range(case["batch"])]
    labels_only = OutputRequest(color=False)
    t0 = time.perf_counter()
    last = engine.segment(frames, labels_only)  # first call: captures / compiles on the fast path
    first_ms = (time.perf_counter() - t0) * 1e3
    held = [last]  # only the latest results: a long run must not pile up label images

    def segment() -> None:
        held[0] = engine.segment(frames, labels_only)

    end_to_end = timed_ms(segment, device, seconds)
    last = held[0]
    x = torch.randn(case["batch"], 3, h, w, device=device)
    model_alone = timed_ms(lambda: engine.infer(x), device, seconds)
    e2e, alone = summarize(end_to_end), summarize(model_alone)
    status = engine.inference_path
    record = {
        **case,
        "active_path": status["path"],
        "path_reason": status["reason"],
        "first_call_ms": first_ms,
        "e2e_mean_ms": e2e["mean"],
        "e2e_p50_ms": e2e["p50"],
        "e2e_p99_ms": e2e["p99"],
        "e2e_calls": e2e["count"],
        "fps": case["batch"] * 1e3 / e2e["mean"],
        "model_mean_ms": alone["mean"],
        "model_p50_ms": alone["p50"],
        "model_calls": alone["count"],
        "engine_minus_model_ms": e2e["p50"] - alone["p50"],
        "stages_ms": {k: round(v, 3) for k, v in last[0].timings_ms.items()},
        "load_after": [round(v, 2) for v in os.getloadavg()],
    }
    if device.type == "cuda":
        record["peak_mem_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
    return record
