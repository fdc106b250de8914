"""The node's one PyTorch thread: engine construction and inference on the same thread."""

from __future__ import annotations

import threading

import pytest
from rosutil import Collector, image_array, input_qos, publish_until, stamped
from sensor_msgs.msg import Image

from frrn_seg_ros.ros.conversions import array_to_image
from frrn_seg_ros.ros.torch_thread import THREAD_NAME, TorchThread


def test_calls_run_in_order_on_one_thread_and_errors_reach_the_caller():
    worker = TorchThread()
    names = [worker.call(lambda: threading.current_thread().name) for _ in range(3)]
    assert names == [THREAD_NAME] * 3 and threading.current_thread().name != THREAD_NAME
    order: list[int] = []
    futures = [worker.submit(order.append, i) for i in range(5)]
    [f.result(timeout=5) for f in futures]
    assert order == list(range(5))
    with pytest.raises(ZeroDivisionError):
        worker.call(lambda: 1 / 0)
    assert worker.call(lambda: worker.call(lambda: 7)) == 7  # a nested call does not deadlock
    worker.close()  # waits for the thread to end
    assert not worker._thread.is_alive()


@pytest.mark.ros
def test_node_builds_and_runs_its_engine_on_its_torch_thread(ros, monkeypatch):
    import frrn_seg_ros.ros.base as base

    built_on: list[int] = []
    build = base.build_engine

    def build_spy(params, logger):
        built_on.append(threading.get_ident())
        return build(params, logger)

    monkeypatch.setattr(base, "build_engine", build_spy)
    seg = ros.segmentation_node()  # no engine given: the node builds one (random weights)
    threads: set[int] = set()
    segment = seg.engine.segment

    def spy(frames, request):
        threads.add(threading.get_ident())
        return segment(frames, request)

    seg.engine.segment = spy
    tester = ros.node()
    ns = seg.get_namespace()
    pub = tester.create_publisher(Image, f"{ns}/camera/image", input_qos())
    labels = Collector(tester, Image, f"{ns}/camera/segmentation/labels")
    msg = stamped(array_to_image(image_array("rgb8"), "rgb8"), "t", 1)
    assert publish_until(pub, msg, labels)
    assert threads == set(built_on) == {seg._torch._thread.ident}
