"""Does ``model.compile`` (torch.compile) help on this CPU? Eager and compiled engines side by side.

    python -m frrn_seg_ros.bench.compile_cpu [--model csrnet_light] [--size 256x512] \\
        [--precision fp32] [--rounds 10] [--out benchmarks/results]

Both engines run in this one process and their calls alternate (eager, compiled, eager, ...), so
both see the same load on a shared machine. Each is warmed up first (the compiled engine's first
call compiles: its time is reported). Per call: ``engine.segment`` of one rgb8 frame, labels only.
Writes ``<out>/compile_cpu.json`` and ``.md`` with the machine, threads and load averages.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

from frrn_seg_ros.core.machine import device_name, environment
from frrn_seg_ros.core.percentiles import summarize
from frrn_seg_ros.core.sizes import parse_hw


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="bench_compile_cpu", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--model", default="csrnet_light")
    p.add_argument("--size", type=parse_hw, default=(256, 512), help="HEIGHTxWIDTH")
    p.add_argument("--precision", default="fp32", choices=("fp32", "bf16"))
    p.add_argument("--rounds", type=int, default=10)
    p.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = p.parse_args(argv)
    from frrn_seg_ros.core.checkpoint import default_meta
    from frrn_seg_ros.core.engine import EngineConfig, Frame, OutputRequest, SegmentationEngine
    from frrn_seg_ros.core.models import build_model

    torch.manual_seed(0)
    model = build_model(args.model, num_classes=19).eval()
    frame = [Frame(np.random.default_rng(0).integers(0, 256, (*args.size, 3), dtype=np.uint8), "rgb8")]
    request = OutputRequest(color=False)
    record: dict = {
        "model": args.model,
        "size": f"{args.size[0]}x{args.size[1]}",
        "precision": args.precision,
        "device": device_name(torch.device("cpu")),
        "threads": torch.get_num_threads(),
        **environment(torch.device("cpu")),
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "load_before": [round(v, 2) for v in os.getloadavg()],
    }
    engines, labels = {}, {}
    for name, compile in (("eager", False), ("compile", True)):
        config = EngineConfig(device="cpu", precision=args.precision, warmup_iters=0, compile=compile)
        engines[name] = SegmentationEngine(model, default_meta(args.model), config)
        start = time.perf_counter()
        labels[name] = engines[name].segment(frame, request)[0].labels
        record[f"{name}_first_call_s"] = round(time.perf_counter() - start, 1)
        record[f"{name}_path"] = engines[name].inference_path["path"]
    times: dict[str, list[float]] = {"eager": [], "compile": []}
    for _ in range(args.rounds):
        for name, engine in engines.items():
            start = time.perf_counter()
            engine.segment(frame, request)
            times[name].append((time.perf_counter() - start) * 1e3)
    for name, values in times.items():
        stats = summarize(values)
        record[f"{name}_ms"] = {k: round(stats[k], 1) for k in ("p50", "mean", "min", "max")}
    record["speedup_p50"] = round(record["eager_ms"]["p50"] / record["compile_ms"]["p50"], 3)
    record["label_agreement"] = float((labels["eager"] == labels["compile"]).mean())
    record["load_after"] = [round(v, 2) for v in os.getloadavg()]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "compile_cpu.json").write_text(json.dumps(record, indent=2) + "\n")
    lines = [f"# torch.compile vs eager on {record['device']}", ""] + [
        f"- {k}: {v}" for k, v in record.items()
    ]
    (args.out / "compile_cpu.md").write_text("\n".join(lines) + "\n")
    print(json.dumps(record, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
