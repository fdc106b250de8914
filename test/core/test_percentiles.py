"""The one percentile definition (numpy linear interpolation) used by diagnostics, reports and benchmarks."""

from __future__ import annotations

import math

import numpy as np
import pytest

from frrn_seg_ros.core.percentiles import percentiles, summarize


def test_percentiles_interpolate_linearly_and_are_nan_when_empty():
    p = percentiles(np.arange(1, 101, dtype=float))
    assert p["p50"] == pytest.approx(50.5) and p["p95"] == pytest.approx(95.05) and p["max"] == 100.0
    assert percentiles([10.0, 20.0], (50,)) == {"p50": 15.0, "max": 20.0}
    assert all(math.isnan(v) for v in percentiles([]).values())


def test_summary_drops_nans_counts_and_rounds():
    s = summarize([3.0, float("nan"), 1.0, 2.0, 4.0])
    assert s["count"] == 4 and s["mean"] == 2.5 and (s["min"], s["max"]) == (1.0, 4.0)
    assert s["p50"] == 2.5 and s["p90"] == pytest.approx(3.7)
    assert summarize([float("nan")]) == {"count": 0}
    rounded = summarize([1.0, 2.0], points=(50,), digits=0)
    assert rounded == {"count": 2, "mean": 2.0, "min": 1.0, "p50": 2.0, "max": 2.0}
