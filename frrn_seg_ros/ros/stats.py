"""Per-camera running statistics for diagnostics: rates, latency percentiles, stage times, counters.

All times are in seconds of ``time.monotonic()`` unless named ``*_ms``. Windows are time-based
(``window_s``) and capped in length, so memory stays bounded at any frame rate.

Every frame that arrives is counted in ``received`` and ends in exactly one outcome:
``processed`` (published), dropped (``dropped_overwritten`` by a newer frame, ``dropped_too_old``,
``bad_input``, ``segmentation_errors``: segmenting or publishing it raised), or
``ignored_inactive`` (processing was off: lifecycle inactive or ``~/enable`` false). So
``received == processed + dropped + ignored_inactive`` up to the frames in flight (at most one
waiting and one being segmented per camera).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from frrn_seg_ros.core.percentiles import percentiles

STAGES = ("decode", "convert", "preprocess", "inference", "postprocess", "publish")
MAX_SAMPLES = 4096
#: ``CameraStats.on_drop`` reason -> the counter it increments.
DROP_COUNTERS = {"too_old": "dropped_too_old", "bad_input": "bad_input", "failed": "segmentation_errors"}


class TimedWindow:
    """Values with the time they were added; keeps the last ``window_s`` seconds."""

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self._items: deque[tuple[float, float]] = deque(maxlen=MAX_SAMPLES)

    def add(self, value: float, now: float | None = None) -> None:
        self._items.append((time.monotonic() if now is None else now, value))

    def values(self, now: float | None = None) -> np.ndarray:
        now = time.monotonic() if now is None else now
        while self._items and self._items[0][0] < now - self.window_s:
            self._items.popleft()
        return np.fromiter((v for _, v in self._items), dtype=np.float64, count=len(self._items))

    def rate(self, now: float | None = None) -> float:
        """Events per second over the window (0 with fewer than 2 events)."""
        now = time.monotonic() if now is None else now
        self.values(now)
        if len(self._items) < 2:
            return 0.0
        span = max(now - self._items[0][0], 1e-6)
        return (len(self._items) - 1) / span if span < self.window_s else len(self._items) / self.window_s


@dataclass
class CameraSnapshot:
    """A consistent copy of one camera's statistics at one time."""

    camera: str
    received: int
    processed: int
    dropped_overwritten: int
    dropped_too_old: int
    bad_input: int
    input_rate_hz: float
    output_rate_hz: float
    latency_ms: dict[str, float]
    stage_ms: dict[str, float]
    resolution: str
    encoding: str
    last_error: str
    since_last_input_s: float
    window_received: int = 0
    window_dropped: int = 0
    resolution_changes: int = 0
    uniform_frames: int = 0
    segmentation_errors: int = 0
    ignored_inactive: int = 0
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def dropped(self) -> int:
        return self.dropped_overwritten + self.dropped_too_old + self.bad_input + self.segmentation_errors


class CameraStats:
    """Thread-safe counters and windows for one camera (callbacks and the worker both write)."""

    def __init__(self, camera: str, window_s: float = 10.0) -> None:
        self.camera = camera
        self._lock = threading.Lock()
        self.received = self.processed = self.dropped_too_old = self.bad_input = 0
        self.dropped_overwritten = self.segmentation_errors = self.ignored_inactive = 0
        self.resolution_changes = self.uniform_frames = 0
        self._inputs = TimedWindow(window_s)
        self._outputs = TimedWindow(window_s)
        self._drops = TimedWindow(window_s)
        self._latency = TimedWindow(window_s)
        self._stages = {s: TimedWindow(window_s) for s in STAGES}
        self.resolution = ""
        self.encoding = ""
        self.last_error = ""
        self._last_input = None

    def on_input(self, overwritten: bool, active: bool = True) -> None:
        """Count an arriving frame; ``overwritten``: it replaced a waiting one (that one is dropped);
        ``active`` False: processing is off, so the frame is ignored."""
        with self._lock:
            now = time.monotonic()
            self.received += 1
            self._last_input = now
            self._inputs.add(1.0, now)
            if not active:
                self.ignored_inactive += 1
            if overwritten:
                self.dropped_overwritten += 1
                self._drops.add(1.0, now)

    def on_ignored(self, count: int = 1) -> None:
        """Count ``count`` received frames discarded because processing was switched off."""
        with self._lock:
            self.ignored_inactive += count

    def on_drop(self, reason: str, error: str = "") -> None:
        """Count a frame dropped for ``reason`` (a key of :data:`DROP_COUNTERS`)."""
        counter = DROP_COUNTERS[reason]
        with self._lock:
            setattr(self, counter, getattr(self, counter) + 1)
            if error:
                self.last_error = error
            self._drops.add(1.0)

    @property
    def outcomes(self) -> int:
        """Frames the worker has settled: processed, or dropped by it (too old, bad, failed)."""
        with self._lock:
            return self.processed + self.dropped_too_old + self.bad_input + self.segmentation_errors

    def on_frame_checked(self, resolution_changed: bool, uniform: bool) -> None:
        """Count a decoded frame whose size differs from the last one's, or whose pixels are all
        equal (lens cap, saturated exposure): both are still segmented, but users want to know."""
        with self._lock:
            self.resolution_changes += int(resolution_changed)
            self.uniform_frames += int(uniform)

    def on_output(
        self, latency_ms: float, stages_ms: dict[str, float], resolution: str, encoding: str
    ) -> None:
        with self._lock:
            now = time.monotonic()
            self.processed += 1
            self._outputs.add(1.0, now)
            if latency_ms == latency_ms:  # NaN when the input had no stamp
                self._latency.add(latency_ms, now)
            for stage, value in stages_ms.items():
                if stage in self._stages:
                    self._stages[stage].add(value, now)
            self.resolution, self.encoding = resolution, encoding

    def snapshot(self) -> CameraSnapshot:
        with self._lock:
            now = time.monotonic()
            stage_ms = {}
            for stage, win in self._stages.items():
                vals = win.values(now)
                stage_ms[stage] = float(vals.mean()) if vals.size else float("nan")
            return CameraSnapshot(
                camera=self.camera,
                received=self.received,
                processed=self.processed,
                dropped_overwritten=self.dropped_overwritten,
                dropped_too_old=self.dropped_too_old,
                bad_input=self.bad_input,
                input_rate_hz=self._inputs.rate(now),
                output_rate_hz=self._outputs.rate(now),
                latency_ms=percentiles(self._latency.values(now)),
                stage_ms=stage_ms,
                resolution=self.resolution,
                encoding=self.encoding,
                last_error=self.last_error,
                since_last_input_s=float("inf") if self._last_input is None else now - self._last_input,
                window_received=int(self._inputs.values(now).size),
                window_dropped=int(self._drops.values(now).size),
                resolution_changes=self.resolution_changes,
                uniform_frames=self.uniform_frames,
                segmentation_errors=self.segmentation_errors,
                ignored_inactive=self.ignored_inactive,
            )
