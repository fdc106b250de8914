"""ROS environment helpers for scripts, benchmarks and launch: keep DDS on this machine.

Every ROS process this package starts should call :func:`configure_local_ros_env` before rclpy
is imported-and-initialised (environment variables are read by the middleware at init):

- ``ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST`` (``ROS_LOCALHOST_ONLY`` is ignored since Jazzy),
- a ``ROS_DOMAIN_ID`` (kept if already set),
- ``FASTDDS_DEFAULT_PROFILES_FILE`` pointing at the shipped large-image profile when unset,
- ``RMW_IMPLEMENTATION=rmw_fastrtps_cpp`` when unset.

Child processes that move large images also benefit from the glibc malloc settings in
:data:`MALLOC_ENV` (they only act when set before the process starts: use :func:`child_env`).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

PACKAGE = "frrn_seg_ros"
PROFILE_NAME = "fastdds_large_images.xml"
DEFAULT_DOMAIN_ID = 42

# Large (multi-MB) image buffers: keep them on the heap instead of mmap/munmap per message.
MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": "134217728", "MALLOC_TRIM_THRESHOLD_": "536870912"}


def package_config_dir() -> Path | None:
    """The package's ``config/`` folder: source checkout first, then ``<prefix>/share/frrn_seg_ros``."""
    candidates = [
        Path(__file__).resolve().parents[2] / "config",
        Path(sys.prefix) / "share" / PACKAGE / "config",
    ]
    try:  # colcon / ament install
        from ament_index_python.packages import get_package_share_directory

        candidates.append(Path(get_package_share_directory(PACKAGE)) / "config")
    except Exception:
        pass
    for path in candidates:
        if (path / PROFILE_NAME).is_file():
            return path
    return None


def fastdds_profile_path() -> Path | None:
    """Path of the shipped Fast DDS profile for large images, or None if it cannot be found."""
    config = package_config_dir()
    return config / PROFILE_NAME if config else None


def configure_local_ros_env(
    domain_id: int | None = None, environ: dict[str, str] | None = None
) -> dict[str, str]:
    """Set the local-only DDS variables in ``environ`` (default ``os.environ``) where unset; return it.

    ``ROS_AUTOMATIC_DISCOVERY_RANGE`` is always forced to LOCALHOST unless it is already LOCALHOST
    or OFF: this package never sends discovery traffic off the machine on its own.
    """
    env = os.environ if environ is None else environ
    if env.get("ROS_AUTOMATIC_DISCOVERY_RANGE") not in ("LOCALHOST", "OFF"):
        env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    if domain_id is not None:
        env["ROS_DOMAIN_ID"] = str(domain_id)
    else:
        env.setdefault("ROS_DOMAIN_ID", str(DEFAULT_DOMAIN_ID))
    if not env.get("FASTDDS_DEFAULT_PROFILES_FILE"):
        profile = fastdds_profile_path()
        if profile is not None:
            env["FASTDDS_DEFAULT_PROFILES_FILE"] = str(profile)
    env.setdefault("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp")
    return env


def child_env(base: dict[str, str] | None = None, malloc: bool = True, **extra: str) -> dict[str, str]:
    """A copy of ``base`` (default ``os.environ``) configured for a local ROS child process."""
    env = dict(os.environ if base is None else base)
    configure_local_ros_env(environ=env)
    if malloc:
        for key, value in MALLOC_ENV.items():
            env.setdefault(key, value)
    env.setdefault("PYTHONUNBUFFERED", "1")
    env.update(extra)
    return env
