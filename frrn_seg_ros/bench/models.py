"""Forward-latency, memory and size benchmark of the segmentation models.

    frrn_seg_bench_models [--models frrn_a,csrnet_light] [--sizes 256x512,512x1024] \\
        [--precisions fp32,fp16] [--device auto|cpu|cuda] [--warmup 3] [--iters 20] \\
        [--max-seconds-per-case 60] [--channels-last] [--out benchmarks/results] [--merge]
    frrn_seg_bench_models --stages [--stage-frame 1024x2048] [--sizes 256x512]   # per-stage times

Sizes are HEIGHTxWIDTH (Cityscapes full resolution is 1024x2048). Each case builds the model in
eval mode, runs ``--warmup`` untimed forwards, then ``--iters`` timed forwards under
``torch.inference_mode`` (CUDA synchronised before and after each run) and reports p50/p95 ms.
A case whose runs would exceed ``--max-seconds-per-case`` gets fewer iterations (never fewer
than 1); the count used is printed and saved. Peak memory: CUDA ``max_memory_allocated`` minus
the allocation before the forward; CPU the peak growth of the resident set size sampled from
``/proc/self/statm`` every 2 ms during the runs. Writes ``<out>/models_<device>.json`` and ``.md``
with the device, versions, threads, load average and the papers' figures beside ours.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import multiprocessing
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

import torch

from frrn_seg_ros.core.machine import device_name, environment
from frrn_seg_ros.core.models import ARCHITECTURES, architecture_info, build_model, count_parameters
from frrn_seg_ros.core.percentiles import summarize
from frrn_seg_ros.core.sizes import parse_hw

from .memory import RssSampler

LOG = logging.getLogger("frrn_seg_bench_models")
DEFAULT_SIZES = "256x512,512x1024,1024x2048"
# (size HxW, seconds per image, device) as reported in the papers, batch 1.
PAPER_TIMES: dict[str, tuple[str, float, str]] = {
    "frrn_a": ("256x512", 0.166, "Titan X Pascal"),
    "frrn_b": ("512x1024", 0.469, "Titan X Pascal"),
    "csrnet_light": ("1024x2048", 0.0179, "GTX 1080 Ti"),
    "csrnet_medium": ("1024x2048", 0.0190, "GTX 1080 Ti"),
    "csrnet_heavy": ("1024x2048", 0.0275, "GTX 1080 Ti"),
}
DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def gmacs(name: str, hw: tuple[int, int]) -> float | None:
    """Multiply-accumulates (G) of one forward at ``hw``, counted on the meta device (no compute)."""
    try:
        from torch.utils.flop_counter import FlopCounterMode

        with torch.device("meta"):
            model = build_model(name).eval()
            x = torch.empty(1, 3, *hw)
        with FlopCounterMode(display=False) as counter, torch.no_grad():
            model(x)
        return counter.get_total_flops() / 2e9
    except Exception as exc:  # optional figure: never fail the benchmark for it
        LOG.warning("MAC count failed for %s: %s", name, exc)
        return None


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def run_case(name: str, hw: tuple[int, int], precision: str, device: torch.device,
             args: argparse.Namespace) -> dict[str, Any]:
    """Time one (model, size, precision) case; returns its record."""
    dtype = DTYPES[precision]
    if args.threads:
        torch.set_num_threads(args.threads)
    model = build_model(name).eval().to(device=device, dtype=dtype)
    memory_format = torch.channels_last if args.channels_last else torch.contiguous_format
    model = model.to(memory_format=memory_format)
    x = torch.rand(args.batch, 3, *hw, device=device, dtype=dtype).contiguous(memory_format=memory_format)
    record: dict[str, Any] = {"model": name, "size": f"{hw[0]}x{hw[1]}", "precision": precision,
                              "batch": args.batch, "load_before": list(os.getloadavg())}
    times: list[float] = []

    def once() -> float:
        _sync(device)
        start = time.perf_counter()
        model(x)
        _sync(device)
        return time.perf_counter() - start

    with torch.inference_mode():
        if device.type == "cuda":
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(device)
            base = torch.cuda.memory_allocated(device)
        sampler = RssSampler() if device.type == "cpu" else None
        rss_before = RssSampler.rss() if sampler else 0
        if sampler:
            sampler.__enter__()
        try:
            first = once()
            warmup = min(args.warmup, max(0, int(args.max_seconds_per_case / 2 / first)))
            for _ in range(max(0, warmup - 1)):
                once()
            iters = max(1, min(args.iters, int(args.max_seconds_per_case / max(first, 1e-6))))
            times = [once() for _ in range(iters)]
        finally:
            if sampler:
                sampler.__exit__()
    if device.type == "cuda":
        record["peak_mem_mb"] = (torch.cuda.max_memory_allocated(device) - base) / 2**20
    else:
        record["peak_mem_mb"] = (sampler.peak - rss_before) / 2**20
    stats = summarize([t * 1000 for t in times], points=(50, 95))
    record.update(
        warmup=max(1, warmup), iters=stats["count"], first_run_ms=first * 1000, p50_ms=stats["p50"],
        p95_ms=stats["p95"], mean_ms=stats["mean"], min_ms=stats["min"],
        load_after=list(os.getloadavg()),
    )
    return record


def _run_isolated(name: str, hw: tuple[int, int], precision: str, device: torch.device,
                  args: argparse.Namespace) -> dict[str, Any]:
    """:func:`run_case` in a fresh spawned process on CPU (unless ``--no-isolate``)."""
    if device.type != "cpu" or args.no_isolate:
        return run_case(name, hw, precision, device, args)
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=ctx) as pool:
        return pool.submit(run_case, name, hw, precision, device, args).result()


def _markdown(meta: dict[str, Any], models: dict[str, Any], cases: list[dict[str, Any]]) -> str:
    lines = [f"# Model benchmark on {meta['device_name']}", ""]
    lines += [f"- {k}: {v}" for k, v in meta.items()]
    lines += ["", "## Models", "", "| model | params (M) | paper params (M) | paper time |",
              "|---|---|---|---|"]
    for name, m in models.items():
        paper = m["paper_time"]
        lines.append(f"| {name} | {m['params_m']:.3f} | {m['paper_params_m'] or '-'} | "
                     f"{paper['seconds'] * 1000:.1f} ms @ {paper['size']} on {paper['device']} |")
    lines += ["", "## Forward latency (batch 1 unless stated)", "",
              "| model | size HxW | precision | GMACs | p50 ms | p95 ms | min ms | iters | peak mem MB "
              "| load 1m |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for c in cases:
        if "error" in c:
            lines.append(f"| {c['model']} | {c['size']} | {c['precision']} | - | error: {c['error']} ||||||")
            continue
        mac = f"{c['gmacs']:.1f}" if c.get("gmacs") is not None else "-"
        low = f"{c['min_ms']:.1f}" if "min_ms" in c else "-"
        lines.append(f"| {c['model']} | {c['size']} | {c['precision']} | {mac} | {c['p50_ms']:.1f} | "
                     f"{c['p95_ms']:.1f} | {low} | {c['iters']} | "
                     f"{c['peak_mem_mb']:.0f} | "
                     f"{c['load_before'][0]:.2f} |")
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default=",".join(ARCHITECTURES))
    p.add_argument("--sizes", default=DEFAULT_SIZES, help="comma-separated HEIGHTxWIDTH")
    p.add_argument("--precisions", default=None,
                   help="fp32,fp16,bf16 (default fp32 on CPU, fp32,fp16 on CUDA)")
    p.add_argument("--no-isolate", action="store_true",
                   help="run CPU cases in this process (default: a fresh process per case, so that RSS "
                        "growth is not hidden by memory freed by an earlier case)")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--iters", type=int, default=20)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--max-seconds-per-case", type=float, default=60.0)
    p.add_argument("--channels-last", action="store_true")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    p.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    p.add_argument("--name", default=None, help="output file stem (default models_<cpu|cuda>)")
    p.add_argument("--merge", action="store_true", help="keep other cases already in the output JSON")
    p.add_argument("--note", default="", help="free text saved with the results")
    p.add_argument("--stages", action="store_true",
                   help="per-stage engine times on a camera frame instead (see frrn_seg_ros.bench.stages)")
    p.add_argument("--stage-frame", default="1024x2048", help="camera frame HxW for --stages")
    p.add_argument("--stage-encodings", default="rgb8,bayer_rggb8,yuv422", help="encodings for --stages")
    p.add_argument("--checkpoint", default=None, help="weights for --stages (default random)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.device == "auto":
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.device == "cuda" and not torch.cuda.is_available():
        LOG.error("--device cuda but CUDA is not available")
        return 2
    if args.stages:
        from .stages import StageOptions, run_stages

        try:
            stage_options = StageOptions(
                model=args.models.split(",")[0],
                camera_hw=parse_hw(args.stage_frame),
                network_hw=parse_hw(args.sizes.split(",")[0]),
                encodings=tuple(args.stage_encodings.split(",")),
                iters=args.iters,
                device=args.device,
                checkpoint=args.checkpoint,
            )
            return run_stages(stage_options)
        except ValueError as exc:
            LOG.error("%s", exc)
            return 2
    device = torch.device(args.device)
    precisions = (args.precisions or ("fp32,fp16" if device.type == "cuda" else "fp32")).split(",")
    names = [n.strip() for n in args.models.split(",") if n.strip()]
    try:
        for n in names:
            architecture_info(n)
        sizes = [parse_hw(s) for s in args.sizes.split(",")]
        bad = [p for p in precisions if p not in DTYPES]
        if bad:
            raise ValueError(f"unknown precision(s) {bad}; valid: {', '.join(DTYPES)}")
    except ValueError as exc:
        LOG.error("%s", exc)
        return 2
    meta = {
        **environment(device), "device": device.type, "device_name": device_name(device),
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "torch_threads": torch.get_num_threads(),
        "channels_last": args.channels_last, "loadavg_start": list(os.getloadavg()),
        "memory_method": (
            "torch.cuda.max_memory_allocated minus allocation before the runs" if device.type == "cuda"
            else "peak RSS growth over the RSS after building model and input, /proc/self/statm "
                 "sampled every 2 ms during the runs "
                 f"({'same process' if args.no_isolate else 'one process per case'})"
        ),
        "timing": "forward only, torch.inference_mode, eval mode, CUDA synchronised around each run; "
                  "iterations reduced to fit --max-seconds-per-case",
        "note": args.note or ("CPU shared with other processes: see the load averages" if device.type == "cpu"
                              else ""),
    }
    models = {}
    for n in names:
        info = architecture_info(n)
        size, seconds, where = PAPER_TIMES[n]
        models[n] = {"params_m": count_parameters(build_model(n)) / 1e6,
                     "paper_params_m": info.paper_params_m,
                     "paper_time": {"size": size, "seconds": seconds, "device": where}}
    cases: list[dict[str, Any]] = []
    LOG.info("%s | torch %s | %d threads", meta["device_name"], meta["torch"], meta["torch_threads"])
    LOG.info("%-14s %-10s %-5s %8s %10s %10s %6s %10s", "model", "size", "prec", "GMACs", "p50 ms", "p95 ms",
             "iters", "peak MB")
    for n in names:
        for hw in sizes:
            for prec in precisions:
                try:
                    rec = _run_isolated(n, hw, prec, device, args)
                except (RuntimeError, ValueError, BrokenProcessPool) as exc:  # OOM, bad dtype, ...
                    rec = {"model": n, "size": f"{hw[0]}x{hw[1]}", "precision": prec, "error": str(exc)[:200]}
                    LOG.warning("%s %s %s failed: %s", n, rec["size"], prec, rec["error"])
                    cases.append(rec)
                    continue
                rec["gmacs"] = gmacs(n, hw)
                cases.append(rec)
                LOG.info("%-14s %-10s %-5s %8.1f %10.1f %10.1f %6d %10.0f", n, rec["size"], prec,
                         rec["gmacs"] or float("nan"), rec["p50_ms"], rec["p95_ms"], rec["iters"],
                         rec["peak_mem_mb"])
    meta["loadavg_end"] = list(os.getloadavg())
    stem = args.name or f"models_{device.type}"
    args.out.mkdir(parents=True, exist_ok=True)
    json_path = args.out / f"{stem}.json"
    if args.merge and json_path.is_file():
        old = json.loads(json_path.read_text())
        keys = {(c["model"], c["size"], c["precision"]) for c in cases}
        kept = [c for c in old.get("cases", []) if (c["model"], c["size"], c["precision"]) not in keys]
        cases = kept + cases
        models = {**old.get("models", {}), **models}
        meta["merged_with_run_of"] = old.get("meta", {}).get("date")
    cases.sort(key=lambda c: (list(ARCHITECTURES).index(c["model"]), parse_hw(c["size"])[0], c["precision"]))
    json_path.write_text(json.dumps({"meta": meta, "models": models, "cases": cases}, indent=2) + "\n")
    (args.out / f"{stem}.md").write_text(_markdown(meta, models, cases))
    LOG.info("wrote %s and %s", json_path, args.out / f"{stem}.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
