"""The shared rclpy-side helpers: replies matched by stamp, and a participant talking to itself."""

from __future__ import annotations

import threading

import pytest
from rosutil import image_array, unique
from sensor_msgs.msg import Image

from frrn_seg_ros.ros.conversions import array_to_image, image_to_array
from frrn_seg_ros.ros.participant import RosParticipant, StampedReplies
from frrn_seg_ros.ros.stamps import set_stamp_ns, split_ns, stamp_ns

pytestmark = pytest.mark.ros


def test_replies_are_matched_by_stamp_and_bounded():
    replies = StampedReplies(keep=3)
    threading.Timer(0.05, replies.put, (7, "seven")).start()  # arrives while the caller waits
    assert replies.wait_pop(7, timeout_s=30.0) == "seven"
    assert replies.wait_pop(7, timeout_s=0.01) is None  # taken once
    assert replies.wait_pop(8, timeout_s=30.0, alive=lambda: False) is None  # the sender died
    for stamp in range(10):  # replies nobody waits for: only the newest `keep` stay
        replies.put(stamp, stamp)
    assert replies.count == 11
    assert [replies.wait_pop(s, 0.0) for s in (6, 7, 8, 9)] == [None, 7, 8, 9]


def test_stamps_round_trip_through_a_header():
    msg = Image()
    set_stamp_ns(msg.header, 1_700_000_000_123_456_789)
    assert (msg.header.stamp.sec, msg.header.stamp.nanosec) == (1_700_000_000, 123_456_789)
    assert stamp_ns(msg.header) == 1_700_000_000_123_456_789 and split_ns(1_999_999_999) == (1, 999_999_999)


def test_a_participant_hears_its_own_publisher_and_closes():
    topic = f"/{unique('self')}/image"
    got = StampedReplies()
    with RosParticipant(unique("talker")) as ros:
        keep = lambda m: got.put(stamp_ns(m.header), image_to_array(m))  # noqa: E731
        ros.node.create_subscription(Image, topic, keep, 10)
        pub = ros.node.create_publisher(Image, topic, 10)
        msg = array_to_image(image_array("rgb8"), "rgb8")
        set_stamp_ns(msg.header, 5_000_000_001)
        received = None
        for _ in range(100):  # until discovery has matched the two endpoints
            pub.publish(msg)
            received = got.wait_pop(5_000_000_001, timeout_s=0.2)
            if received is not None:
                break
        assert received is not None and (received == image_to_array(msg)).all()
    assert not ros.context.ok()
