"""PyTorch eager on the CPU with and without BatchNorm folding, calls alternating (same load for both).

    python benchmarks/probes/batchnorm_folding_cpu.py CHECKPOINT [HxW]

Prints the model-alone median of each engine, the largest logit difference and the arg-max
agreement. Results: ``benchmarks/results/batchnorm_folding_cpu.md``.
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np
import torch

import frrn_seg_ros.core.engine.engine as engine_module
from frrn_seg_ros.core.engine import EngineConfig, SegmentationEngine
from frrn_seg_ros.core.machine import device_name


def engines(checkpoint: str, size: tuple[int, int]) -> dict[str, SegmentationEngine]:
    config = EngineConfig(device="cpu", input_size=size, warmup_iters=2)
    folded = SegmentationEngine.from_file(checkpoint, config, backend="torch")
    fold = engine_module.fold_batchnorm
    engine_module.fold_batchnorm = lambda model: (model, 0)  # the engine as it was before folding
    try:
        plain = SegmentationEngine.from_file(checkpoint, config, backend="torch")
    finally:
        engine_module.fold_batchnorm = fold
    return {"folded": folded, "plain": plain}


def main() -> None:
    checkpoint = sys.argv[1]
    height, width = (int(v) for v in (sys.argv[2] if len(sys.argv) > 2 else "256x512").split("x"))
    pair = engines(checkpoint, (height, width))
    x = torch.rand(1, 3, height, width)
    times: dict[str, list[float]] = {name: [] for name in pair}
    with torch.inference_mode():
        for call in range(40):
            for name in sorted(pair, reverse=bool(call % 2)):
                start = time.perf_counter()
                pair[name].infer(x)
                times[name].append(time.perf_counter() - start)
        a, b = pair["folded"].infer(x), pair["plain"].infer(x)
    medians = {name: round(1e3 * float(np.median(t[4:])), 1) for name, t in times.items()}
    folded = pair["folded"].inference_path["batchnorm_folded"]
    print(f"{device_name(torch.device('cpu'))}, torch {torch.__version__}, "
          f"threads {torch.get_num_threads()}, load {os.getloadavg()[0]:.2f}; folded BatchNorms: {folded}")
    ratio = medians["plain"] / medians["folded"]
    print(f"model alone, median of 36 ms: {medians} (plain / folded {ratio:.2f})")
    print(f"max |logit diff| {float((a - b).abs().max()):.2e} of max |logit| {float(b.abs().max()):.1f}; "
          f"arg-max agreement {float((a.argmax(1) == b.argmax(1)).float().mean()):.5f}")


if __name__ == "__main__":
    main()
