"""Newest-frame-per-camera store between subscription callbacks and the inference worker.

Callbacks ``put`` and return at once; the worker ``take``s one item per camera that has one.
With ``depth=1`` (the node's mode) a new frame overwrites an unprocessed one and the overwrite is
counted, so a camera faster than the model gets output at the model's rate with bounded latency.
A larger ``depth`` keeps that many frames per camera (oldest dropped first): the hook for a later
"process every frame" mode, which would also need ``put`` to wait for room instead of dropping.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any


class FrameMailbox:
    """Thread-safe per-camera bounded queues with drop counters."""

    def __init__(self, cameras: list[str], depth: int = 1) -> None:
        if depth < 1:
            raise ValueError(f"depth must be >= 1, got {depth}")
        self._slots: dict[str, deque] = {cam: deque() for cam in cameras}
        self._depth = depth
        self._overwritten = dict.fromkeys(cameras, 0)
        self._cond = threading.Condition()
        self._closed = False

    def put(self, camera: str, item: Any) -> bool:
        """Store ``item`` for ``camera``; return True if an unprocessed item was dropped for it."""
        with self._cond:
            slot = self._slots[camera]
            dropped = len(slot) >= self._depth
            if dropped:
                slot.popleft()
                self._overwritten[camera] += 1
            slot.append(item)
            self._cond.notify()
        return dropped

    def take(self, timeout: float | None = None) -> dict[str, Any]:
        """Wait up to ``timeout`` s for any item; pop and return the oldest item of each camera.

        Returns ``{}`` on timeout or once closed.
        """
        with self._cond:
            if not self._closed and not any(self._slots.values()):
                self._cond.wait(timeout)
            if self._closed:
                return {}
            return {cam: slot.popleft() for cam, slot in self._slots.items() if slot}

    def clear(self) -> dict[str, int]:
        """Drop everything pending (counted as overwritten); return ``{camera: items dropped}``."""
        with self._cond:
            dropped = {}
            for cam, slot in self._slots.items():
                self._overwritten[cam] += len(slot)
                dropped[cam] = len(slot)
                slot.clear()
            return dropped

    def close(self) -> None:
        """Wake and release every waiter; later ``take`` calls return ``{}`` at once."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed

    def overwritten(self, camera: str) -> int:
        """Items of ``camera`` dropped because a newer one arrived before processing."""
        with self._cond:
            return self._overwritten[camera]

    def pending(self) -> int:
        with self._cond:
            return sum(len(slot) for slot in self._slots.values())
