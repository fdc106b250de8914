"""The lifecycle node process driven through its real services (issue 11, items 6-7).

A value that failed at start is still declared and can be fixed with set_parameters; cleanup,
switching the model (architecture, checkpoint) and configuring again works any number of
times; while configured, model-defining parameters are refused.
"""

from __future__ import annotations

import pytest
from diagnostic_msgs.msg import DiagnosticArray
from lifecycle_msgs.msg import Transition
from lifecycle_msgs.srv import ChangeState
from node_process import NodeProcess, assert_clean_exit, node_command, signal
from rcl_interfaces.srv import SetParameters
from rclpy.parameter import Parameter
from rosutil import Collector, image_array, input_qos, publish_until, stamped, unique, wait_for
from sensor_msgs.msg import Image

from frrn_seg_ros.ros.conversions import array_to_image
from frrn_seg_ros.ros.diagnostics import model_status_name

pytestmark = pytest.mark.ros
CYCLES = 3


class Lifecycle:
    """Clients of one lifecycle node's change_state and set_parameters services."""

    def __init__(self, tester, node_name: str) -> None:
        self.change_client = tester.create_client(ChangeState, f"{node_name}/change_state")
        self.param_client = tester.create_client(SetParameters, f"{node_name}/set_parameters")
        assert self.change_client.wait_for_service(timeout_sec=120.0)
        assert self.param_client.wait_for_service(timeout_sec=30.0)

    @staticmethod
    def _call(client, request):
        future = client.call_async(request)
        assert wait_for(future.done, timeout=120.0)
        return future.result()

    def change(self, transition: int) -> bool:
        request = ChangeState.Request(transition=Transition(id=transition))
        return self._call(self.change_client, request).success

    def set(self, name: str, value) -> tuple[bool, str]:
        request = SetParameters.Request(parameters=[Parameter(name, value=value).to_parameter_msg()])
        result = self._call(self.param_client, request).results[0]
        return result.successful, result.reason


def _architecture(diagnostics: Collector, node_name: str) -> str | None:
    for msg in reversed(diagnostics.msgs):
        for status in msg.status:
            if status.name == model_status_name(node_name):
                return {kv.key: kv.value for kv in status.values}["architecture"]
    return None


def test_lifecycle_fix_switch_and_reconfigure_through_the_services(ros, tmp_path):
    ns = "/" + unique("lc_cycles")
    name = f"{ns}/segmentation"
    node = NodeProcess(node_command(ns, "qos.input.depth:=0", "diagnostics.period_s:=0.2", lifecycle=True))
    try:
        tester = ros.node()
        lc = Lifecycle(tester, name)
        diagnostics = Collector(tester, DiagnosticArray, "/diagnostics")
        pub = tester.create_publisher(Image, f"{ns}/camera/image", input_qos())
        labels = Collector(tester, Image, f"{ns}/camera/segmentation/labels")

        # Item 7: the start value is out of range; configure fails naming it, `param set` fixes it.
        assert not lc.change(Transition.TRANSITION_CONFIGURE)
        assert node.wait_line("qos.input.depth", timeout=30.0)
        assert not lc.change(Transition.TRANSITION_CONFIGURE)  # still wrong: no silent default
        assert lc.set("qos.input.depth", 0)[0] is False  # the descriptor's range refuses it
        assert lc.set("qos.input.depth", 2) == (True, "")

        # A checkpoint that is a directory fails configure; setting it back works.
        assert lc.set("model.checkpoint", str(tmp_path)) == (True, "")
        assert not lc.change(Transition.TRANSITION_CONFIGURE)
        assert node.wait_line("is a directory", timeout=30.0)
        assert lc.set("model.checkpoint", "") == (True, "")

        # Item 6: cleanup, switch the model, configure again, several times.
        for cycle in range(CYCLES):
            architecture = ("csrnet_light", "csrnet_medium")[cycle % 2]
            assert lc.set("model.architecture", architecture) == (True, ""), cycle
            assert lc.change(Transition.TRANSITION_CONFIGURE), (cycle, node.output[-3000:])
            ok, reason = lc.set("model.architecture", "frrn_a")  # refused while configured
            assert not ok and "cleanup" in reason, reason
            assert lc.change(Transition.TRANSITION_ACTIVATE), cycle
            msg = stamped(array_to_image(image_array("rgb8", (64, 96), seed=cycle), "rgb8"), "lc", 10 + cycle)
            assert publish_until(pub, msg, labels, timeout=60.0), (cycle, node.output[-3000:])
            assert wait_for(lambda a=architecture: _architecture(diagnostics, name) == a, timeout=30.0), cycle
            assert lc.change(Transition.TRANSITION_DEACTIVATE), cycle
            assert lc.change(Transition.TRANSITION_CLEANUP), cycle
        code, _ = node.signal_and_wait(signal.SIGINT)
    finally:
        node.kill()
    assert_clean_exit(code, node.output)
