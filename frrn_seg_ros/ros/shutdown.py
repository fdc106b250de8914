"""Ctrl-C / SIGTERM for the node processes: stop at any moment, within about a second, exit 0.

The console entry points install :func:`install_handlers` before anything slow (imports,
``rclpy.init``, the model build). The first SIGINT or SIGTERM sets :data:`STOP`; while the
process is still starting it also raises :class:`Interrupted` in the main thread (start-up has
nothing that must be finished). Once the node spins, the main loop polls :data:`STOP` instead, so
the teardown runs normally. Every further signal is ignored: a second Ctrl-C (or ``ros2 launch``
forwarding its own SIGINT) can never interrupt the teardown.

Work running on a node's torch thread (a warm-up pass, a large frame) cannot be interrupted;
the teardown waits at most :data:`GRACE_S` in all for it. After a stop signal the process then
ends with ``os._exit`` once rclpy is shut down: a thread still inside PyTorch while the
interpreter finalises can abort the process, and the finalisation alone took 2 s on the busy
2-core machine.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time

STOP = threading.Event()
GRACE_S = 0.6  # longest wait, in all, for the workers once a stop was requested
_raise_on_signal = False
_stop_at = 0.0


class Interrupted(BaseException):
    """Raised in the main thread when a stop signal arrives during start-up."""


def _on_signal(signum, _frame) -> None:
    global _stop_at
    first = not STOP.is_set()
    if first:
        _stop_at = time.monotonic()
    STOP.set()
    if first and _raise_on_signal:
        raise Interrupted(signal.Signals(signum).name)


def install_handlers() -> None:
    """Handle SIGINT and SIGTERM as described in the module docstring (start-up mode)."""
    global _raise_on_signal
    _raise_on_signal = True
    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)


def started() -> None:
    """Leave start-up mode: from now on a signal only sets :data:`STOP`."""
    global _raise_on_signal
    _raise_on_signal = False


def grace_s(default: float) -> float:
    """How long a teardown may wait for a worker: ``default``, or once stopping what is left of
    :data:`GRACE_S` counted from the first signal (every wait of the teardown shares it)."""
    if not STOP.is_set():
        return default
    return min(default, max(0.0, _stop_at + GRACE_S - time.monotonic()))


def exit_now(code: int) -> None:
    """Flush stdout/stderr and end the process with ``code`` at once (no interpreter finalisation,
    which with PyTorch loaded can take a second on a busy machine)."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


def exit_now_if_threads_busy(code: int, thread_name: str) -> None:
    """:func:`exit_now` when a thread named ``thread_name`` is still running."""
    if any(t.name == thread_name and t.is_alive() for t in threading.enumerate()):
        exit_now(code)
