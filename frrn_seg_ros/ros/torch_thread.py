"""One long-lived thread for all of the node's PyTorch work: building the engine and inference.

Why: PyTorch's CPU thread pool is OpenMP, which keeps a team of worker threads per calling
thread. A model built and warmed up on one thread and then run on another leaves two teams
competing for the cores. Measured on the 2-core development machine, csrnet_light at 64x128:
12 ms per frame when one thread does everything, 24 ms when the warm-up ran on another thread
(256x512: 90 vs 120 ms). So each node builds its engine and runs its worker loop on its own
:class:`TorchThread`.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FuturesTimeout
from typing import Any, TypeVar

from . import shutdown

T = TypeVar("T")
THREAD_NAME = "frrn-seg-torch"


class TorchThread:
    """A daemon thread that runs submitted callables one after another (FIFO)."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name=THREAD_NAME, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            future, fn, args = job
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(fn(*args))
                except BaseException as exc:  # handed to the caller through the future
                    future.set_exception(exc)

    def submit(self, fn: Callable[..., T], *args: Any) -> Future:
        """Queue ``fn(*args)``; the future carries its result or exception."""
        future: Future = Future()
        self._jobs.put((future, fn, args))
        return future

    def close(self, timeout_s: float = 30.0) -> bool:
        """End the thread once the jobs queued so far are done, and wait for it to exit (a thread
        still inside PyTorch when the interpreter exits can abort the process). Once a stop signal
        came, waits at most :data:`~frrn_seg_ros.ros.shutdown.GRACE_S`. True when it ended."""
        self._jobs.put(None)
        if threading.current_thread() is not self._thread:
            self._thread.join(shutdown.grace_s(timeout_s))
        return not self._thread.is_alive()

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` on this thread (directly when already on it), waiting for the result.

        Raises :class:`~frrn_seg_ros.ros.shutdown.Interrupted` when a stop signal arrives while
        waiting (the job itself finishes on its own; the process is about to exit).
        """
        if threading.current_thread() is self._thread:
            return fn(*args)
        future = self.submit(fn, *args)
        while True:
            try:
                return future.result(timeout=0.1)
            except FuturesTimeout:
                if shutdown.STOP.is_set():
                    raise shutdown.Interrupted("stop requested") from None
