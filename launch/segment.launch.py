"""Launch the frrn_seg_ros segmentation node (plain or lifecycle), optionally with RViz2.

    ros2 launch frrn_seg_ros segment.launch.py checkpoint:=/path/model.safetensors \
        camera_topic:=/my_camera/image_raw device:=cuda precision:=fp16 rviz:=true

Arguments: model, checkpoint, cameras, camera_topic (remaps <first camera>/image), device,
precision, params_file, use_sim_time, rviz, rviz_config, fastdds_profile, namespace, lifecycle,
node_name. Model, checkpoint, cameras, device and precision left empty keep the params file's
values. rviz:=true shows input, colour and overlay panels for every camera.
Every ROS process started here gets ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST unless
it is set, the Fast DDS large-image profile (fastdds_profile:=none keeps your own
FASTDDS_DEFAULT_PROFILES_FILE), and glibc malloc settings that keep multi-MB image buffers on
the heap (MALLOC_MMAP_THRESHOLD_ / MALLOC_TRIM_THRESHOLD_, set for the node process only).
An argument typed as '' or "" (quotes reaching launch) counts as empty.

rviz:=true checks that rviz2 is installed before anything starts; the generated RViz config is
removed when the launch ends. When the node exits (a bad parameter: exit code 2), the launch
shuts down too, so RViz is never left behind.

launch / launch_ros are imported inside generate_launch_description only, so this file can be
loaded (and its pure functions tested) where they are not installed.
"""

from __future__ import annotations

import os

# The DDS profile's file name and the glibc malloc settings live in one place, the package's
# ros/env.py (which imports no ROS module, so this file still loads without launch installed).
from frrn_seg_ros.ros.env import MALLOC_ENV, PACKAGE, PROFILE_NAME

ARGUMENTS = {
    "model": ("", "architecture used when checkpoint is empty (random weights); '' = params file"),
    "checkpoint": ("", "checkpoint file (.safetensors / .pt / .onnx); '' = params file"),
    "cameras": ("", "camera names, YAML list: [front, rear]; '' = params file"),
    "camera_topic": ("", "remap <first camera>/image to this topic (single-camera setups)"),
    "device": ("", "auto | cpu | cuda | cuda:N; '' = params file"),
    "precision": ("", "fp32 | fp16 | bf16; '' = params file"),
    "params_file": (None, "parameters YAML (default: share/frrn_seg_ros/config/segment.yaml)"),
    "use_sim_time": ("false", "use /clock"),
    "rviz": ("false", "start RViz2: input, colour, overlay of every camera (turns on publish.overlay)"),
    "rviz_config": ("", "your own RViz2 config (default: config/segment.rviz, one panel set per camera)"),
    "fastdds_profile": (None, "Fast DDS XML profile (default: the shipped large-image one); none = keep env"),
    "namespace": ("", "namespace of the node and its topics"),
    "lifecycle": ("false", "start segment_lifecycle_node (configure/activate it yourself)"),
    "node_name": ("segmentation", "node name"),
}


def _share_dir() -> str:
    try:
        from ament_index_python.packages import get_package_share_directory

        return get_package_share_directory(PACKAGE)
    except Exception:  # source checkout: launch/ sits next to config/
        return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def generate_launch_description():
    from launch import LaunchDescription
    from launch.actions import (
        DeclareLaunchArgument,
        OpaqueFunction,
        RegisterEventHandler,
        SetEnvironmentVariable,
        Shutdown,
    )
    from launch.event_handlers import OnShutdown
    from launch.substitutions import LaunchConfiguration
    from launch_ros.actions import LifecycleNode, Node

    share = _share_dir()
    config = os.path.join(share, "config")
    files = {
        "params_file": os.path.join(config, "segment.yaml"),
        "fastdds_profile": os.path.join(config, PROFILE_NAME),
    }
    actions = [
        DeclareLaunchArgument(name, default_value=files.get(name, default), description=desc)
        for name, (default, desc) in ARGUMENTS.items()
    ]
    if os.environ.get("ROS_AUTOMATIC_DISCOVERY_RANGE") is None:
        actions.append(SetEnvironmentVariable("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST"))

    def setup(context):
        get = lambda name: LaunchConfiguration(name).perform(context)  # noqa: E731
        actions = []
        for kind, spec in launch_plan(get, config):
            if kind == "remove_at_shutdown":
                remove = lambda *_, path=spec["path"]: remove_file(path)  # noqa: E731
                actions.append(RegisterEventHandler(OnShutdown(on_shutdown=remove)))
            elif kind == "env":
                actions.append(SetEnvironmentVariable(spec["name"], spec["value"]))
            elif kind == "node":
                node_cls = LifecycleNode if spec["executable"] == "segment_lifecycle_node" else Node
                on_exit = Shutdown(reason="segment node exited")  # RViz must not outlive it
                actions.append(node_cls(**spec, output="screen", emulate_tty=True, on_exit=on_exit))
            else:  # rviz
                actions.append(Node(**spec, output="screen"))
        return actions

    actions.append(OpaqueFunction(function=setup))
    return LaunchDescription(actions)


def launch_plan(get, config_dir: str, find=None) -> list[tuple[str, dict]]:
    """What to launch, in order, from the arguments (``get(name) -> str``): pure, so testable.

    ``("remove_at_shutdown", {path})`` for a generated RViz config, ``("env", {name, value})``,
    ``("node", Node kwargs)``, ``("rviz", Node kwargs)``. With ``rviz:=true`` and no rviz2
    (``find`` as in :func:`rviz_problem`) it raises RuntimeError and nothing is launched.
    """
    arg = lambda name: clean_argument(get(name))  # noqa: E731
    show = is_true(arg("rviz"))
    problem = rviz_problem(show, find)
    if problem:  # before any process starts: nothing is left running
        raise RuntimeError(problem)
    plan: list[tuple[str, dict]] = []
    params_file = arg("params_file")
    overrides, remaps = node_overrides(arg, params_file)
    if show:  # the overlay panel needs it; computed only while RViz subscribes
        overrides["publish.overlay"] = True
    rviz_config = arg("rviz_config")
    if show and not rviz_config:
        cameras = overrides.get("cameras") or _cameras_in(params_file)
        template = os.path.join(config_dir, "segment.rviz")
        rviz_config = write_rviz_config(template, cameras, arg("camera_topic"))
        plan.append(("remove_at_shutdown", {"path": rviz_config}))
    profile = fastdds_profile(arg("fastdds_profile"))
    if profile:
        plan.append(("env", {"name": "FASTDDS_DEFAULT_PROFILES_FILE", "value": profile}))
    lifecycle = is_true(arg("lifecycle"))
    node = {
        "package": PACKAGE,
        "executable": "segment_lifecycle_node" if lifecycle else "segment_node",
        "name": arg("node_name"),
        "namespace": arg("namespace"),
        "parameters": [params_file, overrides],
        "remappings": remaps,
        "additional_env": dict(MALLOC_ENV),
    }
    plan.append(("node", node))
    if show:
        rviz = {"package": "rviz2", "executable": "rviz2", "name": "rviz2", "namespace": arg("namespace")}
        plan.append(("rviz", {**rviz, "arguments": ["-d", rviz_config]}))
    return plan


def clean_argument(value: str) -> str:
    """A launch argument as typed: ``''`` or ``""`` (shell quotes that reached launch) -> ``''``."""
    value = value.strip()
    return "" if value in ("''", '""') else value


def is_true(value: str) -> bool:
    return value.strip().lower() in ("true", "1", "yes", "on")


def fastdds_profile(value: str) -> str | None:
    """The profile file to set, or None to keep the environment's (``none`` / ``env`` / empty)."""
    return None if value.lower() in ("", "none", "env", "keep") else value


def rviz_problem(show: bool, find=None) -> str | None:
    """Why ``rviz:=true`` cannot start RViz (rviz2 not installed), checked before anything starts.

    ``find(package) -> prefix`` defaults to ament_index's ``get_package_prefix``.
    """
    if not show:
        return None
    if find is None:
        from ament_index_python.packages import get_package_prefix as find
    try:
        find("rviz2")
    except Exception:
        return (
            "rviz:=true but package 'rviz2' is not installed (apt install ros-$ROS_DISTRO-rviz2), "
            "or launch without rviz:=true; nothing was started"
        )
    return None


def remove_file(path: str) -> None:
    """Delete ``path`` if it is there (the generated RViz config, at shutdown)."""
    import contextlib

    with contextlib.suppress(FileNotFoundError):
        os.remove(path)


def node_overrides(get, params_file: str) -> tuple[dict, list[tuple[str, str]]]:
    """Parameters and remappings from the launch arguments (``get(name) -> str``).

    Only the arguments the user gave override ``params_file``: an empty ``checkpoint``,
    ``model``, ``device``, ``precision`` or ``cameras`` leaves the file's value in force.
    ``camera_topic`` remaps the first camera's raw and ``/compressed`` input topics.
    """
    overrides: dict = {"use_sim_time": get("use_sim_time").lower() in ("true", "1")}
    for argument, parameter in (
        ("model", "model.architecture"),
        ("checkpoint", "model.checkpoint"),
        ("device", "device"),
        ("precision", "precision"),
    ):
        if get(argument):
            overrides[parameter] = get(argument)
    if get("cameras"):
        overrides["cameras"] = cameras = _parse_list(get("cameras"))
    else:
        cameras = _cameras_in(params_file)
    topic = get("camera_topic")  # raw and image_transport-style compressed names
    remaps = [(f"{cameras[0]}/image", topic), (f"{cameras[0]}/image/compressed", f"{topic}/compressed")]
    return overrides, remaps if topic else []


def rviz_displays(template: dict, cameras: list[str], camera_topic: str = "") -> dict:
    """``template`` (the shipped segment.rviz, parsed) with its image panels repeated per camera.

    The template's panels name ``camera/...`` topics; each camera gets a copy with its own name
    (relative, so the node's namespace applies); ``camera_topic`` replaces the first camera's input.
    """
    import copy

    config = copy.deepcopy(template)
    manager = config["Visualization Manager"]
    panels = [d for d in manager["Displays"] if d.get("Class") == "rviz_default_plugins/Image"]
    others = [d for d in manager["Displays"] if d.get("Class") != "rviz_default_plugins/Image"]
    displays = []
    for index, cam in enumerate(cameras):
        for panel in panels:
            display = copy.deepcopy(panel)
            topic = display["Topic"]["Value"].replace("camera/", f"{cam}/", 1)
            if index == 0 and camera_topic and topic == f"{cam}/image":
                topic = camera_topic
            display["Topic"]["Value"] = topic
            display["Name"] = f"{cam}: {panel['Name']}" if len(cameras) > 1 else panel["Name"]
            displays.append(display)
    manager["Displays"] = others + displays
    return config


def write_rviz_config(template_path: str, cameras: list[str], camera_topic: str) -> str:
    """Write :func:`rviz_displays` of ``template_path`` to a temporary file; return its path."""
    import atexit
    import tempfile

    import yaml

    with open(template_path, encoding="utf-8") as stream:
        config = rviz_displays(yaml.safe_load(stream), cameras, camera_topic)
    handle, path = tempfile.mkstemp(prefix="frrn_seg_", suffix=".rviz")
    with os.fdopen(handle, "w", encoding="utf-8") as stream:
        yaml.safe_dump(config, stream, sort_keys=False)
    atexit.register(remove_file, path)  # also when the launch ends without an OnShutdown event
    return path


def _cameras_in(params_file: str) -> list[str]:
    """The ``cameras`` of the first parameter block in ``params_file`` (``['camera']`` if none)."""
    import yaml  # a dependency of launch itself

    try:
        with open(params_file, encoding="utf-8") as stream:
            tree = yaml.safe_load(stream) or {}
        for block in tree.values():
            cameras = (block or {}).get("ros__parameters", {}).get("cameras")
            if cameras:
                return [str(c) for c in cameras]
    except (OSError, yaml.YAMLError, AttributeError):
        pass
    return ["camera"]


def _parse_list(text: str) -> list[str]:
    """'[a, b]' / 'a,b' / 'a' -> ['a', 'b']."""
    items = [item.strip().strip("'\"") for item in text.strip().strip("[]").split(",")]
    return [item for item in items if item] or ["camera"]
