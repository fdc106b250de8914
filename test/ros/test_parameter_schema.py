"""The one parameter schema: NodeParams fields, SPEC, descriptors and the engine settings agree,
and every error carries the ROS name of its parameter (no message text is searched)."""

from __future__ import annotations

import dataclasses

import pytest

from frrn_seg_ros.core.engine import ConfigError, EngineConfig
from frrn_seg_ros.ros.base import engine_config
from frrn_seg_ros.ros.parameters import SPEC, NodeParams, ParameterError, descriptor, with_changes


def test_spec_rows_are_the_node_params_fields() -> None:
    attrs = [f.name for f in dataclasses.fields(NodeParams)]
    assert [spec.attr for spec in SPEC.values()] == attrs
    defaults = NodeParams()
    for name, spec in SPEC.items():
        assert spec.name == name
        assert getattr(defaults, spec.attr) == spec.default == spec[1]
        assert spec.read_only is spec[4]
    assert NodeParams().cameras is not NodeParams().cameras  # no shared mutable default


def test_descriptors_carry_the_ranges_and_choices() -> None:
    alpha = descriptor("publish.overlay_alpha")
    assert (alpha.floating_point_range[0].from_value, alpha.floating_point_range[0].to_value) == (0.0, 1.0)
    depth = descriptor("qos.input.depth")
    assert (depth.integer_range[0].from_value, depth.integer_range[0].to_value) == (1, 100)
    assert descriptor("precision").additional_constraints == "one of: fp32, fp16, bf16"
    assert descriptor("precision").read_only and not descriptor("precision", allow_read_only=False).read_only
    assert not descriptor("publish.overlay").read_only  # changeable at run time


def test_every_engine_setting_comes_from_a_parameter() -> None:
    fed = {spec.engine_field for spec in SPEC.values() if spec.engine_field}
    assert fed == {f.name for f in dataclasses.fields(EngineConfig)}
    config = engine_config(NodeParams(device="cpu", input_height=64, input_width=96, threads=3))
    assert config.input_size == (64, 96) and config.threads == 3 and config.device == "cpu"


@pytest.mark.parametrize(
    ("attr", "value", "ros_name"),
    [
        ("threads", -1, "model.threads"),
        ("warmup_iters", -2, "model.warmup_iters"),
        ("overlay_alpha", 1.5, "publish.overlay_alpha"),
        ("max_image_pixels", 0, "max_image_pixels"),
        ("resize_mode", "crop", "model.resize_mode"),
        ("input_height", -4, "model.input_height"),
    ],
)
def test_engine_errors_name_the_parameter_that_feeds_the_field(attr, value, ros_name) -> None:
    """Values the schema would refuse, given straight to engine_config: the engine's ConfigError
    names its own field, which the schema maps back to the ROS parameter."""
    params = dataclasses.replace(NodeParams(device="cpu"), **{attr: value})
    with pytest.raises(ParameterError) as info:
        engine_config(params)
    assert info.value.field == ros_name
    assert isinstance(info.value.__context__, ConfigError)


@pytest.mark.parametrize(
    ("name", "value"),
    [("model.compile", "yes"), ("model.threads", 2.5), ("qos.output.depth", True), ("cameras", "front")],
)
def test_a_value_of_the_wrong_type_names_its_parameter(name, value) -> None:
    with pytest.raises(ParameterError, match="wrong type") as info:
        with_changes(NodeParams(), {name: value})
    assert info.value.field == name


def test_an_int_is_accepted_for_a_float_parameter() -> None:
    assert with_changes(NodeParams(), {"diagnostics.stale_s": 2}).stale_s == 2
