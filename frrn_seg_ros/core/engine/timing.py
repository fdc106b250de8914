"""Per-stage wall times: CUDA events on the GPU (one synchronisation at the end), perf_counter on CPU."""

from __future__ import annotations

import time

import torch

STAGES = ("convert", "preprocess", "inference", "postprocess")


class StageTimer:
    """Accumulate the time spent in named stages of one engine call.

    Call :meth:`start` once, then :meth:`mark` after each stage (stages may repeat: times add
    up), then :meth:`result` once the work is finished. On CUDA, marks are events recorded on the
    current stream, so timing adds no synchronisation until :meth:`result`, which waits for the
    last event. ``total`` spans :meth:`start` to the last :meth:`mark`.
    """

    def __init__(self, device: torch.device) -> None:
        self.cuda = device.type == "cuda"
        self._stream = torch.cuda.current_stream(device) if self.cuda else None
        self._marks: list[tuple[str, object]] = []

    def _now(self) -> object:
        if self.cuda:
            event = torch.cuda.Event(enable_timing=True)
            event.record(self._stream)
            return event
        return time.perf_counter()

    def start(self) -> None:
        self._marks = [("", self._now())]

    def mark(self, stage: str) -> None:
        """Close ``stage``: the time since the previous mark is added to it."""
        self._marks.append((stage, self._now()))

    def result(self) -> dict[str, float]:
        """Milliseconds per stage plus ``total`` (synchronises with the last CUDA event)."""
        times = dict.fromkeys(STAGES, 0.0)
        if self.cuda:
            self._marks[-1][1].synchronize()  # type: ignore[union-attr]
        for (_, before), (stage, after) in zip(self._marks, self._marks[1:], strict=False):
            elapsed = (
                before.elapsed_time(after)  # type: ignore[union-attr]
                if self.cuda
                else (after - before) * 1000.0  # type: ignore[operator]
            )
            times[stage] = times.get(stage, 0.0) + elapsed
        times["total"] = sum(times[s] for s in times)
        return times
