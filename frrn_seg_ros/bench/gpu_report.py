"""What the GPU check records besides timings (tests, ROS, versions), its targets (issue 14) and reports."""

from __future__ import annotations

import importlib.util
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

#: (model, size, precision, batch) of the headline targets; torch.compile is tried on these.
HEADLINE_CASES = [("csrnet_light", "1024x2048", "fp16", 1), ("frrn_b", "512x1024", "fp16", 1)]
#: Measured first: the headline cases and every model at 1024x2048 fp16 batch 1 (engine overhead).
TARGET_CASES = HEADLINE_CASES + [
    (m, "1024x2048", "fp16", 1) for m in ("csrnet_medium", "csrnet_heavy", "frrn_a", "frrn_b")
]
MIN_FPS, MAX_FRRN_B_MS, MAX_OVERHEAD_MS = 400.0, 10.0, 1.0


def _best(cases: list[dict[str, Any]], key: tuple, field: str, lowest: bool = True) -> dict[str, Any] | None:
    """The measured case of ``key`` (model, size, precision, batch) with the best ``field``."""
    found = [
        c for c in cases if "error" not in c and (c["model"], c["size"], c["precision"], c["batch"]) == key
    ]
    if not found:
        return None
    return (min if lowest else max)(found, key=lambda c: c[field])


def evaluate_targets(cases: list[dict[str, Any]], dry_run: bool) -> list[dict[str, Any]]:
    """Each target with ``status`` met / not met / not measured and the figure it was judged on."""
    why = "CPU dry run" if dry_run else "case not measured (skipped, failed or not selected)"
    targets = []
    best = _best(cases, HEADLINE_CASES[0], "fps", lowest=False)
    target = {"target": f"csrnet_light 1024x2048 fp16 batch 1, engine end to end >= {MIN_FPS:.0f} FPS"}
    if best and not dry_run:
        target.update(
            status="met" if best["fps"] >= MIN_FPS else "not met",
            value=f"{best['fps']:.0f} FPS",
            path=best["active_path"],
        )
    targets.append(target if "status" in target else {**target, "status": "not measured", "value": why})
    best = _best(cases, HEADLINE_CASES[1], "e2e_mean_ms")
    target = {"target": f"frrn_b 512x1024 fp16 batch 1, engine end to end <= {MAX_FRRN_B_MS:.0f} ms"}
    if best and not dry_run:
        target.update(
            status="met" if best["e2e_mean_ms"] <= MAX_FRRN_B_MS else "not met",
            value=f"{best['e2e_mean_ms']:.2f} ms (model alone {best['model_mean_ms']:.2f} ms)",
            path=best["active_path"],
        )
    targets.append(target if "status" in target else {**target, "status": "not measured", "value": why})
    per_model = [
        b
        for b in (_best(cases, key, "engine_minus_model_ms") for key in TARGET_CASES if key[1] == "1024x2048")
        if b
    ]
    target = {
        "target": f"engine minus model <= {MAX_OVERHEAD_MS:.0f} ms at 1024x2048 (fp16 batch 1, "
        "p50 end to end - p50 model alone, worst model on its best path)"
    }
    if per_model and not dry_run:
        worst = max(per_model, key=lambda c: c["engine_minus_model_ms"])
        target.update(
            status="met" if worst["engine_minus_model_ms"] <= MAX_OVERHEAD_MS else "not met",
            value=f"{worst['engine_minus_model_ms']:.2f} ms ({worst['model']}; "
            f"{len(per_model)} models measured)",
            path=worst["active_path"],
        )
    targets.append(target if "status" in target else {**target, "status": "not measured", "value": why})
    return targets


def _fmt(value: Any, digits: int = 2) -> str:
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def to_markdown(report: dict[str, Any]) -> str:
    env = report["environment"]
    lines = [f"# GPU check on {env['device']}", ""]
    lines += [f"- {k}: {v}" for k, v in env.items()]
    tests = report["tests"]
    lines += ["", "## Tests (`pytest -m gpu`)", ""]
    lines += [f"- {k}: {v}" for k, v in tests.items()]
    lines += ["", "## Targets", "", "| target | status | value | path |", "|---|---|---|---|"]
    lines += [
        f"| {t['target']} | {t['status']} | {t['value']} | {t.get('path', '-')} |"
        for t in report.get("targets", [])
    ]
    lines += [
        "",
        "## Cases (engine end to end: rgb8 in, uint8 labels out; model alone: engine.infer)",
        "",
        "| model | size | prec | batch | path (active) | e2e mean ms | e2e p99 ms | FPS | model ms | "
        "engine - model ms | first call ms | peak MB |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for c in report["cases"]:
        head = f"| {c['model']} | {c['size']} | {c['precision']} | {c['batch']} | {c['path']}"
        if "error" in c:
            lines.append(f"{head} | error: {c['error'][:120]} |||||||")
            continue
        active = (
            c["path"]
            if c["active_path"] == PATH_NAMES.get(c["path"])
            else f"{c['path']} ({c['active_path']})"
        )
        lines.append(
            f"| {c['model']} | {c['size']} | {c['precision']} | {c['batch']} | {active} | "
            f"{_fmt(c['e2e_mean_ms'])} | {_fmt(c['e2e_p99_ms'])} | {_fmt(c['fps'], 0)} | "
            f"{_fmt(c['model_mean_ms'])} | {_fmt(c['engine_minus_model_ms'])} | "
            f"{_fmt(c['first_call_ms'], 0)} | {_fmt(c.get('peak_mem_mb', '-'), 0)} |"
        )
    if report["skipped"]:
        lines += ["", "## Skipped", ""]
        lines += [
            f"- {s['model']} {s['size']} {s['precision']} b{s['batch']} {s['path']}: {s['why']}"
            for s in report["skipped"]
        ]
    return "\n".join(lines) + "\n"


#: The engine's ``inference_path`` name of each benchmark path (a different one means it fell back).
PATH_NAMES = {"eager": "eager", "graphs": "cuda_graphs", "compile+graphs": "compile+cuda_graphs"}


def summary_lines(report: dict[str, Any], out: Path) -> list[str]:
    """The short summary printed at the end: tests, targets, fallbacks, what was skipped."""
    cases = report["cases"]
    fell_back = [c for c in cases if "error" not in c and c["active_path"] != PATH_NAMES.get(c["path"])]
    lines = [
        "",
        f"== GPU check: {report['environment']['device']} ({report['elapsed_s']:.0f} s) ==",
        f"tests: {report['tests'].get('summary') or report['tests']}",
    ]
    lines += [f"[{t['status'].upper()}] {t['target']}: {t['value']}" for t in report["targets"]]
    lines.append(
        f"cases: {len(cases)} measured ({sum('error' in c for c in cases)} failed), "
        f"{len(report['skipped'])} skipped for the budget, {len(fell_back)} ran another path "
        "than asked (see path_reason)"
    )
    lines.append(f"ROS: {report['environment']['ros']}")
    lines.append(f"results: {out / 'gpu_check.json'}, {out / 'gpu_check.md'}")
    return lines


def run_gpu_tests(
    repo: Path, tests: tuple[str, ...], budget_s: float, out: Path, skip: bool = False
) -> dict[str, Any]:
    """``pytest -m gpu`` on ``tests`` (paths under ``repo``) in a child process, at most
    ``budget_s``; the log goes to ``out/gpu_pytest.log``. ``skip``: do not run (``--no-tests``)."""
    found = [t for t in tests if (repo / t).is_file()]
    if skip or not found:
        return {"skipped": "--no-tests" if skip else f"{list(tests)} not found under {repo}"}
    cmd = [sys.executable, "-m", "pytest", "-m", "gpu", "-p", "no:cacheprovider", "-q", "-rs", "-s", *found]
    path = os.pathsep.join(filter(None, [str(repo), os.environ.get("PYTHONPATH")]))
    start = time.perf_counter()
    try:
        done = subprocess.run(cmd, cwd=repo, env={**os.environ, "PYTHONPATH": path}, capture_output=True,
                              text=True, timeout=budget_s)
        rc, text = done.returncode, done.stdout + done.stderr
    except subprocess.TimeoutExpired as exc:
        partial = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else exc.stdout or ""
        rc, text = "timeout", f"{partial}\n[pytest stopped after {budget_s:.0f} s]"
    (out / "gpu_pytest.log").write_text(text)
    lines = [line for line in text.splitlines() if line.strip()]
    return {"command": " ".join(cmd[1:]), "returncode": rc, "seconds": round(time.perf_counter() - start, 1),
            "summary": lines[-1] if lines else "", "log": "gpu_pytest.log"}


def ros_note() -> str:
    if importlib.util.find_spec("rclpy") is None:
        return (
            f"ROS 2 (rclpy) is not installed for Python {platform.python_version()} here and no ROS 2 "
            "wheels were carried: the node benchmark over DDS was not run (engine figures only)"
        )
    return "rclpy is importable here; the node benchmark is not part of this check (frrn_seg_bench_node)"


def package_version(module: str) -> str | None:
    try:
        return __import__(module).__version__
    except Exception:
        return None
