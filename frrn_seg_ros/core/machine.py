"""Where a figure was measured: the one record of the machine every benchmark and report keeps.

:func:`environment` (platform, CPU, cores, load average, Python / torch / numpy / CUDA versions,
GPU and driver, git commit) and :func:`device_name` (the CPU model or GPU name).
"""

from __future__ import annotations

import contextlib
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import torch


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return f"{line.split(':', 1)[1].strip()} ({os.cpu_count()} logical CPUs)"
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _run_quiet(cmd: list[str]) -> str | None:
    """stdout of ``cmd`` stripped, or None if it is missing, fails or hangs."""
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return out or None


def git_commit(repo: Path | None = None) -> str | None:
    """HEAD commit of the checkout at ``repo`` (default: this package's), ``+dirty`` if tracked files
    changed; None outside a git checkout or without git."""
    where = str(repo or Path(__file__).resolve().parents[2])  # the checkout holding this package
    commit = _run_quiet(["git", "-C", where, "rev-parse", "HEAD"])
    if commit and _run_quiet(["git", "-C", where, "status", "--porcelain", "--untracked-files=no"]):
        commit += "+dirty"
    return commit


def environment(device: torch.device | None = None) -> dict[str, Any]:
    """Platform, CPU, cores, load average, versions (Python, torch, numpy, CUDA, cuDNN), git commit,
    and for a CUDA ``device`` (default: the first GPU if there is one) its name, memory, compute
    capability, UUID and driver."""
    if device is None:
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    env: dict[str, Any] = {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu": device_name(torch.device("cpu")),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "torch_cuda": torch.version.cuda,
        "git_commit": git_commit(),
    }
    with contextlib.suppress(OSError):
        env["load_average_1_5_15"] = [round(v, 2) for v in os.getloadavg()]
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        uuid = str(getattr(props, "uuid", ""))
        gpu_id = uuid if uuid.startswith("GPU-") else f"GPU-{uuid}"
        env.update(cudnn=torch.backends.cudnn.version(), gpu_name=props.name, gpu_uuid=gpu_id,
                   compute_capability=f"{props.major}.{props.minor}",
                   gpu_memory_gb=round(props.total_memory / 2**30, 1),
                   cuda_visible_devices=os.environ.get("CUDA_VISIBLE_DEVICES"),
                   # the name and driver version as the driver reports them (None without nvidia-smi)
                   nvidia_smi=_run_quiet(["nvidia-smi", f"--id={gpu_id}", "--query-gpu=name,driver_version",
                                          "--format=csv,noheader"]))
    return env
