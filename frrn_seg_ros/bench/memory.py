"""What every benchmark records about where it ran, and how it measures host memory.

:func:`environment` (versions, GPU and driver, git commit), :func:`device_name`, and
:class:`RssSampler` / :func:`rss_mb` for the resident set size of this or another process.
"""

from __future__ import annotations

import os
import platform
import subprocess
import threading
import time
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


def environment(device: torch.device) -> dict[str, Any]:
    """Versions and hardware saved with the results: numpy, CUDA/cuDNN, GPU and driver, git commit."""
    env: dict[str, Any] = {"numpy": np.__version__, "torch_cuda": torch.version.cuda,
                           "git_commit": git_commit()}
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


class RssSampler:
    """Samples this process's resident set size (``/proc/self/statm``) in a thread; bytes."""

    PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096

    def __init__(self, period_s: float = 0.002) -> None:
        self.period_s = period_s
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @classmethod
    def rss(cls) -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * cls.PAGE

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.rss())
            time.sleep(self.period_s)

    def __enter__(self) -> RssSampler:
        self.peak = self.rss()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.rss())


def rss_mb(pid: int) -> float:
    """Resident set size of process ``pid`` in MB (NaN if it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return float("nan")
