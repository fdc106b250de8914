"""The machine record every benchmark and report keeps: versions, GPU facts and the git commit."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from frrn_seg_ros.core.machine import environment, git_commit

REPO = Path(__file__).resolve().parents[2]
COMMIT = re.compile(r"([0-9a-f]{40})(\+dirty)?")


def _git(repo: Path, *args: str) -> str:
    cmd = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", *args]
    return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip()


def test_cpu_record_has_versions_and_this_checkouts_commit() -> None:
    env = environment(torch.device("cpu"))
    assert env["numpy"] == np.__version__
    assert env["torch_cuda"] == torch.version.cuda
    commit = COMMIT.fullmatch(env["git_commit"])
    assert commit, env["git_commit"]
    _git(REPO, "cat-file", "-e", f"{commit[1]}^{{commit}}")  # a commit of this checkout (HEAD may move on)
    assert "compute_capability" not in env and "cudnn" not in env


def test_git_commit_marks_a_dirty_checkout(tmp_path: Path) -> None:
    _git(tmp_path, "init", "-q")
    (tmp_path / "f.txt").write_text("a\n")
    _git(tmp_path, "add", "f.txt")
    _git(tmp_path, "commit", "-q", "-m", "one")
    head = _git(tmp_path, "rev-parse", "HEAD")
    assert re.fullmatch(r"[0-9a-f]{40}", head)
    assert git_commit(tmp_path) == head
    (tmp_path / "untracked.txt").write_text("x\n")
    assert git_commit(tmp_path) == head  # untracked files do not count
    (tmp_path / "f.txt").write_text("b\n")
    assert git_commit(tmp_path) == f"{head}+dirty"


def test_git_commit_tolerates_no_repo_and_no_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert git_commit(tmp_path) is None  # not a checkout
    monkeypatch.setenv("PATH", str(tmp_path))  # no git executable
    assert git_commit(REPO) is None
    assert environment(torch.device("cpu"))["git_commit"] is None


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_record_has_gpu_facts() -> None:
    env = environment(torch.device("cuda"))
    major, minor = torch.cuda.get_device_capability()
    assert env["compute_capability"] == f"{major}.{minor}"
    assert env["cudnn"] == torch.backends.cudnn.version() and env["torch_cuda"] == torch.version.cuda
    assert env["gpu_name"] == torch.cuda.get_device_name() and env["gpu_memory_gb"] > 0
    if env["nvidia_smi"] is not None:
        assert env["gpu_name"].split()[-1] in env["nvidia_smi"]


def test_benchmark_json_carries_the_environment(tmp_path: Path) -> None:
    from frrn_seg_ros.bench.models import main

    args = ["--models", "csrnet_light", "--sizes", "64x64", "--warmup", "1", "--iters", "1", "--no-isolate",
            "--device", "cpu", "--out", str(tmp_path)]
    assert main(args) == 0
    meta = json.loads((tmp_path / "models_cpu.json").read_text())["meta"]
    assert meta["numpy"] == np.__version__ and COMMIT.fullmatch(meta["git_commit"])
    assert f"- numpy: {np.__version__}" in (tmp_path / "models_cpu.md").read_text()
