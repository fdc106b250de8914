"""How frames run in each mode of the replay: ``engine`` (in this process), ``node`` (the real node
as a child process, fed over DDS in lockstep) or ``recorded`` (labels already in the bag).

:func:`start_run` builds what a mode needs (a :class:`ReplayRun`), :func:`predict` turns one
frame into ``(H, W)`` uint8 labels (None = dropped) and records its timings, :func:`finish_node`
collects what the node reported about itself at the end.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from .bag_io import BagFrame
from .inputs import make_engine, model_info, model_meta, node_params, to_ros_message
from .options import ReplayOptions
from .report import LatencyRecorder


@dataclass
class ReplayRun:
    """What runs the frames in the chosen mode: an engine, the node (and its recorder), or nothing."""

    mode: str
    meta: Any  # CheckpointMeta: classes, colours
    info: dict[str, Any]  # the report's "model" entry
    engine: Any = None
    runner: Any = None  # NodeReplay
    recorder: Any = None  # OutputRecorder

    def close(self, labels_expected: int) -> None:
        if self.recorder is not None:
            self.recorder.close(labels_expected)
        if self.runner is not None:
            self.runner.__exit__(None, None, None)


def start_run(opts: ReplayOptions, source: dict[str, Any]) -> ReplayRun:
    """Build the engine, start the node, or (recorded labels) nothing; the model's metadata."""
    mode, dataset = opts.run_mode, source.get("dataset")
    if mode == "engine":
        engine = make_engine(opts, dataset)  # reads the checkpoint: its metadata comes with it
        info = {**model_info(opts, engine.meta, dataset), "device": str(engine.device),
                "precision": engine.precision}
        return ReplayRun(mode, engine.meta, info, engine=engine)
    meta = model_meta(opts, dataset)
    run = ReplayRun(mode, meta, model_info(opts, meta, dataset))
    if mode == "node":
        from .node_replay import environment_summary

        run.runner, run.recorder = start_node(opts, source["image_topic"])
        run.info.update(device=opts.device, precision=opts.precision, node_env=environment_summary())
    return run


def start_node(opts: ReplayOptions, image_topic: str) -> tuple[Any, Any]:
    """The node child process fed by a :class:`NodeReplay`, and the recorder of its outputs."""
    from frrn_seg_ros.ros.env import configure_local_ros_env

    from .node_replay import NodeReplay, camera_of
    from .record import OutputRecorder

    configure_local_ros_env(domain_id=opts.domain_id)  # LOCALHOST discovery, domain, Fast DDS profile
    camera, transport = camera_of(image_topic)
    runner = NodeReplay(
        camera, transport, node_params(opts), opts.out / "node.log", opts.startup_timeout, opts.frame_timeout
    )
    recorder = None
    if opts.record_bag is not None:
        recorder = OutputRecorder(opts.record_bag, runner.image_topic, opts.gt_topic, runner.labels_topic)
        runner.raw_labels_callback = recorder.on_raw_labels
    try:
        runner.__enter__()
    except BaseException:
        if recorder is not None:
            recorder.close(0, timeout_s=0)
        raise
    return runner, recorder


def predict(item: BagFrame, run: ReplayRun, latency: LatencyRecorder, read_ms: float) -> np.ndarray | None:
    """Labels ``(H, W)`` uint8 for one frame (None = dropped); records the frame's timings."""
    if run.mode == "recorded":
        if item.prediction is None:
            return None
        if "prediction" in item.log_time_ns:  # recorded live: log time of the output minus the stamp
            latency.add("recorded_stamp_to_log", (item.log_time_ns["prediction"] - item.stamp_ns) / 1e6)
        return item.prediction
    if item.image is None:
        return None
    if run.mode == "engine":
        from frrn_seg_ros.core.engine import OutputRequest

        result = run.engine.segment([item.image.frame], OutputRequest(color=False))[0]
        latency.add("read", read_ms)
        latency.add_all(result.timings_ms)
        latency.add("end_to_end", read_ms + result.timings_ms.get("total", float("nan")))
        return result.labels
    t0 = time.perf_counter()
    msg = to_ros_message(item.image, item.stamp_ns, item.frame_id)
    convert_ms = (time.perf_counter() - t0) * 1e3
    outcome = run.runner.process(msg)  # restamps msg
    if run.recorder is not None:
        run.recorder.write_input(msg, item.ground_truth)
    if outcome is None:
        if not run.runner.node_alive():
            raise RuntimeError("the node process died during the replay; see node.log in --out")
        return None
    labels, round_trip_ms = outcome
    latency.add("read", read_ms + convert_ms)
    latency.add("end_to_end", round_trip_ms)
    return labels


def finish_node(run: ReplayRun, opts: ReplayOptions, processed: int) -> dict[str, str]:
    """Node mode: the node's last camera status (once it counts the ``processed`` frames the
    replay got answers to), and the device/precision it reports running on."""
    if run.runner is None:
        return {}
    run.runner.wait_for_diagnostics(processed)
    used = run.runner.model_diagnostics  # what the node reports it runs on (not 'auto')
    run.info.update(device=used.get("device", opts.device), precision=used.get("precision", opts.precision))
    return dict(run.runner.last_diagnostics)
