"""Where the GPU engine's time goes: upload alternatives, memory layout, and the top CUDA kernels.

A probe for the device machine (one call of about 40 s), not part of the GPU check:

    PYTHONPATH=$PWD python3 benchmarks/probes/gpu_probe.py [upload] [layout] [kernels]

``upload``: a 1024x2048 rgb8 frame (6 MB) to the GPU and 2 MB of labels back, several ways.
``layout``: csrnet_light 1024x2048 and frrn_b 512x1024, fp16 batch 1, NCHW vs channels_last,
eager vs CUDA graphs (engine end to end and model alone). ``kernels``: the torch profiler's top
CUDA kernels of five csrnet_light forwards in each layout. On a CPU it runs tiny sizes (a dry run).
Results of one run: ``benchmarks/results/gpu_probe_h200.md``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial

import numpy as np
import torch

from frrn_seg_ros.core.checkpoint import default_meta
from frrn_seg_ros.core.engine import EngineConfig, Frame, OutputRequest, SegmentationEngine
from frrn_seg_ros.core.engine.convert import stage
from frrn_seg_ros.core.models import build_model

CUDA = torch.cuda.is_available()
DEVICE = torch.device("cuda" if CUDA else "cpu")


def sync() -> None:
    if CUDA:
        torch.cuda.synchronize()


def median_ms(fn: Callable[[], object], calls: int = 40, skip: int = 5) -> float:
    """Median wall time of ``fn`` in ms, the device synchronised before and after each call."""
    times = []
    for _ in range(calls):
        sync()
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return 1e3 * float(np.median(times[skip:]))


def upload() -> None:
    height, width = (1024, 2048) if CUDA else (64, 128)
    frame = np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)
    pinned = torch.empty((1, height, width, 3), dtype=torch.uint8, pin_memory=CUDA)
    host, target = pinned.numpy(), torch.empty((1, height, width, 3), dtype=torch.uint8, device=DEVICE)

    def persistent() -> None:
        np.copyto(host[0], frame)
        target.copy_(pinned, non_blocking=True)

    results = {
        "engine's way: copy into pinned memory (caching allocator), non-blocking H2D":
            median_ms(lambda: stage([frame], pin=CUDA).to(DEVICE, non_blocking=True)),
        "pageable: torch.from_numpy(frame).to(device)": median_ms(lambda: torch.from_numpy(frame).to(DEVICE)),
        "one persistent pinned buffer: np.copyto, then H2D": median_ms(persistent),
        "the host copy alone (np.copyto into pinned memory)": median_ms(lambda: np.copyto(host[0], frame)),
    }
    for threads in (2, 4):
        with ThreadPoolExecutor(threads) as pool:
            fill = partial(threaded_upload, pool, threads, frame, host, pinned, target)
            results[f"persistent buffer filled by {threads} threads, then H2D"] = median_ms(fill)
    labels = torch.randint(0, 19, (1, height, width), dtype=torch.uint8, device=DEVICE)

    def engine_download() -> None:
        buffer = torch.empty(labels.shape, dtype=labels.dtype, pin_memory=CUDA)
        buffer.copy_(labels, non_blocking=True)
        sync()

    results["labels back, engine's way (pinned buffer)"] = median_ms(engine_download)
    results["labels back, .cpu() (pageable)"] = median_ms(lambda: labels.cpu())
    for name, ms in results.items():
        print(f"upload {ms:7.3f} ms  {name}")


def threaded_upload(pool: ThreadPoolExecutor, threads: int, frame: np.ndarray, host: np.ndarray,
                    pinned: torch.Tensor, target: torch.Tensor) -> None:
    """Copy ``frame`` into ``host`` (the pinned buffer's array) in row bands on ``pool``, then send."""
    bounds = np.linspace(0, frame.shape[0], threads + 1).astype(int)
    bands = [(slice(bounds[i], bounds[i + 1]),) for i in range(threads)]
    list(pool.map(lambda rows: np.copyto(host[0][rows], frame[rows]), bands))
    target.copy_(pinned, non_blocking=True)


def engine_for(arch: str, size: tuple[int, int], channels_last: bool, graphs: bool) -> SegmentationEngine:
    config = EngineConfig(device=str(DEVICE), precision="fp16" if CUDA else "fp32",
                          channels_last=channels_last, cuda_graphs=graphs and CUDA, warmup_iters=2,
                          input_size=size)
    return SegmentationEngine(build_model(arch, 19).eval(), default_meta(arch), config)


def layout() -> None:
    cases = [("csrnet_light", (1024, 2048)), ("frrn_b", (512, 1024))]
    cases = cases if CUDA else [("csrnet_light", (64, 128))]
    for arch, (height, width) in cases:
        frame = [Frame(np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8), "rgb8")]
        for channels_last in (False, True):
            for graphs in (False, True):
                engine = engine_for(arch, (height, width), channels_last, graphs)
                e2e = median_ms(partial(engine.segment, frame, OutputRequest()), calls=30)
                x = torch.zeros(1, 3, height, width, device=DEVICE)
                x = x.contiguous(memory_format=torch.channels_last) if channels_last else x
                with torch.inference_mode():
                    model = median_ms(partial(engine.infer, x), calls=30)
                print(f"layout {arch} {height}x{width} channels_last={channels_last} graphs={graphs}: "
                      f"e2e {e2e:.2f} ms, model {model:.2f} ms", flush=True)


def kernels() -> None:
    from torch.profiler import ProfilerActivity, profile

    size = (1024, 2048) if CUDA else (64, 128)
    activities = [ProfilerActivity.CUDA] if CUDA else [ProfilerActivity.CPU]
    for channels_last in (True, False):
        engine = engine_for("csrnet_light", size, channels_last, graphs=False)
        x = torch.zeros(1, 3, *size, device=DEVICE)
        with torch.inference_mode(), profile(activities=activities) as prof:
            for _ in range(5):
                engine.infer(x)
            sync()
        print(f"-- kernels: csrnet_light {size[0]}x{size[1]}, channels_last={channels_last}, five forwards")
        sort = "cuda_time_total" if CUDA else "cpu_time_total"
        print(prof.key_averages().table(sort_by=sort, row_limit=8, max_name_column_width=60))


if __name__ == "__main__":
    steps = {"upload": upload, "layout": layout, "kernels": kernels}
    for name in sys.argv[1:] or list(steps):
        steps[name]()
