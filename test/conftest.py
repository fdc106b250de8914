"""Suite-wide environment, set before anything imports rclpy.

DDS stays on this machine: every ROS process the tests start (in-process or child) uses
``ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST``, a domain id chosen here (override with
``FRRN_SEG_TEST_DOMAIN_ID``), and the project's Fast DDS profile for large images.

Order check (opt-in): ``FRRN_SEG_TEST_ORDER=reverse`` runs the collected tests last to first,
``FRRN_SEG_TEST_ORDER=shuffle:SEED`` in a seeded random order, so that a test relying on what an
earlier one left behind shows up.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from frrn_seg_ros.ros.env import PROFILE_NAME  # imports no ROS module: rclpy is not loaded yet

REPO_ROOT = Path(__file__).resolve().parents[1]
FASTDDS_PROFILE = REPO_ROOT / "config" / PROFILE_NAME

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


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Reorder the collected tests as ``FRRN_SEG_TEST_ORDER`` asks (unset: file order)."""
    order = os.environ.get("FRRN_SEG_TEST_ORDER", "").strip()
    if not order:
        return
    if order == "reverse":
        items.reverse()
    elif order.startswith("shuffle:") and order[len("shuffle:") :].isdigit():
        random.Random(int(order[len("shuffle:") :])).shuffle(items)
    else:
        raise pytest.UsageError(f"FRRN_SEG_TEST_ORDER={order!r}: expected 'reverse' or 'shuffle:SEED'")


def pytest_report_header(config: pytest.Config) -> str | None:
    order = os.environ.get("FRRN_SEG_TEST_ORDER", "").strip()
    return f"test order: {order} (FRRN_SEG_TEST_ORDER)" if order else None
