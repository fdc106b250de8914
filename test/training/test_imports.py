"""The training package imports core only: it must work with rclpy blocked."""

from __future__ import annotations

import subprocess
import sys

MODULES = [
    "bench",
    "builders",
    "cli",
    "config",
    "datasets",
    "distributed",
    "evaluate",
    "export",
    "logger",
    "losses",
    "metrics",
    "optim",
    "sample_pipeline",
    "state",
    "synthetic",
    "train_data",
    "trainer",
    "transforms",
]


def test_training_imports_without_rclpy(repo_root):
    code = (
        "import sys; sys.modules['rclpy'] = None; sys.modules['frrn_seg_ros.ros'] = None\n"
        + "".join(f"import training.{m}\n" for m in MODULES)
        + "assert 'torchvision' not in sys.modules\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=repo_root, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
