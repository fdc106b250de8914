"""The layers import one way: core and training never pull in rclpy or torchvision."""

from __future__ import annotations

import subprocess
import sys

BLOCK = "import sys; sys.modules['rclpy'] = None; sys.modules['torchvision'] = None\n"

# Imports every module under frrn_seg_ros.core and training (one interpreter), prints their names.
# walk_packages swallows a subpackage's ImportError unless onerror re-raises it.
IMPORT_ALL = BLOCK + """
import importlib, pkgutil
def reraise(name):
    importlib.import_module(name)
names = []
for root in ("frrn_seg_ros.core", "frrn_seg_training"):
    package = importlib.import_module(root)
    names.append(root)
    for info in pkgutil.walk_packages(package.__path__, root + ".", onerror=reraise):
        importlib.import_module(info.name)
        names.append(info.name)
assert sys.modules['rclpy'] is None and sys.modules['torchvision'] is None
print("\\n".join(names))
"""


def test_every_core_and_training_module_imports_without_rclpy_and_torchvision() -> None:
    result = subprocess.run([sys.executable, "-c", IMPORT_ALL], capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    imported = set(result.stdout.split())
    expected = {
        "frrn_seg_ros.core.checkpoint", "frrn_seg_ros.core.labels", "frrn_seg_ros.core.models.csrnet",
        "frrn_seg_ros.core.models.resnet", "frrn_seg_ros.core.engine",
        "frrn_seg_training.losses", "frrn_seg_training.trainer", "frrn_seg_training.cli",
    }
    assert expected <= imported, sorted(expected - imported)
    assert len(imported) >= 30, sorted(imported)  # the walk really descended into the packages


def test_package_root_is_light() -> None:
    code = "import sys, frrn_seg_ros; assert 'torch' not in sys.modules; assert 'rclpy' not in sys.modules"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
