"""The GPU check in one call: the GPU tests, engine and model speed of every model, the targets.

    bash benchmarks/gpu_check.sh                    # on the GPU machine: results into $OUT
    python -m frrn_seg_ros.bench.gpu --out DIR [--budget-s 440] [--models ...] [--sizes ...]
    python -m frrn_seg_ros.bench.gpu --cpu-dry-run --out DIR   # tiny sizes on the CPU

Steps: (1) ``pytest -m gpu`` on the GPU tests (a child process, log kept); (2) per model x size x
precision x batch x path, the engine end to end (rgb8 frames in, uint8 labels out: upload,
conversion, preprocessing, model, postprocessing, download) and the model alone (``engine.infer``:
normalised input already on the device, same precision and path), timed per call with the device
synchronised; (3) the issue's targets marked met / not met. Paths: ``eager``; ``graphs`` (CUDA
graphs of the whole device call, cuDNN autotuning); ``compile+graphs`` (also torch.compile, for the
target cases only: compiling costs tens of seconds). Weights are random (speed only). Cases run in
priority order (the targets first) within ``--budget-s``; a case that no longer fits is skipped
with a note. Every case is written to ``gpu_check.json`` / ``.md`` as soon as it is measured.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import torch

from frrn_seg_ros.core.machine import device_name, environment
from frrn_seg_ros.core.sizes import parse_hw

from .gpu_case import METHOD, PATHS, run_case
from .gpu_report import (
    HEADLINE_CASES,
    TARGET_CASES,
    evaluate_targets,
    package_version,
    ros_note,
    run_gpu_tests,
    summary_lines,
    to_markdown,
)

REPO = Path(__file__).resolve().parents[2]
GPU_TESTS = ("test/core/test_engine_gpu.py", "test/core/test_machine.py")
DRY_RUN = {
    "models": "csrnet_light,frrn_a",
    "sizes": "64x128",
    "precisions": "fp32,bf16",
    "batches": "1,2",
    "budget_s": 150.0,
    "case_s": 0.2,
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="frrn_seg_bench_gpu", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--out", type=Path, default=Path(os.environ.get("OUT") or "benchmarks/results/gpu_check"))
    p.add_argument("--budget-s", type=float, default=440.0, help="the whole check, tests included")
    p.add_argument("--tests-budget-s", type=float, default=180.0, help="at most this for pytest -m gpu")
    p.add_argument("--models", default="csrnet_light,csrnet_medium,csrnet_heavy,frrn_a,frrn_b")
    p.add_argument("--sizes", default="512x1024,1024x2048", help="comma-separated HEIGHTxWIDTH")
    p.add_argument("--precisions", default="fp32,fp16,bf16")
    p.add_argument("--batches", default="1,4")
    p.add_argument(
        "--paths", default="eager,graphs", help=f"from {list(PATHS)}; compile+graphs: targets only"
    )
    p.add_argument("--no-compile", action="store_true", help="skip the compile+graphs target cases")
    p.add_argument("--case-s", type=float, default=0.4, help="timed seconds per measurement (>= 3 calls)")
    p.add_argument("--no-tests", action="store_true", help="skip pytest -m gpu")
    p.add_argument(
        "--cpu-dry-run",
        action="store_true",
        help="on the CPU with tiny sizes (the default suite runs this so it cannot rot)",
    )
    args = p.parse_args(argv)
    if args.cpu_dry_run:
        for key, value in DRY_RUN.items():
            if getattr(args, key) == p.get_default(key):
                setattr(args, key, value)
    return args


def plan_cases(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Every case in priority order: the targets' cases, the rest cheapest first, compile last."""
    from frrn_seg_ros.core.models import architecture_info

    models = [m for m in args.models.split(",") if m]
    for name in models:
        architecture_info(name)  # ValueError names an unknown architecture
    sizes = [parse_hw(s) for s in args.sizes.split(",") if s]
    precisions = [p for p in args.precisions.split(",") if p]
    bad = [p for p in precisions if p not in ("fp32", "fp16", "bf16")] + [
        p for p in args.paths.split(",") if p not in PATHS
    ]
    if bad:
        raise ValueError(f"unknown precision or path {bad}")
    batches = [int(b) for b in args.batches.split(",") if b]
    paths = [p for p in args.paths.split(",") if p and p != "compile+graphs"]
    cases = [
        {"model": m, "size": f"{h}x{w}", "precision": p, "batch": b, "path": path}
        for m in models
        for h, w in sizes
        for p in precisions
        for b in batches
        for path in paths
    ]

    def priority(case: dict[str, Any]) -> tuple:
        h, w = parse_hw(case["size"])
        key = (case["model"], case["size"], case["precision"], case["batch"])
        return (key not in TARGET_CASES, case["batch"], h * w, models.index(case["model"]))

    cases.sort(key=priority)
    if not args.no_compile and "graphs" in paths:
        cases += [
            dict(zip(("model", "size", "precision", "batch"), key, strict=True), path="compile+graphs")
            for key in HEADLINE_CASES
            if key[0] in models and parse_hw(key[1]) in sizes and key[2] in precisions and key[3] in batches
        ]
    return cases


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    start = time.perf_counter()
    try:
        cases = plan_cases(args)
    except (ValueError, KeyError, argparse.ArgumentTypeError) as exc:
        print(f"frrn_seg_bench_gpu: error: {exc}", file=sys.stderr)
        return 2
    if not args.cpu_dry_run and not torch.cuda.is_available():
        print("frrn_seg_bench_gpu: error: no CUDA device (use --cpu-dry-run on a CPU)", file=sys.stderr)
        return 2
    device = torch.device("cpu" if args.cpu_dry_run else "cuda")
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    env = environment(device)
    # The caller's word first: the device machine's copy of the tree may carry a stale .git (seen:
    # an older commit, "+dirty"), or none.
    env["git_commit"] = os.environ.get("FRRN_GIT_COMMIT") or env.get("git_commit")
    report: dict[str, Any] = {
        "environment": {
            "device": device_name(device),
            "onnx": package_version("onnx"),
            "onnxruntime": package_version("onnxruntime"),
            **env,
            "cudnn_benchmark_on": "graphs paths only",
            "tf32_matmul": torch.backends.cuda.matmul.allow_tf32,
            "tf32_cudnn": torch.backends.cudnn.allow_tf32,
            "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "load_before": [round(v, 2) for v in os.getloadavg()],
            "cpu_dry_run": args.cpu_dry_run,
            "budget_s": args.budget_s,
            "ros": ros_note(),
            "method": METHOD,
        },
        "tests": {},
        "cases": [],
        "skipped": [],
    }

    def save() -> None:
        report["targets"] = evaluate_targets(report["cases"], args.cpu_dry_run)
        report["elapsed_s"] = round(time.perf_counter() - start, 1)
        (out / "gpu_check.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
        (out / "gpu_check.md").write_text(to_markdown(report))

    print(
        f"[gpu_check] {report['environment']['device']}, torch {torch.__version__}: running pytest -m gpu",
        flush=True,
    )
    args.tests_budget_s = min(args.tests_budget_s, args.budget_s / 2)
    report["tests"] = run_gpu_tests(REPO, GPU_TESTS, args.tests_budget_s, out, skip=args.no_tests)
    print(f"[gpu_check] tests: {report['tests'].get('summary') or report['tests']}", flush=True)
    save()
    try:
        run_cases(cases, args, device, report, save, start)
    except KeyboardInterrupt:  # the wrapper's timeout: what was measured is already saved
        report["interrupted"] = "stopped by SIGINT (timeout) before every case ran"
    report["environment"]["load_after"] = [round(v, 2) for v in os.getloadavg()]
    save()
    print("\n".join(summary_lines(report, out)), flush=True)
    return 0


def run_cases(
    cases: list[dict], args: argparse.Namespace, device: torch.device, report: dict, save, start: float
) -> None:
    """Measure ``cases`` in order while the budget lasts (saving after each); skipped ones are noted."""
    models: dict[str, torch.nn.Module] = {}
    for case in cases:
        remaining = args.budget_s - (time.perf_counter() - start)
        needed = 30.0 + (90.0 if "compile" in case["path"] else 4 * args.case_s)
        if remaining < needed:
            report["skipped"].append(
                {**case, "why": f"budget: {remaining:.0f} s left, ~{needed:.0f} s needed"}
            )
            continue
        try:
            if case["model"] not in models:
                from frrn_seg_ros.core.models import build_model

                torch.manual_seed(0)  # every model is kept: the cases alternate between them
                models[case["model"]] = build_model(case["model"], num_classes=19).eval()
            record = run_case(case, models[case["model"]], device, args.case_s)
        except Exception as exc:  # out of memory, a kernel refused: the other cases still run
            record = {**case, "error": f"{type(exc).__name__}: {str(exc)[:300]}"}
        gc.collect()
        if device.type == "cuda":
            torch.cuda.empty_cache()
        report["cases"].append(record)
        print(
            "[gpu_check] "
            + json.dumps(
                {
                    k: (round(v, 3) if isinstance(v, float) else v)
                    for k, v in record.items()
                    if k not in ("path_reason", "stages_ms")
                }
            ),
            flush=True,
        )
        save()


if __name__ == "__main__":
    sys.exit(main())
