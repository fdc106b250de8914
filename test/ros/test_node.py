"""The node in-process over real DDS: headers, sizes, encodings, compressed input, cameras, service."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
from rosutil import SIZE, Collector, image_array, input_qos, publish_until, stamped, wait_for
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import String
from std_srvs.srv import SetBool

from frrn_seg_ros.core.encodings import ENCODINGS
from frrn_seg_ros.ros.conversions import array_to_compressed, array_to_image, image_to_array
from frrn_seg_ros.ros.label_info import LATCHED

pytestmark = pytest.mark.ros


def _io(ros, seg, cam="camera", kinds=("labels",), msg_type=Image, suffix="image"):
    tester = ros.node()
    ns = seg.get_namespace()
    pub = tester.create_publisher(msg_type, f"{ns}/{cam}/{suffix}", input_qos())
    outs = {k: Collector(tester, Image, f"{ns}/{cam}/segmentation/{k}") for k in kinds}
    return tester, pub, outs


def _check_output(out: Image, sent, encoding: str, height: int, width: int) -> None:
    assert out.header.frame_id == sent.header.frame_id
    assert (out.header.stamp.sec, out.header.stamp.nanosec) == (
        sent.header.stamp.sec,
        sent.header.stamp.nanosec,
    )
    assert (out.height, out.width, out.encoding) == (height, width, encoding)
    array = image_to_array(out)
    assert array.shape[:2] == (height, width)


def test_every_encoding_gives_labels_and_color_with_copied_header(ros, engine):
    seg = ros.segmentation_node(engine)
    _, pub, outs = _io(ros, seg, kinds=("labels", "color"))
    encodings = sorted(set(ENCODINGS))
    for i, enc in enumerate(encodings):
        height, width = SIZE if i % 2 else (SIZE[0] + 6, SIZE[1] - 8)  # resolution changes mid-stream
        msg = stamped(
            array_to_image(image_array(enc, (height, width), seed=i), enc, row_padding=3 * (i % 2)),
            f"optical_{enc}",
            1000 + i,
            123,
        )
        labels = publish_until(pub, msg, outs["labels"])
        assert labels, f"no labels for {enc}"
        _check_output(labels[0], msg, "mono8", height, width)
        assert image_to_array(labels[0]).max() < engine.meta.num_classes
        color = wait_for(lambda m=msg: outs["color"].find(lambda o: o.header.stamp.sec == m.header.stamp.sec))
        assert color, f"no color for {enc}"
        _check_output(color[0], msg, "rgb8", height, width)
        palette = engine.palette[image_to_array(labels[0])]
        np.testing.assert_array_equal(image_to_array(color[0]), palette)
    # Every frame had a size other than the last one's: each change is counted, none dropped.
    snap = seg.pipeline.stats["camera"].snapshot()
    assert snap.resolution_changes == len(encodings) - 1 and snap.bad_input == 0


@pytest.mark.parametrize("fmt", ["jpeg", "png"])
def test_compressed_input(ros, engine, fmt):
    seg = ros.segmentation_node(
        engine, input_transport="compressed", **{"publish.overlay": True, "publish.confidence": True}
    )
    _, pub, outs = _io(
        ros,
        seg,
        kinds=("labels", "overlay", "confidence"),
        msg_type=CompressedImage,
        suffix="image/compressed",
    )
    msg = stamped(array_to_compressed(image_array("rgb8"), fmt), "cam_optical", 7, 9)
    labels = publish_until(pub, msg, outs["labels"])
    assert labels
    _check_output(labels[0], msg, "mono8", *SIZE)
    overlay = wait_for(lambda: outs["overlay"].find(lambda o: o.header.stamp.sec == 7))
    _check_output(overlay[0], msg, "rgb8", *SIZE)
    conf = wait_for(lambda: outs["confidence"].find(lambda o: o.header.stamp.sec == 7))
    _check_output(conf[0], msg, "mono8", *SIZE)
    assert image_to_array(conf[0]).min() >= 255 // engine.meta.num_classes  # max softmax >= 1/C


def test_two_cameras_batched_keep_their_own_headers(ros, engine):
    seg = ros.segmentation_node(engine, cameras=["left", "right"], batch_cameras=True)
    tester = ros.node()
    ns = seg.get_namespace()
    pubs = {c: tester.create_publisher(Image, f"{ns}/{c}/image", input_qos()) for c in ("left", "right")}
    outs = {c: Collector(tester, Image, f"{ns}/{c}/segmentation/labels") for c in ("left", "right")}
    for step in range(3):
        msgs = {
            c: stamped(array_to_image(image_array("rgb8", seed=k), "rgb8"), f"{c}_optical", 50 + step, k)
            for k, c in enumerate(("left", "right"))
        }
        for c in ("left", "right"):
            got = publish_until(pubs[c], msgs[c], outs[c])
            assert got, f"no output for {c}"
            _check_output(got[0], msgs[c], "mono8", *SIZE)
    for c in ("left", "right"):  # nothing crossed over
        assert all(m.header.frame_id == f"{c}_optical" for m in outs[c].msgs)


def test_class_metadata_is_latched(ros, engine):
    seg = ros.segmentation_node(engine)
    tester = ros.node()
    late = Collector(tester, String, f"{seg.get_namespace()}/segmentation/classes", LATCHED)
    got = wait_for(lambda: late.msgs)
    payload = json.loads(got[0].data)
    assert payload["architecture"] == "csrnet_light"
    assert payload["num_classes"] == len(payload["classes"]) == 19
    assert payload["classes"][0] == {"id": 0, "name": "road", "color": [128, 64, 128]}
    assert payload["random_weights"] is True


def test_enable_service_pauses_and_resumes_output(ros, engine):
    seg = ros.segmentation_node(engine)
    tester, pub, outs = _io(ros, seg)
    client = tester.create_client(SetBool, f"{seg.get_fully_qualified_name()}/enable")
    assert client.wait_for_service(timeout_sec=10.0)

    def call(value: bool):
        future = client.call_async(SetBool.Request(data=value))
        assert wait_for(future.done)
        return future.result()

    first = stamped(array_to_image(image_array("rgb8"), "rgb8"), "f", 1)
    assert publish_until(pub, first, outs["labels"])
    assert call(False).success
    stats = seg.pipeline.stats["camera"]
    at_pause = stats.snapshot().received
    paused = stamped(array_to_image(image_array("rgb8"), "rgb8"), "f", 2)
    # A 10 Hz camera while paused, until the node has counted three of its frames (its own count:
    # a busy executor may take a while, or see only the newest of several) ...
    deadline = time.monotonic() + 30.0
    while stats.snapshot().received < at_pause + 3 and time.monotonic() < deadline:
        pub.publish(paused)
        wait_for(lambda: False, timeout=0.1)
    assert stats.snapshot().received >= at_pause + 3
    # ... and none was segmented.
    assert not outs["labels"].find(lambda m: m.header.stamp.sec == 2)
    assert call(True).success
    resumed = stamped(array_to_image(image_array("rgb8"), "rgb8"), "f", 3)
    assert publish_until(pub, resumed, outs["labels"])


def test_outputs_without_subscribers_are_not_computed(ros, engine):
    requests = []
    segment = engine.segment

    def spy(frames, request):
        requests.append(request)
        return segment(frames, request)

    engine.segment = spy  # the real engine, watched: what does the node ask it to compute?
    try:
        seg = ros.segmentation_node(engine, **{"publish.overlay": True})
        tester, pub, outs = _io(ros, seg, kinds=("labels",))  # nobody listens to color/overlay
        msg = stamped(array_to_image(image_array("rgb8"), "rgb8"), "f", 11)
        assert publish_until(pub, msg, outs["labels"])
        assert requests and not any(r.color or r.overlay or r.confidence for r in requests)
        # Once somebody subscribes to the overlay, it is computed (and color still is not).
        overlay = Collector(tester, Image, f"{seg.get_namespace()}/camera/segmentation/overlay")
        assert wait_for(lambda: seg.pipeline._wanted("camera", "overlay"))
        requests.clear()
        assert publish_until(pub, stamped(msg, "f", 12), overlay)
        assert requests[-1].overlay and not requests[-1].color
    finally:
        del engine.segment
