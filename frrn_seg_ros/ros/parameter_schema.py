"""The node's parameters, written once: one :class:`NodeParams` field per ROS parameter.

Each field carries its ROS name, description, numeric range or choices, whether it is fixed while
the node runs, and the :class:`~frrn_seg_ros.core.engine.EngineConfig` field it feeds. The ROS
declarations and descriptors (:mod:`.parameters`), :data:`SPEC`, validation and the engine
settings all come from these fields. Any invalid value raises :class:`ParameterError` carrying
the ROS name of the one parameter that is wrong. No ROS import here.
"""

from __future__ import annotations

import re
from dataclasses import MISSING, Field, dataclass, field, fields
from typing import Any, NamedTuple

RELIABILITIES = ("best_effort", "reliable")
DURABILITIES = ("volatile", "transient_local")


class ParameterError(ValueError):
    """One invalid parameter; ``field`` is its ROS name."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"invalid parameter '{field}': {message}")
        self.field = field


class ParamSpec(NamedTuple):
    """What the schema says about one parameter.

    The first five entries keep the order of the former schema table (``[1]`` default,
    ``[4]`` read-only), so code may index or use the names.
    """

    attr: str  # NodeParams attribute
    default: Any
    description: str
    limits: tuple[int, int] | tuple[float, float] | None  # inclusive numeric range
    read_only: bool  # fixed while the node runs (model, device, topics, QoS)
    name: str  # ROS name
    choices: tuple[str, ...] | None
    engine_field: str | None  # the EngineConfig field it feeds, if any


def _param(
    name: str,
    default: Any,
    description: str,
    *,
    limits: tuple[Any, Any] | None = None,
    choices: tuple[str, ...] | None = None,
    dynamic: bool = False,
    engine: str | None = None,
) -> Any:
    """A NodeParams field for ROS parameter ``name``; ``dynamic`` ones may change at run time."""
    meta = {"ros": (name, description, limits, choices, not dynamic, engine)}
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class NodeParams:
    """Typed view of the node's parameters: attribute = Python name, ``_param`` = ROS side."""

    cameras: list[str] = _param(  # noqa: RUF009 (_param returns a dataclass field)
        "cameras", ["camera"], "camera sub-namespaces; input <cam>/image")
    architecture: str = _param(
        "model.architecture", "frrn_a", "architecture used when model.checkpoint is ''")
    checkpoint: str = _param(
        "model.checkpoint", "", "checkpoint path ('' = random weights, for testing only)")
    input_height: int = _param(
        "model.input_height", 0, "network input height (0 = native resolution)",
        limits=(0, 8192), engine="input_size")
    input_width: int = _param(
        "model.input_width", 0, "network input width (0 = native resolution)",
        limits=(0, 8192), engine="input_size")
    resize_mode: str = _param(
        "model.resize_mode", "resize", "resize | letterbox",
        choices=("resize", "letterbox"), engine="resize_mode")
    warmup_iters: int = _param(
        "model.warmup_iters", 2,
        "warm-up passes, after the topics exist, at the input size (or the first frame's)",
        limits=(0, 100), engine="warmup_iters")
    channels_last: bool = _param(
        "model.channels_last", True, "channels_last memory format", engine="channels_last")
    compile: bool = _param(
        "model.compile", False, "torch.compile the model (eager on failure)", engine="compile")
    cuda_graphs: bool = _param(
        "model.cuda_graphs", False, "CUDA graphs per frame shape (eager on failure)", engine="cuda_graphs")
    threads: int = _param(
        "model.threads", 0,
        "CPU threads for the network (PyTorch and ONNX Runtime); 0 = automatic (see README)",
        limits=(0, 256), engine="threads")
    backend: str = _param(
        "model.backend", "auto",
        "torch | onnxruntime | auto (onnxruntime for a .onnx file, and on a CPU in fp32 for a "
        "checkpoint too: exported once, parity-checked, cached; else torch)",
        choices=("auto", "torch", "onnxruntime"))
    device: str = _param("device", "auto", "auto | cpu | cuda | cuda:N", engine="device")
    precision: str = _param(
        "precision", "fp32", "fp32 | fp16 | bf16", choices=("fp32", "fp16", "bf16"), engine="precision")
    input_transport: str = _param(
        "input_transport", "raw", "raw (<cam>/image) | compressed (<cam>/image/compressed)",
        choices=("raw", "compressed"))
    publish_color: bool = _param(
        "publish.color", True, "publish <cam>/segmentation/color (rgb8)", dynamic=True)
    publish_overlay: bool = _param(
        "publish.overlay", False, "publish <cam>/segmentation/overlay (rgb8)", dynamic=True)
    publish_confidence: bool = _param(
        "publish.confidence", False, "publish <cam>/segmentation/confidence (mono8)", dynamic=True)
    overlay_alpha: float = _param(
        "publish.overlay_alpha", 0.5, "overlay colour weight", limits=(0.0, 1.0), engine="overlay_alpha")
    only_when_subscribed: bool = _param(
        "publish.only_when_subscribed", True,
        "skip color/overlay/confidence while they have no subscribers (labels always published)",
        dynamic=True)
    input_reliability: str = _param(
        "qos.input.reliability", "best_effort", "best_effort | reliable", choices=RELIABILITIES)
    input_depth: int = _param("qos.input.depth", 1, "input keep-last depth", limits=(1, 100))
    output_reliability: str = _param(
        "qos.output.reliability", "reliable", "best_effort | reliable", choices=RELIABILITIES)
    output_depth: int = _param("qos.output.depth", 1, "output keep-last depth", limits=(1, 100))
    output_durability: str = _param(
        "qos.output.durability", "volatile", "volatile | transient_local", choices=DURABILITIES)
    max_input_age_ms: float = _param(
        "max_input_age_ms", 0.0, "drop frames older than this at processing (0 = off)",
        limits=(0.0, 1.0e6), dynamic=True)
    max_image_pixels: int = _param(
        "max_image_pixels", 4096 * 4096, "refuse larger images", limits=(1, 1 << 28), engine="max_pixels")
    batch_cameras: bool = _param(
        "batch_cameras", False, "one forward pass for cameras whose frames share a shape")
    diag_period_s: float = _param(
        "diagnostics.period_s", 1.0, "diagnostics publication period", limits=(0.05, 60.0))
    diag_window_s: float = _param(
        "diagnostics.window_s", 10.0, "statistics window", limits=(0.5, 600.0))
    warn_latency_ms: float = _param(
        "diagnostics.warn_latency_ms", 250.0, "WARN above this p95 latency",
        limits=(0.0, 1.0e6), dynamic=True)
    error_latency_ms: float = _param(
        "diagnostics.error_latency_ms", 1000.0, "ERROR above this p95 latency",
        limits=(0.0, 1.0e6), dynamic=True)
    warn_drop_ratio: float = _param(
        "diagnostics.warn_drop_ratio", 0.9, "WARN above this dropped/received ratio",
        limits=(0.0, 1.0), dynamic=True)
    stale_s: float = _param(
        "diagnostics.stale_s", 5.0, "WARN when no input for this long", limits=(0.0, 3600.0), dynamic=True)
    log_throttle_s: float = _param(
        "log_throttle_s", 5.0, "bad-input log throttle", limits=(0.0, 3600.0), dynamic=True)

    @classmethod
    def defaults(cls, **overrides: Any) -> NodeParams:
        """The defaults, with ``overrides`` given by attribute name (not validated)."""
        return cls(**overrides)

    def validate(self) -> NodeParams:
        """Check each value's type, choices and range, then the cross-field rules; raise
        :class:`ParameterError` naming the first bad parameter."""
        for spec in SPEC.values():
            _check_value(spec, getattr(self, spec.attr))
        if not self.cameras:
            raise ParameterError("cameras", "is empty: list one or more camera names, e.g. cameras:=[front]")
        bad = [c for c in self.cameras if not _valid_name(c)]
        if bad:
            raise ParameterError(
                "cameras",
                f"{bad[0]!r} is not a relative ROS name: tokens of [A-Za-z0-9_] not starting with a digit, "
                "joined by single '/'",
            )
        if len(set(self.cameras)) != len(self.cameras):
            raise ParameterError("cameras", f"{self.cameras!r} lists a camera twice")
        if (self.input_height == 0) != (self.input_width == 0):
            given, missing = (
                ("input_height", "input_width") if self.input_height else ("input_width", "input_height")
            )
            raise ParameterError(
                BY_ATTR[given].name, f"set model.{missing} too (both or neither; 0 = native resolution)"
            )
        from frrn_seg_ros.core.engine import is_onnx_file  # torch: imported only when validating
        from frrn_seg_ros.core.engine.config import DEVICE_PATTERN

        if self.backend == "onnxruntime" and not is_onnx_file(self.checkpoint):
            raise ParameterError(
                "model.backend", "onnxruntime needs model.checkpoint to be an exported .onnx file"
            )
        if not DEVICE_PATTERN.match(self.device):
            raise ParameterError("device", f"{self.device!r} is not auto, cpu, cuda or cuda:N")
        if self.error_latency_ms < self.warn_latency_ms:
            raise ParameterError("diagnostics.error_latency_ms", "must be >= diagnostics.warn_latency_ms")
        return self


def _spec(f: Field) -> ParamSpec:
    name, description, limits, choices, read_only, engine = f.metadata["ros"]
    default = f.default_factory() if f.default is MISSING else f.default
    return ParamSpec(f.name, default, description, limits, read_only, name, choices, engine)


#: ROS name -> :class:`ParamSpec`, in declaration order.
SPEC: dict[str, ParamSpec] = {spec.name: spec for spec in map(_spec, fields(NodeParams))}
#: NodeParams attribute -> :class:`ParamSpec`.
BY_ATTR: dict[str, ParamSpec] = {spec.attr: spec for spec in SPEC.values()}


def _check_value(spec: ParamSpec, value: Any) -> None:
    """ParameterError for ``value`` of the wrong type, not among the choices or out of range."""
    kind = type(spec.default)
    if kind is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif kind is list:
        ok = isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value)
    else:
        ok = isinstance(value, kind) and (kind is bool or not isinstance(value, bool))
    if not ok:
        raise ParameterError(
            spec.name, f"wrong type: expected {kind.__name__} like {spec.default!r}, got {value!r}"
        )
    if spec.choices is not None and value not in spec.choices:
        raise ParameterError(spec.name, f"{value!r} is not one of {list(spec.choices)}")
    if spec.limits is not None and not spec.limits[0] <= value <= spec.limits[1]:
        raise ParameterError(spec.name, f"{value} is outside [{spec.limits[0]}, {spec.limits[1]}]")


_NAME_TOKEN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _valid_name(name: str) -> bool:
    """A relative ROS name: ``/``-separated tokens of ASCII letters, digits, ``_`` (no digit first)."""
    return bool(name) and all(_NAME_TOKEN.match(token) for token in name.split("/"))


def is_read_only(name: str) -> bool:
    """True for parameters that define the model or the topics (fixed while the node runs)."""
    return SPEC[name].read_only


def with_changes(params: NodeParams, changes: dict[str, Any]) -> NodeParams:
    """A validated copy of ``params`` with ROS-named ``changes`` applied (for run-time updates)."""
    values = {f.name: getattr(params, f.name) for f in fields(params)}
    for name, value in changes.items():
        if name not in SPEC:
            raise ParameterError(name, "unknown parameter")
        values[SPEC[name].attr] = value
    return NodeParams(**values).validate()


def engine_settings(params: NodeParams) -> dict[str, Any]:
    """The EngineConfig keyword arguments that ``params`` defines (``input_size`` from both sizes)."""
    settings = {
        spec.engine_field: getattr(params, spec.attr)
        for spec in SPEC.values()
        if spec.engine_field and spec.engine_field != "input_size"
    }
    settings["input_size"] = (params.input_height, params.input_width) if params.input_height else None
    return settings


def parameter_of_engine_field(engine_field: str) -> str:
    """The ROS name of the (first) parameter that feeds EngineConfig field ``engine_field``."""
    return next(spec.name for spec in SPEC.values() if spec.engine_field == engine_field)
