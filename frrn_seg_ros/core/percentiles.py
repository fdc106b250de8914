"""Percentiles and summaries of timings: one definition for the node's diagnostics, the replay
report and every benchmark (numpy's linear interpolation, ``np.percentile``'s default)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

#: The percentiles a summary reports unless told otherwise.
SUMMARY_POINTS = (50, 90, 95, 99)


def percentiles(values: Iterable[float], points: Sequence[int] = (50, 95, 99)) -> dict[str, float]:
    """``{'p50': ..., 'p95': ..., 'p99': ..., 'max': ...}`` of ``values`` (1-D); all NaN when empty."""
    arr = np.asarray(values if isinstance(values, np.ndarray) else list(values), dtype=np.float64).ravel()
    if arr.size == 0:
        return {**{f"p{p}": float("nan") for p in points}, "max": float("nan")}
    found = np.percentile(arr, list(points))
    return {**{f"p{p}": float(v) for p, v in zip(points, found, strict=True)}, "max": float(arr.max())}


def summarize(
    values: Iterable[float], points: Sequence[int] = SUMMARY_POINTS, digits: int | None = None
) -> dict[str, float]:
    """``{'count', 'mean', 'min', 'max', 'p50', 'p90', 'p95', 'p99'}`` of ``values`` without their NaNs;
    ``{'count': 0}`` when none is left. ``digits`` rounds the figures (for printed tables)."""
    arr = np.asarray([v for v in values if v == v], dtype=np.float64)
    if arr.size == 0:
        return {"count": 0}
    out = {"count": int(arr.size), "mean": float(arr.mean()), "min": float(arr.min())}
    out.update(percentiles(arr, points))
    if digits is not None:
        out = {k: v if k == "count" else round(v, digits) for k, v in out.items()}
    return out
