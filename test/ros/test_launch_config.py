"""The launch file, the parameters YAML, the RViz config and the Fast DDS profile."""

from __future__ import annotations

import ast
import importlib.util
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from frrn_seg_ros.ros import env
from frrn_seg_ros.ros.parameters import SPEC, NodeParams

ROOT = Path(__file__).resolve().parents[2]
LAUNCH = ROOT / "launch" / "segment.launch.py"
NEEDED_ARGS = {
    "model",
    "checkpoint",
    "cameras",
    "camera_topic",
    "device",
    "precision",
    "params_file",
    "use_sim_time",
    "rviz",
    "fastdds_profile",
    "namespace",
    "lifecycle",
}


def _flatten(tree: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def test_yaml_declares_every_parameter_with_its_default():
    params = yaml.safe_load((ROOT / "config" / "segment.yaml").read_text())["/**"]["ros__parameters"]
    flat = _flatten(params)
    assert set(flat) == set(SPEC)
    for name, value in flat.items():
        assert value == SPEC[name][1], name
    NodeParams.defaults().validate()


def test_launch_file_loads_without_launch_and_declares_its_arguments():
    spec = importlib.util.spec_from_file_location("segment_launch", LAUNCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # no launch / launch_ros import at module level
    assert set(module.ARGUMENTS) >= NEEDED_ARGS
    assert module._parse_list("[front, 'rear']") == ["front", "rear"]
    tree = ast.parse(LAUNCH.read_text())
    top_imports = [n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)]
    assert all("launch" not in ast.unparse(n) for n in top_imports)
    strings = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
    assert {"segment_node", "segment_lifecycle_node", "FASTDDS_DEFAULT_PROFILES_FILE"} <= strings
    for name in ("segment.yaml", "segment.rviz"):
        assert name in strings and (ROOT / "config" / name).is_file()
    # the profile's name and the malloc settings come from ros/env.py, not a copy of them
    assert (module.PROFILE_NAME, module.MALLOC_ENV) == (env.PROFILE_NAME, env.MALLOC_ENV)
    assert (ROOT / "config" / env.PROFILE_NAME).is_file() and env.PROFILE_NAME not in strings


def test_launch_description_with_launch_ros():
    pytest.importorskip("launch_ros")
    spec = importlib.util.spec_from_file_location("segment_launch", LAUNCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    from launch.actions import DeclareLaunchArgument

    description = module.generate_launch_description()
    declared = {a.name for a in description.entities if isinstance(a, DeclareLaunchArgument)}
    assert declared >= NEEDED_ARGS


def test_rviz_config_shows_camera_color_and_overlay():
    config = yaml.safe_load((ROOT / "config" / "segment.rviz").read_text())
    displays = config["Visualization Manager"]["Displays"]
    topics = {d["Topic"]["Value"] for d in displays if d["Class"] == "rviz_default_plugins/Image"}
    assert topics == {"camera/image", "camera/segmentation/color", "camera/segmentation/overlay"}


def test_fastdds_profile_shape():
    ns = {"d": "http://www.eprosima.com"}
    root = ET.parse(ROOT / "config" / env.PROFILE_NAME).getroot()
    shm = [
        t for t in root.iterfind(".//d:transport_descriptor", ns) if t.findtext("d:type", None, ns) == "SHM"
    ]
    assert shm and int(shm[0].findtext("d:segment_size", None, ns)) >= 64 << 20
    udp = [
        t for t in root.iterfind(".//d:transport_descriptor", ns) if t.findtext("d:type", None, ns) == "UDPv4"
    ]
    allowed = [i.get("name") for i in udp[0].iterfind("d:interfaces/d:allowlist/d:interface", ns)]
    assert allowed == ["127.0.0.1"]
    participant = root.find(".//d:participant", ns)
    assert participant.get("is_default_profile") == "true"
    assert participant.findtext("d:rtps/d:useBuiltinTransports", None, ns) == "false"


def _launch_module():
    spec = importlib.util.spec_from_file_location("segment_launch", LAUNCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_launch_arguments_left_empty_keep_the_params_file_values(tmp_path):
    params_file = tmp_path / "mine.yaml"
    params_file.write_text(
        "/**:\n  ros__parameters:\n    cameras: [front, rear]\n"
        "    model:\n      checkpoint: /models/mine.safetensors\n    device: cuda:1\n"
    )
    given = {"use_sim_time": "false", "camera_topic": "/front_cam/image_raw"}
    overrides, remaps = _launch_module().node_overrides(lambda name: given.get(name, ""), str(params_file))
    # Nothing the file sets is overridden: its checkpoint, device and cameras stay in force.
    assert overrides == {"use_sim_time": False}
    assert remaps == [
        ("front/image", "/front_cam/image_raw"),
        ("front/image/compressed", "/front_cam/image_raw/compressed"),
    ]


def test_launch_arguments_given_override_the_params_file(tmp_path):
    given = {
        "use_sim_time": "true",
        "checkpoint": "/m.safetensors",
        "model": "csrnet_light",
        "device": "cpu",
        "precision": "bf16",
        "cameras": "[left, right]",
    }
    overrides, remaps = _launch_module().node_overrides(
        lambda name: given.get(name, ""), str(ROOT / "config" / "segment.yaml")
    )
    assert overrides == {
        "use_sim_time": True,
        "model.checkpoint": "/m.safetensors",
        "model.architecture": "csrnet_light",
        "device": "cpu",
        "precision": "bf16",
        "cameras": ["left", "right"],
    }
    assert remaps == []


def test_rviz_panels_follow_the_cameras_and_the_remapped_input():
    template = str(ROOT / "config" / "segment.rviz")
    path = _launch_module().write_rviz_config(template, ["front", "rear"], "/drv/image_raw")
    config = yaml.safe_load(Path(path).read_text())
    Path(path).unlink()
    displays = config["Visualization Manager"]["Displays"]
    topics = [d["Topic"]["Value"] for d in displays if d["Class"] == "rviz_default_plugins/Image"]
    assert topics == [
        "/drv/image_raw",
        "front/segmentation/color",
        "front/segmentation/overlay",
        "rear/image",
        "rear/segmentation/color",
        "rear/segmentation/overlay",
    ]
    assert {d["Name"] for d in displays} >= {"front: Camera", "rear: Segmentation overlay"}


def _plan_args(**given: str):
    defaults = {
        "params_file": str(ROOT / "config" / "segment.yaml"),
        "fastdds_profile": str(ROOT / "config" / env.PROFILE_NAME),
        "use_sim_time": "false",
        "rviz": "false",
        "lifecycle": "false",
        "node_name": "segmentation",
    }
    defaults.update(given)
    return lambda name: defaults.get(name, "")


def _no_rviz2(package: str) -> str:
    raise LookupError(package)  # what ament_index raises for a package that is not installed


def test_launch_plan_order_env_before_node_before_rviz():
    module = _launch_module()
    plan = module.launch_plan(_plan_args(rviz="true"), str(ROOT / "config"), find=lambda package: "/opt/ros")
    kinds = [kind for kind, _ in plan]
    assert kinds == ["remove_at_shutdown", "env", "node", "rviz"]
    config_path = Path(plan[0][1]["path"])
    assert plan[3][1]["arguments"] == ["-d", str(config_path)] and config_path.is_file()
    assert plan[2][1]["executable"] == "segment_node"
    assert plan[2][1]["additional_env"] == env.MALLOC_ENV  # the node process only
    assert plan[2][1]["parameters"][1]["publish.overlay"] is True
    module.remove_file(str(config_path))  # what the OnShutdown handler does
    assert not config_path.exists()


def test_launch_plan_without_rviz2_fails_before_anything_starts(tmp_path, monkeypatch):
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    module = _launch_module()
    with pytest.raises(RuntimeError, match="rviz2"):
        module.launch_plan(_plan_args(rviz="true"), str(ROOT / "config"), find=_no_rviz2)
    assert list(tmp_path.iterdir()) == []  # no RViz config written either
    plan = module.launch_plan(_plan_args(lifecycle="true"), str(ROOT / "config"), find=_no_rviz2)
    assert [kind for kind, _ in plan] == ["env", "node"]
    assert plan[1][1]["executable"] == "segment_lifecycle_node"


@pytest.mark.parametrize("typed", ["none", "env", "", "''", '""'])
def test_fastdds_profile_none_or_empty_keeps_the_environment(typed):
    module = _launch_module()
    plan = module.launch_plan(_plan_args(fastdds_profile=typed), str(ROOT / "config"))
    assert [kind for kind, _ in plan] == ["node"]


def test_quoted_empty_arguments_count_as_empty():
    module = _launch_module()
    plan = module.launch_plan(_plan_args(checkpoint="''", device='""'), str(ROOT / "config"))
    overrides = dict(plan)["node"]["parameters"][1]
    assert "model.checkpoint" not in overrides and "device" not in overrides


def test_generated_rviz_config_is_removed_when_the_launch_process_exits(tmp_path):
    import subprocess
    import sys

    script = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('l', {str(LAUNCH)!r})\n"
        "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n"
        f"print(m.write_rviz_config({str(ROOT / 'config' / 'segment.rviz')!r}, ['front'], ''))\n"
    )
    env = {"TMPDIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert Path(out.stdout.strip()).parent == tmp_path
    assert list(tmp_path.iterdir()) == []


def test_readme_and_launch_docstring_never_say_quoted_empty_arguments():
    """``ros2 launch ... fastdds_profile:=''`` reaches launch as ``fastdds_profile:=`` (rejected)."""
    import re

    names = "|".join(_launch_module().ARGUMENTS)
    pattern = re.compile(rf"(?<![.\w])({names}):=(''|\"\"|\s|`)")
    for path in (ROOT / "README.md", LAUNCH):
        found = pattern.findall(path.read_text())
        assert not found, (path, found)
