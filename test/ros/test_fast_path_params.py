"""model.compile / model.cuda_graphs: declared, passed to the engine, the path shown in /diagnostics."""

from __future__ import annotations

import pytest
from diagnostic_msgs.msg import DiagnosticArray
from rosutil import Collector, wait_for

from frrn_seg_ros.ros.base import engine_config
from frrn_seg_ros.ros.diagnostics import model_status_name
from frrn_seg_ros.ros.parameters import SPEC, NodeParams, ParameterError, with_changes

pytestmark = pytest.mark.ros


def test_parameters_reach_the_engine_config() -> None:
    assert SPEC["model.compile"][1] is False and SPEC["model.cuda_graphs"][1] is False  # off by default
    assert SPEC["model.compile"][4] and SPEC["model.cuda_graphs"][4]  # read-only while running
    params = NodeParams.defaults(device="cpu", compile=True, cuda_graphs=True).validate()
    config = engine_config(params)
    assert config.compile is True and config.cuda_graphs is True
    assert engine_config(NodeParams.defaults(device="cpu").validate()).compile is False


def test_a_non_bool_value_names_the_parameter() -> None:
    with pytest.raises(ParameterError, match=r"invalid parameter 'model\.cuda_graphs'"):
        engine_config(with_changes(NodeParams.defaults(device="cpu"), {"model.cuda_graphs": "yes"}))


def test_node_reports_the_inference_path_and_why(ros) -> None:
    seg = ros.segmentation_node(None, **{"model.cuda_graphs": True, "diagnostics.period_s": 0.2})
    assert seg.engine.config.cuda_graphs is True
    tester = ros.node()
    diags = Collector(tester, DiagnosticArray, "/diagnostics")
    name = model_status_name(seg.get_fully_qualified_name())

    def model_values():
        statuses = [s for array in diags.find(lambda _: True) for s in array.status if s.name == name]
        return {kv.key: kv.value for kv in statuses[-1].values} if statuses else None

    values = wait_for(model_values)
    assert values is not None
    assert values["inference_path_path"] == "eager"  # no CUDA here: the fallback, and the reason
    assert "requested cuda_graphs" in values["inference_path_reason"]
    assert "needs a CUDA device" in values["inference_path_reason"]
