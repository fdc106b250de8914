"""The training package imports core only: it must work with rclpy blocked, and under its installed
name ``frrn_seg_training`` from any directory (the folder is ``training/``, a name it never uses)."""

from __future__ import annotations

import subprocess
import sys


def test_training_imports_without_rclpy_from_any_directory(repo_root, tmp_path):
    modules = sorted(p.stem for p in (repo_root / "training").glob("*.py") if p.stem != "__init__")
    assert {"cli", "trainer", "export_checkpoint", "evaluate"} <= set(modules)
    code = (
        "import sys; sys.modules['rclpy'] = None; sys.modules['frrn_seg_ros.ros'] = None\n"
        + "".join(f"import frrn_seg_training.{m}\n" for m in modules)
        + "assert 'torchvision' not in sys.modules\n"
        + "assert 'training' not in sys.modules, 'something imported the folder name training'\n"
        + "from frrn_seg_training.config import RECIPE_DIR\n"
        + "print(len(list(RECIPE_DIR.glob('*.yaml'))))\n"
    )
    # tmp_path, not the checkout: there the folder training/ would be importable by accident
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert int(proc.stdout) == len(list((repo_root / "training" / "recipes").glob("*.yaml"))) > 0
