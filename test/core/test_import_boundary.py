"""The layers import one way: core and training never pull in rclpy or torchvision."""

from __future__ import annotations

import subprocess
import sys

import pytest

BLOCK = "import sys; sys.modules['rclpy'] = None; sys.modules['torchvision'] = None\n"


@pytest.mark.parametrize(
    "module",
    [
        "frrn_seg_ros",
        "frrn_seg_ros.core.labels",
        "frrn_seg_ros.core.checkpoint",
        "frrn_seg_ros.core.models",
        "frrn_seg_ros.core.engine",
        "training.losses",
        "training.trainer",
    ],
)
def test_imports_without_rclpy_and_torchvision(module: str) -> None:
    code = BLOCK + f"import {module}\nassert 'rclpy' not in sys.modules or sys.modules['rclpy'] is None\n"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]


def test_package_root_is_light() -> None:
    code = "import sys, frrn_seg_ros; assert 'torch' not in sys.modules; assert 'rclpy' not in sys.modules"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
