"""Fixtures of the ROS tests: a fresh rclpy context + spinning executor per test, a shared engine."""

from __future__ import annotations

import pytest

pytest.importorskip("rclpy")

from rosutil import Ros, make_engine


@pytest.fixture(scope="session")
def engine():
    """One random-weight csrnet_light engine on CPU shared by the in-process tests."""
    return make_engine()


@pytest.fixture
def ros():
    r = Ros()
    try:
        yield r
    finally:
        r.close()
