"""The node's data path, shared by the plain and the lifecycle node.

Subscription callbacks only put the newest message per camera into a :class:`FrameMailbox`;
the worker loop takes them, on the node's :class:`TorchThread` (where the engine was built),
decodes, runs the one engine for all cameras (one batch per shape when ``batch_cameras``), and
publishes labels (always) plus color/overlay/confidence (when enabled and, with
``publish.only_when_subscribed``, subscribed). Every output copies the input header. Bad
frames are counted and logged (throttled); the next good frame is served. A frame whose
segmentation or publication raises is counted in ``segmentation_errors`` (one failing group of
frames costs no other group its output); frames that arrive while processing is off are counted
in ``ignored_inactive`` (see :mod:`.stats` for how the counters add up). Decoding and the checks
on each frame are :mod:`.frame_checks`.

Warm-up (``model.warmup_iters`` passes on a black frame) runs on the same thread after the
topics exist: at ``model.input_height x model.input_width`` right away, or at the first frame's
size when the network runs at native resolution. ``warmup`` reports its state for diagnostics.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import defaultdict
from concurrent.futures import TimeoutError as FuturesTimeout

import numpy as np
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CompressedImage, Image

from frrn_seg_ros.core.encodings import FrameError
from frrn_seg_ros.core.engine import Frame, OutputRequest

from . import shutdown
from .conversions import array_to_image
from .frame_checks import FrameWatch, decode_frame
from .mailbox import FrameMailbox
from .parameter_schema import NodeParams
from .stamps import stamp_ns
from .stats import CameraStats
from .torch_thread import TorchThread

WORKER_STOP_TIMEOUT_S = 30.0  # longest wait for the current batch at teardown (see shutdown.grace_s)

OUTPUT_KINDS = ("labels", "color", "overlay", "confidence")
_ENCODING_OUT = {"labels": "mono8", "color": "rgb8", "overlay": "rgb8", "confidence": "mono8"}


def make_qos(reliability: str, depth: int, durability: str = "volatile") -> QoSProfile:
    """Keep-last QoS from parameter strings."""
    return QoSProfile(
        depth=depth,
        history=HistoryPolicy.KEEP_LAST,
        reliability=ReliabilityPolicy.RELIABLE
        if reliability == "reliable"
        else ReliabilityPolicy.BEST_EFFORT,
        durability=DurabilityPolicy.TRANSIENT_LOCAL
        if durability == "transient_local"
        else DurabilityPolicy.VOLATILE,
    )


class SegmentationPipeline:
    """Subscriptions, publishers and the inference worker of one node (start/stop/destroy)."""

    def __init__(self, node, params: NodeParams, engine, worker: TorchThread) -> None:
        self.node, self.params, self.engine = node, params, engine
        self.log = node.get_logger()
        self.mailbox = FrameMailbox(params.cameras, depth=1)
        self.stats = {cam: CameraStats(cam, params.diag_window_s) for cam in params.cameras}
        self.processing = threading.Event()
        self._stop = threading.Event()
        self._pub_lock = threading.Lock()
        self._pubs: dict[tuple[str, str], object] = {}
        self._watch = FrameWatch(self.log)
        in_qos = make_qos(params.input_reliability, params.input_depth)
        self._subs: dict[str, object] = {}
        self._subs_lock = threading.Lock()  # teardown never destroys one while diagnostics read it
        for cam in params.cameras:
            if params.input_transport == "compressed":
                msg_type, topic = CompressedImage, f"{cam}/image/compressed"
            else:
                msg_type, topic = Image, f"{cam}/image"
            self._subs[cam] = node.create_subscription(
                msg_type, topic, lambda msg, cam=cam: self._on_image(cam, msg), in_qos
            )
            for kind in OUTPUT_KINDS:
                if kind == "labels" or getattr(params, f"publish_{kind}"):
                    self._publisher(cam, kind)
        self.warmup = {"state": "pending" if params.warmup_iters > 0 else "off", "time_s": 0.0, "size": ""}
        if params.warmup_iters > 0 and params.input_height:
            worker.submit(self._warm_up, params.input_height, params.input_width)
        self._worker = worker.submit(self._run)  # the thread that built the engine

    # ---- warm-up (worker thread) ----
    def _warm_up(self, height: int, width: int) -> None:
        """``warmup_iters`` passes on a black ``height x width`` frame; stops early on destroy."""
        self.warmup.update(state="running", size=f"{width}x{height}")
        frame = Frame(np.zeros((height, width, 3), np.uint8), "rgb8")
        start = time.perf_counter()
        try:
            for _ in range(self.params.warmup_iters):
                if self._stop.is_set():
                    break
                self.engine.segment([frame], OutputRequest())
        except Exception as exc:  # a frame this size fails: the real frames will say why
            self.log.warning(f"warm-up at {width}x{height} failed: {type(exc).__name__}: {exc}")
        self.warmup.update(state="done", time_s=round(time.perf_counter() - start, 3))
        self.log.info(f"warm-up at {width}x{height}: {self.warmup['time_s']:.2f} s")

    # ---- callbacks (executor thread): store and return ----
    def _on_image(self, cam: str, msg) -> None:
        if not self.processing.is_set():
            self.stats[cam].on_input(False, active=False)
            return
        overwritten = self.mailbox.put(cam, msg)
        self.stats[cam].on_input(overwritten)

    # ---- publishers ----
    def _publisher(self, cam: str, kind: str):
        with self._pub_lock:
            pub = self._pubs.get((cam, kind))
            if pub is None:
                p = self.params
                qos = make_qos(p.output_reliability, p.output_depth, p.output_durability)
                pub = self.node.create_publisher(Image, f"{cam}/segmentation/{kind}", qos)
                self._pubs[(cam, kind)] = pub
            return pub

    def _wanted(self, cam: str, kind: str) -> bool:
        if kind == "labels":
            return True
        if not getattr(self.params, f"publish_{kind}"):
            return False
        pub = self._publisher(cam, kind)
        return not self.params.only_when_subscribed or pub.get_subscription_count() > 0

    def input_publishers(self, camera: str) -> int:
        """Publishers that ``camera``'s input subscription has matched, as this node sees them (a
        sender seeing this node is not enough: a frame sent before this count is non-zero can be
        lost to a volatile subscription); 0 once torn down."""
        with self._subs_lock:
            sub = self._subs.get(camera)
            return sub.get_publisher_count() if sub is not None else 0

    # ---- worker thread ----
    def _run(self) -> None:
        while not self._stop.is_set():
            items = self.mailbox.take(timeout=0.2)
            if not items:
                continue
            if not self.processing.is_set():  # switched off after the frames were taken
                for cam in items:
                    self.stats[cam].on_ignored()
                continue
            settled = {cam: self.stats[cam].outcomes for cam in items}
            try:
                self._process(items, settled)
            except Exception as exc:
                self._count_failures(list(items), settled, exc)

    def _count_failures(self, cams: list[str], settled: dict[str, int], exc: Exception) -> None:
        """Count each frame of ``cams`` that has no outcome yet (its camera's ``outcomes`` still
        equal ``settled``) as a segmentation error; nothing is counted once the node is stopping."""
        if self._stop.is_set():
            return
        error = f"{type(exc).__name__}: {exc}"
        self.log.error(f"segmentation failed: {error}", throttle_duration_sec=self.params.log_throttle_s)
        for cam in cams:
            if self.stats[cam].outcomes == settled[cam]:
                self.stats[cam].on_drop("failed", error)

    def _bad(self, cam: str, error: str) -> None:
        self.stats[cam].on_drop("bad_input", error)
        self.log.warning(
            f"camera '{cam}': bad input dropped: {error}", throttle_duration_sec=self.params.log_throttle_s
        )

    def _process(self, items: dict, settled: dict[str, int]) -> None:
        p = self.params
        now_ns = self.node.get_clock().now().nanoseconds
        ready = []  # (cam, msg, frame, decode_ms)
        for cam, msg in items.items():
            stamp = stamp_ns(msg.header)
            if p.max_input_age_ms > 0 and stamp and (now_ns - stamp) / 1e6 > p.max_input_age_ms:
                age = (now_ns - stamp) / 1e6
                self.stats[cam].on_drop("too_old", f"frame {age:.0f} ms old > max_input_age_ms")
                continue
            t0 = time.perf_counter()
            try:
                frame = decode_frame(msg, self.engine, p.max_image_pixels)
            except FrameError as exc:
                self._bad(cam, str(exc))
                continue
            except Exception as exc:  # a decoder bug must not cost the other cameras their frames
                self._bad(cam, f"{type(exc).__name__}: {exc}")
                continue
            self._watch.note(cam, frame, self.stats[cam], p.log_throttle_s)
            ready.append((cam, msg, frame, (time.perf_counter() - t0) * 1e3))
        groups: dict[object, list] = defaultdict(list)
        for entry in ready:
            key = (entry[2].data.shape, entry[2].encoding) if p.batch_cameras else entry[0]
            groups[key].append(entry)
        if ready and self.warmup["state"] == "pending":
            height, width = ready[0][2].data.shape[:2]
            self._warm_up(height, width)
        for group in groups.values():
            try:
                self._segment_and_publish(group)
            except Exception as exc:  # the model or a publisher raised: count it, serve the other groups
                self._count_failures([cam for cam, *_ in group], settled, exc)

    def _segment_and_publish(self, group: list) -> None:
        wanted = {cam: [kind for kind in OUTPUT_KINDS if self._wanted(cam, kind)] for cam, *_ in group}
        request = OutputRequest(
            color=any("color" in kinds for kinds in wanted.values()),
            overlay=any("overlay" in kinds for kinds in wanted.values()),
            confidence=any("confidence" in kinds for kinds in wanted.values()),
        )
        try:
            results = self.engine.segment([frame for _, _, frame, _ in group], request)
        except FrameError as exc:
            if len(group) > 1:  # one bad frame must not spoil the others
                for entry in group:
                    self._segment_and_publish([entry])
            else:
                self._bad(group[0][0], str(exc))
            return
        for (cam, msg, frame, decode_ms), result in zip(group, results, strict=True):
            t0 = time.perf_counter()
            for kind in wanted[cam]:
                array = getattr(result, kind)
                if array is not None:
                    self._publisher(cam, kind).publish(array_to_image(array, _ENCODING_OUT[kind], msg.header))
            publish_ms = (time.perf_counter() - t0) * 1e3
            stamp = stamp_ns(msg.header)
            latency_ms = (self.node.get_clock().now().nanoseconds - stamp) / 1e6 if stamp else float("nan")
            stages = {k: v for k, v in result.timings_ms.items() if k != "total"}
            stages.update(decode=decode_ms, publish=publish_ms)
            h, w = frame.data.shape[:2]
            self.stats[cam].on_output(latency_ms, stages, f"{w}x{h}", frame.encoding)

    # ---- control ----
    def set_processing(self, on: bool) -> None:
        """Start or pause processing; pausing discards what is pending (counted as ignored)."""
        if on:
            self.processing.set()
        else:
            self.processing.clear()
            for cam, count in self.mailbox.clear().items():
                if count:
                    self.stats[cam].on_ignored(count)

    def destroy(self) -> None:
        """Stop the worker (waits for the current batch, briefly once a stop signal came) and
        destroy subscriptions and publishers."""
        self.processing.clear()
        self._stop.set()
        self.mailbox.close()
        with contextlib.suppress(TimeoutError, FuturesTimeout):
            self._worker.result(timeout=shutdown.grace_s(WORKER_STOP_TIMEOUT_S))
        with self._subs_lock:
            for sub in self._subs.values():
                self.node.destroy_subscription(sub)
            self._subs = {}
        with self._pub_lock:
            for pub in self._pubs.values():
                self.node.destroy_publisher(pub)
            self._pubs.clear()

