"""SIGINT / SIGTERM sent to the real node process at the awkward moments (issue 11, items 1-2, 11).

Each test waits for its moment on a condition (a log line, a diagnostics value, an output
frame), sends the signal, and asserts exit code 0 with no traceback, within the issue's 2 s
from the (first) signal to the exit. The times are printed (run with -s). Measured on the
shared 2-core VM at load average 12-15 with two extra CPU spinners: 0.79-1.28 s; the
teardown's waits share one 0.6 s grace period (frrn_seg_ros.ros.shutdown).
"""

from __future__ import annotations

import threading
import time

import pytest
from diagnostic_msgs.msg import DiagnosticArray
from node_process import NodeProcess, assert_clean_exit, node_command, signal
from rosutil import Collector, image_array, input_qos, publish_until, stamped, unique, wait_for
from sensor_msgs.msg import Image

from frrn_seg_ros.ros.conversions import array_to_image
from frrn_seg_ros.ros.diagnostics import model_status_name

pytestmark = pytest.mark.ros
EXIT_BOUND_S = 2.0  # issue 11: "exits within 2 s"


def _model_values(collector: Collector, node_name: str) -> dict[str, str]:
    """The newest model status values of ``node_name`` on /diagnostics."""
    for msg in reversed(collector.msgs):
        for status in msg.status:
            if status.name == model_status_name(node_name):
                return {kv.key: kv.value for kv in status.values}
    return {}


def _report(moment: str, elapsed: float) -> None:
    print(f"\n[signals] {moment}: exit {elapsed:.2f} s after the signal")


def test_sigint_during_startup_model_build_exits_0():
    node = NodeProcess(node_command("/" + unique("sig_start"), "model.architecture:=frrn_b"))
    try:
        assert node.wait_line("RANDOM WEIGHTS"), node.output  # logged just before the model build
        code, elapsed = node.signal_and_wait(signal.SIGINT)
    finally:
        node.kill()
    assert_clean_exit(code, node.output)
    _report("during the model build", elapsed)
    assert elapsed < EXIT_BOUND_S


def test_sigterm_during_lifecycle_configure_exits_0(ros):
    from lifecycle_msgs.msg import Transition
    from lifecycle_msgs.srv import ChangeState

    ns = "/" + unique("sig_lc")
    node = NodeProcess(node_command(ns, "model.architecture:=frrn_b", lifecycle=True))
    try:
        client = ros.node().create_client(ChangeState, f"{ns}/segmentation/change_state")
        assert client.wait_for_service(timeout_sec=120.0), node.output
        client.call_async(ChangeState.Request(transition=Transition(id=Transition.TRANSITION_CONFIGURE)))
        assert node.wait_line("RANDOM WEIGHTS"), node.output  # the model build has begun
        code, elapsed = node.signal_and_wait(signal.SIGTERM)
    finally:
        node.kill()
    assert_clean_exit(code, node.output)
    _report("SIGTERM during a lifecycle configure (model build)", elapsed)
    assert elapsed < EXIT_BOUND_S


def test_sigint_during_warmup_exits_0_and_topics_came_first(ros):
    ns = "/" + unique("sig_warm")
    params = ("model.input_height:=512", "model.input_width:=1024", "model.warmup_iters:=100")
    node = NodeProcess(node_command(ns, *params, "diagnostics.period_s:=0.2"))
    try:
        tester = ros.node()
        diagnostics = Collector(tester, DiagnosticArray, "/diagnostics")
        name = f"{ns}/segmentation"
        running = wait_for(lambda: _model_values(diagnostics, name).get("warmup") == "running", timeout=120.0)
        assert running, node.output
        values = _model_values(diagnostics, name)
        assert values["warmup_size"] == "1024x512"
        # The topics exist while the warm-up runs.
        assert tester.count_publishers(f"{ns}/camera/segmentation/labels") == 1
        code, elapsed = node.signal_and_wait(signal.SIGINT)
    finally:
        node.kill()
    assert_clean_exit(code, node.output)
    _report("during the warm-up (512x1024, 100 passes)", elapsed)
    assert elapsed < EXIT_BOUND_S


class _Stream:
    """Publishes ``msg`` every ``period_s`` from a thread while open: the node, which needs far
    longer than that for a 1024x2048 frame on any CPU, always has a newer frame waiting, so its
    worker is inside a segmentation whenever a signal lands (on a fast machine too, where a single
    frame would be done before the signal)."""

    def __init__(self, pub, msg, period_s: float = 0.05) -> None:
        self.pub, self.msg, self.period_s = pub, msg, period_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.pub.publish(self.msg)
            self._stop.wait(self.period_s)

    def __enter__(self) -> _Stream:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10.0)


def _segmenting_node(ros, ns: str, *params: str):
    """A node answering 1024x2048 frames (native resolution): (process, labels collector, stream)."""
    node = NodeProcess(node_command(ns, *params))
    tester = ros.node()
    pub = tester.create_publisher(Image, f"{ns}/camera/image", input_qos())
    labels = Collector(tester, Image, f"{ns}/camera/segmentation/labels")
    msg = stamped(array_to_image(image_array("rgb8", (1024, 2048)), "rgb8"), "cam", 5)
    assert publish_until(pub, msg, labels, timeout=180.0), node.output
    return node, labels, _Stream(pub, msg)


@pytest.mark.parametrize("first", [signal.SIGINT, signal.SIGTERM], ids=["sigint", "sigterm"])
def test_signal_while_segmenting_then_again_during_teardown_exits_0(ros, first):
    ns = "/" + unique("sig_seg")
    node, labels, stream = _segmenting_node(ros, ns, "model.chekpoint:=/typo.safetensors")
    try:
        # A misspelt key is named in a warning (ROS itself ignores it silently).
        assert node.wait_line("model.chekpoint", timeout=5.0), node.output
        with stream:
            # Labels answering the stream: the worker has moved on to the newer frame waiting in
            # its mailbox, and the teardown will have that frame to wait for.
            answered = len(labels.msgs)
            assert wait_for(lambda: len(labels.msgs) > answered, timeout=180.0), node.output
            start = time.monotonic()
            node.proc.send_signal(first)
            assert node.wait_line("stop signal: shutting down", timeout=30.0), node.output
            code, _ = node.signal_and_wait(signal.SIGINT)  # the second one lands in the teardown
            elapsed = time.monotonic() - start
    finally:
        node.kill()
    assert_clean_exit(code, node.output)
    _report(f"{signal.Signals(first).name} while segmenting 1024x2048, SIGINT in the teardown", elapsed)
    assert elapsed < EXIT_BOUND_S
