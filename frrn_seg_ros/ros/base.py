"""What the plain and the lifecycle node share: engine construction, the pipeline, diagnostics,
class metadata, the ``~/enable`` service and run-time parameter updates."""

from __future__ import annotations

import dataclasses
import os
import stat

from rcl_interfaces.msg import SetParametersResult
from rclpy.clock import Clock, ClockType
from std_srvs.srv import SetBool

from frrn_seg_ros.core.engine import (
    ConfigError,
    EngineConfig,
    SegmentationEngine,
    resolve_device,
    resolve_precision,
)

from . import diagnostics as diag
from .command_line import rcl_error_line
from .label_info import classes_payload, publish_class_metadata
from .parameter_schema import (
    SPEC,
    NodeParams,
    ParameterError,
    engine_settings,
    is_read_only,
    parameter_of_engine_field,
    with_changes,
)
from .parameters import unknown_parameters
from .pipeline import SegmentationPipeline
from .torch_thread import TorchThread


def engine_config(params: NodeParams) -> EngineConfig:
    """The engine settings of ``params`` (see the schema's ``engine`` fields), validated against
    this machine (a CUDA device that is not there, fp16 on a CPU): errors name the ROS parameter."""
    config = EngineConfig(**engine_settings(params))
    try:
        config.validate()
        resolve_precision(config.precision, resolve_device(config.device))
    except ConfigError as exc:
        raise ParameterError(parameter_of_engine_field(exc.field), str(exc)) from None
    except RuntimeError as exc:  # from torch while looking for the device
        raise ParameterError("device", str(exc)) from None
    return config


def check_checkpoint_path(path: str) -> None:
    """ParameterError for a ``model.checkpoint`` that is missing or not a regular file."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise ParameterError("model.checkpoint", f"checkpoint not found: {path}") from None
    except OSError as exc:
        raise ParameterError("model.checkpoint", f"cannot read {path}: {exc.strerror}") from None
    if stat.S_ISDIR(mode):
        raise ParameterError("model.checkpoint", f"{path} is a directory; name the checkpoint file in it")
    if not stat.S_ISREG(mode):
        raise ParameterError("model.checkpoint", f"{path} exists but is not a regular file")


def check_camera_topics(node, cameras: list[str]) -> None:
    """ParameterError naming ``cameras`` when one of them does not make valid ROS topic names."""
    from rclpy.expand_topic_name import expand_topic_name
    from rclpy.validate_full_topic_name import validate_full_topic_name

    for cam in cameras:
        topic = f"{cam}/segmentation/confidence"  # the longest name the node creates
        try:
            validate_full_topic_name(expand_topic_name(topic, node.get_name(), node.get_namespace()))
        except Exception as exc:
            reason = rcl_error_line(exc).replace("Invalid topic name: ", "")
            raise ParameterError(
                "cameras", f"{cam!r} does not give a valid ROS topic name: {reason}"
            ) from None


def build_engine(params: NodeParams, logger) -> SegmentationEngine:
    """Load ``model.checkpoint`` (CheckpointError if corrupt) or build random weights.

    The engine does not warm up here: the pipeline does, after the topics exist (see pipeline).
    """
    config = dataclasses.replace(engine_config(params), warmup_iters=0)
    if params.checkpoint:
        check_checkpoint_path(params.checkpoint)
        return SegmentationEngine.from_file(params.checkpoint, config, params.backend)
    logger.warning(
        f"model.checkpoint is empty: running {params.architecture} with RANDOM WEIGHTS; "
        "the output is meaningless (set model.checkpoint to a trained checkpoint)"
    )
    try:
        return SegmentationEngine.from_architecture(params.architecture, config)
    except (ValueError, KeyError) as exc:
        raise ParameterError("model.architecture", str(exc)) from None


class SegmentationMixin:
    """Mixed into rclpy ``Node`` / ``LifecycleNode``; call ``_setup`` then ``_set_active``."""

    params: NodeParams
    engine = None
    pipeline: SegmentationPipeline | None = None

    def _init_state(self) -> None:
        """Call once from ``__init__``: the one on-set-parameters callback lives as long as the node."""
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self.invalid_parameters: dict[str, str] = {}  # see parameters.declare_and_read
        self._enabled = True
        self._active = False
        self._aux: list = []  # label pubs, diagnostics pub/timer, service
        self.pipeline = None
        self._torch: TorchThread | None = None

    def _setup(self, params: NodeParams, engine=None) -> None:
        """Build (or adopt) the engine and create every entity; processing stays off."""
        self.params = params
        check_camera_topics(self, params.cameras)
        unknown = unknown_parameters(self)
        if unknown:
            self.get_logger().warning(
                f"ignoring unknown parameter(s) {', '.join(unknown)} (misspelt? see config/segment.yaml)"
            )
        self._torch = TorchThread()  # builds the engine and runs inference: one OpenMP team
        logger = self.get_logger()
        self.engine = engine if engine is not None else self._torch.call(build_engine, params, logger)
        eng = self.engine
        meta = eng.meta
        payload = classes_payload(
            meta.architecture,
            list(meta.class_names),
            [list(c) for c in meta.class_colors],
            checkpoint_sha256=eng.checkpoint_sha256 or "",
            random_weights=bool(eng.random_weights),
        )
        self._aux.extend(publish_class_metadata(self, payload))
        self.pipeline = SegmentationPipeline(self, params, eng, self._torch)
        self._diag_pub = self.create_publisher(diag.DiagnosticArray, "/diagnostics", 10)
        self._aux.append(self._diag_pub)
        # steady clock: diagnostics keep flowing with use_sim_time and a paused /clock
        steady = Clock(clock_type=ClockType.STEADY_TIME)
        self._aux.append(self.create_timer(params.diag_period_s, self._publish_diagnostics, clock=steady))
        self._aux.append(self.create_service(SetBool, "~/enable", self._on_enable))
        self.get_logger().info(
            f"{meta.architecture} on {eng.device} ({eng.precision}) for cameras {params.cameras}: "
            f"load {eng.load_time_s:.2f} s; topics ready, warm-up {self.pipeline.warmup['state']}"
        )

    def _teardown(self) -> None:
        """Stop the worker and destroy what ``_setup`` created (the engine is released too)."""
        if self.pipeline is not None:
            self.pipeline.destroy()
            self.pipeline = None
        if self._torch is not None:
            self._torch.close()
            self._torch = None
        for entity in self._aux:
            for destroy in (self.destroy_publisher, self.destroy_timer, self.destroy_service):
                try:
                    if destroy(entity):
                        break
                except Exception:
                    continue
        self._aux.clear()
        self.engine = None

    def _set_active(self, active: bool) -> None:
        self._active = active
        if self.pipeline is not None:
            self.pipeline.set_processing(self._active and self._enabled)

    def _on_enable(self, request, response):
        self._enabled = bool(request.data)
        self._set_active(self._active)
        response.success = True
        response.message = "processing enabled" if self._enabled else "processing paused"
        self.get_logger().info(response.message)
        return response

    def _on_set_parameters(self, parameters) -> SetParametersResult:
        """While configured: validate run-time changes, refuse model-defining ones. Unconfigured
        (lifecycle): accept (descriptors check type and range; configure validates the rest) and
        forget the start-up error of each parameter set."""
        if self.pipeline is None:
            for p in parameters:
                self.invalid_parameters.pop(p.name, None)
            return SetParametersResult(successful=True)
        changes = {p.name: p.value for p in parameters if p.name in SPEC}
        fixed = sorted(name for name in changes if is_read_only(name))
        if fixed:  # only reached by the lifecycle node, which declares them writable
            return SetParametersResult(
                successful=False, reason=f"{', '.join(fixed)}: change it while unconfigured (cleanup first)"
            )
        try:
            new = with_changes(self.params, changes)
        except ParameterError as exc:
            return SetParametersResult(successful=False, reason=str(exc))
        self.params.__dict__.update(new.__dict__)  # the pipeline holds the same object
        return SetParametersResult(successful=True)

    def model_info(self, engine=None) -> dict[str, str]:
        """The model status values of ``engine`` (default: this node's)."""
        eng, p = engine or self.engine, self.params
        warmup = (
            self.pipeline.warmup if self.pipeline is not None else {"state": "off", "time_s": 0.0, "size": ""}
        )
        info = {
            "architecture": eng.meta.architecture,
            "checkpoint": p.checkpoint or "(none: random weights)",
            "checkpoint_sha256": eng.checkpoint_sha256 or "",
            "device": str(eng.device),
            "precision": str(eng.precision),
            "load_time_s": f"{eng.load_time_s:.3f}",
            "warmup": warmup["state"],
            "warmup_size": warmup["size"],
            "warmup_time_s": f"{warmup['time_s']:.3f}",
            "random_weights": str(bool(eng.random_weights)).lower(),
            "enabled": str(self._enabled and self._active).lower(),
        }
        info.update(eng.backend_info)
        info.update({k: str(v) for k, v in eng.memory_stats().items()})
        info.update({f"inference_path_{k}": str(v) for k, v in getattr(eng, "inference_path", {}).items()})
        return info

    def _publish_diagnostics(self) -> None:
        pipeline, engine = self.pipeline, self.engine  # local: a teardown may clear them meanwhile
        if pipeline is None or engine is None:
            return
        p = self.params
        th = diag.Thresholds(p.warn_latency_ms, p.error_latency_ms, p.warn_drop_ratio, p.stale_s)
        name = self.get_fully_qualified_name()
        statuses = []
        for camera, stats in pipeline.stats.items():
            snap = stats.snapshot()
            snap.extra["input_publishers"] = str(pipeline.input_publishers(camera))
            statuses.append(diag.camera_status(name, snap, th))
        statuses.append(
            diag.model_status(
                name, self.model_info(engine), bool(engine.random_weights), self._enabled and self._active
            )
        )
        self._diag_pub.publish(diag.build_array(self.get_clock().now().to_msg(), statuses))
