"""Console entry points: ``segment_node`` (main) and ``segment_lifecycle_node`` (lifecycle_main).

Both exit non-zero with one clear message when a parameter is invalid or the checkpoint cannot
be loaded (the lifecycle node instead logs it and stays unconfigured). Ctrl-C shuts down cleanly.
"""

from __future__ import annotations

import contextlib
import sys

from .env import configure_local_ros_env


def _spin(node_cls, args: list[str] | None) -> int:
    configure_local_ros_env()
    import rclpy
    from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor

    from frrn_seg_ros.core.checkpoint import CheckpointError

    from .parameters import ParameterError

    rclpy.init(args=args)
    node = None
    try:
        try:
            node = node_cls()
        except (ParameterError, CheckpointError) as exc:
            print(f"[segment_node] error: {exc}", file=sys.stderr, flush=True)
            return 2
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        with contextlib.suppress(KeyboardInterrupt, ExternalShutdownException):
            executor.spin()
        return 0
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()


def main(args: list[str] | None = None) -> int:
    """Run :class:`SegmentationNode` until Ctrl-C."""
    from .node import SegmentationNode

    return _spin(SegmentationNode, args)


def lifecycle_main(args: list[str] | None = None) -> int:
    """Run :class:`SegmentationLifecycleNode` (unconfigured until a configure transition)."""
    from .lifecycle import SegmentationLifecycleNode

    return _spin(SegmentationLifecycleNode, args)


if __name__ == "__main__":  # python -m frrn_seg_ros.ros.main [--lifecycle] [--ros-args ...]
    sys.exit(lifecycle_main() if "--lifecycle" in sys.argv[1:] else main())
