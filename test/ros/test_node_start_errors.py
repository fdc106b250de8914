"""Bad command lines, params files and parameter values at start (issue 11, items 3-5).

Each case starts the real node process and asserts: exit code 2, exactly one error line, that
line names the key or file, and no traceback (nor rcl's own buried error lines).
"""

from __future__ import annotations

import pytest
from node_process import NodeProcess, node_command
from rosutil import unique

pytestmark = pytest.mark.ros


def _files(tmp_path):
    not_yaml = tmp_path / "not_yaml.yaml"
    not_yaml.write_text("a: [\n")
    a_list = tmp_path / "a_list.yaml"
    a_list.write_text("- cameras\n- front\n")
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    return {"not_yaml": not_yaml, "a_list": a_list, "missing": tmp_path / "nope.yaml", "folder": folder}


CASES = [
    # (id, -p values, extra --ros-args, needles in the error line)
    ("digit_camera", ["cameras:=[3d_cam]"], [], ["cameras", "3d_cam"]),
    ("trailing_slash", ["cameras:=[front/]"], [], ["cameras", "front/"]),
    ("non_ascii", ["cameras:=[kamera_ü]"], [], ["cameras", "kamera_ü"]),
    ("double_slash", ["cameras:=[a//b]"], [], ["cameras", "a//b"]),
    ("too_long", ["cameras:=[" + "c" * 300 + "]"], [], ["cameras", "length"]),
    ("empty_cameras", ["cameras:=[]"], [], ["cameras", "empty"]),
    ("params_not_yaml", [], ["--params-file", "{not_yaml}"], ["not_yaml.yaml", "not valid YAML"]),
    ("params_a_list", [], ["--params-file", "{a_list}"], ["a_list.yaml", "list"]),
    ("params_missing", [], ["--params-file", "{missing}"], ["nope.yaml", "does not exist"]),
    ("empty_value", ["model.checkpoint:="], [], ["model.checkpoint", "no value"]),
    ("huge_cuda_index", ["device:=cuda:99999999999999999999"], [], ["device"]),
    ("checkpoint_dir", ["model.checkpoint:={folder}"], [], ["model.checkpoint", "is a directory"]),
    ("checkpoint_dev_zero", ["model.checkpoint:=/dev/zero"], [], ["model.checkpoint", "not a regular file"]),
    ("height_alone", ["model.input_height:=33"], [], ["'model.input_height'", "model.input_width"]),
    ("depth_zero", ["qos.input.depth:=0"], [], ["qos.input.depth", "range"]),
]


@pytest.mark.parametrize(("params", "extra", "needles"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_start_ends_in_one_line_naming_it_and_exit_2(tmp_path, params, extra, needles):
    files = _files(tmp_path)
    params = [p.format(**files) for p in params]
    extra = tuple(e.format(**files) for e in extra)
    extra_args = ("--ros-args", *extra) if extra else ()
    node = NodeProcess(node_command("/" + unique("bad"), *params, extra=extra_args))
    try:
        code = node.wait_exit(timeout=120.0)
    finally:
        node.kill()
    out = node.output
    assert code == 2, out[-3000:]
    errors = [line for line in out.splitlines() if "error" in line.lower()]
    assert len(errors) == 1, out[-3000:]
    assert all(needle in errors[0] for needle in needles), errors[0]
    assert "Traceback" not in out, out[-3000:]
