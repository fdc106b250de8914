"""Console entry points: ``segment_node`` (main) and ``segment_lifecycle_node`` (lifecycle_main).

A bad parameter, params file or command line, or a checkpoint that cannot be loaded, ends in
one line naming it and exit code 2 (the lifecycle node instead logs a failed configure and
stays unconfigured). SIGINT / SIGTERM at any moment (start-up, warm-up, segmenting, teardown,
twice) ends the process with code 0 within about a second: see :mod:`.shutdown`.
"""

from __future__ import annotations

import sys

from . import shutdown
from .env import configure_local_ros_env

SPIN_PERIOD_S = 0.1  # how often the main loop looks at shutdown.STOP


def _error(message: str) -> int:
    print(f"[segment_node] error: {message}", file=sys.stderr, flush=True)
    return 2


def _spin(lifecycle: bool, args: list[str] | None) -> int:
    shutdown.install_handlers()
    code = 0
    try:
        code = _run(lifecycle, args)
    except shutdown.Interrupted:
        code = 0
    from .torch_thread import THREAD_NAME

    shutdown.exit_now_if_threads_busy(code, THREAD_NAME)
    if shutdown.STOP.is_set():  # everything is closed: skip the interpreter's slow finalisation
        shutdown.exit_now(code)
    return code


def _run(lifecycle: bool, args: list[str] | None) -> int:
    from .command_line import rcl_error_line, ros_args_problem

    problem = ros_args_problem(sys.argv if args is None else args)
    if problem:
        return _error(problem)
    configure_local_ros_env()
    import rclpy
    from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
    from rclpy.signals import SignalHandlerOptions

    from frrn_seg_ros.core.checkpoint import CheckpointError

    from .parameter_schema import ParameterError

    if lifecycle:
        from .lifecycle import SegmentationLifecycleNode as node_cls
    else:
        from .node import SegmentationNode as node_cls
    try:
        rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    except Exception as exc:  # RCLError: what the checks above did not catch
        return _error(f"ROS command line: {rcl_error_line(exc)}")
    node = None
    try:
        try:
            node = node_cls()
        except (ParameterError, CheckpointError) as exc:
            return _error(str(exc))
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        shutdown.started()
        if shutdown.STOP.is_set():
            return 0
        try:
            while not shutdown.STOP.is_set() and rclpy.ok():
                executor.spin_once(timeout_sec=SPIN_PERIOD_S)
        except ExternalShutdownException:
            pass
        if shutdown.STOP.is_set():
            node.get_logger().info("stop signal: shutting down")
        return 0
    finally:
        shutdown.started()  # no signal may interrupt the teardown
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()


def main(args: list[str] | None = None) -> int:
    """Run :class:`SegmentationNode` until Ctrl-C."""
    return _spin(False, args)


def lifecycle_main(args: list[str] | None = None) -> int:
    """Run :class:`SegmentationLifecycleNode` (unconfigured until a configure transition)."""
    return _spin(True, args)


if __name__ == "__main__":  # python -m frrn_seg_ros.ros.main [--lifecycle] [--ros-args ...]
    sys.exit(lifecycle_main() if "--lifecycle" in sys.argv[1:] else main())
