"""An in-process rclpy participant: its own context, nodes, and an executor spinning in a thread.

Every place that talks to a node from the side (the replay driver, the node benchmark, the demo's
live view, the tests) uses :class:`RosParticipant`, so each has its own ``rclpy.Context`` (no
global ``rclpy.init``), DDS kept on this machine, and one orderly close: executor, nodes, context,
thread. :class:`StampedReplies` is what lockstep callers wait on: replies keyed by header stamp.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from typing import Any

from .env import configure_local_ros_env


class RosParticipant:
    """``node_name`` (optional) is created at once as ``self.node``; ``threads`` > 1: multi-threaded."""

    def __init__(self, node_name: str | None = None, threads: int = 1) -> None:
        configure_local_ros_env()  # before the context starts: DDS reads the environment at init
        import rclpy
        from rclpy.executors import MultiThreadedExecutor, SingleThreadedExecutor

        self._rclpy = rclpy
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.executor = (
            MultiThreadedExecutor(num_threads=threads, context=self.context)
            if threads > 1
            else SingleThreadedExecutor(context=self.context)
        )
        self.nodes: list[Any] = []
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()
        if node_name:  # the participant's own node (the tests' subclass names its nodes itself)
            self.node = self.create_node(node_name)

    def _spin(self) -> None:
        with contextlib.suppress(Exception):  # the context may shut down while spinning
            self.executor.spin()

    def create_node(self, name: str) -> Any:
        """A new rclpy node in this participant's context, spun with the others."""
        return self.add(self._rclpy.create_node(name, context=self.context))

    def add(self, node: Any) -> Any:
        """Spin ``node`` (made in :attr:`context`) here; it is destroyed at :meth:`close`."""
        self.nodes.append(node)
        self.executor.add_node(node)
        return node

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.executor.shutdown(timeout_sec=5.0)
        for node in self.nodes:
            with contextlib.suppress(Exception):
                node.destroy_node()
        with contextlib.suppress(Exception):
            self.context.try_shutdown()
        self._thread.join(timeout=10.0)

    def __enter__(self) -> RosParticipant:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class StampedReplies:
    """Replies (any value) keyed by the header stamp in ns of the message they answer; thread-safe.

    At most ``keep`` replies nobody waited for are kept (the oldest go first): a stream of frames
    sent without waiting does not grow memory."""

    def __init__(self, keep: int = 1024) -> None:
        self._replies: dict[int, Any] = {}
        self._cond = threading.Condition()
        self.keep = keep
        self.count = 0

    def put(self, stamp: int, value: Any) -> None:
        with self._cond:
            self._replies[stamp] = value
            while len(self._replies) > self.keep:
                self._replies.pop(next(iter(self._replies)))
            self.count += 1
            self._cond.notify_all()

    def wait_pop(self, stamp: int, timeout_s: float, alive: Callable[[], bool] = lambda: True) -> Any | None:
        """The reply to ``stamp`` (removed), or None after ``timeout_s`` or once ``alive()`` is false."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while stamp not in self._replies:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not alive():
                    return None
                self._cond.wait(timeout=min(remaining, 0.5))
            return self._replies.pop(stamp)
