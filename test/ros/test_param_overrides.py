"""``--node-param KEY:=VALUE`` texts, parsed once for replay and the node benchmark."""

from __future__ import annotations

import pytest

from frrn_seg_ros.ros.node_process import parse_param_overrides


def test_values_are_typed_as_ros_types_a_p_value():
    params = parse_param_overrides(
        [
            "publish.color:=false",
            "model.input_height:=256",
            " overlay_alpha := 0.25",
            "cameras:=[a, b]",
            "x:=cpu",
        ]
    )
    assert params == {
        "publish.color": False,
        "model.input_height": 256,
        "overlay_alpha": 0.25,
        "cameras": ["a", "b"],
        "x": "cpu",
    }


@pytest.mark.parametrize("item", ["publish.color=false", ":=1", "novalue"])
def test_an_item_without_key_or_separator_is_named(item):
    with pytest.raises(ValueError, match="KEY:=VALUE"):
        parse_param_overrides([item])
