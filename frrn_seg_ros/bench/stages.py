"""Per-stage times of :class:`SegmentationEngine` on camera frames (``frrn_seg_bench_models --stages``).

    frrn_seg_bench_models --stages [--models csrnet_light] [--stage-frame 1024x2048] \\
        [--sizes 256x512] [--stage-encodings rgb8,bayer_rggb8,yuv422] [--iters 20] [--device cpu]

For each encoding, one camera frame (a smooth synthetic scene, packed into the encoding) goes
through the engine's stages; the median of each stage over ``--iters`` calls (after 2 warm-up
calls) is printed for the labels + colour outputs, and everything except the network
(``convert + preprocess + postprocess``) is summed. On a CPU both paths are timed: ``host``
(OpenCV and the boundary-band labels, what the engine runs) and ``torch`` (the device path's
torch ops, run on the CPU: the engine's previous CPU path). Random weights unless
``--checkpoint``: speed only. The load average is printed before and after: on a shared
machine, read the figures with it.
"""

from __future__ import annotations

import os
import statistics
from dataclasses import dataclass

import numpy as np
import torch

from frrn_seg_ros.core.engine import (
    EngineConfig,
    Frame,
    OutputRequest,
    SegmentationEngine,
    StageTimer,
    check_frame,
)
from frrn_seg_ros.core.engine.timing import STAGES


def synthetic_scene(height: int, width: int) -> np.ndarray:
    """``(H, W, 3)`` uint8: sky, road and a few blocks with soft gradients (large regions)."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    rgb = np.empty((height, width, 3), dtype=np.float32)
    rgb[..., 0] = 90 + 60 * (y / height) + 20 * np.sin(x / 97.0)
    rgb[..., 1] = 110 + 50 * (x / width)
    rgb[..., 2] = np.where(y < height * 0.45, 200, 80)
    for k in range(6):
        top, left = int(height * (0.3 + 0.05 * k)), int(width * (0.1 + 0.14 * k))
        rgb[top : top + height // 5, left : left + width // 12] = (40 * k, 200 - 30 * k, 60 + 20 * k)
    return np.clip(rgb, 0, 255).astype(np.uint8)


def pack(rgb: np.ndarray, encoding: str) -> np.ndarray:
    """The scene as ``encoding`` stores it: ``rgb8``, ``bayer_rggb8`` (mosaic) or ``yuv422`` (UYVY)."""
    if encoding == "rgb8":
        return rgb
    if encoding == "bayer_rggb8":
        mosaic = rgb[..., 1].copy()
        mosaic[0::2, 0::2] = rgb[0::2, 0::2, 0]
        mosaic[1::2, 1::2] = rgb[1::2, 1::2, 2]
        return mosaic
    if encoding == "yuv422":
        r, g, b = (rgb[..., i].astype(np.float32) for i in range(3))
        yy = 0.299 * r + 0.587 * g + 0.114 * b
        u = (-0.168736 * r - 0.331264 * g + 0.5 * b + 128)[:, 0::2]
        v = (0.5 * r - 0.418688 * g - 0.081312 * b + 128)[:, 0::2]
        packed = np.stack([u, yy[:, 0::2], v, yy[:, 1::2]], axis=-1).reshape(rgb.shape[0], -1, 2)
        return np.clip(packed.round(), 0, 255).astype(np.uint8)
    raise ValueError(f"--stage-encodings: {encoding!r} is not one of rgb8, bayer_rggb8, yuv422")


def time_path(engine: SegmentationEngine, frame: Frame, outputs: OutputRequest, path: str,
              iters: int) -> dict[str, float]:
    """Median ms per stage of ``iters`` calls through the ``host`` or ``torch`` path."""
    run = engine._run_group_host if path == "host" else engine._run_group
    array = check_frame(frame, engine.config.max_pixels)
    samples: list[dict[str, float]] = []
    with torch.inference_mode():
        for _ in range(iters + 2):
            timer = StageTimer(engine.device)
            timer.start()
            run([array], frame.encoding, outputs, timer)
            samples.append(timer.result())
    samples = samples[2:]
    medians = {stage: statistics.median(s[stage] for s in samples) for stage in (*STAGES, "total")}
    medians["not_network"] = statistics.median(s["total"] - s["inference"] for s in samples)
    return medians


@dataclass(frozen=True)
class StageOptions:
    """``frrn_seg_bench_models --stages``: model, camera frame and network ``(H, W)``, encodings."""

    model: str
    camera_hw: tuple[int, int]
    network_hw: tuple[int, int]
    encodings: tuple[str, ...]
    iters: int
    device: str
    checkpoint: str | None = None


def run_stages(opts: StageOptions) -> int:
    """Print the per-stage table (see the module docstring); returns the exit code."""
    camera, network = opts.camera_hw, opts.network_hw
    config = EngineConfig(device=opts.device, input_size=network, warmup_iters=0)
    engine = (SegmentationEngine.from_file(opts.checkpoint, config) if opts.checkpoint
              else SegmentationEngine.from_architecture(opts.model, config))
    name = engine.meta.architecture  # a checkpoint names its own (--models is then not used)
    paths = ("host", "torch") if engine.device.type == "cpu" else ("torch",)
    scene = synthetic_scene(*camera)
    print(f"stages: {name} network {network[0]}x{network[1]}, camera {camera[0]}x{camera[1]}, "
          f"{engine.device}, torch threads {torch.get_num_threads()}, cpus {os.cpu_count()}, "
          f"load average at start {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    print(f"{'encoding':<13} {'path':<6} {'convert':>8} {'preproc':>8} {'network':>8} {'postproc':>9} "
          f"{'not-net':>8} {'total':>8}  (median ms of {opts.iters})")
    for encoding in opts.encodings:
        frame = Frame(pack(scene, encoding), encoding)
        for path in paths:
            t = time_path(engine, frame, OutputRequest(color=True), path, opts.iters)
            print(f"{encoding:<13} {path:<6} {t['convert']:8.1f} {t['preprocess']:8.1f} "
                  f"{t['inference']:8.1f} {t['postprocess']:9.1f} {t['not_network']:8.1f} {t['total']:8.1f}")
    print(f"load average at end {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    return 0
