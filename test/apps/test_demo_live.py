"""The demo's live diagnostics line, and the last status shown when a run ends before the first line."""

from __future__ import annotations

from frrn_seg_ros.demo.live import LiveView, diagnostics_line

STATUS = {
    "frames_received": "7",
    "frames_processed": "6",
    "frames_dropped": "1",
    "output_rate_hz": "5.25",
    "latency_p50_ms": "41.6",
    "latency_p95_ms": "80.2",
}


def test_diagnostics_line_shows_the_counts_rates_and_level():
    line = diagnostics_line(1, "slow", STATUS)
    assert line.startswith("live | in 7 / out 6 frames")
    assert "output 5.2 Hz" in line and "p50 42 ms p95 80 ms" in line
    assert "dropped 1 | WARN (slow)" in line
    assert "(" not in diagnostics_line(0, "ok", STATUS)
    assert "p50 - ms" in diagnostics_line(0, "", {**STATUS, "latency_p50_ms": "n/a"})


def test_a_run_without_a_live_line_shows_the_replays_last_status_once():
    lines: list[str] = []
    view = LiveView("camera", total_frames=6, write=lines.append)
    view.write_last_status({"level": "0", "message": "ok", **STATUS})
    view.write_last_status({"level": "0", "message": "ok", **STATUS})
    assert lines == [diagnostics_line(0, "ok", STATUS)]


def test_the_views_own_last_status_comes_before_the_fallback():
    lines: list[str] = []
    view = LiveView("camera", total_frames=6, write=lines.append)
    view.last_values = {"level": "2", "message": "stalled", **STATUS, "frames_received": "9"}
    view.write_last_status({"level": "0", "message": "ok", **STATUS})
    assert lines == [diagnostics_line(2, "stalled", {**STATUS, "frames_received": "9"})]


def test_nothing_is_shown_when_a_live_line_was_printed_or_no_status_came():
    lines: list[str] = []
    view = LiveView("camera", total_frames=6, write=lines.append)
    view.write_last_status(None)
    view.last_values = {"level": "0", "message": "ok", **STATUS, "frames_received": "0"}
    view.write_last_status({})
    assert lines == []
    view.lines = 1
    view.write_last_status({"level": "0", "message": "ok", **STATUS})
    assert lines == []
