"""cli/ament_layout: a pip install made findable by launch_ros (issue 11, item 10)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from frrn_seg_ros.cli.ament_layout import EXECUTABLES, install_layout, main

pytest.importorskip("ament_index_python")


def _fake_pip_prefix(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in EXECUTABLES:  # what pip's console scripts look like: run the real entry points
        script = bin_dir / name
        func = "lifecycle_main" if "lifecycle" in name else "main"
        body = f"import sys\nfrom frrn_seg_ros.ros.main import {func}\nsys.exit({func}())\n"
        script.write_text(f"#!{sys.executable}\n{body}")
        script.chmod(0o755)
    return tmp_path


def test_layout_is_what_launch_ros_looks_up(tmp_path):
    prefix = _fake_pip_prefix(tmp_path)
    made = install_layout(prefix)
    assert len(made) == 6
    assert install_layout(prefix) == []  # idempotent
    script = """
from ament_index_python.packages import get_package_prefix, get_package_share_directory
import os
prefix = get_package_prefix('frrn_seg_ros')
print(prefix)
share = get_package_share_directory('frrn_seg_ros')
print(os.path.isfile(os.path.join(share, 'launch', 'segment.launch.py')))
"""
    env = {**os.environ, "AMENT_PREFIX_PATH": str(prefix)}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == [str(prefix), "True"], out.stderr
    # launch_ros runs <prefix>/lib/<package>/<executable>: it is the real node (a bad camera: exit 2).
    exe = prefix / "lib" / "frrn_seg_ros" / "segment_node"
    assert os.access(exe, os.X_OK)
    run = subprocess.run(
        [str(exe), "--ros-args", "-p", "cameras:=[3d]"], capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 2 and "cameras" in run.stderr, run.stderr[-2000:]


def test_layout_refuses_a_prefix_without_the_package(tmp_path, capsys):
    assert main([str(tmp_path)]) == 2
    assert "segment_node" in capsys.readouterr().err
