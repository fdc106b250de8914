"""Suite-wide environment, set before anything imports rclpy.

DDS stays on this machine: every ROS process the tests start (in-process or child) uses
``ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST``, a domain id chosen here (override with
``FRRN_SEG_TEST_DOMAIN_ID``), and the project's Fast DDS profile for large images.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
FASTDDS_PROFILE = REPO_ROOT / "config" / "fastdds_large_images.xml"

os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ["ROS_DOMAIN_ID"] = os.environ.get("FRRN_SEG_TEST_DOMAIN_ID") or str(10 + os.getpid() % 80)
os.environ.setdefault("FASTDDS_DEFAULT_PROFILES_FILE", str(FASTDDS_PROFILE))
os.environ.setdefault("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp")


def ros_child_env(**extra: str) -> dict[str, str]:
    """Environment for a child process that joins this test session's local DDS domain."""
    env = dict(os.environ)
    env.update(extra)
    return env


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT
